//! Headless Chromium (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs) driven
//! over WebDriver, with the few moves the console's tests make.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long an element may take to appear (the runs stream, a retry settling).
const PATIENCE: Duration = Duration::from_secs(10);

/// A chromedriver on a free loopback port and one browser session, both stopped with the test.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// A 1024 × 800 window (the narrowest the console must fit).
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver (apt-get install chromium chromium-driver): {e}")
            });
        let driver_url = format!("http://127.0.0.1:{port}");
        let mut answered = false;
        for _ in 0..100 {
            if reqwest::get(format!("{driver_url}/status")).await.is_ok() {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": "/usr/bin/chromium",
                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1024,800"]}),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let session = if answered {
            let mut builder = ClientBuilder::rustls().expect("a TLS setup");
            builder.capabilities(caps).connect(&driver_url).await.ok()
        } else {
            None
        };
        let Some(client) = session else {
            let mut driver = driver;
            let _ = driver.kill();
            let _ = driver.wait();
            panic!("no Chromium session through chromedriver on {driver_url}");
        };
        Browser {
            client,
            driver,
            driver_url,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The element, once it appears.
    pub async fn find(&self, locator: Locator<'_>) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(locator)
            .await
            .unwrap()
    }

    /// Its text, once it appears.
    pub async fn text(&self, locator: Locator<'_>) -> String {
        self.find(locator).await.text().await.unwrap()
    }

    /// Clicks it, once it appears.
    pub async fn click(&self, locator: Locator<'_>) {
        self.find(locator).await.click().await.unwrap();
    }

    /// How many there are now.
    pub async fn count(&self, locator: Locator<'_>) -> usize {
        self.client.find_all(locator).await.unwrap().len()
    }

    pub async fn script(&self, source: &str) -> Value {
        self.client.execute(source, vec![]).await.unwrap()
    }

    /// What the page logged to the browser's console (errors and CSP violations included),
    /// through chromedriver's log endpoint.
    pub async fn console_log(&self) -> Vec<Value> {
        let session = self
            .client
            .session_id()
            .await
            .unwrap()
            .expect("a session id");
        let url = format!("{}/session/{session}/se/log", self.driver_url);
        let logs: Value = reqwest::Client::new()
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        logs["value"].as_array().cloned().unwrap_or_default()
    }
}

/// A node of the drawn graph (its class exactly, not the container's).
pub fn graph_node(containing: &str) -> String {
    format!(
        "//*[contains(concat(' ', @class, ' '), ' svelte-flow__node ') and contains(., '{containing}')]"
    )
}

/// An edge label of the drawn graph.
pub fn edge_label(text: &str) -> String {
    format!("//*[contains(@class, 'svelte-flow__edge-label') and normalize-space()='{text}']")
}
