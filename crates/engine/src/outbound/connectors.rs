//! Connectors: `{name, type: "basic"|"bearer"|"api_key", username?, password?, token?,
//! key?: {name, value, in: "header"|"query"}}`. The secret fields are sealed (AES-256-GCM, bound to
//! the store and connector) before they are stored, shown as `***`, and kept when a replacement
//! omits them or sends `***`.

use serde_json::{Map, Value};
use switchboard_core::Report;
use switchboard_core::workflow::{Context, Fields, OPTIONAL, Options, REQUIRED, check_name};
use switchboard_steps::webhook::Auth;
use switchboard_store::ResourceRecord;

use crate::secrets::{Sealer, SecretFields, masked};

pub const TYPES: [&str; 3] = ["basic", "bearer", "api_key"];

/// Secret fields by JSON pointer.
const SECRETS: [&str; 3] = ["/password", "/token", "/key/value"];

fn bound_to(store_id: &str, id: &str) -> String {
    format!("connector:{store_id}:{id}")
}

/// Checks a connector as the API received it and gives its name and the body to store, secrets
/// sealed. `stored` is the body stored now (on a replacement), whose sealed secrets are kept
/// where the new body omits them or sends `***`.
pub fn prepare(
    sealer: &Sealer,
    store_id: &str,
    id: &str,
    body: &Value,
    stored: Option<&Value>,
) -> Result<(String, Value, Report), Report> {
    let mut ctx = Context {
        options: Options::default(),
        ..Default::default()
    };
    let secrets = SecretFields {
        sealer,
        bound_to: bound_to(store_id, id),
        stored,
    };
    let mut out = Map::new();
    let checked = Fields::new(Some(body), "", "the connector", &mut ctx).and_then(|mut f| {
        let name = f.string("name", REQUIRED);
        if let Some(Err(problem)) = name.as_deref().map(check_name) {
            f.error("name", problem);
        }
        let kind = f.one_of("type", REQUIRED, &TYPES);
        let secret = |f: &mut Fields, key: &str, pointer: &str, out: &mut Map<String, Value>| {
            if let Some(v) = secrets.read(f, key, pointer, REQUIRED) {
                out.insert(key.into(), v);
            }
        };
        match kind.as_deref() {
            Some("basic") => {
                if let Some(user) = f.string("username", REQUIRED) {
                    out.insert("username".into(), user.into());
                }
                secret(&mut f, "password", "/password", &mut out);
            }
            Some("bearer") => secret(&mut f, "token", "/token", &mut out),
            Some("api_key") => {
                let at = f.pointer("key");
                let value = f.raw("key", REQUIRED);
                let mut key = Map::new();
                if let Some(mut k) = value.and_then(|v| Fields::new(Some(v), at, "the key", f.ctx))
                {
                    if let Some(name) = k.string("name", REQUIRED) {
                        if name.is_empty() {
                            k.error("name", "the key's 'name' must not be empty");
                        }
                        key.insert("name".into(), name.into());
                    }
                    let placement = k.one_of("in", OPTIONAL, &["header", "query"]);
                    key.insert(
                        "in".into(),
                        placement.unwrap_or_else(|| "header".into()).into(),
                    );
                    secret(&mut k, "value", "/key/value", &mut key);
                    k.finish();
                }
                out.insert("key".into(), Value::Object(key));
            }
            _ => {}
        }
        f.finish();
        let name = name?;
        out.insert("type".into(), kind?.into());
        Some(name)
    });
    let report = ctx.report;
    match checked {
        Some(name) if report.is_valid() => {
            let mut body = Map::new();
            body.insert("name".into(), name.clone().into());
            body.extend(out);
            Ok((name, Value::Object(body), report))
        }
        _ => Err(report),
    }
}

/// The stored body as the API shows it: every secret `***`.
pub fn view(body: &Value) -> Value {
    masked(body, &SECRETS)
}

/// The connector's credentials, secrets opened.
pub fn open(sealer: &Sealer, record: &ResourceRecord) -> Result<Auth, String> {
    let body = &record.body;
    let text = |pointer: &str| -> Result<String, String> {
        body.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("'{pointer}' is missing"))
    };
    let secrets = SecretFields {
        sealer,
        bound_to: bound_to(&record.store_id, &record.id),
        stored: None,
    };
    let secret = |pointer: &str| secrets.open(body, pointer);
    match text("/type")?.as_str() {
        "basic" => Ok(Auth::Basic {
            username: text("/username")?,
            password: secret("/password")?,
        }),
        "bearer" => Ok(Auth::Bearer {
            token: secret("/token")?,
        }),
        "api_key" => Ok(Auth::ApiKey {
            name: text("/key/name")?,
            value: secret("/key/value")?,
            in_query: text("/key/in")? == "query",
        }),
        other => Err(format!("unknown connector type '{other}'")),
    }
}

/// Whether a stored definition (a saved webhook or a workflow) uses connector `id` anywhere.
pub fn uses(definition: &Value, id: &str) -> bool {
    match definition {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == "connectorId" && v.as_str() == Some(id)) || uses(v, id)),
        Value::Array(items) => items.iter().any(|v| uses(v, id)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sealer() -> Sealer {
        Sealer::new(&[7u8; 32])
    }

    #[test]
    fn secrets_are_sealed_masked_kept_and_opened() {
        let s = sealer();
        let body = json!({"type": "basic", "name": "crm", "username": "u", "password": "p4ss"});
        let (name, stored, _) = prepare(&s, "st_a", "con_1", &body, None).unwrap();
        assert_eq!(name, "crm");
        let sealed = stored["password"].as_str().unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("p4ss"));
        assert_eq!(
            view(&stored),
            json!({"name": "crm", "username": "u", "password": "***", "type": "basic"})
        );

        // A GET → PUT round trip keeps the secret; so does omitting it.
        for again in [
            view(&stored),
            json!({"type": "basic", "name": "crm", "username": "v"}),
        ] {
            let (_, replaced, _) = prepare(&s, "st_a", "con_1", &again, Some(&stored)).unwrap();
            assert_eq!(replaced["password"], stored["password"]);
        }
        let record = ResourceRecord::new(
            "st_a",
            switchboard_store::ResourceKind::Connector,
            "con_1".into(),
            name,
            stored,
            0,
        );
        match open(&s, &record).unwrap() {
            Auth::Basic { username, password } => {
                assert_eq!((username.as_str(), password.as_str()), ("u", "p4ss"))
            }
            other => panic!("{other:?}"),
        }
        // Sealed for one connector, it does not open for another.
        let moved = ResourceRecord {
            id: "con_2".into(),
            ..record
        };
        assert!(open(&s, &moved).is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let s = sealer();
        let report = prepare(
            &s,
            "st",
            "c",
            &json!({"type": "api_key", "name": "bad/name", "key": {"in": "cookie"}}),
            None,
        )
        .unwrap_err();
        let pointers: Vec<&str> = report.errors.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, ["/name", "/key", "/key/in", "/key"], "{report:?}");
        assert!(
            report.errors[3]
                .message
                .contains("missing required field 'value'")
        );
        let masked = json!({"type": "bearer", "name": "x", "token": "***"});
        let report = prepare(&s, "st", "c", &masked, None).unwrap_err();
        assert_eq!(report.errors[0].pointer, "/token");
        let report =
            prepare(&s, "st", "c", &json!({"type": "oauth", "name": "x"}), None).unwrap_err();
        assert_eq!(report.errors[0].pointer, "/type");
    }

    #[test]
    fn usage_is_found_anywhere_in_a_definition() {
        let wf = json!({"steps": [{"type": "webhook", "config": {"connectorId": "con_1"}}]});
        assert!(uses(&wf, "con_1"));
        assert!(!uses(&wf, "con_2"));
    }
}
