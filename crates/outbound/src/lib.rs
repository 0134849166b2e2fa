//! The one door out (docs/architecture.md). Every outbound HTTP connection of the product — webhook steps,
//! test-sends, provider APIs, deliveries — goes through [`Client`], whose SSRF guard checks the
//! address of the connection actually dialled:
//! - names are resolved by [`GuardedResolver`], which hands the connector only allowed addresses, so
//!   a name that re-resolves to a private address (DNS rebinding) is still refused;
//! - reqwest does not resolve IP-literal URLs, so those are checked before sending;
//! - redirects are never followed (a 3xx is the answer), and environment proxies are ignored.

pub mod guard;

use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

pub use guard::{Blocked, Policy};
pub use reqwest::Method;
use serde_json::{Map, Value, json};
use switchboard_core::run::StepError;
pub use url::Url;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

/// What came back. Header names are lower-case; repeated headers are joined with `, `.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// At most the client's body limit; see `truncated`.
    pub body: Vec<u8>,
    /// The body was longer than the limit and was cut there (the rest was never read).
    pub truncated: bool,
    pub duration: Duration,
}

impl Response {
    /// The headers as a JSON object.
    pub fn header_map(&self) -> Map<String, Value> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidUrl(String),
    /// The scheme is not permitted (plain HTTP without `SWITCHBOARD_OUTBOUND_ALLOW_HTTP`).
    #[error("{0}")]
    Refused(String),
    #[error("destination blocked: {0}")]
    Blocked(#[from] Blocked),
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connection(String),
}

impl Error {
    /// Another attempt may succeed (the target was slow or unreachable, not refused).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Timeout(_) | Error::Connection(_))
    }

    /// The step error code (docs/workflows.md) for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidUrl(_) => "invalid_url",
            Error::Refused(_) | Error::Blocked(_) => "destination_blocked",
            Error::Timeout(_) => "timeout",
            Error::Connection(_) => "connection_failed",
        }
    }
}

/// A transport failure as a step error: timeouts and connection failures are retryable, a refusal
/// by the guard never is.
impl From<Error> for StepError {
    fn from(e: Error) -> StepError {
        let error = StepError::new(e.code(), e.to_string());
        if e.is_retryable() {
            error.retryable()
        } else {
            error
        }
    }
}

/// `Retry-After`: delay-seconds or an HTTP date, as milliseconds from now.
pub fn retry_after_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(wait.max(0) as u64)
}

/// How much of a body is read, and how much of it history keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes of a response body read (and held in memory); the rest is never read.
    pub response_bytes: usize,
    /// The most bytes of a request or response body kept in run history and echoes.
    pub record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            response_bytes: 1 << 20,
            record_bytes: 16 << 10,
        }
    }
}

/// The guarded HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    policy: Arc<Policy>,
    limits: Limits,
    /// A dry run's client: nothing is sent; every request gets this answer.
    simulated: Option<Simulated>,
}

/// What a dry run's requests get back instead of being sent: a step's mock, or `200` with no body.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulated {
    pub status: u16,
    /// Sent back as JSON (a string as text).
    pub body: Option<Value>,
    /// Given for the step (a mock), rather than the default answer.
    pub mocked: bool,
}

impl Default for Simulated {
    fn default() -> Simulated {
        Simulated {
            status: 200,
            body: None,
            mocked: false,
        }
    }
}

impl Client {
    pub fn new(policy: Policy, limits: Limits) -> Client {
        install_tls();
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Client {
            http,
            policy,
            limits,
            simulated: None,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A body as history keeps it: text, cut at the record limit with a marker saying how long
    /// it was. `more` says the body was already cut before (at the response limit).
    pub fn recorded(&self, body: &[u8], more: bool) -> String {
        let limit = self.limits.record_bytes;
        if body.len() <= limit && !more {
            return String::from_utf8_lossy(body).into_owned();
        }
        let kept = &body[..body.len().min(limit)];
        let total = if more {
            format!("more than {} bytes", body.len())
        } else {
            format!("{} bytes", body.len())
        };
        format!("{}…[cut: {total} in all]", String::from_utf8_lossy(kept))
    }

    /// The request as history shows it: headers named in `secret` (any case) as `***`, the body
    /// cut at the record limit.
    pub fn echo(&self, r: &Request, secret: &[&str]) -> Value {
        let headers: Map<String, Value> = r
            .headers
            .iter()
            .map(|(k, v)| {
                let hidden = secret.iter().any(|s| s.eq_ignore_ascii_case(k));
                let shown = if hidden { "***".to_owned() } else { v.clone() };
                (k.to_ascii_lowercase(), Value::String(shown))
            })
            .collect();
        json!({
            "method": r.method.as_str(),
            "url": r.url.as_str(),
            "headers": headers,
            "body": r.body.as_deref().map(|b| self.recorded(b, false)),
        })
    }

    /// A response as history shows it: `{status, headers, body}`, the body cut at the record limit.
    pub fn response_echo(&self, r: &Response) -> Value {
        json!({"status": r.status, "headers": r.header_map(), "body": self.recorded(&r.body, r.truncated)})
    }

    /// The addresses of `host` that the guard allows, for protocols other than HTTP (SMTP): the
    /// caller connects to one of these, never to the name, so a rebinding name is still refused.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        allowed_addresses(&self.policy, host, port)
            .await
            .map_err(|e| match e.downcast::<Blocked>() {
                Ok(blocked) => Error::Blocked(*blocked),
                Err(other) => Error::Connection(other.to_string()),
            })
    }

    /// Parses `url` and checks what can be checked without sending: the scheme (HTTPS, or HTTP
    /// when allowed) and a host that is an address in any spelling.
    pub fn check_url(&self, url: &str) -> Result<Url, Error> {
        let parsed =
            Url::parse(url).map_err(|e| Error::InvalidUrl(format!("invalid URL '{url}': {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.policy.allow_http => {}
            "http" => {
                return Err(Error::Refused(format!(
                    "'{url}' is plain HTTP: use https:// (or set SWITCHBOARD_OUTBOUND_ALLOW_HTTP=true)"
                )));
            }
            other => {
                return Err(Error::InvalidUrl(format!(
                    "'{url}' has scheme '{other}': only https:// (and http:// when allowed) can be called"
                )));
            }
        }
        let host = parsed
            .host()
            .ok_or_else(|| Error::InvalidUrl(format!("'{url}' names no host")))?;
        if let Some(ip) = guard::literal_address(&host) {
            self.policy.check(ip)?;
        }
        Ok(parsed)
    }

    /// This client answering every request with `answer`, sending nothing (a dry run).
    pub fn simulating(&self, answer: Simulated) -> Client {
        Client {
            simulated: Some(answer),
            ..self.clone()
        }
    }

    /// A dry run's answer, when this client sends nothing.
    pub fn simulation(&self) -> Option<&Simulated> {
        self.simulated.as_ref()
    }

    /// Sends the request and reads the response body up to the limit.
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let url = self.check_url(request.url.as_str())?;
        if let Some(answer) = &self.simulated {
            let (content_type, body) = match &answer.body {
                None => (None, Vec::new()),
                Some(Value::String(text)) => (Some("text/plain"), text.clone().into_bytes()),
                Some(json) => (Some("application/json"), json.to_string().into_bytes()),
            };
            return Ok(Response {
                status: answer.status,
                headers: content_type
                    .map(|c| vec![("content-type".to_owned(), c.to_owned())])
                    .unwrap_or_default(),
                body,
                truncated: false,
                duration: Duration::ZERO,
            });
        }
        let started = Instant::now();
        let timeout = request.timeout;
        let mut builder = self.http.request(request.method, url).timeout(timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(|e| failure(e, timeout))?;
        let status = response.status().as_u16();
        let headers = joined_headers(response.headers());
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| failure(e, timeout))? {
            let room = self.limits.response_bytes - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            truncated,
            duration: started.elapsed(),
        })
    }
}

/// Installs ring as the process's TLS crypto provider, once. reqwest is built without one
/// (docs/architecture.md), so this must run before any reqwest client is built, guarded or not.
pub fn install_tls() {
    static RUSTLS: Once = Once::new();
    RUSTLS.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn joined_headers(map: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in map {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.iter_mut().find(|(k, _)| k == name.as_str()) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            None => out.push((name.as_str().to_owned(), value)),
        }
    }
    out
}

/// Maps a transport error: a refusal by the guard anywhere in its causes, a timeout, or else a
/// connection failure.
fn failure(e: reqwest::Error, timeout: Duration) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(blocked) = c.downcast_ref::<Blocked>() {
            return Error::Blocked(blocked.clone());
        }
        cause = c.source();
    }
    if e.is_timeout() {
        return Error::Timeout(timeout);
    }
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    Error::Connection(message)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves `host` and keeps the addresses the policy allows; when every address is refused, the
/// error is [`Blocked`].
async fn allowed_addresses(
    policy: &Policy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, BoxError> {
    if let Some(ip) = guard::literal_address(&url::Host::Domain(host)) {
        policy.check(ip)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    let mut refused = None;
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| match policy.check(a.ip()) {
            Ok(()) => true,
            Err(b) => {
                refused.get_or_insert(b);
                false
            }
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (true, Some(blocked)) => Err(Box::new(blocked)),
        (true, None) => Err(format!("'{host}' resolves to no address").into()),
        (false, _) => Ok(allowed),
    }
}

/// Resolves names and passes on only the addresses the policy allows; when every address is
/// refused, the connection fails with [`Blocked`].
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = allowed_addresses(&policy, &host, 0).await?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests;
