//! One HTTP exchange of a webhook: the request built from its templates (URL, params, headers,
//! connector credentials, body), sent through the guarded client, and the response read. Used by
//! the step and by a saved webhook's test-send alike.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use switchboard_core::run::StepError;
use switchboard_outbound::{Client, Method};
use switchboard_script::{Evaluator, eval};

use super::{Request, response};
use crate::expression_error;

/// Used when neither the step nor its saved webhook sets `timeoutMs` (n8n's default).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// Credentials a connector adds to a request.
#[derive(Clone)]
pub enum Auth {
    Basic { username: String, password: String },
    Bearer { token: String },
    ApiKey { name: String, value: String, in_query: bool },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(***)")
    }
}

/// What went out and came back, as history keeps it, and the step's result.
pub struct Exchange {
    /// `{method, url, headers, body}`: secrets as `***`, the body cut at the record limit.
    pub request: Value,
    /// `{status, headers, body}` with the body cut, when a response arrived.
    pub response: Option<Value>,
    pub duration_ms: u64,
    /// `{status, headers, body}` (the full parsed body) or the step error.
    pub result: Result<Value, StepError>,
}

impl Exchange {
    /// The step record's `http` field.
    pub fn record(&self) -> Value {
        json!({"request": self.request, "response": self.response, "durationMs": self.duration_ms})
    }

    fn failed(request: Value, error: StepError, started: Instant) -> Exchange {
        Exchange {
            request,
            response: None,
            duration_ms: started.elapsed().as_millis() as u64,
            result: Err(error),
        }
    }
}

/// What the request needs besides its templates.
pub struct Call<'a> {
    pub evaluator: &'a Evaluator<'a>,
    pub auth: Option<&'a Auth>,
    /// A saved webhook's caller `params`, sent as the JSON body (the query for GET) when the
    /// webhook defines no body.
    pub default_body: Option<&'a Value>,
    pub idempotency_key: Option<&'a str>,
    pub client: &'a Client,
}

/// Builds, sends and reads one request.
pub async fn exchange(request: &Request, call: Call<'_>) -> Exchange {
    let started = Instant::now();
    let built = match build(request, &call) {
        Ok(b) => b,
        Err(failure) => {
            let (echo, error) = *failure;
            return Exchange::failed(echo, error, started);
        }
    };
    let echo = echo_of(&built, call.auth, call.client);
    let accept = request.accept_statuses.as_deref();
    let format = request.response_format;
    match call.client.send(built).await {
        Err(e) => Exchange::failed(echo, StepError::from(e), started),
        Ok(r) => {
            let content_type = r.header("content-type");
            let headers = r.header_map();
            let recorded = call.client.response_echo(&r);
            let recorded_body = recorded["body"].as_str().unwrap_or_default().to_owned();
            let body = if r.truncated {
                Value::String(recorded_body.clone())
            } else {
                response::body(&r.body, content_type, format)
            };
            let accepted = match accept {
                Some(list) => list.contains(&r.status),
                None => (200..300).contains(&r.status),
            };
            let result = if accepted {
                Ok(json!({"status": r.status, "headers": headers, "body": body}))
            } else {
                Err(status_error(r.status, r.header("retry-after"), &recorded_body))
            };
            Exchange {
                request: echo,
                response: Some(recorded),
                duration_ms: r.duration.as_millis() as u64,
                result,
            }
        }
    }
}

/// What went out so far (for history) and why the request could not be sent.
type Failure = Box<(Value, StepError)>;

fn build(request: &Request, call: &Call<'_>) -> Result<switchboard_outbound::Request, Failure> {
    let fail_early = |e: StepError| Box::new((json!({"method": request.method}), e));
    let ev = call.evaluator;
    let url = ev.text(&request.url).map_err(|e| fail_early(expression_error(e)))?;
    let mut url = call.client.check_url(&url).map_err(|e| {
        Box::new((json!({"method": request.method, "url": url}), StepError::from(e)))
    })?;
    let evaluated = |v: &Option<switchboard_core::workflow::TValue>| -> Result<Vec<(String, String)>, StepError> {
        match v {
            None => Ok(Vec::new()),
            Some(v) => Ok(pairs(&ev.value(v).map_err(expression_error)?)),
        }
    };
    let params = evaluated(&request.params).map_err(fail_early)?;
    let mut headers = evaluated(&request.headers).map_err(fail_early)?;
    if request.params_in_headers {
        headers.extend(params);
    } else {
        append_query(&mut url, &params);
    }
    let method: Method = request.method.parse().expect("methods are checked when saved");
    let body = match (&request.body, call.default_body) {
        (Some(b), _) => Some(body(b, ev).map_err(fail_early)?),
        (None, Some(params)) if method == Method::GET => {
            append_query(&mut url, &pairs(params));
            None
        }
        (None, Some(params)) => Some(("application/json", params.to_string().into_bytes())),
        (None, None) => None,
    };
    if let Some((content_type, _)) = &body
        && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), (*content_type).into()));
    }
    match call.auth {
        None => {}
        Some(Auth::Basic { username, password }) => {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            headers.push(("authorization".into(), format!("Basic {pair}")));
        }
        Some(Auth::Bearer { token }) => headers.push(("authorization".into(), format!("Bearer {token}"))),
        Some(Auth::ApiKey { name, value, in_query: true }) => {
            url.query_pairs_mut().append_pair(name, value);
        }
        Some(Auth::ApiKey { name, value, in_query: false }) => headers.push((name.clone(), value.clone())),
    }
    if let Some(key) = call.idempotency_key {
        headers.push(("idempotency-key".into(), key.to_owned()));
    }
    Ok(switchboard_outbound::Request {
        method,
        url,
        headers,
        body: body.map(|(_, bytes)| bytes),
        timeout: Duration::from_millis(request.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
    })
}

/// An object's fields as name–text pairs (values as text templates show them).
fn pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), eval::text_of(v))).collect(),
        _ => Vec::new(),
    }
}

fn append_query(url: &mut url::Url, pairs: &[(String, String)]) {
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
}

/// The body bytes and their Content-Type, by format.
fn body(b: &super::Body, ev: &Evaluator) -> Result<(&'static str, Vec<u8>), StepError> {
    use switchboard_core::workflow::TValue;
    let text = |escape: bool| match &b.content {
        TValue::Template(t) if escape => ev.text_escaped(t, |s, out| {
            out.push_str(&quick_xml::escape::escape(s));
        }),
        TValue::Template(t) => ev.text(t),
        other => ev.value(other).map(|v| eval::text_of(&v)),
    };
    Ok(match b.format.as_str() {
        "json" => ("application/json", ev.value(&b.content).map_err(expression_error)?.to_string().into_bytes()),
        "xml" => ("application/xml; charset=utf-8", text(true).map_err(expression_error)?.into_bytes()),
        "form" => {
            let fields = pairs(&ev.value(&b.content).map_err(expression_error)?);
            let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
            ("application/x-www-form-urlencoded", encoded.into_bytes())
        }
        _ => ("text/plain; charset=utf-8", text(false).map_err(expression_error)?.into_bytes()),
    })
}

/// The request as history shows it: the connector's secrets replaced by `***`.
fn echo_of(r: &switchboard_outbound::Request, auth: Option<&Auth>, client: &Client) -> Value {
    let secret_header = match auth {
        Some(Auth::Basic { .. } | Auth::Bearer { .. }) => Some("authorization"),
        Some(Auth::ApiKey { name, in_query: false, .. }) => Some(name.as_str()),
        _ => None,
    };
    let mut url = r.url.clone();
    if let Some(Auth::ApiKey { name, in_query: true, .. }) = auth {
        let masked: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == name.as_str() { "***".into() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(masked);
    }
    let mut echo = client.echo(r, secret_header.as_slice());
    echo["url"] = Value::String(url.into());
    echo
}

/// A status outside `acceptStatuses`: 5xx and 429 are worth retrying, 429 after `Retry-After`.
fn status_error(status: u16, retry_after: Option<&str>, body: &str) -> StepError {
    let mut error = StepError::new("http_status", format!("the target answered HTTP {status}"));
    error.details.insert("status".into(), json!(status));
    error.details.insert("body".into(), json!(body));
    if status >= 500 || status == 429 {
        error = error.retryable();
        error.retry_after_ms = retry_after.and_then(switchboard_outbound::retry_after_ms);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_worth_retrying() {
        let e = status_error(429, Some("3"), "slow down");
        assert!(e.retryable);
        assert_eq!(e.retry_after_ms, Some(3_000));
        assert!(!status_error(404, None, "").retryable);
        assert!(status_error(503, None, "").retryable);
    }
}
