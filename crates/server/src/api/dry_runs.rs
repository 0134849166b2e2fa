//! Dry runs through the API (docs/api.md, "Dry runs"): a definition not yet saved, or a saved
//! workflow, run in memory with a trigger and optional mocks; nothing is sent or written. The
//! answer is 200 also when the dry run fails: the failure is what it shows.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::run::{RunStatus, StepStatus};
use switchboard_engine::Graph;
use switchboard_engine::dry_run::{DryRun, DryStep};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::definitions;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use crate::app::Shared;
use switchboard_engine::clock::rfc3339;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(test_definition))
        .routes(routes!(test_workflow))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DefinitionTest {
    /// A workflow definition, as `POST /api/workflows` takes it (not saved).
    #[schema(value_type = Object)]
    workflow: Value,
    #[serde(default)]
    #[schema(value_type = Object)]
    trigger: Value,
    /// Per step id, what its request gets back: `{status?, body?}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    mocks: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WorkflowTest {
    #[serde(default)]
    #[schema(value_type = Object)]
    trigger: Value,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    mocks: Option<Value>,
}

/// What a dry run did; nothing of it was sent or kept.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunView {
    /// Always `true`.
    dry_run: bool,
    /// `completed` or `failed`.
    #[schema(value_type = String)]
    status: RunStatus,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    /// `{trigger, state, variables}` at the end.
    #[schema(value_type = Object)]
    context: Value,
    steps: Vec<DryStepView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryStepView {
    step_id: String,
    name: Option<String>,
    r#type: Option<String>,
    #[schema(value_type = String)]
    status: StepStatus,
    visit: i64,
    attempts: i64,
    input: Option<Value>,
    output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    duration_ms: Option<i64>,
    /// A delay or retry backoff skipped after this visit: when the real run would have gone on.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_wait_until: Option<String>,
    /// What the step would have sent, secrets masked: `{kind: "http" | "email" |
    /// "schedule_workflow" | "emit_event", request}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    simulated: Option<Value>,
}

/// The mocks as a map; each `{status?: 100–599, body?}`, at its pointer when not.
fn mocks_of(mocks: Option<Value>) -> ApiResult<HashMap<String, Value>> {
    let Some(mocks) = mocks.filter(|m| !m.is_null()) else {
        return Ok(HashMap::new());
    };
    let Value::Object(mocks) = mocks else {
        return Err(ApiError::invalid_field(
            "/mocks",
            "mocks must be an object of step ids",
        ));
    };
    for (step, mock) in &mocks {
        let status_ok = mock
            .get("status")
            .is_none_or(|s| s.as_u64().is_some_and(|s| (100..=599).contains(&s)));
        if !mock.is_object() || !status_ok {
            return Err(ApiError::invalid_field(
                &format!("/mocks/{step}"),
                "a mock is {status?: 100 to 599, body?: any JSON}",
            ));
        }
    }
    Ok(mocks.into_iter().collect())
}

fn trigger_of(trigger: Value) -> ApiResult<Value> {
    match trigger {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(_) => Ok(trigger),
        _ => Err(ApiError::invalid_field(
            "/trigger",
            "the trigger must be a JSON object",
        )),
    }
}

/// A dry run as the API and the CLI show it.
pub fn view(graph: &Graph, run: DryRun) -> DryRunView {
    let steps = run.steps.into_iter().map(|s| step_view(graph, s)).collect();
    DryRunView {
        dry_run: true,
        status: run.status,
        error: run.error,
        context: serde_json::json!({"trigger": run.trigger, "state": run.state, "variables": run.variables}),
        steps,
    }
}

fn step_view(graph: &Graph, step: DryStep) -> DryStepView {
    let node = graph.nodes.iter().find(|n| n.id == step.record.step_id);
    let duration_ms = step.duration_ms();
    let r = step.record;
    DryStepView {
        name: node.and_then(|n| n.name.clone()),
        r#type: node.map(|n| n.step_type.clone()),
        step_id: r.step_id,
        status: r.status,
        visit: r.visit,
        attempts: r.attempts,
        input: r.input,
        output: r.output,
        error: r.error,
        duration_ms,
        skipped_wait_until: step.skipped_wait_until.map(rfc3339),
        simulated: step.simulated,
    }
}

/// Dry-runs a definition without saving it: effectful steps record what they would send.
#[utoipa::path(post, path = "/api/workflows/test", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = DefinitionTest,
    responses((status = 200, description = "the dry run, completed or failed", body = DryRunView), (status = 400, body = ErrorBody)))]
async fn test_definition(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<DefinitionTest>,
) -> ApiResult<Json<DryRunView>> {
    let mocks = mocks_of(body.mocks)?;
    let trigger = trigger_of(body.trigger)?;
    let checked = definitions::check(&state, &scope.store, &body.workflow).await?;
    let graph = match checked {
        Ok((workflow, _)) => Arc::new(workflow),
        Err(report) => {
            let problems: Vec<_> = report
                .errors
                .into_iter()
                .map(|mut p| {
                    p.pointer = format!("/workflow{}", p.pointer);
                    p
                })
                .collect();
            return Err(ApiError::validation(
                "the workflow definition is invalid",
                &problems,
            ));
        }
    };
    let run = state
        .engine
        .dry_run(&scope.store.id, graph.clone(), trigger, mocks)
        .await;
    Ok(Json(view(&graph, run)))
}

/// Dry-runs the saved workflow's current version.
#[utoipa::path(post, path = "/api/workflows/{id}/test", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = WorkflowTest,
    responses((status = 200, description = "the dry run, completed or failed", body = DryRunView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test_workflow(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WorkflowTest>,
) -> ApiResult<Json<DryRunView>> {
    let mocks = mocks_of(body.mocks)?;
    let trigger = trigger_of(body.trigger)?;
    let store_id = &scope.store.id;
    let workflow = state
        .store
        .get_workflow(store_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let graph = super::execute::current_graph(&state, &workflow, &trigger).await?;
    let run = state
        .engine
        .dry_run(store_id, graph.clone(), trigger, mocks)
        .await;
    Ok(Json(view(&graph, run)))
}
