//! A subscriber's endpoint, as a Standard Webhooks receiver builds it (docs/protocols.md §4): it
//! verifies `webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}` with the secrets it
//! knows (any `v1` token may match), checks the timestamp is within 5 minutes, and records each
//! delivery. Its behaviour can be scripted per request (fail with a status, hang, redirect), and
//! it can go down (its port refuses connections) and come back on the same port.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The `v1,<base64>` token of `{id}.{timestamp}.{body}` under a `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("a whsec_ secret is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What the receiver does with the next request.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// A status with `Retry-After: seconds`.
    RetryAfter(u16, u64),
    /// 302 to `/landed` (which answers 200): a sender must not follow it.
    Redirect,
    /// Answers 200 after this long.
    Hang(Duration),
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signatures: Vec<String>,
    pub body: Value,
    pub raw: String,
    /// What the receiver answered.
    pub status: u16,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    /// Scripted answers, in order; after them, 200.
    script: VecDeque<Answer>,
    /// Scripted answers for deliveries whose `data.phoneNumber` is the key, in order.
    per_contact: HashMap<String, VecDeque<Answer>>,
    deliveries: Vec<Delivery>,
    /// Requests whose signature did not verify (with why).
    rejected: Vec<String>,
    landed: u32,
}

pub struct Receiver {
    pub url: String,
    port: u16,
    inner: Arc<Mutex<Inner>>,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let mut r = Receiver {
            url: String::new(),
            port: 0,
            inner: Arc::default(),
            serving: None,
        };
        r.up().await;
        r
    }

    /// Listens (again) on its port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.port = listener.local_addr().unwrap().port();
        self.url = format!("http://127.0.0.1:{}/hook", self.port);
        let app = Router::new()
            .route("/hook", post(receive))
            .route("/landed", post(landed))
            .with_state(self.inner.clone());
        self.serving = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    /// Stops listening: connections are refused until [`up`](Self::up).
    pub async fn down(&mut self) {
        if let Some(task) = self.serving.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// The secrets a signature may match (a rotation has two).
    pub fn trust(&self, secret: &str) {
        self.inner.lock().unwrap().secrets.push(secret.to_owned());
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn script_for(&self, phone: &str, answers: impl IntoIterator<Item = Answer>) {
        self.inner
            .lock()
            .unwrap()
            .per_contact
            .entry(phone.to_owned())
            .or_default()
            .extend(answers);
    }

    /// Every delivery that verified, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().deliveries.clone()
    }

    /// Verified deliveries answered with 2xx.
    pub fn acknowledged(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| (200..300).contains(&d.status))
            .collect()
    }

    pub fn rejected(&self) -> Vec<String> {
        self.inner.lock().unwrap().rejected.clone()
    }

    /// How often a redirect was followed to `/landed`.
    pub fn landed(&self) -> u32 {
        self.inner.lock().unwrap().landed
    }

    /// Waits until `done` holds for the verified deliveries (at most 20 s).
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        for _ in 0..400 {
            let got = self.deliveries();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}: got {:#?}, rejected {:?}",
            self.deliveries()
                .iter()
                .map(|d| (&d.body["event"], d.status))
                .collect::<Vec<_>>(),
            self.rejected()
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(task) = self.serving.take() {
            task.abort();
        }
    }
}

/// Verifies a request the way the Standard Webhooks reference libraries do.
fn verify(
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, String, Vec<String>), String> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(format!("no {n} header"))
    };
    let (id, timestamp, signature) = (
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
    );
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| "webhook-timestamp is not integer seconds".to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts).abs() > 300 {
        return Err(format!(
            "timestamp {ts} is more than 5 minutes from now ({now})"
        ));
    }
    let tokens: Vec<String> = signature.split(' ').map(str::to_owned).collect();
    let matched = secrets
        .iter()
        .any(|s| tokens.contains(&sign(s, &id, &timestamp, body)));
    if !matched {
        return Err(format!(
            "no signature of {tokens:?} matches the trusted secrets"
        ));
    }
    Ok((id, timestamp, tokens))
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let secrets = inner.lock().unwrap().secrets.clone();
    let (id, timestamp, signatures) = match verify(&secrets, &headers, &body) {
        Ok(v) => v,
        Err(why) => {
            inner.lock().unwrap().rejected.push(why);
            return StatusCode::UNAUTHORIZED.into_response();
        }
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = {
        let mut inner = inner.lock().unwrap();
        let phone = json["data"]["phoneNumber"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match inner
            .per_contact
            .get_mut(&phone)
            .and_then(VecDeque::pop_front)
        {
            Some(a) => Some(a),
            None => inner.script.pop_front(),
        }
    };
    if let Some(Answer::Hang(d)) = &answer {
        tokio::time::sleep(*d).await;
    }
    let (status, response) = match answer {
        Some(Answer::Status(s)) => (
            s,
            (StatusCode::from_u16(s).unwrap(), format!("status {s}")).into_response(),
        ),
        Some(Answer::RetryAfter(s, secs)) => (
            s,
            (
                StatusCode::from_u16(s).unwrap(),
                [("retry-after", secs.to_string())],
                "slow down",
            )
                .into_response(),
        ),
        Some(Answer::Redirect) => (
            302,
            (StatusCode::FOUND, [("location", "/landed")], "moved").into_response(),
        ),
        Some(Answer::Hang(_)) | None => (200, (StatusCode::OK, "ok").into_response()),
    };
    inner.lock().unwrap().deliveries.push(Delivery {
        id,
        timestamp,
        signatures,
        body: json,
        raw: String::from_utf8_lossy(&body).into_owned(),
        status,
        at: std::time::Instant::now(),
    });
    response
}

async fn landed(State(inner): State<Arc<Mutex<Inner>>>) -> StatusCode {
    inner.lock().unwrap().landed += 1;
    StatusCode::OK
}

#[test]
fn the_spec_test_vector_verifies() {
    assert_eq!(
        sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            br#"{"email":"test@example.com","username":"test_user"}"#
        ),
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    );
}
