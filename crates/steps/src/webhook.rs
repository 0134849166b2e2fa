//! `webhook`: an HTTP request, inline or a saved webhook (by `webhookId` or by name in `webhook`).

use serde_json::Value;
use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, Reference, ReferenceKind, TValue};

pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
pub const BODY_FORMATS: [&str; 4] = ["json", "xml", "text", "form"];

#[derive(Debug, Clone)]
pub enum Config {
    /// A saved webhook, with `params` in scope for its templates.
    Saved { webhook: SavedRef, params: Option<TValue> },
    Inline(Box<Request>),
}

#[derive(Debug, Clone)]
pub enum SavedRef {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: Template,
    pub params: Option<TValue>,
    pub params_in_headers: bool,
    pub headers: Option<TValue>,
    pub connector_id: Option<String>,
    pub body: Option<Body>,
    pub timeout_ms: Option<u64>,
    pub accept_statuses: Option<Vec<u16>>,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub format: String,
    /// `json`: any JSON whose strings are templates; `xml`/`text`: a template string; `form`: an object.
    pub content: TValue,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let by_id = f.string("webhookId", OPTIONAL);
    let by_name = f.string("webhook", OPTIONAL);
    if let Some(id) = &by_id {
        let id = id.clone();
        f.reference("webhookId", |pointer| Reference { kind: ReferenceKind::WebhookId, key: id, pointer });
    }
    if let Some(name) = &by_name {
        let name = name.clone();
        f.reference("webhook", |pointer| Reference { kind: ReferenceKind::Webhook, key: name, pointer });
    }
    let params = f.object("params", OPTIONAL);
    let saved = match (by_id, by_name) {
        (Some(_), Some(_)) => {
            f.error("webhook", "give 'webhookId' or 'webhook', not both");
            return None;
        }
        (Some(id), None) => Some(SavedRef::Id(id)),
        (None, Some(name)) => Some(SavedRef::Name(name)),
        (None, None) => None,
    };
    if let Some(webhook) = saved {
        return Some(Config::Saved { webhook, params });
    }
    let method = f.one_of("method", OPTIONAL, &METHODS).unwrap_or_else(|| "GET".into());
    let url = f.url("url", REQUIRED);
    let params_in_headers = f.boolean("paramsInHeaders", OPTIONAL).unwrap_or(false);
    let headers = f.object("headers", OPTIONAL);
    let connector_id = f.string("connectorId", OPTIONAL);
    let body = f.raw("body", OPTIONAL).and_then(|b| parse_body(b, f));
    let timeout_ms = f.integer("timeoutMs", OPTIONAL, 1, 300_000);
    let accept_statuses = f.raw("acceptStatuses", OPTIONAL).and_then(|v| parse_statuses(v, f));
    Some(Config::Inline(Box::new(Request {
        method,
        url: url?,
        params,
        params_in_headers,
        headers,
        connector_id,
        body,
        timeout_ms,
        accept_statuses,
    })))
}

fn parse_body(value: &Value, f: &mut Fields<'_, '_>) -> Option<Body> {
    let at = f.pointer("body");
    let mut b = Fields::new(Some(value), at, "the body", f.ctx)?;
    let format = b.one_of("format", REQUIRED, &BODY_FORMATS);
    let content = match format.as_deref() {
        Some("json") => b.value("content", REQUIRED),
        Some("form") => b.object("content", REQUIRED),
        // xml and text: a template string, compiled once.
        Some(_) => b.template("content", REQUIRED).map(TValue::Template),
        None => None,
    };
    b.finish();
    Some(Body { format: format?, content: content? })
}

fn parse_statuses(value: &Value, f: &mut Fields<'_, '_>) -> Option<Vec<u16>> {
    let statuses: Option<Vec<u16>> = value
        .as_array()
        .and_then(|a| a.iter().map(|s| s.as_u64().filter(|s| (100..=599).contains(s)).map(|s| s as u16)).collect());
    if statuses.is_none() {
        f.error("acceptStatuses", "'acceptStatuses' must be an array of HTTP status codes (100-599)");
    }
    statuses
}

pub const EFFECTS: crate::Effects = crate::Effects::External;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("webhook", "Outbound HTTP (issue 4)")
}
