//! `/api/schedules`: pending scheduled calls and the upcoming tick of each cron workflow; one can
//! be cancelled (a call is dropped; a cron workflow skips that tick and goes on with the next).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_core::workflow::Trigger;
use switchboard_store::{
    Page, ScheduleFilter, ScheduleKind, ScheduleRecord, ScheduleSettle, ScheduleStatus,
};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::{List, ListParams, Paging};
use super::views::ScheduleView;
use crate::app::{AppState, Shared};
use switchboard_engine::clock::{now_ms, rfc3339};

/// Upcoming ticks a cron schedule's view lists.
const UPCOMING: usize = 5;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(get_schedule, cancel_schedule))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ScheduleQuery {
    /// `pending` (default), `fired`, `cancelled` or `failed`.
    status: Option<String>,
    workflow_id: Option<String>,
}

/// Scheduled calls and cron ticks, in creation order; by default the pending ones.
#[utoipa::path(get, path = "/api/schedules", tag = "schedules", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ScheduleQuery, ListParams),
    responses((status = 200, body = List<ScheduleView>), (status = 400, body = ErrorBody)))]
async fn list_schedules(
    scope: Scope,
    State(state): State<Shared>,
    Query(query): Query<ScheduleQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    let status = query
        .status
        .map(|status| {
            ScheduleStatus::parse(&status).ok_or_else(|| {
                let all = ScheduleStatus::names();
                ApiError::invalid_field("", format!("status must be one of {all}, not '{status}'"))
            })
        })
        .transpose()?;
    let filter = ScheduleFilter {
        status,
        workflow_id: query.workflow_id,
    };
    let page = state
        .store
        .list_schedules(&scope.store.id, &filter, &page)
        .await?;
    let mut views = Vec::with_capacity(page.items.len());
    for s in &page.items {
        views.push(view(&state, s).await?);
    }
    let views = Page {
        items: views,
        next: page.next,
    };
    Ok(Json(List::from_page(views, |v| v)))
}

/// One schedule.
#[utoipa::path(get, path = "/api/schedules/{id}", tag = "schedules", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody)))]
async fn get_schedule(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = find(&state, &scope.store.id, &id).await?;
    Ok(Json(view(&state, &s).await?))
}

/// Cancels a pending call, or skips a cron workflow's upcoming tick (the next one is scheduled).
#[utoipa::path(delete, path = "/api/schedules/{id}", tag = "schedules", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, description = "the schedule after the change", body = ScheduleView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_schedule(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = find(&state, &scope.store.id, &id).await?;
    if s.status != ScheduleStatus::Pending {
        return Err(ApiError::conflict(
            "/status",
            format!("the schedule is {} already", s.status),
        ));
    }
    let now = now_ms();
    let next = match s.kind {
        ScheduleKind::Cron => {
            let trigger = workflow_trigger(&state, &s).await?;
            match trigger.as_ref() {
                Some(Trigger::Schedule(cron)) => cron.next_after(s.due_at.max(now)),
                _ => None,
            }
        }
        _ => None,
    };
    let settle = ScheduleSettle {
        id: s.id.clone(),
        due_at: s.due_at,
        next,
        status: ScheduleStatus::Cancelled,
        run_id: None,
        error: Some(json!({"code": "cancelled", "message": "cancelled through the API"})),
        now,
    };
    if !state.store.settle_schedule(settle).await? {
        return Err(ApiError::conflict(
            "",
            "the schedule fired or changed meanwhile; look at it again",
        ));
    }
    let after = find(&state, &scope.store.id, &id).await?;
    let mut out = view(&state, &after).await?;
    if after.kind == ScheduleKind::Cron {
        out["skipped"] = json!(rfc3339(s.due_at));
    }
    Ok(Json(out))
}

async fn find(state: &AppState, store_id: &str, id: &str) -> ApiResult<ScheduleRecord> {
    state
        .store
        .get_schedule(store_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("schedule"))
}

/// The trigger of the schedule's workflow at its current version.
async fn workflow_trigger(state: &AppState, s: &ScheduleRecord) -> ApiResult<Option<Trigger>> {
    let Some(w) = state
        .store
        .get_workflow(&s.store_id, &s.workflow_id)
        .await?
    else {
        return Ok(None);
    };
    let graph = state
        .engine
        .graphs
        .get(&s.store_id, &w.id, w.version)
        .await?;
    Ok(graph.map(|g| g.trigger.clone()))
}

/// A schedule as the API shows it; a pending cron tick with its expression and the ticks after.
async fn view(state: &AppState, s: &ScheduleRecord) -> ApiResult<Value> {
    let mut out = Map::new();
    out.insert("id".into(), s.id.clone().into());
    out.insert("kind".into(), s.kind.as_str().into());
    out.insert("workflowId".into(), s.workflow_id.clone().into());
    out.insert("status".into(), s.status.as_str().into());
    out.insert("runAt".into(), rfc3339(s.due_at).into());
    if let Some(inputs) = &s.inputs {
        out.insert("inputs".into(), inputs.clone());
    }
    if let (Some(run), Some(step)) = (&s.origin_run_id, &s.origin_step_id) {
        out.insert("scheduledBy".into(), json!({"runId": run, "stepId": step}));
    }
    if s.kind == ScheduleKind::Cron
        && s.status == ScheduleStatus::Pending
        && let Some(Trigger::Schedule(cron)) = workflow_trigger(state, s).await?
    {
        let upcoming: Vec<String> = cron
            .upcoming(s.due_at, UPCOMING)
            .into_iter()
            .map(rfc3339)
            .collect();
        out.insert(
            "cron".into(),
            json!({
                "expression": cron.expr,
                "timezone": cron.timezone.name(),
                "catchUp": cron.catch_up.as_str(),
                "after": upcoming,
            }),
        );
    }
    if let Some(run) = &s.run_id {
        out.insert("runId".into(), run.clone().into());
    }
    if let Some(at) = s.fired_at {
        out.insert("firedAt".into(), rfc3339(at).into());
    }
    if let Some(e) = &s.error {
        out.insert("error".into(), e.clone());
    }
    out.insert("createdAt".into(), rfc3339(s.created_at).into());
    out.insert("updatedAt".into(), rfc3339(s.updated_at).into());
    Ok(Value::Object(out))
}
