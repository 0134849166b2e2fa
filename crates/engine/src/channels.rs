//! The server's side of the channels: each store's settings of WhatsApp, email and voice (kept as
//! `channel` resources named after the channel, secrets sealed and shown as `***`), read back for
//! steps and for checking inbound signatures.

use serde_json::{Map, Value};
use switchboard_channels::{email, voice, whatsapp};
use switchboard_core::Report;
use switchboard_core::run::StepError;
use switchboard_core::workflow::{Context, Fields, OPTIONAL, Options, REQUIRED};
use switchboard_outbound::Client;
use switchboard_store::{ResourceKind, ResourceRecord, Store};

use crate::secrets::{Sealer, SecretFields, masked};

/// The channels a store can configure.
pub const KINDS: [&str; 3] = ["whatsapp", "email", "voice"];

/// Secret fields of each channel, by JSON pointer.
fn secrets(kind: &str) -> &'static [&'static str] {
    match kind {
        "whatsapp" => &["/accessToken", "/appSecret", "/verifyToken"],
        "email" => &["/password"],
        _ => &["/authToken"],
    }
}

fn bound_to(store_id: &str, kind: &str) -> String {
    format!("channel:{store_id}:{kind}")
}

/// Checks a channel's settings as the API received them and gives the body to store (defaults
/// filled in, secrets sealed; `stored` secrets kept where the new body omits them or sends `***`).
pub fn prepare(
    client: &Client,
    sealer: &Sealer,
    store_id: &str,
    kind: &str,
    body: &Value,
    stored: Option<&Value>,
) -> Result<(Value, Report), Report> {
    let mut ctx = Context {
        options: Options::default(),
        ..Default::default()
    };
    let secrets = SecretFields {
        sealer,
        bound_to: bound_to(store_id, kind),
        stored,
    };
    let mut out = Map::new();
    let what = format!("the {kind} channel");
    if let Some(mut f) = Fields::new(Some(body), "", &what, &mut ctx) {
        let mut text = |f: &mut Fields, key: &str, required: bool, default: Option<&str>| {
            let value = f.string(key, required).or(default.map(str::to_owned));
            match value {
                Some(v) if v.trim().is_empty() => {
                    f.error(key, format!("'{key}' must not be empty"))
                }
                Some(v) => {
                    out.insert(key.into(), v.into());
                }
                None => {}
            }
        };
        let mut sealed = Vec::new();
        let mut secret = |f: &mut Fields, key: &str, required: bool| {
            if let Some(v) = secrets.read(f, key, &format!("/{key}"), required) {
                sealed.push((key.to_owned(), v));
            }
        };
        match kind {
            "whatsapp" => {
                text(&mut f, "phoneNumberId", REQUIRED, None);
                secret(&mut f, "accessToken", REQUIRED);
                secret(&mut f, "appSecret", REQUIRED);
                secret(&mut f, "verifyToken", REQUIRED);
                text(
                    &mut f,
                    "apiVersion",
                    OPTIONAL,
                    Some(whatsapp::DEFAULT_API_VERSION),
                );
                text(
                    &mut f,
                    "baseUrl",
                    OPTIONAL,
                    Some(whatsapp::DEFAULT_BASE_URL),
                );
            }
            "email" => {
                text(&mut f, "host", REQUIRED, None);
                text(&mut f, "security", OPTIONAL, Some("starttls"));
                text(&mut f, "username", OPTIONAL, None);
                secret(&mut f, "password", OPTIONAL);
                text(&mut f, "from", REQUIRED, None);
                let port = f.integer("port", REQUIRED, 1, 65_535);
                if let Some(port) = port {
                    out.insert("port".into(), port.into());
                }
            }
            _ => {
                text(&mut f, "accountSid", REQUIRED, None);
                secret(&mut f, "authToken", REQUIRED);
                text(&mut f, "from", REQUIRED, None);
                text(&mut f, "baseUrl", OPTIONAL, Some(voice::DEFAULT_BASE_URL));
            }
        }
        check_values(client, &mut f, &out);
        f.finish();
        out.extend(sealed);
    }
    let report = ctx.report;
    if report.is_valid() {
        Ok((Value::Object(out), report))
    } else {
        Err(report)
    }
}

/// What can be judged of the values themselves: versions, URLs, the SMTP security and sender.
fn check_values(client: &Client, f: &mut Fields, out: &Map<String, Value>) {
    let get = |key: &str| out.get(key).and_then(Value::as_str);
    if let Some(version) = get("apiVersion") {
        let digits = version.trim_start_matches('v');
        if !digits
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            f.error(
                "apiVersion",
                format!("'{version}' is not a Graph API version such as '23.0'"),
            );
        }
    }
    if let Some(url) = get("baseUrl")
        && let Err(e) = client.check_url(url)
    {
        f.error("baseUrl", e.to_string());
    }
    if let Some(security) = get("security")
        && email::Security::parse(security).is_none()
    {
        f.error(
            "security",
            format!(
                "'{security}' is not one of {}",
                switchboard_core::workflow::quoted(&email::Security::NAMES)
            ),
        );
    }
    if out.contains_key("host")
        && let Some(from) = get("from")
        && let Err(e) = email::mailbox(from)
    {
        f.error("from", e);
    }
}

/// The stored settings as the API shows them: secrets as `***`.
pub fn view(kind: &str, body: &Value) -> Value {
    masked(body, secrets(kind))
}

/// The store's settings of `kind`: `channel_not_configured` when it has none, and a step error
/// when they cannot be read.
pub async fn load<T>(
    store: &dyn Store,
    sealer: &Sealer,
    store_id: &str,
    kind: &str,
    open: fn(&SecretFields, &Value) -> Result<T, String>,
) -> Result<T, StepError> {
    let record = stored(store, store_id, kind)
        .await
        .map_err(|e| {
            StepError::new(
                "store_unavailable",
                format!("the store could not be read: {e}"),
            )
            .retryable()
        })?
        .ok_or_else(|| {
            StepError::new(
                "channel_not_configured",
                format!(
                    "this store has no {kind} channel: configure it with PUT /api/channels/{kind}"
                ),
            )
        })?;
    let secrets = SecretFields {
        sealer,
        bound_to: bound_to(store_id, kind),
        stored: None,
    };
    open(&secrets, &record.body).map_err(|e| {
        StepError::new(
            "channel_unreadable",
            format!("the {kind} channel's settings cannot be read: {e}"),
        )
    })
}

/// The stored record of a store's channel.
pub async fn stored(
    store: &dyn Store,
    store_id: &str,
    kind: &str,
) -> switchboard_store::Result<Option<ResourceRecord>> {
    store
        .resource_by_name(store_id, ResourceKind::Channel, kind)
        .await
}

fn text(body: &Value, key: &str) -> Result<String, String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("'{key}' is missing"))
}

pub fn open_whatsapp(secrets: &SecretFields, body: &Value) -> Result<whatsapp::Config, String> {
    Ok(whatsapp::Config {
        phone_number_id: text(body, "phoneNumberId")?,
        access_token: secrets.open(body, "/accessToken")?,
        app_secret: secrets.open(body, "/appSecret")?,
        verify_token: secrets.open(body, "/verifyToken")?,
        api_version: text(body, "apiVersion")?,
        base_url: text(body, "baseUrl")?,
    })
}

pub fn open_email(secrets: &SecretFields, body: &Value) -> Result<email::Config, String> {
    let security = text(body, "security")?;
    Ok(email::Config {
        host: text(body, "host")?,
        port: body
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or("'port' is missing")?,
        security: email::Security::parse(&security).ok_or("'security' is unknown")?,
        username: text(body, "username").ok(),
        password: body
            .get("password")
            .map(|_| secrets.open(body, "/password"))
            .transpose()?,
        from: text(body, "from")?,
    })
}

pub fn open_voice(secrets: &SecretFields, body: &Value) -> Result<voice::Config, String> {
    Ok(voice::Config {
        account_sid: text(body, "accountSid")?,
        auth_token: secrets.open(body, "/authToken")?,
        from: text(body, "from")?,
        base_url: text(body, "baseUrl")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Client {
        Client::new(switchboard_outbound::Policy::default(), Default::default())
    }

    #[test]
    fn settings_are_checked_sealed_masked_and_opened() {
        let sealer = Sealer::new(&[3u8; 32]);
        let body = json!({"phoneNumberId": "1122", "accessToken": "EAAG", "appSecret": "s3cret", "verifyToken": "vt"});
        let (stored, _) = prepare(&client(), &sealer, "st_a", "whatsapp", &body, None).unwrap();
        assert_eq!(stored["baseUrl"], whatsapp::DEFAULT_BASE_URL);
        assert!(!stored.to_string().contains("s3cret"));
        let shown = view("whatsapp", &stored);
        assert_eq!(
            (shown["appSecret"].as_str(), shown["phoneNumberId"].as_str()),
            (Some("***"), Some("1122"))
        );
        // GET → PUT keeps the secrets.
        let (again, _) = prepare(
            &client(),
            &sealer,
            "st_a",
            "whatsapp",
            &shown,
            Some(&stored),
        )
        .unwrap();
        let secrets = SecretFields {
            sealer: &sealer,
            bound_to: bound_to("st_a", "whatsapp"),
            stored: None,
        };
        let opened = open_whatsapp(&secrets, &again).unwrap();
        assert_eq!(
            (opened.app_secret.as_str(), opened.verify_token.as_str()),
            ("s3cret", "vt")
        );
        // Sealed for one store, they do not open for another.
        let other = SecretFields {
            sealer: &sealer,
            bound_to: bound_to("st_b", "whatsapp"),
            stored: None,
        };
        assert!(open_whatsapp(&other, &again).is_err());
    }

    #[test]
    fn problems_point_at_their_fields() {
        let sealer = Sealer::new(&[3u8; 32]);
        let pointers = |kind: &str, body: Value| -> Vec<String> {
            let report = prepare(&client(), &sealer, "st", kind, &body, None).unwrap_err();
            report.errors.into_iter().map(|p| p.pointer).collect()
        };
        assert_eq!(
            pointers(
                "email",
                json!({"host": "smtp.example.com", "port": 70000, "security": "ssl", "from": "nobody"})
            ),
            ["/port", "/security", "/from"]
        );
        assert_eq!(
            pointers(
                "whatsapp",
                json!({"phoneNumberId": "", "accessToken": "a", "appSecret": "b", "verifyToken": "c",
                                        "apiVersion": "latest", "baseUrl": "http://127.0.0.1:9"})
            ),
            ["/phoneNumberId", "/apiVersion", "/baseUrl"]
        );
        assert_eq!(
            pointers("voice", json!({"accountSid": "AC1", "from": "+1555"})),
            ["",]
        );
    }
}
