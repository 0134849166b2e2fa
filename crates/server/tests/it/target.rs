//! A local HTTP target for outbound tests: records every request that arrives and answers by path.
//! - `/echo/...`: 200 `{"ok": true}` (JSON)
//! - `/promo`: 200 `{"promocode": "X1", "percent": 15}`
//! - `/xml`: 200 `<r><code>XY</code><item>a</item><item>b</item></r>` as `text/xml`
//! - `/status/{code}`: that status, body `"status {code}"`, `Retry-After: 0` on 429
//! - `/slow`: answers after 30 s
//! - `/pause/{ms}/...`: 200 `{"ok": true}` after `ms` milliseconds
//! - `/big`: a 50 MB text body
//!
//! [`flaky`] is a raw server that resets the first connections it gets, then answers 200.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Target {
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Target {
    pub async fn start() -> Target {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(answer).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Target { base, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests received on paths starting with `prefix`, in arrival order.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.uri.starts_with(prefix))
            .cloned()
            .collect()
    }
}

async fn answer(State(received): State<Arc<Mutex<Vec<Received>>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let uri = parts.uri.to_string();
    received.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let path = parts.uri.path();
    let json = [(header::CONTENT_TYPE, "application/json")];
    if path.starts_with("/echo") {
        (json, r#"{"ok": true}"#).into_response()
    } else if path == "/promo" {
        (json, r#"{"promocode": "X1", "percent": 15}"#).into_response()
    } else if path == "/xml" {
        let xml = "<r><code>XY</code><item>a</item><item>b</item></r>";
        ([(header::CONTENT_TYPE, "text/xml")], xml).into_response()
    } else if let Some(code) = path.strip_prefix("/status/") {
        let status = StatusCode::from_u16(code.parse().unwrap()).unwrap();
        (
            status,
            [(header::RETRY_AFTER, "0")],
            format!("status {code}"),
        )
            .into_response()
    } else if let Some(ms) = path
        .strip_prefix("/pause/")
        .and_then(|p| p.split('/').next())
    {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        (json, r#"{"ok": true}"#).into_response()
    } else if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "late".into_response()
    } else if path == "/big" {
        vec![b'x'; 50 << 20].into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such path").into_response()
    }
}

/// A server that resets its first `resets` connections (RST, no answer), then answers 200 JSON.
/// Gives its base URL and a counter of connections.
pub async fn flaky(resets: usize) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                if n < resets {
                    let _ = socket.set_zero_linger();
                    return; // dropped: RST
                }
                let body = r#"{"recovered": true}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (base, count)
}
