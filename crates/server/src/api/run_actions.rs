//! What can be done to runs: cancel, retry in place (on the pinned or the latest version, from
//! the failed step or any step), replay as a new run, and either to every run a filter matches.
//! Each action is recorded on the run (`actions`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::run::RunStatus;
use switchboard_store::{PageRequest, RunRecord, RunRetry};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::{JsonBody, OptionalJson};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::run_view::{RunView, run_view};
use super::runs::{FILTERS, RunQuery};
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};
use switchboard_engine::triggers::{self, Outcome, Request, Target};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(cancel_run))
        .routes(routes!(retry_run))
        .routes(routes!(replay_run))
        .routes(routes!(bulk))
}

/// Runs a bulk action touches at most, per call.
const BULK_LIMIT: usize = 10_000;

fn action(scope: &Scope, name: &str, extra: Value) -> Value {
    let mut action = json!({"action": name, "at": rfc3339(now_ms()), "by": scope.by});
    if let (Value::Object(a), Value::Object(extra)) = (&mut action, extra) {
        a.extend(extra);
    }
    action
}

async fn run_of(state: &Shared, store_id: &str, id: &str) -> ApiResult<RunRecord> {
    state
        .store
        .get_run(store_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))
}

/// Cancels a queued, running or waiting run; its open step visits end `cancelled`.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    let run = cancel(&state, &scope, &id).await?;
    Ok(Json(run_view(&state, run).await?))
}

async fn cancel(state: &Shared, scope: &Scope, id: &str) -> ApiResult<RunRecord> {
    let before = run_of(state, &scope.store.id, id).await?;
    let run = state
        .store
        .cancel_run(
            &scope.store.id,
            id,
            action(scope, "cancel", json!({})),
            now_ms(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    if before.status == RunStatus::Waiting {
        metrics::gauge!("switchboard_runs_waiting").decrement(1.0);
    }
    Ok(run)
}

/// Which version a retry runs on.
#[derive(Deserialize, ToSchema, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Version {
    /// The version the run is on (default).
    #[default]
    Pinned,
    /// The workflow's current version.
    Latest,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryBody {
    #[serde(default)]
    version: Version,
    /// Rerun from this step, keeping the outputs of the steps before it.
    from_step: Option<String>,
}

/// Retries a run in place (same id). Without `fromStep`, a failed run goes on at the step it
/// failed at; with it, a failed, completed or cancelled run reruns from that step, the visits from
/// its first one on kept as history but out of the context. `version: "latest"` moves the run to
/// the workflow's current version.
#[utoipa::path(post, path = "/api/runs/{id}/retry", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    request_body = Option<RetryBody>,
    responses((status = 200, body = RunView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RetryBody>,
) -> ApiResult<Json<RunView>> {
    let run = retry(&state, &scope, &id, body.version, body.from_step).await?;
    Ok(Json(run_view(&state, run).await?))
}

async fn retry(
    state: &Shared,
    scope: &Scope,
    id: &str,
    version: Version,
    from_step: Option<String>,
) -> ApiResult<RunRecord> {
    let store_id = &scope.store.id;
    let run = run_of(state, store_id, id).await?;
    let workflow = state
        .store
        .get_workflow(store_id, &run.workflow_id)
        .await?
        .ok_or_else(|| {
            ApiError::conflict("", "the workflow was deleted: its runs cannot be retried")
        })?;
    let number = match version {
        Version::Pinned => run.workflow_version,
        Version::Latest => workflow.version,
    };
    let graph = state
        .engine
        .graphs
        .get(store_id, &run.workflow_id, number)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "/version",
                format!("version {number} of the workflow cannot be loaded"),
            )
        })?;
    let node_of = |step: &str| graph.nodes.iter().position(|n| n.id == step);
    let records = state.store.run_steps(&run.id).await?;
    let (from, next_node, supersede_from) = match &from_step {
        Some(step) => {
            let node = node_of(step).ok_or_else(|| {
                ApiError::invalid_field(
                    "/fromStep",
                    format!("version {number} of the workflow has no step '{step}'"),
                )
            })?;
            let first = records
                .iter()
                .find(|r| r.superseded_at.is_none() && &r.step_id == step)
                .map(|r| r.seq);
            let from = vec![
                RunStatus::Failed,
                RunStatus::Completed,
                RunStatus::Cancelled,
            ];
            (from, node, first)
        }
        None => {
            let failed = run.failed_step.clone().or_else(|| {
                records
                    .iter()
                    .rev()
                    .find(|r| r.superseded_at.is_none())
                    .map(|r| r.step_id.clone())
            });
            let node = match (&failed, version) {
                (Some(step), _) => node_of(step),
                (None, Version::Pinned) => run.next_node.map(|n| n as usize),
                (None, Version::Latest) => None,
            };
            let node = node.ok_or_else(|| match &failed {
                Some(step) => ApiError::invalid_field(
                    "/version",
                    format!("version {number} of the workflow has no step '{step}', where the run failed: retry it with fromStep"),
                ),
                None => ApiError::conflict("", "the run has no step to go on from: retry it with fromStep"),
            })?;
            (vec![RunStatus::Failed], node, None)
        }
    };
    let version_name = match version {
        Version::Pinned => "pinned",
        Version::Latest => "latest",
    };
    let mut extra = json!({"version": version_name, "workflowVersion": number});
    if let Some(step) = &from_step {
        extra["fromStep"] = json!(step);
    }
    let retry = RunRetry {
        store_id: store_id.clone(),
        run_id: run.id.clone(),
        from,
        version: number,
        next_node: next_node as i64,
        supersede_from,
        action: action(scope, "retry", extra),
        lease: state.engine.lease(),
    };
    let run = state
        .store
        .retry_run(retry)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    state.engine.dispatch_claimed(vec![run.clone()]);
    Ok(run)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// The trigger data to start with instead of the run's.
    #[schema(value_type = Option<Object>)]
    trigger: Option<Value>,
}

/// Starts a new run of the workflow's current version with the run's trigger (or an edited one);
/// the new run names the one it replays (`replayOf`).
#[utoipa::path(post, path = "/api/runs/{id}/replay", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    request_body = Option<ReplayBody>,
    responses((status = 201, body = RunView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replay_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReplayBody>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let store_id = &scope.store.id;
    let run = run_of(&state, store_id, &id).await?;
    let trigger = body.trigger.unwrap_or_else(|| run.trigger.clone());
    if !trigger.is_object() {
        return Err(ApiError::invalid_field(
            "/trigger",
            "the trigger must be a JSON object",
        ));
    }
    let workflow = state
        .store
        .get_workflow(store_id, &run.workflow_id)
        .await?
        .ok_or_else(|| {
            ApiError::conflict("", "the workflow was deleted: its runs cannot be replayed")
        })?;
    let graph = super::execute::current_graph(&state, &workflow, &trigger).await?;
    super::events::room_for_runs(&state, &scope.store, 1)?;
    let request = Request {
        store_id,
        event_type: "replay",
        trigger,
        idempotency_key: None,
        fingerprint: b"",
        message: None,
        schedule: None,
        trigger_type: run.trigger_type.as_deref().unwrap_or("manual"),
        replay_of: Some(run.id.clone()),
    };
    let target = Target {
        workflow_id: workflow.id.clone(),
        version: workflow.version,
        graph,
    };
    let outcome = triggers::start(&state.engine, request, vec![target], |_, _| Value::Null).await?;
    let new_id = match outcome {
        Outcome::Created { run_ids, .. } => run_ids.into_iter().next(),
        Outcome::Replayed(_) => None,
    }
    .ok_or_else(|| {
        ApiError::conflict(
            "",
            "the workflow's trigger conditions did not hold: no run was started",
        )
    })?;
    state
        .store
        .record_run_action(
            store_id,
            &run.id,
            action(&scope, "replay", json!({"runId": new_id})),
        )
        .await?;
    let new_run = run_of(&state, store_id, &new_id).await?;
    Ok((StatusCode::CREATED, Json(run_view(&state, new_run).await?)))
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum BulkAction {
    Cancel,
    Retry,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    action: BulkAction,
    /// The run list's filters (`workflowId`, `status`, `phoneNumber`, …); at least one.
    #[schema(value_type = Object)]
    filter: Value,
    /// For `retry`: `pinned` (default) or `latest`.
    #[serde(default)]
    version: Version,
}

#[derive(serde::Serialize, ToSchema)]
struct BulkResult {
    /// Runs the filter matched (at most 10000 a call).
    matched: u64,
    succeeded: u64,
    /// Runs the action did not apply to (e.g. a retry of a completed run): `{runId, code, message}`.
    failed: u64,
    #[schema(value_type = Vec<Object>)]
    errors: Vec<Value>,
}

/// Cancels or retries every run a filter matches; each run is acted on as on its own.
#[utoipa::path(post, path = "/api/runs/bulk", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    request_body = BulkBody,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody)))]
async fn bulk(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<BulkBody>,
) -> ApiResult<Json<BulkResult>> {
    let Value::Object(fields) = &body.filter else {
        return Err(ApiError::invalid_field(
            "/filter",
            "the filter must be a JSON object",
        ));
    };
    if let Some(key) = fields.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            &format!("/filter/{key}"),
            format!(
                "unknown filter '{key}' (the filters are {})",
                FILTERS.join(", ")
            ),
        ));
    }
    let query: RunQuery = serde_json::from_value(body.filter.clone())
        .map_err(|e| ApiError::invalid_field("/filter", format!("the filter is not valid: {e}")))?;
    if query.is_empty() {
        return Err(ApiError::invalid_field(
            "/filter",
            "an empty filter would match every run: name at least one",
        ));
    }
    let filter = query.filter("/filter")?;
    let mut ids = Vec::new();
    let mut page = PageRequest {
        limit: 500,
        after: None,
    };
    loop {
        let found = state
            .store
            .list_runs(&scope.store.id, &filter, &page)
            .await?;
        ids.extend(found.items.into_iter().map(|r| r.id));
        match found.next {
            Some(next) if ids.len() < BULK_LIMIT => page.after = Some(next),
            _ => break,
        }
    }
    ids.truncate(BULK_LIMIT);
    let mut result = BulkResult {
        matched: ids.len() as u64,
        succeeded: 0,
        failed: 0,
        errors: Vec::new(),
    };
    for id in ids {
        let done = match body.action {
            BulkAction::Cancel => cancel(&state, &scope, &id).await,
            BulkAction::Retry => retry(&state, &scope, &id, body.version, None).await,
        };
        match done {
            Ok(_) => result.succeeded += 1,
            Err(e) => {
                result.failed += 1;
                result
                    .errors
                    .push(json!({"runId": id, "code": e.code, "message": e.message}));
            }
        }
    }
    Ok(Json(result))
}
