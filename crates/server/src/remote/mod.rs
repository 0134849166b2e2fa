//! Commands that work against a running server over its HTTP API (docs/cli.md): `apply`,
//! `runs …`, `events send`. The server is `--server` (`SWITCHBOARD_SERVER`, default
//! `http://127.0.0.1:8080`); the token `--token` (`SWITCHBOARD_TOKEN`, then
//! `SWITCHBOARD_ADMIN_TOKEN`, then the data dir's `admin-token`); the store `--store`
//! (`SWITCHBOARD_STORE`), which an admin token must name and a store token may omit.

pub mod apply;
pub mod runs;

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

#[derive(Args, Clone)]
pub struct Connection {
    /// The server's base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// A store or admin token (else SWITCHBOARD_TOKEN, SWITCHBOARD_ADMIN_TOKEN, or the data dir's
    /// admin-token).
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The store to act on (needed with the admin token).
    #[arg(long, env = "SWITCHBOARD_STORE")]
    pub store: Option<String>,
    /// Where `serve` keeps its admin token, for the last fallback.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "switchboard-data")]
    pub data_dir: PathBuf,
}

/// A server the commands talk to.
pub struct Remote {
    base: String,
    token: String,
    store: Option<String>,
    http: reqwest::Client,
}

/// An answer the API refused: its status and error body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let error = &self.body["error"];
        write!(
            f,
            "{} {}: {}",
            self.status,
            error["code"].as_str().unwrap_or("error"),
            error["message"].as_str().unwrap_or("(no message)")
        )?;
        for d in error["details"].as_array().into_iter().flatten() {
            if let Some(pointer) = d["pointer"].as_str() {
                write!(
                    f,
                    "\n  {}: {}",
                    display_pointer(pointer),
                    d["message"].as_str().unwrap_or("")
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// `/steps/1/config` as people read it; the whole document as `(root)`.
pub fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}

impl Remote {
    pub fn connect(c: &Connection) -> anyhow::Result<Remote> {
        let token = match &c.token {
            Some(t) => t.clone(),
            None => match std::env::var("SWITCHBOARD_ADMIN_TOKEN") {
                Ok(t) if !t.is_empty() => t,
                _ => {
                    let file = c.data_dir.join("admin-token");
                    std::fs::read_to_string(&file)
                        .with_context(|| format!("no --token, SWITCHBOARD_TOKEN or SWITCHBOARD_ADMIN_TOKEN, and cannot read {}", file.display()))?
                        .trim()
                        .to_owned()
                }
            },
        };
        let http = reqwest::Client::builder()
            .build()
            .context("make an HTTP client")?;
        Ok(Remote {
            base: c.server.trim_end_matches('/').to_owned(),
            token,
            store: c.store.clone(),
            http,
        })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(store) = &self.store {
            request = request.header("StoreId", store);
        }
        request
    }

    /// Sends a request; a 2xx answer's JSON body, or the refusal.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        json_of(response).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.send(self.request(Method::GET, path)).await?.1)
    }

    /// Every item of a list route, following its cursor.
    pub async fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(c) => format!("{path}{sep}limit=500&cursor={c}"),
                None => format!("{path}{sep}limit=500"),
            };
            let page = self.get(&page_path).await?;
            items.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

async fn json_of(response: Response) -> anyhow::Result<(u16, Value)> {
    let status = response.status().as_u16();
    let text = response.text().await.context("read the server's answer")?;
    let body: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|_| {
            anyhow!("the server answered {status} with a body that is not JSON: {text}")
        })?
    };
    if (200..300).contains(&status) {
        Ok((status, body))
    } else {
        Err(Refused { status, body }.into())
    }
}
