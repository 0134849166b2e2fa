//! The scheduler: fires due scheduled calls (made by `schedule_workflow` steps) and cron ticks
//! (of active `schedule` workflows). Due schedules are claimed with a lease, so each node fires
//! its own share; a schedule fires in the transaction that records its event and creates its run,
//! and only while it is still pending at the due time this node saw, so it fires exactly once
//! across restarts and nodes even when a lease lapses mid-firing. A call that cannot start (its workflow was
//! deactivated, is no longer callable, or its inputs no longer fit the schema) is settled
//! `failed` with the reason, never dropped silently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::Problem;
use switchboard_core::run::StepError;
use switchboard_core::workflow::Trigger;
use switchboard_store::{
    ScheduleKind, ScheduleRecord, ScheduleSettle, ScheduleStatus, Store, StoreError, WorkflowRecord,
};

use crate::clock::{now_ms, rfc3339};
use crate::triggers::{self, Outcome, Request, Target, TriggerError};
use crate::{Engine, Graph, Graphs};

/// Due schedules fired per store round trip (concurrently, so their writes share commits).
const BATCH: u32 = 512;

/// Fires due schedules every `poll` until the engine stops.
pub fn spawn(engine: Arc<Engine>, poll: Duration) {
    tokio::spawn(async move {
        // A lone node on SQLite takes over what a previous process had claimed.
        let mut steal = engine.settings.steal_at_start;
        while !engine.stopping() {
            tokio::time::sleep(poll).await;
            match fire_due(&engine, steal).await {
                Ok(()) => steal = false,
                Err(e) => tracing::warn!(error = %e, "firing due schedules failed; trying again"),
            }
        }
    });
}

/// Claims due schedules (each is leased to this node, so nodes share them instead of racing for
/// them) and fires them.
async fn fire_due(engine: &Arc<Engine>, steal: bool) -> anyhow::Result<()> {
    loop {
        let lease = engine.lease();
        let now = lease.now;
        let due = engine.store.claim_schedules(lease, BATCH, steal).await?;
        let full = due.len() as u32 == BATCH;
        // Each workflow is read once per batch, however many of its calls are due.
        let mut workflows: HashMap<(String, String), Callee> = HashMap::new();
        for s in &due {
            let key = (s.store_id.clone(), s.workflow_id.clone());
            if let std::collections::hash_map::Entry::Vacant(entry) = workflows.entry(key) {
                let found = current(
                    engine.store.as_ref(),
                    &engine.graphs,
                    &s.store_id,
                    &s.workflow_id,
                )
                .await?;
                entry.insert(found.and_then(|(w, g)| g.map(|g| (w, g))));
            }
        }
        let mut firing = tokio::task::JoinSet::new();
        for schedule in due {
            let engine = engine.clone();
            let callee =
                workflows[&(schedule.store_id.clone(), schedule.workflow_id.clone())].clone();
            firing.spawn(async move { fire(&engine, schedule, callee, now).await });
        }
        while let Some(done) = firing.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "a due schedule could not be fired; it stays due");
            }
        }
        if !full || engine.stopping() {
            return Ok(());
        }
    }
}

/// A live workflow at its current version, compiled; `None` when deleted or unloadable.
type Callee = Option<(WorkflowRecord, Arc<Graph>)>;

/// A live workflow and, when it compiles, the graph of its current version.
async fn current(
    store: &dyn Store,
    graphs: &Graphs,
    store_id: &str,
    workflow_id: &str,
) -> Result<Option<(WorkflowRecord, Option<Arc<Graph>>)>, StoreError> {
    let Some(workflow) = store.get_workflow(store_id, workflow_id).await? else {
        return Ok(None);
    };
    let graph = graphs.get(store_id, workflow_id, workflow.version).await?;
    Ok(Some((workflow, graph)))
}

async fn fire(
    engine: &Arc<Engine>,
    s: ScheduleRecord,
    callee: Callee,
    now: i64,
) -> anyhow::Result<()> {
    let Some((workflow, graph)) = callee else {
        let error = reason(
            "workflow_missing",
            "the workflow was deleted or cannot be loaded",
        );
        let settle = settlement(&s, None, ScheduleStatus::Failed, Some(error), now);
        engine.store.settle_schedule(settle).await?;
        return Ok(());
    };
    let (event_type, trigger, settled) = match firing(&s, &workflow, &graph, now) {
        Firing::Settle(settle) => {
            engine.store.settle_schedule(settle).await?;
            return Ok(());
        }
        Firing::Start {
            event_type,
            trigger,
            settle,
        } => (event_type, trigger, settle),
    };
    let target = Target {
        workflow_id: workflow.id.clone(),
        version: workflow.version,
        graph,
    };
    let request = Request {
        store_id: &s.store_id,
        event_type,
        trigger,
        idempotency_key: None,
        fingerprint: b"",
        message: None,
        schedule: Some(settled),
        trigger_type: match s.kind {
            ScheduleKind::Cron => "schedule",
            _ => "callable",
        },
        replay_of: None,
    };
    match triggers::start(engine, request, vec![target], |_, _| Value::Null).await {
        Ok(Outcome::Created { run_ids, .. }) => {
            metrics::counter!("switchboard_schedules_fired_total", "kind" => s.kind.as_str())
                .increment(1);
            let late_ms = (now_ms() - s.due_at).max(0);
            metrics::histogram!("switchboard_schedule_lateness_seconds", "kind" => s.kind.as_str())
                .record(late_ms as f64 / 1000.0);
            tracing::debug!(schedule_id = %s.id, ?run_ids, "schedule fired");
        }
        Ok(Outcome::Replayed(_)) => {}
        Err(TriggerError::Store(StoreError::Conflict { .. })) => {
            tracing::debug!(schedule_id = %s.id, "the schedule was fired or changed elsewhere")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// What a due schedule comes to: settled without a run, or a run to start, settled with it.
enum Firing {
    Settle(ScheduleSettle),
    Start {
        event_type: &'static str,
        trigger: Value,
        settle: ScheduleSettle,
    },
}

/// Decides what a due schedule of a live workflow does now.
fn firing(s: &ScheduleRecord, workflow: &WorkflowRecord, graph: &Graph, now: i64) -> Firing {
    use ScheduleStatus::{Cancelled, Failed, Fired};
    if s.kind == ScheduleKind::Cron {
        let tick = match (&graph.trigger, workflow.active) {
            (Trigger::Schedule(cron), true) => cron.due(s.due_at, now),
            _ => {
                // Deactivating or changing the trigger removes the tick in the same
                // transaction; this is one that raced with it.
                let error = reason(
                    "not_scheduled",
                    "the workflow is no longer an active schedule",
                );
                return Firing::Settle(settlement(s, None, Cancelled, Some(error), now));
            }
        };
        let settle = settlement(s, tick.next, Fired, None, now);
        // Without a tick to fire: missed while no node ran, and the catch-up policy is `none`.
        return match tick.fire {
            Some(at) => Firing::Start {
                event_type: "schedule.tick",
                trigger: json!({ "scheduledAt": rfc3339(at) }),
                settle,
            },
            None => Firing::Settle(settle),
        };
    }
    let inputs = s.inputs.clone().unwrap_or_else(|| json!({}));
    match callable_now(workflow, graph, &inputs) {
        Err(error) => Firing::Settle(settlement(s, None, Failed, Some(error.to_json()), now)),
        Ok(()) => Firing::Start {
            event_type: "schedule.call",
            trigger: inputs,
            settle: settlement(s, None, Fired, None, now),
        },
    }
}

/// How a pending schedule is settled: `next` keeps a cron schedule pending at its next tick.
fn settlement(
    s: &ScheduleRecord,
    next: Option<i64>,
    status: ScheduleStatus,
    error: Option<Value>,
    now: i64,
) -> ScheduleSettle {
    ScheduleSettle {
        id: s.id.clone(),
        due_at: s.due_at,
        next,
        status,
        run_id: None,
        error,
        now,
    }
}

/// Whether a due call may start now: its workflow is active, still callable, and the inputs fit
/// the schema of its current version.
fn callable_now(workflow: &WorkflowRecord, graph: &Graph, inputs: &Value) -> Result<(), StepError> {
    if !workflow.active {
        return Err(StepError::new(
            "workflow_inactive",
            format!(
                "workflow '{}' was inactive when the call was due",
                workflow.id
            ),
        ));
    }
    if !matches!(graph.trigger, Trigger::Callable { .. }) {
        return Err(not_callable(&workflow.id, graph.trigger.kind()));
    }
    let problems = graph.trigger.check_inputs(inputs);
    if !problems.is_empty() {
        return Err(schema_mismatch(&workflow.id, &problems));
    }
    Ok(())
}

/// The store's callable workflow `id`, at its current version.
pub async fn callee(
    store: &dyn Store,
    graphs: &Graphs,
    store_id: &str,
    id: &str,
) -> Result<Arc<Graph>, StepError> {
    let (_, graph) = current(store, graphs, store_id, id)
        .await
        .map_err(crate::outbound::unavailable)?
        .ok_or_else(|| {
            StepError::new(
                "workflow_not_found",
                format!("no workflow with id '{id}' in this store"),
            )
        })?;
    let graph = graph.ok_or_else(|| {
        StepError::new(
            "workflow_missing",
            format!("workflow '{id}' cannot be loaded"),
        )
    })?;
    match graph.trigger {
        Trigger::Callable { .. } => Ok(graph),
        ref other => Err(not_callable(id, other.kind())),
    }
}

fn not_callable(id: &str, kind: &str) -> StepError {
    StepError::new(
        "workflow_not_callable",
        format!("workflow '{id}' cannot be scheduled: its trigger is '{kind}', not 'callable'"),
    )
}

/// The step error for inputs that fail a callee's schema: each problem with its pointer.
pub fn schema_mismatch(id: &str, problems: &[Problem]) -> StepError {
    let summary: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                if p.pointer.is_empty() {
                    "/"
                } else {
                    &p.pointer
                },
                p.message
            )
        })
        .collect();
    let mut error = StepError::new(
        "schema_mismatch",
        format!(
            "the inputs do not match the schema of workflow '{id}': {}",
            summary.join("; ")
        ),
    );
    error.details.insert("errors".into(), json!(problems));
    error
}

fn reason(code: &str, message: &str) -> Value {
    json!({ "code": code, "message": message })
}
