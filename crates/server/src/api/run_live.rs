//! Runs as they happen: a server-sent event stream of run status changes (the list's filters;
//! read from the database, so a change made on any node of a cluster shows), and a workflow's
//! runs and failures per step over a window.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use switchboard_core::run::RunStatus;
use switchboard_store::RunFilter;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::refuse_unknown;
use super::run_view::summary_of;
use super::runs::{FILTERS, RunQuery};
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, parse_rfc3339, rfc3339};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(stream_runs))
        .routes(routes!(workflow_stats))
}

/// Changes read per look at the database.
const BATCH: u32 = 200;
/// Runs whose last status a stream remembers (to send changes of status only).
const REMEMBERED: usize = 10_000;

/// What a stream has seen: where it is in the store's changes, and the status last sent per run.
struct Watch {
    state: Shared,
    store_id: String,
    filter: RunFilter,
    cursor: (i64, String),
    sent: HashMap<String, RunStatus>,
    ready: VecDeque<Event>,
    poll: Duration,
}

impl Watch {
    /// The next changes, as events: each run whose status differs from what was last sent.
    async fn look(&mut self) -> Result<(), ApiError> {
        let changed = self
            .state
            .store
            .changed_runs(&self.store_id, &self.filter, self.cursor.clone(), BATCH)
            .await?;
        for run in changed {
            self.cursor = (run.updated_at, run.id.clone());
            if self.sent.get(&run.id) == Some(&run.status) {
                continue;
            }
            if self.sent.len() >= REMEMBERED {
                self.sent.clear();
            }
            self.sent.insert(run.id.clone(), run.status);
            let summary = summary_of(&self.state, &run).await?;
            let event = Event::default()
                .event("run")
                .id(format!("{}:{}", run.updated_at, run.id))
                .json_data(summary)
                .map_err(|e| ApiError::internal(format!("a run does not serialise: {e}")))?;
            self.ready.push_back(event);
        }
        Ok(())
    }
}

/// Where a reconnecting client left off: the `id` of the last event it got (`<ms>:<run id>`).
fn resume_from(headers: &HeaderMap) -> Option<(i64, String)> {
    let id = headers.get("last-event-id")?.to_str().ok()?;
    let (at, run) = id.split_once(':')?;
    Some((at.parse().ok()?, run.to_owned()))
}

/// Server-sent events, one `run` event (its data a run list item, its id a resume point) each
/// time a run the filters match changes status, from the time of the request (or from
/// `Last-Event-ID`). Authenticated by the `Authorization` header like every route.
#[utoipa::path(get, path = "/api/runs/stream", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(RunQuery),
    responses((status = 200, content_type = "text/event-stream", description = "`event: run`, `data:` a run list item, `id:` where to resume", body = String),
        (status = 400, body = ErrorBody)))]
async fn stream_runs(
    scope: Scope,
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    Query(q): Query<RunQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    refuse_unknown(raw.as_deref(), &FILTERS)?;
    let filter = q.filter("")?;
    let poll = Duration::from_millis(state.engine.settings.poll_ms.clamp(20, 1000));
    let watch = Watch {
        cursor: resume_from(&headers).unwrap_or_else(|| (now_ms(), String::new())),
        store_id: scope.store.id,
        state,
        filter,
        sent: HashMap::new(),
        ready: VecDeque::new(),
        poll,
    };
    let stream = futures_util::stream::unfold(watch, |mut watch| async move {
        loop {
            if let Some(event) = watch.ready.pop_front() {
                return Some((Ok(event), watch));
            }
            tokio::time::sleep(watch.poll).await;
            if let Err(e) = watch.look().await {
                // The database is away for now: the stream waits and looks again.
                tracing::debug!(error = %e.message, "run stream: cannot read changes");
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// RFC 3339: runs created at or after (default: 24 hours ago).
    since: Option<String>,
}

/// A workflow's runs over a window and what happened at each step.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowStats {
    workflow_id: String,
    since: String,
    /// Runs created in the window.
    runs: u64,
    /// Of them, by status now (`completed`, `failed`, …).
    by_status: HashMap<String, u64>,
    failed: u64,
    steps: Vec<StepStats>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct StepStats {
    step_id: String,
    /// Runs that reached the step.
    reached: u64,
    /// Runs whose visit of the step failed.
    failed: u64,
}

/// Runs of the workflow created since `since` and, per step, how many reached it and failed there.
#[utoipa::path(get, path = "/api/workflows/{id}/stats", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(StatsQuery),
    responses((status = 200, body = WorkflowStats), (status = 404, body = ErrorBody)))]
async fn workflow_stats(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Json<WorkflowStats>> {
    refuse_unknown(raw.as_deref(), &["since"])?;
    let since = match q.since {
        None => now_ms() - 24 * 60 * 60 * 1000,
        Some(s) => parse_rfc3339(&s).ok_or_else(|| {
            ApiError::invalid_field("", format!("'since' must be an RFC 3339 time, not '{s}'"))
        })?,
    };
    let store_id = &scope.store.id;
    let known = state
        .store
        .list_versions(store_id, &id, &Default::default())
        .await?;
    if known.is_none() {
        return Err(ApiError::not_found("workflow"));
    }
    let stats = state.store.workflow_stats(store_id, &id, since).await?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    let by_status: HashMap<String, u64> =
        stats.runs.into_iter().map(|(s, n)| (s, count(n))).collect();
    Ok(Json(WorkflowStats {
        workflow_id: id,
        since: rfc3339(since),
        runs: by_status.values().sum(),
        failed: by_status.get("failed").copied().unwrap_or_default(),
        by_status,
        steps: stats
            .steps
            .into_iter()
            .map(|(step_id, reached, failed)| StepStats {
                step_id,
                reached: count(reached),
                failed: count(failed),
            })
            .collect(),
    }))
}
