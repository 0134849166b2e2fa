//! `webhook`: an HTTP request, inline or a saved webhook (by `webhookId` or by name in `webhook`).

mod exchange;
pub mod response;

pub use exchange::{Auth, Call, DEFAULT_TIMEOUT_MS, Exchange, exchange};

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
    pub response_format: response::Format,
}

impl switchboard_script::Scripts for Request {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        self.url.scripts(out);
        self.params.scripts(out);
        self.headers.scripts(out);
        if let Some(b) = &self.body {
            b.content.scripts(out);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Body {
    pub format: String,
    /// `json`: any JSON whose strings are templates; `xml`/`text`: a template string; `form`: an object.
    pub content: TValue,
}

/// Calls an HTTP endpoint: a saved webhook (`webhookId` or `webhook`, with `params`) or a request
/// given inline. Each request carries `Idempotency-Key: {runId}:{stepId}:{visit}`. Output:
/// `{status, headers, body}`; a status outside `acceptStatuses` is the error `http_status`.
#[derive(utoipa::ToSchema)]
#[schema(as = WebhookConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// The id of a saved webhook.
    webhook_id: Option<String>,
    /// The name of a saved webhook.
    webhook: Option<String>,
    /// An object of templates: a saved webhook's `params` root, or the query parameters (headers
    /// with `paramsInHeaders`) of an inline request.
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
    /// GET, POST, PUT, PATCH or DELETE (default GET).
    method: Option<String>,
    /// The URL, a template; plain `http://` only where the server allows it.
    url: Option<String>,
    /// Send `params` as headers instead of the query string.
    params_in_headers: Option<bool>,
    /// An object of header templates.
    #[schema(value_type = Option<Object>)]
    headers: Option<serde_json::Value>,
    /// A connector whose credentials sign the request.
    connector_id: Option<String>,
    /// `{format: "json" | "xml" | "text" | "form", content}`: JSON with template strings, XML or
    /// text as a template (values XML-escaped), or an object of templates form-encoded.
    #[schema(value_type = Option<Object>)]
    body: Option<serde_json::Value>,
    /// Time limit in ms (at most 300000).
    timeout_ms: Option<u64>,
    /// Statuses that count as success (default: 2xx).
    accept_statuses: Option<Vec<u16>>,
    /// How the response body is read: `auto` (by Content-Type, the default), `json` or `text`.
    response_format: Option<String>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn example() -> serde_json::Value {
        serde_json::json!({"method": "POST", "url": "https://crm.example.com/leads", "body": {"format": "json", "content": {"phone": "{{trigger.phoneNumber}}"}}})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
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
            let params = f.object("params", OPTIONAL);
            return Some(Config::Saved { webhook, params });
        }
        request(f).map(|r| Config::Inline(Box::new(r)))
    }

    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        use switchboard_core::template::Scope;
        let loaded;
        let (request, params) = match self {
            Config::Inline(r) => (r.as_ref(), None),
            Config::Saved { webhook, params } => {
                let params = match params.as_ref().map(|p| env.value(p)).transpose() {
                    Ok(p) => p,
                    Err(e) => return crate::StepRun::failed(Value::Null, e),
                };
                loaded = match env.services.saved_webhook(webhook).await {
                    Ok(request) => request,
                    Err(e) => return crate::StepRun::failed(Value::Null, e),
                };
                (&loaded, params)
            }
        };
        let auth = match &request.connector_id {
            None => None,
            Some(id) => match env.services.connector(id).await {
                Ok(auth) => Some(auth),
                Err(e) => return crate::StepRun::failed(Value::Null, e),
            },
        };
        let scope = Scope { params: params.as_ref(), ..env.scope };
        // A saved webhook's templates are not the step's config: their JavaScript is computed now.
        let own;
        let evaluator = match self {
            Config::Inline(_) => env.evaluator(),
            Config::Saved { .. } => {
                own = env.compute(&scope, &[request]).await;
                switchboard_script::Evaluator::with(scope, &own)
            }
        };
        let done = exchange(
            request,
            Call {
                evaluator: &evaluator,
                auth: auth.as_ref(),
                default_body: params.as_ref(),
                idempotency_key: Some(&env.idempotency_key),
                client: env.services.http(),
            },
        )
        .await;
        let input = serde_json::json!({"method": done.request["method"], "url": done.request["url"]});
        let http = Some(done.record());
        crate::StepRun { input, result: done.result.map(switchboard_core::run::Outcome::Next), logs: Vec::new(), http }
    }
}

/// A saved webhook's definition (`/api/webhooks`), checked.
pub struct Saved {
    pub name: String,
    pub request: Request,
    /// What only the store can check (the connector).
    pub references: Vec<Reference>,
}

/// Checks a saved webhook: `name`, `description`, then the request fields of an inline step.
/// `Err` holds the problems; warnings (unknown fields) come back either way.
pub fn saved(
    body: &Value,
    options: &switchboard_core::workflow::Options,
    js: crate::Js,
) -> (Option<Saved>, switchboard_core::Report) {
    let (read, report) = crate::named(body, options, "the webhook", js, request);
    (read.map(|(name, request, references)| Saved { name, request, references }), report)
}

/// The request fields, of an inline step or of a saved webhook.
pub fn request(f: &mut Fields<'_, '_>) -> Option<Request> {
    let params = f.object("params", OPTIONAL);
    let method = f.one_of("method", OPTIONAL, &METHODS).unwrap_or_else(|| "GET".into());
    let url = f.url("url", REQUIRED);
    let params_in_headers = f.boolean("paramsInHeaders", OPTIONAL).unwrap_or(false);
    let headers = f.object("headers", OPTIONAL);
    let connector_id = f.string("connectorId", OPTIONAL);
    if let Some(id) = &connector_id {
        let id = id.clone();
        f.reference("connectorId", |pointer| Reference { kind: ReferenceKind::Connector, key: id, pointer });
    }
    let body = f.raw("body", OPTIONAL).and_then(|b| parse_body(b, f));
    let timeout_ms = f.integer("timeoutMs", OPTIONAL, 1, 300_000);
    let accept_statuses = f.raw("acceptStatuses", OPTIONAL).and_then(|v| parse_statuses(v, f));
    let response_format = f
        .one_of("responseFormat", OPTIONAL, &response::FORMATS)
        .map_or_else(Default::default, |name| response::Format::parse(&name));
    Some(Request {
        method,
        url: url?,
        params,
        params_in_headers,
        headers,
        connector_id,
        body,
        timeout_ms,
        accept_statuses,
        response_format,
    })
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


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Responder, Scene, error_code, output, spec};

    #[tokio::test]
    async fn sends_the_rendered_request_with_the_visit_key() {
        let sink = Responder::start(201, r#"{"promocode": "ANA10"}"#).await;
        let step = spec("webhook", json!({"method": "POST", "url": format!("{}/leads?src={{{{trigger.src}}}}", sink.url),
            "body": {"format": "json", "content": {"phone": "{{trigger.phone}}"}}}));
        let scene = Scene::new(json!({"src": "ads", "phone": "+55 11 98888-7777"}));
        let run = scene.run(&step, &FakeServices::default()).await;
        let out = output(&run);
        assert_eq!((&out["status"], &out["body"]), (&json!(201), &json!({"promocode": "ANA10"})));
        assert_eq!(run.input["method"], "POST");
        assert!(run.http.is_some());
        let got = sink.requests();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].line, "POST /leads?src=ads HTTP/1.1");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&got[0].body).unwrap(), json!({"phone": "+55 11 98888-7777"}));
        assert_eq!(got[0].headers.get("idempotency-key"), Some(&scene.key));
    }

    #[tokio::test]
    async fn an_unknown_saved_webhook_or_a_refused_status_fails() {
        let step = spec("webhook", json!({"webhook": "promo.lookup"}));
        let run = Scene::new(json!({})).run(&step, &FakeServices::default()).await;
        assert_eq!(error_code(&run), "webhook_not_found");
        let sink = Responder::start(503, "{}").await;
        let step = spec("webhook", json!({"url": format!("{}/x", sink.url)}));
        let run = Scene::new(json!({})).run(&step, &FakeServices::default()).await;
        let error = run.result.as_ref().unwrap_err();
        assert!(error.retryable, "{error:?}");
    }
}
