//! How runs read in the API: a list item ([`RunSummary`]) and the full run with every step
//! visit ([`RunView`]). Times are RFC 3339 with milliseconds; a waiting run and its waiting step
//! say when they resume.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use switchboard_core::run::{RunStatus, StepStatus};
use switchboard_store::{RunRecord, StepRecord};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::app::AppState;
use switchboard_engine::clock::rfc3339;
use switchboard_engine::{Graph, context_of};

/// A run as lists show it: enough to see why a customer got nothing without opening it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    id: String,
    workflow_id: String,
    /// The workflow's name in the version the run is on.
    workflow_name: Option<String>,
    workflow_version: i64,
    /// `queued|running|waiting|completed|failed|cancelled`
    #[schema(value_type = String)]
    status: RunStatus,
    /// How the run started: `webhook`, `customer_message`, `schedule`, `callable`, `manual`.
    trigger_type: Option<String>,
    event_id: Option<String>,
    /// The contact's phone number (digits), from the trigger's `phoneNumber` or `customerWhatsApp`.
    phone_number: Option<String>,
    /// The contact's email, from the trigger's `email`.
    email: Option<String>,
    /// A failed or cancelled run's error code.
    error_code: Option<String>,
    /// The step a failed run failed at.
    failed_step: Option<String>,
    /// The run this one replays.
    replay_of: Option<String>,
    /// When a waiting run goes on (a delay's end, a retry's next attempt).
    resume_at: Option<String>,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
}

/// A run with its context, every step visit and what was done to it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    #[serde(flatten)]
    summary: RunSummary,
    /// The data the run started with, plus `timestamp`.
    #[schema(value_type = Object)]
    trigger: Value,
    context: RunContext,
    /// `{code, message, stepId?, …}` when the run failed or was cancelled.
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    steps: Vec<StepView>,
    /// Cancels, retries and replays through the API: `{action, at, by, …}`, oldest first.
    #[schema(value_type = Vec<Object>)]
    actions: Vec<Value>,
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
    /// `running|waiting|completed|failed|cancelled`
    #[schema(value_type = String)]
    status: StepStatus,
    /// Which visit of this step, from 1.
    visit: i64,
    attempts: i64,
    /// The workflow version the visit ran on.
    workflow_version: i64,
    started_at: String,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    /// A waiting visit: when it goes on.
    resume_at: Option<String>,
    /// Set when a rerun from an earlier step replaced this visit (it is out of the context).
    superseded_at: Option<String>,
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

/// The list item of a run; `name` is its workflow's name in the run's version.
pub fn summary(run: &RunRecord, name: Option<String>) -> RunSummary {
    RunSummary {
        id: run.id.clone(),
        workflow_id: run.workflow_id.clone(),
        workflow_name: name,
        workflow_version: run.workflow_version,
        status: run.status,
        trigger_type: run.trigger_type.clone(),
        event_id: run.event_id.clone(),
        phone_number: run.contact.clone(),
        email: run.email.clone(),
        error_code: run.error_code.clone(),
        failed_step: run.failed_step.clone(),
        replay_of: run.replay_of.clone(),
        resume_at: resume_at(run),
        created_at: rfc3339(run.created_at),
        updated_at: rfc3339(run.updated_at),
        finished_at: run.finished_at.map(rfc3339),
    }
}

fn resume_at(run: &RunRecord) -> Option<String> {
    (run.status == RunStatus::Waiting)
        .then_some(run.wake_at)
        .flatten()
        .map(rfc3339)
}

/// The list item of a run, its workflow's name read through the graph cache.
pub async fn summary_of(state: &AppState, run: &RunRecord) -> Result<RunSummary, ApiError> {
    let graph = graph(state, run, run.workflow_version).await?;
    Ok(summary(run, graph.map(|g| g.name.clone())))
}

async fn graph(
    state: &AppState,
    run: &RunRecord,
    version: i64,
) -> Result<Option<Arc<Graph>>, ApiError> {
    Ok(state
        .engine
        .graphs
        .get(&run.store_id, &run.workflow_id, version)
        .await?)
}

/// The full run, as `GET /api/runs/{id}`, the actions on runs and `execute?wait=` show it.
pub async fn run_view(state: &AppState, run: RunRecord) -> Result<RunView, ApiError> {
    let records = state.store.run_steps(&run.id).await?;
    let current = graph(state, &run, run.workflow_version).await?;
    // Each visit is named from the version it ran on.
    let mut graphs: HashMap<i64, Option<Arc<Graph>>> = HashMap::new();
    graphs.insert(run.workflow_version, current.clone());
    for r in &records {
        let version = r.workflow_version.unwrap_or(run.workflow_version);
        if let std::collections::hash_map::Entry::Vacant(slot) = graphs.entry(version) {
            slot.insert(graph(state, &run, version).await?);
        }
    }
    let context = current
        .as_deref()
        .map(|g| context_of(g, &records))
        .unwrap_or_default();
    let steps = records
        .into_iter()
        .map(|r| step_view(&run, &graphs, r))
        .collect();
    Ok(RunView {
        summary: summary(&run, current.map(|g| g.name.clone())),
        context: RunContext {
            trigger: run.trigger.clone(),
            state: json!(context.state),
            variables: json!(context.variables),
        },
        trigger: run.trigger,
        error: run.error,
        steps,
        actions: run.actions,
    })
}

fn step_view(
    run: &RunRecord,
    graphs: &HashMap<i64, Option<Arc<Graph>>>,
    r: StepRecord,
) -> StepView {
    let version = r.workflow_version.unwrap_or(run.workflow_version);
    let node = graphs
        .get(&version)
        .and_then(Option::as_deref)
        .and_then(|g| g.nodes.iter().find(|n| n.id == r.step_id));
    let waiting = r.status == StepStatus::Waiting && r.superseded_at.is_none();
    StepView {
        name: node.and_then(|n| n.name.clone()),
        r#type: node.map(|n| n.step_type.clone()),
        status: r.status,
        visit: r.visit,
        attempts: r.attempts,
        workflow_version: version,
        started_at: rfc3339(r.started_at),
        finished_at: r.finished_at.map(rfc3339),
        duration_ms: r.finished_at.map(|f| (f - r.started_at).max(0)),
        resume_at: if waiting { resume_at(run) } else { None },
        superseded_at: r.superseded_at.map(rfc3339),
        step_id: r.step_id,
        input: r.input,
        output: r.output,
        error: r.error,
        http: r.http,
        logs: r.logs,
    }
}
