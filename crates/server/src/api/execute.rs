//! `POST /api/workflows/{id}/execute`: one run of any workflow with the body as its trigger data;
//! with `?wait=SECONDS` the answer waits for the run to settle.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

use switchboard_engine::Graph;
use switchboard_store::{RunStatus, WorkflowRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::{RawJson, parse};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::events::idempotency_key;
use super::extract::{Path, Query};
use super::run_view::{RunView, run_view};
use crate::app::Shared;
use switchboard_engine::triggers::{self, Outcome, Request, Target};

/// Longest `?wait=`, seconds.
const MAX_WAIT_SECONDS: u64 = 60;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(execute_workflow))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExecuteQuery {
    /// Wait up to this many seconds (at most 60) for the run to complete, fail, be cancelled or wait.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 60)]
    wait: Option<String>,
}

/// A run not settled (yet): queued, or still running when `wait` ran out.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RunStarted {
    run_id: String,
    /// `queued`, `running` (or, for a repeated request, what it was then).
    status: String,
}

/// A 200 answer: the settled run (with `wait`), or the first answer to a repeated request.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ExecuteAnswer {
    Run(Box<RunView>),
    Repeat(RunStarted),
}

/// Starts a run now; the body is the trigger data.
#[utoipa::path(post, path = "/api/workflows/{id}/execute", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Option<Object>,
    params(ExecuteQuery, ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, description = "the run is queued (or still going when `wait` ran out)", body = RunStarted), (status = 200, description = "the settled run (with `wait`), or a repeated request's first answer", body = ExecuteAnswer),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the `Idempotency-Key` was used for another request, or the trigger's conditions did not hold", body = ErrorBody)))]
async fn execute_workflow(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<ExecuteQuery>,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let wait = wait_seconds(q.wait.as_deref())?;
    let trigger = trigger_data(&body)?;
    let workflow = state
        .store
        .get_workflow(&scope.store.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let graph = current_graph(&state, &workflow, &trigger).await?;
    let target = Target {
        workflow_id: id.clone(),
        version: workflow.version,
        graph,
    };
    let fingerprint = [b"execute:", id.as_bytes(), b"\n", &body].concat();
    let key = idempotency_key(&headers)?;
    if let Err(refused) = super::events::room_for_runs(&state, &scope.store, 1) {
        let store_id = &scope.store.id;
        return super::events::replay_or(&state, store_id, key.as_deref(), &fingerprint, refused)
            .await;
    }
    let request = Request {
        store_id: &scope.store.id,
        event_type: "execute",
        trigger,
        idempotency_key: key,
        fingerprint: &fingerprint,
        message: None,
        schedule: None,
        trigger_type: "manual",
        replay_of: None,
    };
    let outcome = triggers::start(
        &state.engine,
        request,
        vec![target],
        |_, runs| json!({"runId": runs.first(), "status": "queued"}),
    )
    .await?;
    let run_id = match outcome {
        Outcome::Replayed(first) => return Ok((StatusCode::OK, Json(first)).into_response()),
        Outcome::Created { run_ids, .. } => match run_ids.into_iter().next() {
            Some(r) => r,
            None => {
                return Err(ApiError::conflict(
                    "",
                    "the workflow's trigger conditions did not hold: no run was started",
                ));
            }
        },
    };
    match wait {
        Some(seconds) => settled_run(&state, &scope.store.id, &run_id, seconds).await,
        None => Ok((
            StatusCode::ACCEPTED,
            Json(RunStarted {
                run_id,
                status: "queued".into(),
            }),
        )
            .into_response()),
    }
}

/// The workflow's current version, compiled, once `trigger` is known to fit its input schema
/// (what an execution, a replay and a dry run of a saved workflow start from).
pub(super) async fn current_graph(
    state: &Shared,
    workflow: &WorkflowRecord,
    trigger: &Value,
) -> ApiResult<Arc<Graph>> {
    let graph = state
        .engine
        .graphs
        .get(&workflow.store_id, &workflow.id, workflow.version)
        .await?
        .ok_or_else(|| ApiError::internal("the workflow's current version cannot be compiled"))?;
    let problems = graph.trigger.check_inputs(trigger);
    if !problems.is_empty() {
        return Err(ApiError::validation(
            "the trigger data does not match the workflow's input schema",
            &problems,
        ));
    }
    Ok(graph)
}

/// `?wait=`: a whole number of seconds up to [`MAX_WAIT_SECONDS`].
fn wait_seconds(wait: Option<&str>) -> ApiResult<Option<u64>> {
    let Some(w) = wait else { return Ok(None) };
    let seconds = w.parse::<u64>().ok().filter(|s| *s <= MAX_WAIT_SECONDS);
    seconds.map(Some).ok_or_else(|| {
        ApiError::invalid_field(
            "",
            format!("query parameter 'wait' must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}, not '{w}'"),
        )
    })
}

/// The body as trigger data: a JSON object (an empty body is `{}`).
fn trigger_data(body: &[u8]) -> ApiResult<Value> {
    let trigger: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse(body)?
    };
    if !trigger.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "the trigger data must be a JSON object",
        ));
    }
    Ok(trigger)
}

/// The run once it settles (200), or `{runId, status}` (202) when `seconds` pass first.
async fn settled_run(
    state: &Shared,
    store_id: &str,
    run_id: &str,
    seconds: u64,
) -> ApiResult<Response> {
    // Watch first, then look: a run that settles in between is seen either way.
    let settled = state.engine.watch(run_id);
    let mut run = state
        .store
        .get_run(store_id, run_id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    if !is_settled(run.status) {
        let _ = tokio::time::timeout(Duration::from_secs(seconds), settled).await;
        run = state
            .store
            .get_run(store_id, run_id)
            .await?
            .ok_or_else(|| ApiError::not_found("run"))?;
    }
    state.engine.forget_watch(run_id);
    if is_settled(run.status) {
        Ok((StatusCode::OK, Json(run_view(state, run).await?)).into_response())
    } else {
        Ok((
            StatusCode::ACCEPTED,
            Json(RunStarted {
                run_id: run.id,
                status: run.status.as_str().into(),
            }),
        )
            .into_response())
    }
}

fn is_settled(status: RunStatus) -> bool {
    status.is_final() || status == RunStatus::Waiting
}
