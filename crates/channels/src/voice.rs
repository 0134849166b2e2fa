//! Voice calls through Twilio (docs/protocols.md §2): `POST {base}/2010-04-01/Accounts/{sid}/Calls.json`,
//! form-encoded with Basic auth, and the `X-Twilio-Signature` of the status callbacks it sends back.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::Hmac;
use serde_json::Value;
use sha1::Sha1;
use switchboard_core::run::{StepError, phone_key};
use switchboard_outbound::{Client, Method, Request};

use crate::{Attempt, MessageStatus, PROVIDER_TIMEOUT, Sent, exchange, provider_error};

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Call progress events the status callback reports.
const CALLBACK_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// A store's voice channel.
#[derive(Clone)]
pub struct Config {
    pub account_sid: String,
    pub auth_token: String,
    /// The Twilio number (or verified caller id) calls come from.
    pub from: String,
    pub base_url: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Twilio({}, ***)", self.account_sid)
    }
}

/// What the call does once answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// TwiML run as given.
    Twiml(String),
    /// A URL Twilio fetches TwiML from.
    Url(String),
}

impl Script {
    /// TwiML that speaks `message`.
    pub fn say(message: &str) -> Script {
        let mut escaped = String::with_capacity(message.len());
        for c in message.chars() {
            match c {
                '&' => escaped.push_str("&amp;"),
                '<' => escaped.push_str("&lt;"),
                '>' => escaped.push_str("&gt;"),
                '"' => escaped.push_str("&quot;"),
                '\'' => escaped.push_str("&apos;"),
                c => escaped.push(c),
            }
        }
        Script::Twiml(format!("<Response><Say>{escaped}</Say></Response>"))
    }
}

/// The number Twilio dials: E.164 for a phone number; SIP and client addresses as given.
pub fn address(phone: &str) -> String {
    let phone = phone.trim();
    if phone.starts_with("sip:") || phone.starts_with("client:") {
        phone.to_owned()
    } else {
        format!("+{}", phone_key(phone))
    }
}

/// Places a call to `phone`; Twilio reports its progress to `status_callback` when given.
pub async fn call(
    client: &Client,
    config: &Config,
    phone: &str,
    script: &Script,
    status_callback: Option<&str>,
) -> Attempt {
    let to = address(phone);
    if to == "+" {
        return Attempt::failed(StepError::new(
            "invalid_phone_number",
            format!("'{phone}' holds no digits of a phone number"),
        ));
    }
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Calls.json",
        config.base_url.trim_end_matches('/'),
        config.account_sid
    );
    let url = match client.check_url(&url) {
        Ok(url) => url,
        Err(e) => return Attempt::failed(e.into()),
    };
    let form = form(&to, config, script, status_callback);
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", config.account_sid, config.auth_token));
    let request = Request {
        method: Method::POST,
        url,
        headers: vec![
            ("authorization".into(), format!("Basic {credentials}")),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(form.into_bytes()),
        timeout: PROVIDER_TIMEOUT,
    };
    let (http, response) = exchange(client, request, &["authorization"]).await;
    if let Some(dry) = crate::simulated(client, &http) {
        return dry;
    }
    let result = response.and_then(|r| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if !(200..300).contains(&r.status) {
            return Err(twilio_error(r.status, &body, r.header("retry-after")));
        }
        match body.get("sid").and_then(Value::as_str) {
            Some(sid) => Ok(Sent {
                provider_id: sid.to_owned(),
                status: body
                    .get("status")
                    .and_then(Value::as_str)
                    .and_then(MessageStatus::parse)
                    .unwrap_or(MessageStatus::Queued),
            }),
            None => Err(provider_error(
                "twilio",
                r.status,
                None,
                "Twilio answered without a call sid".into(),
                true,
            )),
        }
    });
    Attempt {
        result,
        http: Some(http),
    }
}

/// The form of a `Calls.json` request.
fn form(to: &str, config: &Config, script: &Script, status_callback: Option<&str>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", to).append_pair("From", &config.from);
    match script {
        Script::Twiml(twiml) => form.append_pair("Twiml", twiml),
        Script::Url(url) => form.append_pair("Url", url),
    };
    if let Some(callback) = status_callback {
        form.append_pair("StatusCallback", callback)
            .append_pair("StatusCallbackMethod", "POST");
        for event in CALLBACK_EVENTS {
            form.append_pair("StatusCallbackEvent", event);
        }
    }
    form.finish()
}

/// Twilio's errors: the 2010 API's `{code, message, more_info, status}` or RFC 9457's
/// `{type, title, status, code, detail}`. 429 and 5xx are worth another attempt.
fn twilio_error(status: u16, body: &Value, retry_after: Option<&str>) -> StepError {
    let code = body.get("code").filter(|c| !c.is_null()).cloned();
    let text = ["message", "detail", "title"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or("no error message");
    let message = match &code {
        Some(code) => format!("Twilio refused the call (code {code}): {text}"),
        None => format!("Twilio answered HTTP {status}: {text}"),
    };
    let retryable = status >= 500 || status == 429 || code == Some(Value::from(20429));
    let mut e = provider_error("twilio", status, code, message, retryable);
    if let Some(more) = body.get("more_info").and_then(Value::as_str) {
        e.details.insert("moreInfo".into(), more.into());
    }
    e.retry_after_ms = retry_after.and_then(switchboard_outbound::retry_after_ms);
    e
}

/// `X-Twilio-Signature` of a form-encoded callback to `url`: base64 of HMAC-SHA1 over the URL
/// followed by every parameter name and value, names sorted (a repeated name's values sorted too).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    use hmac::Mac;
    let mut mac = <Hmac<Sha1> as hmac::digest::KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes any key");
    mac.update(signed_data(url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn signed_data(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        sorted.entry(k).or_default().push(v);
    }
    let mut data = url.to_owned();
    for (name, mut values) in sorted {
        values.sort_unstable();
        values.dedup();
        for value in values {
            data.push_str(name);
            data.push_str(value);
        }
    }
    data
}

/// Whether `header` signs the callback, with the URL as configured or with its default port
/// added or removed (Twilio is inconsistent about ports).
pub fn signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> bool {
    let Some(given) = header
        .map(str::trim)
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
    else {
        return false;
    };
    url_variants(url).iter().any(|u| {
        crate::verify_mac::<Hmac<Sha1>>(
            auth_token.as_bytes(),
            &[signed_data(u, params).as_bytes()],
            &given,
        )
    })
}

fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Ok(parsed) = url::Url::parse(url) else {
        return variants;
    };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return variants,
    };
    // `Url` hides a default port, so both spellings are written out by hand.
    if let (Some(host), true) = (parsed.host_str(), parsed.port().is_none()) {
        let rest = &parsed[url::Position::BeforePath..];
        let scheme = parsed.scheme();
        variants.push(format!("{scheme}://{host}{rest}"));
        variants.push(format!("{scheme}://{host}:{default}{rest}"));
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn signature_test_vector() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(signature_valid(
            "12345",
            url,
            &params(),
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        assert!(!signature_valid(
            "12346",
            url,
            &params(),
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        let mut changed = params();
        changed[2].1 = "1235".into();
        assert!(!signature_valid(
            "12345",
            url,
            &changed,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        assert!(!signature_valid("12345", url, &params(), None));
    }

    #[test]
    fn either_port_spelling_is_accepted() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let sig = signature("12345", with_port, &params());
        assert!(signature_valid(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params(),
            Some(&sig)
        ));
        let sig = signature("12345", "http://h.example/x", &params());
        assert!(signature_valid(
            "12345",
            "http://h.example:80/x",
            &params(),
            Some(&sig)
        ));
    }

    #[test]
    fn say_escapes_and_addresses_are_e164() {
        assert_eq!(
            Script::say("Olá <Ana> & \"você\""),
            Script::Twiml(
                "<Response><Say>Olá &lt;Ana&gt; &amp; &quot;você&quot;</Say></Response>".into()
            )
        );
        assert_eq!(address("+55 (11) 99999-9999"), "+5511999999999");
        assert_eq!(address("client:alice"), "client:alice");
    }

    #[test]
    fn twilio_errors_of_both_shapes() {
        let legacy = json!({"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number.",
                            "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400});
        let e = twilio_error(400, &legacy, None);
        assert!(!e.retryable);
        assert_eq!(e.details["providerCode"], 21211);
        assert!(e.message.contains("not a valid phone number"));
        let problem = json!({"type": "https://www.twilio.com/docs/errors/20429", "title": "Too Many Requests",
                             "status": 429, "code": 20429, "detail": "slow down"});
        let e = twilio_error(429, &problem, Some("1"));
        assert!(e.retryable);
        assert_eq!(e.retry_after_ms, Some(1_000));
        assert!(e.message.contains("slow down"));
    }
}
