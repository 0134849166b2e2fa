//! Local fakes of the providers, checking requests the way the real ones do (docs/protocols.md §1–2):
//! - [`Meta`]: the Graph API's `POST /v{ver}/{phoneNumberId}/messages` — Bearer token, JSON body
//!   with `messaging_product`, digits-only `to`, and a well-formed `text` or `template`; it answers
//!   with Meta's success shape (a fresh wamid) or its error envelope. Failures can be scripted.
//!   It also builds and signs inbound webhooks the way Meta does (non-ASCII as `\uXXXX`).
//! - [`Twilio`]: `POST /2010-04-01/Accounts/{sid}/Calls.json` — Basic auth, form body with E.164
//!   `To`, `From`, exactly one of `Twiml`/`Url`; answers 201 with the call resource or Twilio's
//!   error shape. It signs status callbacks as Twilio does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const META_TOKEN: &str = "EAAG-test-access-token";
pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-twilio-auth-token";

type Json = (StatusCode, axum::Json<Value>);

fn meta_error(status: u16, code: i64, message: &str) -> Json {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(
            json!({"error": {"message": format!("(#{code}) {message}"), "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "AbCdEf123"}}),
        ),
    )
}

struct MetaState {
    received: Mutex<Vec<Value>>,
    scripted: Mutex<VecDeque<Json>>,
    count: Mutex<u64>,
}

pub struct Meta {
    pub base: String,
    state: Arc<MetaState>,
}

impl Meta {
    pub async fn start() -> Meta {
        let state = Arc::new(MetaState {
            received: Mutex::new(Vec::new()),
            scripted: Mutex::new(VecDeque::new()),
            count: Mutex::new(0),
        });
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(meta_messages))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Meta { base, state }
    }

    /// A fake Meta, set as the WhatsApp channel of the server's store `default`.
    pub async fn configured(s: &crate::harness::TestServer) -> Meta {
        let meta = Meta::start().await;
        let path = "/api/channels/whatsapp";
        let (status, body) =
            crate::harness::send(s.admin(reqwest::Method::PUT, path).json(&meta.channel())).await;
        assert_eq!(status, 200, "{body}");
        meta
    }

    /// The channel settings that point at this fake.
    pub fn channel(&self) -> Value {
        json!({"phoneNumberId": PHONE_NUMBER_ID, "accessToken": META_TOKEN, "appSecret": APP_SECRET,
               "verifyToken": VERIFY_TOKEN, "apiVersion": "23.0", "baseUrl": self.base})
    }

    /// The next sends fail with Meta's error `code` (HTTP `status`), one per send.
    pub fn fail_next(&self, times: usize, status: u16, code: i64, message: &str) {
        let mut scripted = self.state.scripted.lock().unwrap();
        for _ in 0..times {
            scripted.push_back(meta_error(status, code, message));
        }
    }

    /// Every well-formed message body accepted or refused by a scripted error, in order.
    pub fn received(&self) -> Vec<Value> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn meta_messages(
    State(state): State<Arc<MetaState>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if header("authorization") != format!("Bearer {META_TOKEN}") {
        return meta_error(401, 190, "Error validating access token").into_response();
    }
    if !version.starts_with('v') || phone_number_id != PHONE_NUMBER_ID {
        return meta_error(400, 100, "Unsupported post request").into_response();
    }
    if !header("content-type").starts_with("application/json") {
        return meta_error(400, 100, "Invalid parameter: the body must be JSON").into_response();
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return meta_error(400, 100, "Invalid parameter: malformed JSON").into_response();
    };
    if let Err(problem) = check_message(&message) {
        return meta_error(400, 131008, &problem).into_response();
    }
    state.received.lock().unwrap().push(message.clone());
    if let Some(scripted) = state.scripted.lock().unwrap().pop_front() {
        return scripted.into_response();
    }
    let n = {
        let mut count = state.count.lock().unwrap();
        *count += 1;
        *count
    };
    let to = message["to"].clone();
    (
        StatusCode::OK,
        axum::Json(
            json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.FAKE{n:06}"), "message_status": "accepted"}]}),
        ),
    )
        .into_response()
}

/// What Meta requires of a message body.
fn check_message(m: &Value) -> Result<(), String> {
    if m["messaging_product"] != "whatsapp" {
        return Err("messaging_product must be 'whatsapp'".into());
    }
    let to = m["to"].as_str().unwrap_or_default();
    if to.is_empty() || !to.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "'to' must be digits with the country code, not '{to}'"
        ));
    }
    match m["type"].as_str() {
        Some("text") if m["text"]["body"].as_str().is_some_and(|b| !b.is_empty()) => Ok(()),
        Some("template") => {
            let t = &m["template"];
            if t["name"].as_str().is_none_or(str::is_empty)
                || t["language"]["code"].as_str().is_none()
            {
                return Err("template needs a name and language.code".into());
            }
            for component in t["components"].as_array().into_iter().flatten() {
                for p in component["parameters"].as_array().into_iter().flatten() {
                    if p["type"] != "text"
                        || !p["text"].is_string()
                        || !p["parameter_name"].is_string()
                    {
                        return Err(format!("bad named parameter {p}"));
                    }
                }
            }
            Ok(())
        }
        other => Err(format!("unsupported message type {other:?} or empty text")),
    }
}

/// JSON as Meta writes it: every non-ASCII character escaped as `\uXXXX`.
pub fn meta_json(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `X-Hub-Signature-256` of a body under the App Secret.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A webhook envelope carrying `value` (messages or statuses).
pub fn envelope(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = "whatsapp".into();
    value["metadata"] =
        json!({"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
}

pub fn inbound_text(from: &str, wamid: &str, text: &str) -> Value {
    envelope(json!({
        "contacts": [{"profile": {"name": "Maria Souza"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1763730000", "type": "text", "text": {"body": text}}]
    }))
}

pub fn status_update(wamid: &str, recipient: &str, status: &str) -> Value {
    envelope(
        json!({"statuses": [{"id": wamid, "status": status, "timestamp": "1763730100", "recipient_id": recipient}]}),
    )
}

struct TwilioState {
    received: Mutex<Vec<Vec<(String, String)>>>,
    count: Mutex<u64>,
}

pub struct Twilio {
    pub base: String,
    state: Arc<TwilioState>,
}

impl Twilio {
    pub async fn start() -> Twilio {
        let state = Arc::new(TwilioState {
            received: Mutex::new(Vec::new()),
            count: Mutex::new(0),
        });
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Calls.json", post(twilio_calls))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Twilio { base, state }
    }

    pub fn channel(&self) -> Value {
        json!({"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN, "from": "+15005550006", "baseUrl": self.base})
    }

    /// The form fields of every accepted call request.
    pub fn received(&self) -> Vec<Vec<(String, String)>> {
        self.state.received.lock().unwrap().clone()
    }
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status})),
    )
        .into_response()
}

async fn twilio_calls(
    State(state): State<Arc<TwilioState>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if sid != ACCOUNT_SID || auth != format!("Basic {expected}") {
        return twilio_error(401, 20003, "Authenticate");
    }
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return twilio_error(400, 20001, "the body must be form-encoded");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let to = field("To").unwrap_or_default();
    if !(to.starts_with('+') && to.len() > 8 && to[1..].chars().all(|c| c.is_ascii_digit())) {
        return twilio_error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if field("From").is_none() {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    }
    if field("Twiml").is_some() == field("Url").is_some() {
        return twilio_error(400, 21205, "Give exactly one of Url or Twiml.");
    }
    state.received.lock().unwrap().push(form.clone());
    let n = {
        let mut count = state.count.lock().unwrap();
        *count += 1;
        *count
    };
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": format!("CA{n:032}"), "status": "queued", "account_sid": ACCOUNT_SID, "to": to,
            "from": field("From"), "direction": "outbound-api", "date_created": "Fri, 21 Nov 2026 13:05:00 +0000"})),
    )
        .into_response()
}
