//! The console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
//! which `.ci/run` installs) driven over WebDriver. Served by the binary under its Content
//! Security Policy, with no error in the browser's console: sign in, the workflows, a failed run
//! appearing on the runs page without a reload, its error on its page, a retry from the page.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::events::{create, run_of};
use crate::harness::*;

/// A chromedriver on a free loopback port, stopped with the test.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start chromedriver (apt-get install chromium chromium-driver): {e}")
        });
    // Owned at once: dropped (killed and waited for) on every path, a panic included.
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium",
               "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1024,800"]}),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    ClientBuilder::rustls()
        .expect("a TLS setup")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// What the page logged to the browser's console (errors and CSP violations included).
async fn console_log(driver: &Driver, client: &Client) -> Vec<Value> {
    let session = client.session_id().await.unwrap().expect("a session id");
    let url = format!("{}/session/{session}/se/log", driver.url);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_see_workflows_watch_a_run_fail_live_and_retry_it() {
    let loopback = [
        ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
        ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ];
    let s = TestServer::start_with(Backend::Sqlite, &loopback).await;
    let receiver = crate::receiver::Receiver::start().await;
    let (status, subscription) = send(
        s.admin(Method::POST, "/api/subscriptions")
            .json(&json!({"url": receiver.url, "events": ["run.failed"]})),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    receiver.trust(subscription["secret"].as_str().unwrap());
    let workflow = create(&s, &fixture("lead_follow_up.json")).await;
    let failed = run_of(&s, json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Ana", "phoneNumber": "+5511988887777"})).await;
    assert_eq!(failed["status"], "failed", "no WhatsApp channel: {failed}");

    // The page and its assets carry the policy; API paths keep their JSON 404.
    let page = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style: {html}"
    );
    let (status, body) = send(s.client.get(s.url("/api/nothing-here"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let runs_page = s.admin(Method::GET, "/runs").send().await.unwrap();
    assert_eq!(runs_page.status(), 200, "a console path answers the page");
    assert!(
        runs_page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let driver = driver().await;
    let client = browser(&driver).await;
    client.goto(&s.url("/")).await.unwrap();
    let token = client
        .wait()
        .for_element(Locator::Css("input[type=password]"))
        .await
        .unwrap();
    let label = client
        .find(Locator::XPath("//label[contains(., 'Token')]//input"))
        .await
        .unwrap();
    assert_eq!(
        label.element_id(),
        token.element_id(),
        "the field is labelled Token"
    );
    token.send_keys(&format!("{ADMIN}\u{E007}")).await.unwrap(); // Enter submits
    let store = client
        .wait()
        .for_element(Locator::Css("select"))
        .await
        .unwrap();
    store.select_by_value("st_default").await.unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let row = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//tr[td[contains(., 'Lead Follow-up Workflow')]]",
        ))
        .await
        .unwrap();
    let text = row.text().await.unwrap();
    assert!(
        text.contains("webhook: Lead_Workflow_phase_1") && text.contains("failed"),
        "{text}"
    );
    let stored: Option<String> = serde_json::from_value(
        client
            .execute("return sessionStorage.getItem('switchboard.token')", vec![])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some(ADMIN),
        "the token lives in the tab's session"
    );
    assert!(
        !client.current_url().await.unwrap().as_str().contains(ADMIN),
        "never in a URL"
    );

    // The workflow's graph, laid out: the trigger, its steps, the conditional's branch; over it,
    // how many runs reached each step and failed there.
    client
        .find(Locator::LinkText("Lead Follow-up Workflow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let failing = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".svelte-flow__node.failing"))
        .await
        .unwrap();
    let failing = failing.text().await.unwrap();
    assert!(
        failing.contains("send_whatsapp_template") && failing.contains("1 runs · 1 failed"),
        "{failing}"
    );
    let nodes = client
        .find_all(Locator::Css(".svelte-flow__node"))
        .await
        .unwrap();
    let mut labels = Vec::new();
    for n in &nodes {
        labels.push(n.text().await.unwrap());
    }
    assert_eq!(
        nodes.len(),
        5,
        "trigger, three steps and the branch's: {labels:?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l.contains("webhook: Lead_Workflow_phase_1")),
        "{labels:?}"
    );
    let edges = client
        .find_all(Locator::Css(".svelte-flow__edge"))
        .await
        .unwrap();
    assert_eq!(
        edges.len(),
        4,
        "trigger→step1→step2→step3, step3→then: {labels:?}"
    );
    let then = client
        .find(Locator::XPath(
            "//*[contains(@class, 'svelte-flow__edge-label') and normalize-space()='then']",
        ))
        .await;
    assert!(then.is_ok(), "the conditional's branch is labelled");

    // The runs page shows a failed run as it happens, without a reload.
    client
        .find(Locator::LinkText("Runs"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("form.filters"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // the stream is open
    let (status, accepted) = send(
        s.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Bia", "phoneNumber": "+5511977776666"})),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["runIds"][0].as_str().unwrap();
    let live = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!("//tr[td/a[text()='{run_id}']]")))
        .await
        .unwrap();
    let text = live.text().await.unwrap();
    assert!(
        text.contains("failed")
            && text.contains("channel_not_configured")
            && text.contains("step2"),
        "{text}"
    );

    // Its page says why; the workflow is fixed through the API and the run retried from the page,
    // on the latest version from its failed step.
    client
        .find(Locator::LinkText(run_id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let code = client
        .wait()
        .for_element(Locator::Css("[data-testid=run-error]"))
        .await
        .unwrap();
    assert_eq!(code.text().await.unwrap(), "channel_not_configured");
    let meta = crate::providers::Meta::start().await;
    let (status, _) = send(
        s.admin(Method::PUT, "/api/channels/whatsapp")
            .json(&meta.channel()),
    )
    .await;
    assert_eq!(status, 200);
    let mut fixed = fixture("lead_follow_up.json");
    fixed["description"] = json!("fixed");
    let (status, _) = send(
        s.admin(Method::PUT, &format!("/api/workflows/{workflow}"))
            .json(&fixed),
    )
    .await;
    assert_eq!(status, 200);
    client
        .find(Locator::XPath("//label[contains(., 'Version')]//select"))
        .await
        .unwrap()
        .select_by_value("latest")
        .await
        .unwrap();
    client
        .find(Locator::XPath("//button[text()='Retry']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//span[@data-testid='run-status' and text()='completed']",
        ))
        .await
        .unwrap();
    let (_, retried) = send(s.admin(Method::GET, &format!("/api/runs/{run_id}"))).await;
    assert_eq!(
        (
            &retried["workflowVersion"],
            &retried["actions"][0]["fromStep"]
        ),
        (&json!(2), &json!("step2")),
        "{retried}"
    );
    assert_eq!(meta.received().len(), 1);

    // A replay with an edited trigger opens the new run.
    let edit = client
        .find(Locator::XPath(
            "//label[contains(., 'Trigger for a replay')]//textarea",
        ))
        .await
        .unwrap();
    edit.clear().await.unwrap();
    edit.send_keys(r#"{"fullName": "Bia Lima", "phoneNumber": "+5511977776666"}"#)
        .await
        .unwrap();
    client
        .find(Locator::XPath("//button[text()='Replay']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!(
            "//h2[starts-with(., 'Run') and not(contains(., '{run_id}'))]"
        )))
        .await
        .unwrap();
    let replayed = client.current_url().await.unwrap();
    let new_id = replayed.path().trim_start_matches("/runs/").to_owned();
    let (_, replay) = send(s.admin(Method::GET, &format!("/api/runs/{new_id}"))).await;
    assert_eq!(
        (&replay["replayOf"], &replay["trigger"]["fullName"]),
        (&json!(run_id), &json!("Bia Lima")),
        "{replay}"
    );
    client.back().await.unwrap();
    client
        .wait()
        .for_element(Locator::LinkText("Show on the graph"))
        .await
        .unwrap();

    // The run over its graph: each visited step with its status.
    client
        .find(Locator::LinkText("Show on the graph"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".svelte-flow__node.visited-completed"))
        .await
        .unwrap();
    assert!(done.text().await.unwrap().contains("completed"));
    let visited = client
        .find_all(Locator::Css(".svelte-flow__node[class*=visited-]"))
        .await
        .unwrap();
    assert_eq!(
        visited.len(),
        3,
        "step1, step2 (its rerun) and step3: no companies, no branch"
    );

    // Events with the runs they started; schedules; stores and their tokens.
    client
        .find(Locator::LinkText("Events"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let event = client
        .wait()
        .for_element(Locator::XPath(&format!("//tr[td/a[text()='{run_id}']]")))
        .await
        .unwrap();
    assert!(
        event
            .text()
            .await
            .unwrap()
            .contains("Lead_Workflow_phase_1")
    );
    client
        .find(Locator::LinkText("Schedules"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#schedules"))
        .await
        .unwrap();
    client
        .find(Locator::LinkText("Admin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let store = client
        .wait()
        .for_element(Locator::XPath("//h3[contains(., 'st_default')]"))
        .await
        .unwrap();
    assert!(store.text().await.unwrap().contains("default"));

    // A subscription's deliveries and one's attempt log.
    receiver
        .wait_for("the failed runs' deliveries", |d| d.len() >= 2)
        .await;
    client
        .find(Locator::LinkText("Deliveries"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//button[text()='Deliveries']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath(
            "//tr[td[text()='run.failed']]//button[text()='Attempts']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let attempt = client
        .wait()
        .for_element(Locator::XPath(
            "//h3[starts-with(., 'Attempts of')]/following-sibling::table//tbody/tr",
        ))
        .await
        .unwrap();
    let attempt = attempt.text().await.unwrap();
    assert!(
        attempt.starts_with("1 ") && attempt.contains("200"),
        "{attempt}"
    );

    // A Kustomer app's workflow: its transitions, with their conditions, as edges.
    let (status, _) = send(s.admin(Method::POST, "/api/webhooks").json(&json!(
        {"name": "kustomer.company.create", "method": "POST", "url": "https://api.example.com/companies"}))).await;
    assert_eq!(status, 201);
    let (status, app) = send(
        s.admin(Method::POST, "/api/apps")
            .json(&fixture("kustomer_app_001.json")),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let kustomer = app["workflows"][0]["id"].as_str().unwrap();
    client
        .goto(&s.url(&format!("/workflows/{kustomer}")))
        .await
        .unwrap();
    let step = client
        .wait()
        .for_element(Locator::XPath(
            "//*[contains(concat(' ', @class, ' '), ' svelte-flow__node ') and contains(., 'kustomer.company.create')]",
        ))
        .await
        .unwrap();
    let text = step.text().await.unwrap();
    assert!(text.starts_with("step2"), "{text}");
    let condition = client
        .find(Locator::XPath(
            "//*[contains(@class, 'svelte-flow__edge-label') and normalize-space()='true true']",
        ))
        .await;
    assert!(
        condition.is_ok(),
        "the trigger's transition shows its condition"
    );

    // Each page loaded whole: its first render (Navigation Timing) is reported; with
    // SWITCHBOARD_SCREENSHOTS=DIR, a screenshot of each goes there (docs/console.md's).
    let shots = std::env::var_os("SWITCHBOARD_SCREENSHOTS").map(std::path::PathBuf::from);
    for (page, ready) in [
        ("/workflows", "table"),
        (&*format!("/workflows/{workflow}"), ".svelte-flow__node"),
        ("/runs", "table tbody tr"),
        (&*format!("/runs/{run_id}"), "[data-testid=run-status]"),
        ("/events", "table tbody tr"),
        ("/deliveries", "table tbody tr"),
        ("/schedules", "#schedules"),
        ("/admin", "h3"),
    ] {
        client.goto(&s.url(page)).await.unwrap();
        client
            .wait()
            .for_element(Locator::Css(ready))
            .await
            .unwrap();
        let timing = client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return Math.round(n.domContentLoadedEventEnd - n.startTime);",
                vec![],
            )
            .await
            .unwrap();
        eprintln!("console first render: {page} {timing} ms (DOMContentLoaded, loopback)");
        let fits = client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            fits,
            json!(true),
            "{page} fits 1024 px without scrolling sideways"
        );
        if let Some(dir) = &shots {
            let name = page
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("page");
            let suffix = if page.matches('/').count() > 1 {
                "-one"
            } else {
                ""
            };
            std::fs::create_dir_all(dir).unwrap();
            let png = client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}{suffix}.png")), png).unwrap();
        }
    }

    let logged = console_log(&driver, &client).await;
    let errors: Vec<&Value> = logged.iter().filter(|l| l["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "the browser's console: {errors:?}");
    client.close().await.unwrap();
}
