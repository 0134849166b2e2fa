//! The WhatsApp Business Cloud API (docs/protocols.md §1): `POST {base}/v{version}/{phoneNumberId}/messages`
//! with a Bearer token, Meta's error envelope mapped to retryable or permanent step errors, and the
//! inbound webhook — its `X-Hub-Signature-256` check here, its messages and statuses in [`inbound`].

mod inbound;

pub use inbound::{Inbound, Message, Status, parse};

use hmac::Hmac;
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_core::run::{StepError, phone_key};
use switchboard_outbound::{Client, Method, Request};

use crate::{Attempt, MessageStatus, PROVIDER_TIMEOUT, Sent, exchange, provider_error};

pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_API_VERSION: &str = "23.0";

/// Meta codes that say "later": rate limits (4, 80007, 130429), pair rate (131056), spam rate
/// (131048), and Meta's own trouble (131000, 131016). Every other 4xx is permanent.
const RETRYABLE_CODES: [i64; 7] = [4, 80007, 130429, 131048, 131056, 131000, 131016];
/// Meta asks for about 6 s between messages to one recipient (131056).
const PAIR_RATE_WAIT_MS: u64 = 6_000;

/// A store's WhatsApp channel.
#[derive(Clone)]
pub struct Config {
    pub phone_number_id: String,
    pub access_token: String,
    /// The Meta App Secret: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// What Meta's verification handshake must present.
    pub verify_token: String,
    pub api_version: String,
    pub base_url: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WhatsApp({}, ***)", self.phone_number_id)
    }
}

/// What a message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// An approved template; `variables` fill its named body parameters, in order.
    Template {
        name: String,
        language: String,
        variables: Vec<(String, String)>,
    },
    /// Free text (only inside the 24-hour customer-service window).
    Text { body: String },
}

impl Content {
    /// The request body for recipient `to` (digits with country code).
    pub fn payload(&self, to: &str) -> Value {
        let mut body =
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
        match self {
            Content::Text { body: text } => {
                body["type"] = "text".into();
                body["text"] = json!({"preview_url": false, "body": text});
            }
            Content::Template {
                name,
                language,
                variables,
            } => {
                let mut template = json!({"name": name, "language": {"code": language}});
                if !variables.is_empty() {
                    let parameters: Vec<Value> = variables
                        .iter()
                        .map(|(name, text)| json!({"type": "text", "parameter_name": name, "text": text}))
                        .collect();
                    template["components"] = json!([{"type": "body", "parameters": parameters}]);
                }
                body["type"] = "template".into();
                body["template"] = template;
            }
        }
        body
    }
}

/// Sends one message to `phone` (any spelling; its digits are used).
pub async fn send(client: &Client, config: &Config, phone: &str, content: &Content) -> Attempt {
    let to = phone_key(phone);
    if to.is_empty() {
        return Attempt::failed(StepError::new(
            "invalid_phone_number",
            format!("'{phone}' holds no digits of a phone number"),
        ));
    }
    let url = format!(
        "{}/v{}/{}/messages",
        config.base_url.trim_end_matches('/'),
        config.api_version.trim_start_matches('v'),
        config.phone_number_id
    );
    let url = match client.check_url(&url) {
        Ok(url) => url,
        Err(e) => return Attempt::failed(e.into()),
    };
    let request = Request {
        method: Method::POST,
        url,
        headers: vec![
            (
                "authorization".into(),
                format!("Bearer {}", config.access_token),
            ),
            ("content-type".into(), "application/json".into()),
        ],
        body: Some(content.payload(&to).to_string().into_bytes()),
        timeout: PROVIDER_TIMEOUT,
    };
    let (http, response) = exchange(client, request, &["authorization"]).await;
    if let Some(dry) = crate::simulated(client, &http) {
        return dry;
    }
    let result = response.and_then(|r| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if !(200..300).contains(&r.status) {
            return Err(meta_error(r.status, &body, r.header("retry-after")));
        }
        let message = body.pointer("/messages/0");
        let id = message.and_then(|m| m.get("id")).and_then(Value::as_str);
        match id {
            Some(id) => Ok(Sent {
                provider_id: id.to_owned(),
                // `held_for_quality_assessment`, `paused`: taken, not sent yet.
                status: message
                    .and_then(|m| m.get("message_status"))
                    .and_then(Value::as_str)
                    .and_then(MessageStatus::parse)
                    .unwrap_or(MessageStatus::Accepted),
            }),
            None => Err(provider_error(
                "whatsapp",
                r.status,
                None,
                "WhatsApp answered without a message id".into(),
                true,
            )),
        }
    });
    Attempt {
        result,
        http: Some(http),
    }
}

/// Meta's error envelope `{"error": {code, message, error_data: {details}, fbtrace_id}}` as a step
/// error; a body of another shape still fails by its HTTP status.
fn meta_error(status: u16, body: &Value, retry_after: Option<&str>) -> StepError {
    let error = body.get("error");
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let title = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("no error message");
    let details = error
        .and_then(|e| e.pointer("/error_data/details"))
        .and_then(Value::as_str);
    let message = match (code, details) {
        (Some(code), Some(d)) => {
            format!("WhatsApp refused the message (code {code}): {title} — {d}")
        }
        (Some(code), None) => format!("WhatsApp refused the message (code {code}): {title}"),
        (None, _) => format!("WhatsApp answered HTTP {status}: {title}"),
    };
    let retryable =
        status >= 500 || status == 429 || code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    let mut e = provider_error(
        "whatsapp",
        status,
        code.map(Value::from),
        message,
        retryable,
    );
    if let Some(d) = details {
        e.details.insert("details".into(), d.into());
    }
    if let Some(trace) = error.and_then(|e| e.get("fbtrace_id")) {
        e.details.insert("fbtraceId".into(), trace.clone());
    }
    e.retry_after_ms = retry_after
        .and_then(switchboard_outbound::retry_after_ms)
        .or((code == Some(131056)).then_some(PAIR_RATE_WAIT_MS));
    e
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under the App Secret.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(tag) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex).ok())
    else {
        return false;
    };
    crate::verify_mac::<Hmac<Sha256>>(app_secret.as_bytes(), &[body], &tag)
}

/// The answer to Meta's verification handshake: the challenge when the mode and token are right.
pub fn handshake<'a>(
    verify_token: &str,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
) -> Option<&'a str> {
    let token_ok = token.is_some_and(|t| crate::same(t.as_bytes(), verify_token.as_bytes()));
    (mode == Some("subscribe") && token_ok).then_some(challenge?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_test_vectors() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = "sha256=02fe0c96d28c59ddb7cf81eff0ca05809b360ba73b63c28210b5906a0a107d1f";
        assert!(signature_valid("app_secret_123", body, Some(good)));
        assert!(!signature_valid("app_secret_124", body, Some(good)));
        assert!(!signature_valid("app_secret_123", b"{}", Some(good)));
        assert!(!signature_valid("app_secret_123", body, Some(&good[7..])));
        assert!(!signature_valid("app_secret_123", body, None));
        let test = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert!(signature_valid("secret", b"test", Some(test)));
    }

    #[test]
    fn handshake_answers_only_the_right_token() {
        assert_eq!(
            handshake("tok", Some("subscribe"), Some("tok"), Some("c1")),
            Some("c1")
        );
        assert_eq!(
            handshake("tok", Some("subscribe"), Some("tak"), Some("c1")),
            None
        );
        assert_eq!(
            handshake("tok", Some("unsubscribe"), Some("tok"), Some("c1")),
            None
        );
        assert_eq!(handshake("tok", Some("subscribe"), None, Some("c1")), None);
    }

    #[test]
    fn template_payload_has_named_body_parameters() {
        let content = Content::Template {
            name: "cart_recovery".into(),
            language: "pt_BR".into(),
            variables: vec![
                ("first_name".into(), "Ana".into()),
                ("cart_value".into(), "R$ 200".into()),
            ],
        };
        assert_eq!(
            content.payload("5511999999999"),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511999999999",
                   "type": "template", "template": {"name": "cart_recovery", "language": {"code": "pt_BR"},
                   "components": [{"type": "body", "parameters": [
                       {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                       {"type": "text", "parameter_name": "cart_value", "text": "R$ 200"}]}]}})
        );
        let bare = Content::Template {
            name: "hello".into(),
            language: "en".into(),
            variables: vec![],
        };
        assert!(bare.payload("1").pointer("/template/components").is_none());
    }

    #[test]
    fn meta_errors_are_retryable_or_permanent() {
        let err = |code: i64, status: u16| {
            meta_error(
                status,
                &json!({"error": {"code": code, "message": format!("(#{code}) x")}}),
                None,
            )
        };
        for (code, status) in [
            (130429, 429),
            (131056, 400),
            (131048, 400),
            (80007, 400),
            (4, 400),
            (131000, 500),
        ] {
            assert!(err(code, status).retryable, "{code}");
        }
        for (code, status) in [
            (131047, 400),
            (131049, 400),
            (132001, 404),
            (100, 400),
            (190, 401),
        ] {
            assert!(!err(code, status).retryable, "{code}");
        }
        let e = err(131056, 400);
        assert_eq!(
            (e.code.as_str(), e.retry_after_ms),
            ("provider_error", Some(6_000))
        );
        assert_eq!(e.details["providerCode"], 131056);
        assert!(meta_error(503, &Value::Null, Some("2")).retry_after_ms == Some(2_000));
    }
}
