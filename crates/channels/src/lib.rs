//! Message providers, spoken in their own wire protocols (docs/protocols.md §1–3):
//! - [`whatsapp`]: the WhatsApp Business Cloud API (Graph API) — sending text and template
//!   messages, and reading its signed inbound webhooks (messages and delivery statuses);
//! - [`email`]: SMTP through lettre, without TLS, with STARTTLS or implicit TLS;
//! - [`voice`]: Twilio's `Calls.json`, and its signed status callbacks.
//!
//! Every connection goes through the guarded client of `switchboard-outbound` (HTTP, or its
//! resolver for SMTP), so the SSRF rules apply to providers too. Failures are step errors:
//! `provider_error` carries the provider's own code and says whether another attempt may succeed.

pub mod email;
pub mod voice;
pub mod whatsapp;

use std::time::{Duration, Instant};

use hmac::Mac;
use serde_json::{Value, json};
use switchboard_core::run::StepError;
pub use switchboard_core::status::MessageStatus;
use switchboard_outbound::{Client, Request, Response};

/// How long a provider call may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a provider accepted: its id for the message or call, and the status it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub provider_id: String,
    pub status: MessageStatus,
}

/// One call to a provider: the result, and the HTTP exchange as run history keeps it
/// (`{request, response, durationMs}`, credentials as `***`), when one took place.
pub struct Attempt {
    pub result: Result<Sent, StepError>,
    pub http: Option<Value>,
}

impl Attempt {
    fn failed(error: StepError) -> Attempt {
        Attempt {
            result: Err(error),
            http: None,
        }
    }
}

/// A dry run's message (a client that sends nothing, with no mock for the step): taken as sent,
/// with a `dry_` id, the request it would have been kept in `http`. With a mock, the mocked answer
/// is read as the provider's would be.
fn simulated(client: &Client, http: &Value) -> Option<Attempt> {
    client.simulation().filter(|s| !s.mocked).map(|_| Attempt {
        result: Ok(Sent {
            provider_id: switchboard_core::ids::new_id("dry"),
            status: MessageStatus::Simulated,
        }),
        http: Some(http.clone()),
    })
}

/// Sends `request` through the guarded client; gives the exchange for history and the response.
async fn exchange(
    client: &Client,
    request: Request,
    secret_headers: &[&str],
) -> (Value, Result<Response, StepError>) {
    let echo = client.echo(&request, secret_headers);
    let started = Instant::now();
    match client.send(request).await {
        Ok(r) => {
            let record = json!({
                "request": echo,
                "response": client.response_echo(&r),
                "durationMs": r.duration.as_millis() as u64,
            });
            (record, Ok(r))
        }
        Err(e) => {
            let record = json!({
                "request": echo,
                "response": null,
                "durationMs": started.elapsed().as_millis() as u64,
            });
            (record, Err(e.into()))
        }
    }
}

/// A provider's refusal as a step error `provider_error`, with the provider's code and the HTTP
/// status in its details.
fn provider_error(
    provider: &str,
    status: u16,
    code: Option<Value>,
    message: String,
    retryable: bool,
) -> StepError {
    let mut error = StepError::new("provider_error", message);
    error.details.insert("provider".into(), provider.into());
    error.details.insert("status".into(), status.into());
    if let Some(code) = code {
        error.details.insert("providerCode".into(), code);
    }
    if retryable { error.retryable() } else { error }
}

/// Checks an HMAC signature in constant time.
fn verify_mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for part in message {
        mac.update(part);
    }
    mac.verify_slice(tag).is_ok()
}

/// Compares two secrets in constant time (for their length).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
