//! Events (webhook triggers): `POST /api/events` and `POST /api/events/{eventType}` start one run
//! per active workflow listening to the event type; 202 only after the event and its runs are
//! committed.

use std::time::Instant;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_core::suggest::closest;
use switchboard_store::{EventFilter, StoreRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{EventScope, Scope};
use super::body::{RawJson, parse};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::{List, ListParams, Paging, refuse_unknown};
use crate::app::Shared;
use switchboard_engine::clock::{parse_rfc3339, rfc3339};
use switchboard_engine::triggers::{self, Outcome, Request};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(post_event, list_events))
        .routes(routes!(post_typed_event))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventAccepted {
    event_id: String,
    run_ids: Vec<String>,
    /// Why no run started, when no active workflow listens to the event type.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<EventWarning>,
}

#[derive(Serialize, ToSchema)]
pub struct EventWarning {
    pointer: String,
    message: String,
    /// Event types active workflows listen to that are close to this one.
    suggestions: Vec<String>,
}

/// The warning for an event no active workflow listens to, with the closest event types that
/// some do.
async fn unheard(state: &Shared, store_id: &str, event_type: &str) -> ApiResult<EventWarning> {
    let known = state
        .caches
        .event_types
        .get_or_load(store_id, async {
            Ok::<_, ApiError>(Some(state.store.trigger_keys(store_id, "webhook").await?))
        })
        .await?
        .unwrap_or_default();
    let suggestions = closest(event_type, known.iter().map(String::as_str));
    let mut message = format!("no active workflow listens to event type '{event_type}'");
    if let Some(first) = suggestions.first() {
        message.push_str(&format!("; did you mean '{first}'?"));
    }
    Ok(EventWarning {
        pointer: "/eventType".into(),
        message,
        suggestions,
    })
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
    let listened = targets.len();
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
        Outcome::Created { event_id, run_ids } => {
            let mut warnings = Vec::new();
            if listened == 0 {
                warnings.push(unheard(state, store_id, &event_type).await?);
            }
            let accepted = EventAccepted {
                event_id,
                run_ids,
                warnings,
            };
            (StatusCode::ACCEPTED, Json(accepted)).into_response()
        }
        Outcome::Replayed(first) => (StatusCode::OK, Json(first)).into_response(),
    })
}

const EVENT_FILTERS: [&str; 3] = ["eventType", "since", "until"];

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct EventQuery {
    event_type: Option<String>,
    /// RFC 3339: received at or after.
    since: Option<String>,
    /// RFC 3339: received before.
    until: Option<String>,
}

/// A received event and the runs it started (none, when no active workflow listened).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventView {
    id: String,
    /// The event's type (`execute` for a run started by hand, `replay` for a replay).
    event_type: String,
    /// The event as posted (the runs' trigger), with `timestamp`.
    #[schema(value_type = Object)]
    payload: Value,
    idempotency_key: Option<String>,
    received_at: String,
    run_ids: Vec<String>,
}

/// The events the store received, newest first, each with the runs it started.
#[utoipa::path(get, path = "/api/events", tag = "events", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(EventQuery, ListParams),
    responses((status = 200, body = List<EventView>), (status = 400, body = ErrorBody)))]
async fn list_events(
    scope: Scope,
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    Query(q): Query<EventQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<EventView>>> {
    refuse_unknown(raw.as_deref(), &EVENT_FILTERS)?;
    let time = |name: &str, v: Option<String>| {
        v.map(|s| {
            parse_rfc3339(&s).ok_or_else(|| {
                ApiError::invalid_field(
                    "",
                    format!("filter '{name}' must be an RFC 3339 time, not '{s}'"),
                )
            })
        })
        .transpose()
    };
    let filter = EventFilter {
        event_type: q.event_type,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
    };
    let found = state
        .store
        .list_events(&scope.store.id, &filter, &page)
        .await?;
    let ids = found.items.iter().map(|e| e.id.clone()).collect();
    let mut runs: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (event, run) in state.store.event_runs(ids).await? {
        runs.entry(event).or_default().push(run);
    }
    let events = found
        .items
        .into_iter()
        .map(|e| EventView {
            run_ids: runs.remove(&e.id).unwrap_or_default(),
            id: e.id,
            event_type: e.event_type,
            payload: e.payload,
            idempotency_key: e.idempotency_key,
            received_at: rfc3339(e.created_at),
        })
        .collect();
    let page = switchboard_store::Page {
        items: events,
        next: found.next,
    };
    Ok(Json(List::from_page(page, |e| e)))
}
