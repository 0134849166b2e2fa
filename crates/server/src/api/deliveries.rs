//! `/api/subscriptions/{id}/deliveries`, `/recover` and `/api/deliveries`: what was sent to a
//! subscription, each attempt's log, and sending again by hand.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_core::workflow::{Context, Fields, OPTIONAL, REQUIRED};
use switchboard_store::{DeliveryFilter, DeliveryRecord, DeliveryStatus, SubscriptionRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::{List, ListParams, Paging};
use super::resources::invalid;
use super::subscriptions::find;
use super::views::{DeliveryView, Recovered};
use crate::app::{AppState, Shared};
use switchboard_engine::clock::{now_ms, parse_rfc3339, rfc3339};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(recover))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
}

async fn find_delivery(state: &AppState, store_id: &str, id: &str) -> ApiResult<DeliveryRecord> {
    state
        .store
        .get_delivery(store_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// `pending`, `succeeded`, `failed` or `cancelled`.
    status: Option<String>,
    /// One event name.
    event: Option<String>,
}

fn delivery_view(d: &DeliveryRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), d.id.clone().into());
    out.insert("subscriptionId".into(), d.subscription_id.clone().into());
    out.insert("eventId".into(), d.event_id.clone().into());
    out.insert("event".into(), d.event.clone().into());
    out.insert("status".into(), d.status.as_str().into());
    out.insert("attempts".into(), d.attempts.into());
    out.insert(
        "nextAttemptAt".into(),
        d.next_attempt_at
            .filter(|_| d.status == DeliveryStatus::Pending)
            .map(rfc3339)
            .into(),
    );
    out.insert("lastStatus".into(), d.last_status.into());
    out.insert("lastError".into(), d.last_error.clone().into());
    out.insert("deliveredAt".into(), d.delivered_at.map(rfc3339).into());
    out.insert("createdAt".into(), rfc3339(d.created_at).into());
    out.insert("updatedAt".into(), rfc3339(d.updated_at).into());
    Value::Object(out)
}

/// A subscription's deliveries, newest first.
#[utoipa::path(get, path = "/api/subscriptions/{id}/deliveries", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(DeliveryQuery, ListParams),
    responses((status = 200, body = List<DeliveryView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    let status = query
        .status
        .map(|status| {
            DeliveryStatus::parse(&status).ok_or_else(|| {
                let all = DeliveryStatus::names();
                ApiError::invalid_field("", format!("status must be one of {all}, not '{status}'"))
            })
        })
        .transpose()?;
    find(&state, &scope.store.id, &id).await?;
    let filter = DeliveryFilter {
        status,
        event: query.event,
    };
    let page = state
        .store
        .list_deliveries(&scope.store.id, &id, &filter, &page)
        .await?;
    Ok(Json(List::from_page(page, |d| delivery_view(&d))))
}

/// `{since, until?}`: RFC 3339 times.
#[derive(ToSchema)]
#[allow(dead_code)]
struct RecoverInput {
    since: String,
    until: Option<String>,
}

/// Sends again every failed delivery of the subscription created in `[since, until)`: one
/// attempt each, in the background. Deliveries that succeeded are not sent again.
#[utoipa::path(post, path = "/api/subscriptions/{id}/recover", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = RecoverInput,
    responses((status = 200, body = Recovered), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn recover(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let mut ctx = Context::default();
    let read = Fields::new(Some(&body), "", "recover request", &mut ctx).map(|mut f| {
        let mut time = |key: &str, required: bool| {
            let text = f.string(key, required)?;
            let at = parse_rfc3339(&text);
            if at.is_none() {
                f.error(
                    key,
                    format!("'{key}' is an RFC 3339 time like 2026-11-21T13:05:00Z, not '{text}'"),
                );
            }
            at
        };
        let since = time("since", REQUIRED);
        let until = time("until", OPTIONAL);
        f.finish();
        (since, until)
    });
    let report = ctx.report;
    let (Some((Some(since), until)), true) = (read, report.is_valid()) else {
        return Err(invalid("recover request", &report));
    };
    let subscription = find(&state, &scope.store.id, &id).await?;
    refuse_disabled(&subscription)?;
    let recovered = state
        .store
        .recover_deliveries(&scope.store.id, &id, since, until, now_ms())
        .await?;
    Ok(Json(json!({"subscriptionId": id, "recovered": recovered})))
}

/// A disabled subscription gets nothing: sending to it would only fail again.
fn refuse_disabled(s: &SubscriptionRecord) -> ApiResult<()> {
    if s.active {
        return Ok(());
    }
    Err(ApiError::conflict(
        "/active",
        format!(
            "subscription {} is disabled: turn it on first (PATCH {{\"active\": true}})",
            s.id
        ),
    ))
}

/// A delivery with the log of its attempts.
#[utoipa::path(get, path = "/api/deliveries/{id}", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody)))]
async fn get_delivery(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = find_delivery(&state, &scope.store.id, &id).await?;
    let log: Vec<Value> = state
        .store
        .delivery_attempts(&d.id)
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "at": rfc3339(a.started_at),
                "durationMs": a.duration_ms,
                "status": a.status,
                "response": a.response,
                "error": a.error,
                "manual": a.manual,
            })
        })
        .collect();
    let mut out = delivery_view(&d);
    out["log"] = json!(log);
    Ok(Json(out))
}

/// Sends a delivery again now: a pending one sooner, a finished one once more (a manual attempt,
/// not followed by the retry schedule). The receiver sees the same `webhook-id`.
#[utoipa::path(post, path = "/api/deliveries/{id}/retry", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_delivery(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = find_delivery(&state, &scope.store.id, &id).await?;
    if let Some(s) = state
        .store
        .get_subscription(&scope.store.id, &d.subscription_id)
        .await?
    {
        refuse_disabled(&s)?;
    }
    let d = state
        .store
        .retry_delivery(&scope.store.id, &id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(Json(delivery_view(&d)))
}
