//! Run history: list with filters, detail with every step visit, cancel and retry.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_core::run::{RunStatus, StepStatus};
use switchboard_store::{RunFilter, RunRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::{List, ListParams, Paging};
use crate::app::{AppState, Shared};
use switchboard_engine::clock::{now_ms, parse_rfc3339, rfc3339};
use switchboard_engine::context_of;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
        .routes(routes!(retry_run))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    id: String,
    workflow_id: String,
    workflow_version: i64,
    /// `queued|running|waiting|completed|failed|cancelled`
    status: String,
    created_at: String,
    finished_at: Option<String>,
}

impl From<RunRecord> for RunSummary {
    fn from(r: RunRecord) -> Self {
        RunSummary {
            id: r.id,
            workflow_id: r.workflow_id,
            workflow_version: r.workflow_version,
            status: r.status.as_str().into(),
            created_at: rfc3339(r.created_at),
            finished_at: r.finished_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct RunQuery {
    workflow_id: Option<String>,
    status: Option<String>,
    /// RFC 3339: runs created at or after.
    since: Option<String>,
    /// RFC 3339: runs created before.
    until: Option<String>,
}

/// The store's runs, newest first.
#[utoipa::path(get, path = "/api/runs", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(RunQuery, ListParams),
    responses((status = 200, body = List<RunSummary>), (status = 400, body = ErrorBody)))]
async fn list_runs(
    scope: Scope,
    State(state): State<Shared>,
    Query(q): Query<RunQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<RunSummary>>> {
    let status = q
        .status
        .map(|s| {
            RunStatus::parse(&s).ok_or_else(|| {
                ApiError::invalid_field(
                    "",
                    format!(
                        "query parameter 'status' must be one of {}; not '{s}'",
                        RunStatus::names()
                    ),
                )
            })
        })
        .transpose()?;
    let time = |name: &str, v: Option<String>| -> Result<Option<i64>, ApiError> {
        v.map(|s| {
            parse_rfc3339(&s).ok_or_else(|| {
                ApiError::invalid_field(
                    "",
                    format!("query parameter '{name}' must be an RFC 3339 time, not '{s}'"),
                )
            })
        })
        .transpose()
    };
    let filter = RunFilter {
        workflow_id: q.workflow_id,
        status,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
    };
    let page = state
        .store
        .list_runs(&scope.store.id, &filter, &page)
        .await?;
    Ok(Json(List::from_page(page, RunSummary::from)))
}

/// A run with its context and every step visit (its shape is in `/openapi.json`).
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
async fn get_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    let run = state
        .store
        .get_run(&scope.store.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    Ok(Json(run_view(&state, run).await?))
}

/// A run with its context and every step visit.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    id: String,
    workflow_id: String,
    workflow_version: i64,
    /// The event that started the run (none for a scheduled call).
    event_id: Option<String>,
    /// `queued|running|waiting|completed|failed|cancelled`
    #[schema(value_type = String)]
    status: RunStatus,
    /// The data the run started with, plus `timestamp`.
    #[schema(value_type = Object)]
    trigger: Value,
    context: RunContext,
    /// `{code, message, stepId?, …}` when the run failed.
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    steps: Vec<StepView>,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
}

/// What the run's expressions see.
#[derive(Serialize, ToSchema)]
pub struct RunContext {
    #[schema(value_type = Object)]
    trigger: Value,
    /// The conversation state as the run sees it.
    #[schema(value_type = Object)]
    state: Value,
    /// Step outputs saved under their `outputVar`.
    #[schema(value_type = Object)]
    variables: Value,
}

/// One visit of a step.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepView {
    step_id: String,
    name: Option<String>,
    /// The step type (none when the workflow version is gone).
    r#type: Option<String>,
    /// `running|waiting|completed|failed`
    #[schema(value_type = String)]
    status: StepStatus,
    /// Which visit of this step, from 1.
    visit: i64,
    attempts: i64,
    started_at: String,
    finished_at: Option<String>,
    /// The config as evaluated for this visit.
    input: Option<Value>,
    output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    /// HTTP steps: the request sent and the response (secrets as `***`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    http: Option<Value>,
    /// Script steps: what the script logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<Value>,
}

/// The full run, as `GET /api/runs/{id}` and `execute?wait=` show it.
pub async fn run_view(state: &AppState, run: RunRecord) -> Result<RunView, ApiError> {
    let records = state.store.run_steps(&run.id).await?;
    let graph = state
        .engine
        .graphs
        .get(&run.store_id, &run.workflow_id, run.workflow_version)
        .await?;
    let context = graph
        .as_deref()
        .map(|g| context_of(g, &records))
        .unwrap_or_default();
    let steps = records
        .into_iter()
        .map(|r| {
            let node = graph.as_deref().and_then(|g| g.nodes.get(r.node as usize));
            StepView {
                step_id: r.step_id,
                name: node.and_then(|n| n.name.clone()),
                r#type: node.map(|n| n.step_type.clone()),
                status: r.status,
                visit: r.visit,
                attempts: r.attempts,
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.map(rfc3339),
                input: r.input,
                output: r.output,
                error: r.error,
                http: r.http,
                logs: r.logs,
            }
        })
        .collect();
    Ok(RunView {
        id: run.id,
        workflow_id: run.workflow_id,
        workflow_version: run.workflow_version,
        event_id: run.event_id,
        status: run.status,
        context: RunContext {
            trigger: run.trigger.clone(),
            state: json!(context.state),
            variables: json!(context.variables),
        },
        trigger: run.trigger,
        error: run.error,
        steps,
        created_at: rfc3339(run.created_at),
        updated_at: rfc3339(run.updated_at),
        finished_at: run.finished_at.map(rfc3339),
    })
}

/// Cancels a queued, running or waiting run.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = RunSummary), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunSummary>> {
    let before = state.store.get_run(&scope.store.id, &id).await?;
    let run = state
        .store
        .cancel_run(&scope.store.id, &id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    if before.is_some_and(|b| b.status == RunStatus::Waiting) {
        metrics::gauge!("switchboard_runs_waiting").decrement(1.0);
    }
    Ok(Json(run.into()))
}

/// Resumes a failed run at its failed step.
#[utoipa::path(post, path = "/api/runs/{id}/retry", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = RunSummary), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunSummary>> {
    let run = state
        .store
        .retry_run(&scope.store.id, &id, state.engine.lease())
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    state.engine.dispatch_claimed(vec![run.clone()]);
    Ok(Json(run.into()))
}
