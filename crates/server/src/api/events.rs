//! Events (webhook triggers): `POST /api/events` and `POST /api/events/{eventType}` start one run
//! per active workflow listening to the event type; 202 only after the event and its runs are
//! committed.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use switchboard_store::StoreRecord;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::EventScope;
use super::body::{RawJson, parse};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use crate::app::Shared;
use switchboard_engine::triggers::{self, Outcome, Request};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(post_event))
        .routes(routes!(post_typed_event))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventAccepted {
    event_id: String,
    run_ids: Vec<String>,
}

/// `{eventType, …any fields}`: the whole body becomes the runs' `trigger`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct EventBody {
    event_type: String,
}

/// The `Idempotency-Key` header, if given.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255)
            .map(|k| Some(k.to_owned()))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "",
                    "the Idempotency-Key header must be 1 to 255 visible characters",
                )
            }),
    }
}

/// Accepts an event: one run per active workflow whose trigger is `{type: "webhook", eventType}`.
#[utoipa::path(post, path = "/api/events", tag = "events", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = EventBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key, scoped to the store, kept 24 h")),
    responses((status = 202, body = EventAccepted), (status = 200, description = "a repeat: the first answer", body = EventAccepted),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_event(
    scope: EventScope,
    State(state): State<Shared>,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let payload: Value = parse(&body)?;
    let event_type = match payload.get("eventType") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "/eventType",
                "'eventType' must be a non-empty string",
            ));
        }
        None if payload.is_object() => {
            return Err(ApiError::invalid_field(
                "/eventType",
                "'eventType' is required",
            ));
        }
        None => {
            return Err(ApiError::invalid_field(
                "",
                "the event must be a JSON object",
            ));
        }
    };
    let key = idempotency_key(&headers)?;
    accept(&state, &scope.store, key, &body, event_type, payload).await
}

/// The same, for senders that cannot put `eventType` in the body.
#[utoipa::path(post, path = "/api/events/{eventType}", tag = "events", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Option<Object>,
    params(("eventType" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = EventAccepted), (status = 200, body = EventAccepted), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_typed_event(
    scope: EventScope,
    State(state): State<Shared>,
    Path(event_type): Path<String>,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let payload = typed_payload(&body, &event_type)?;
    let key = idempotency_key(&headers)?;
    accept(&state, &scope.store, key, &body, event_type, payload).await
}

/// The trigger of an event whose type is named outside the body (the path): the body, or `{}`
/// when empty, with `eventType` put in; a different `eventType` in the body is refused.
pub fn typed_payload(body: &[u8], event_type: &str) -> Result<Value, ApiError> {
    let mut payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse(body)?
    };
    let Value::Object(map) = &mut payload else {
        return Err(ApiError::invalid_field(
            "",
            "the event must be a JSON object",
        ));
    };
    match map.get("eventType") {
        Some(Value::String(t)) if *t == event_type => {}
        Some(other) => {
            return Err(ApiError::invalid_field(
                "/eventType",
                format!("the body's eventType {other} differs from the path's '{event_type}'"),
            ));
        }
        None => {
            map.insert("eventType".into(), Value::String(event_type.to_owned()));
        }
    }
    Ok(payload)
}

/// Charges an event to its store's event rate, and checks that the `starting` runs it would start
/// fit under the store's ceiling of runs in flight (docs/api.md).
pub fn admit(state: &Shared, store: &StoreRecord, starting: usize) -> ApiResult<()> {
    state
        .limits
        .events
        .admit(&store.id, store.limits.event_rate)?;
    room_for_runs(state, store, starting)
}

/// Whether `starting` more runs fit under the store's ceiling of runs in flight on this node.
pub fn room_for_runs(state: &Shared, store: &StoreRecord, starting: usize) -> ApiResult<()> {
    if starting == 0 {
        return Ok(());
    }
    let running = state.engine.runs_in_flight(&store.id) as i64;
    let own = store.limits.max_runs_in_flight;
    state.limits.runs_in_flight.allows(running, starting, own)
}

/// A request the store's limits refused: a repeat of one already accepted gets its first answer
/// all the same (200); anything else the refusal.
pub async fn replay_or(
    state: &Shared,
    store_id: &str,
    key: Option<&str>,
    fingerprint: &[u8],
    refused: ApiError,
) -> ApiResult<Response> {
    match triggers::replay(&state.engine, store_id, key, fingerprint).await? {
        Some(first) => Ok((StatusCode::OK, Json(first)).into_response()),
        None => Err(refused),
    }
}

/// Starts the runs of an event and answers as the contract says: 202 with the ids, or 200 with
/// the first answer for a repeated idempotency key.
pub async fn accept(
    state: &Shared,
    store: &StoreRecord,
    idempotency_key: Option<String>,
    raw: &[u8],
    event_type: String,
    payload: Value,
) -> ApiResult<Response> {
    let store_id = store.id.as_str();
    let clock = Instant::now();
    let targets = triggers::event_targets(&state.engine, store_id, &event_type).await?;
    let fingerprint = [event_type.as_bytes(), b"\n", raw].concat();
    if let Err(refused) = admit(state, store, targets.len()) {
        return replay_or(
            state,
            store_id,
            idempotency_key.as_deref(),
            &fingerprint,
            refused,
        )
        .await;
    }
    let request = Request {
        store_id,
        event_type: &event_type,
        trigger: payload,
        idempotency_key,
        fingerprint: &fingerprint,
        message: None,
        schedule: None,
        trigger_type: "webhook",
        replay_of: None,
    };
    let outcome = triggers::start(
        &state.engine,
        request,
        targets,
        |event_id, run_ids| json!({"eventId": event_id, "runIds": run_ids}),
    )
    .await?;
    metrics::histogram!("switchboard_event_ack_seconds").record(clock.elapsed().as_secs_f64());
    Ok(match outcome {
        Outcome::Created { event_id, run_ids } => (
            StatusCode::ACCEPTED,
            Json(EventAccepted { event_id, run_ids }),
        )
            .into_response(),
        Outcome::Replayed(first) => (StatusCode::OK, Json(first)).into_response(),
    })
}
