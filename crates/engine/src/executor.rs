//! Executes one run: step after step, `transition::advance` deciding what follows, checkpoints
//! through the store's writer.
//!
//! Steps without effects outside the run are checkpointed together with what follows them (at the
//! latest when the run waits, ends, or reaches a step with effects): after a crash they simply run
//! again from the last checkpoint, giving the same result. A step with effects (HTTP, messages) is
//! committed before the run goes on, so it is repeated only if the process dies during it — with
//! the same idempotency key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use switchboard_core::run::{Outcome, RunContext, RunStatus, StepError, StepStatus};
use switchboard_core::transition::{Advance, Inputs, Then, Visit};
use switchboard_steps::{Services, StepEnv, StepRun, retry_policy};
use switchboard_store::{RunRecord, StepRecord};

use crate::commit::{Failed, bare_checkpoint, commit};
use crate::edges::{self, Budget, OutOfTime};
pub use crate::live::Start;
use crate::live::{At, Live, Node, Position};
use crate::services::EngineServices;
use crate::{Engine, Graph};

/// Pending step records flushed at most this many at a time.
const FLUSH_EVERY: usize = 64;

pub async fn execute_claimed(engine: &Arc<Engine>, run: RunRecord) {
    match rebuild(engine, &run).await {
        Ok(Some(live)) => execute(engine, live).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(run_id = %run.id, error = %e, "cannot load a claimed run; it will be claimed again")
        }
    }
}

/// Rebuilds a run's context from its step records (docs/architecture.md: outputs are stored once).
async fn rebuild(engine: &Arc<Engine>, run: &RunRecord) -> anyhow::Result<Option<Live>> {
    let Some(graph) = engine
        .graphs
        .get(&run.store_id, &run.workflow_id, run.workflow_version)
        .await?
    else {
        let error = StepError::new(
            "workflow_missing",
            format!(
                "version {} of workflow {} cannot be loaded",
                run.workflow_version, run.workflow_id
            ),
        );
        let mut cp = bare_checkpoint(
            engine,
            &run.id,
            run.visits,
            RunStatus::Failed,
            run.next_node,
        );
        let error = error.to_json();
        cp.error = Some(error.clone());
        if engine.store.checkpoint(cp).await? {
            let failed = Failed {
                store_id: &run.store_id,
                workflow_id: &run.workflow_id,
                workflow_name: "",
                run_id: &run.id,
            };
            failed.log(&error);
            engine.settled(&run.id);
        }
        return Ok(None);
    };
    let records = engine.store.run_steps(&run.id).await?;
    let mut live = Live {
        store_root: engine.store_root(&run.store_id).await,
        run_id: run.id.clone(),
        store_id: run.store_id.clone(),
        workflow_id: run.workflow_id.clone(),
        workflow_version: run.workflow_version,
        trigger: run.trigger.clone(),
        contact: run.contact.clone(),
        ctx: RunContext::default(),
        next_seq: records.len() as i64,
        visits: run.visits,
        node_visits: HashMap::new(),
        position: run
            .next_node
            .map_or(Position::Done, |n| Position::Fresh(n as usize)),
        pending: Vec::new(),
        failure: None,
        skew_ms: 0,
        graph,
    };
    live.ctx = context_of(&live.graph, &records);
    for r in &records {
        // By step id: after a retry on another version, node numbers may differ.
        if let Some(node) = live.graph.nodes.iter().position(|n| n.id == r.step_id) {
            let count = live.node_visits.entry(node).or_default();
            *count = (*count).max(r.visit);
        }
    }
    if let Some(last) = records
        .last()
        .filter(|r| r.status == StepStatus::Waiting && r.superseded_at.is_none())
    {
        live.position = Position::Resume {
            node: last.node as usize,
            seq: last.seq,
            visit: last.visit,
            attempt: last.attempts as u64 + u64::from(last.error.is_some()),
            started: last.started_at,
        };
    }
    Ok(Some(live))
}

/// A run's context rebuilt from its step records: every recorded output applied in visit order.
pub fn context_of(graph: &Graph, records: &[StepRecord]) -> RunContext {
    let mut ctx = RunContext::default();
    for r in records.iter().filter(|r| r.superseded_at.is_none()) {
        // By step id, in `graph`: a run retried on a later version keeps what its steps output.
        let node = graph.nodes.iter().find(|n| n.id == r.step_id);
        if let (Some(output), Some(n)) = (&r.output, node) {
            ctx.apply(
                &n.id,
                n.output_var.as_deref(),
                n.spec.merges_state(),
                output,
            );
        }
    }
    ctx
}

/// What one step did to the run.
pub(super) enum Stepped {
    /// The run goes on at its new position; `effects`: the step acted outside Switchboard.
    Next {
        effects: bool,
    },
    /// The run waits at `node` (a delay, or a retry's backoff) until `at`.
    Wait {
        node: usize,
        at: i64,
    },
    Complete,
    Fail {
        node: usize,
        error: StepError,
        step_id: Option<String>,
    },
    /// The step did not run: the acknowledgement's budget ran out while its JavaScript waited
    /// for the JS threads. The run goes on in the engine from the same step.
    OutOfTime,
}

/// Executes a run until it waits, ends, or must stop (its lease is gone, or the node stops).
pub(super) async fn execute(engine: &Arc<Engine>, mut live: Live) {
    let services = EngineServices {
        store: engine.store.as_ref(),
        store_id: &live.store_id.clone(),
        outbound: &engine.outbound,
        graphs: &engine.graphs,
    };
    loop {
        if engine.stopping() && !matches!(live.position, Position::Done) {
            // Hand the run back: committed as it stands, free for whoever runs next.
            let cp = live.handed_back(engine, position_node(live.position));
            commit(engine, &live, cp).await;
            return;
        }
        if let Position::Done = live.position {
            let cp = live.completed(engine);
            commit(engine, &live, cp).await;
            return;
        }
        match step(engine.settings.time_scale, &mut live, &services, None).await {
            Stepped::Next { effects } => {
                if effects || live.pending.len() >= FLUSH_EVERY {
                    let next = position_node(live.position).unwrap_or_default() as usize;
                    let cp = live.running(engine, next);
                    if !commit(engine, &live, cp).await {
                        return;
                    }
                }
            }
            Stepped::Wait { node, at } => {
                let cp = live.waiting(engine, node, at);
                commit(engine, &live, cp).await;
                return;
            }
            Stepped::Complete => live.position = Position::Done,
            Stepped::Fail {
                node,
                error,
                step_id,
            } => {
                let cp = live.failed(engine, Some(node), error, step_id);
                commit(engine, &live, cp).await;
                return;
            }
            // Only the run-ahead has a deadline.
            Stepped::OutOfTime => {}
        }
    }
}

/// Runs the step the run stands at (one attempt) and moves the run on as `transition::advance`
/// decides; the step's record joins the pending ones. With a `budget` (the run-ahead, which
/// only runs steps without effects), a step whose JavaScript is not computed by then does not
/// happen at all.
pub(super) async fn step(
    time_scale: f64,
    live: &mut Live,
    services: &dyn Services,
    budget: Option<Budget>,
) -> Stepped {
    let Some(at) = live.open_visit() else {
        return Stepped::Complete;
    };
    let graph = live.graph.clone();
    let Some(node) = graph.nodes.get(at.node) else {
        let error = StepError::new(
            "workflow_missing",
            format!(
                "the run points at step {}, which its workflow version does not have",
                at.node
            ),
        );
        return Stepped::Fail {
            node: at.node,
            error,
            step_id: None,
        };
    };
    let Ok(run) = attempt(time_scale, live, node, &at, services, budget).await else {
        return Stepped::OutOfTime;
    };
    // Out of time, the step must leave no trace: the context is kept to be put back (only the
    // JavaScript of its edges can make it wait).
    let before = (budget.is_some() && edges::has_scripts(node)).then(|| live.ctx.clone());
    // A step's output is in scope for its own transitions (Kustomer's `/#steps.<own id>.…`).
    let applied_early = match &run.result {
        Ok(Outcome::Next(out)) => {
            live.apply(node, out);
            true
        }
        _ => false,
    };
    let now = live.now();
    let Ok((adv, taken)) = decide(time_scale, live, node, &at, &run.result, now, budget).await
    else {
        if let Some(ctx) = before {
            live.ctx = ctx;
        }
        return Stepped::OutOfTime;
    };
    // A branching step's output says which way it went, known only now.
    let branched = match adv.status {
        StepStatus::Completed => node.spec.branch_output(taken),
        _ => None,
    };
    let rebranched = branched.is_some();
    let output = if rebranched { branched } else { adv.output };
    if let Some(out) = output.as_ref().filter(|_| !applied_early || rebranched) {
        live.apply(node, out);
    }
    let finished = matches!(adv.status, StepStatus::Completed | StepStatus::Failed).then_some(now);
    live.pending.push(StepRecord {
        seq: at.seq,
        step_id: node.id.clone(),
        node: at.node as i64,
        visit: at.visit,
        status: adv.status,
        attempts: at.attempt as i64,
        input: Some(run.input),
        output,
        error: adv.error.as_ref().map(StepError::to_json),
        http: run.http,
        logs: (!run.logs.is_empty()).then(|| json!(run.logs)),
        started_at: at.started,
        finished_at: finished,
        workflow_version: Some(live.workflow_version),
        superseded_at: None,
    });
    match adv.then {
        Then::Step(target) => {
            live.position = Position::Fresh(target);
            Stepped::Next {
                effects: node.spec.has_effects(),
            }
        }
        Then::RetryAt(when) | Then::WaitUntil(when) => Stepped::Wait {
            node: at.node,
            at: when,
        },
        Then::Complete => Stepped::Complete,
        Then::Fail(error) => Stepped::Fail {
            node: at.node,
            error,
            step_id: Some(node.id.clone()),
        },
    }
}

/// What follows the attempt (`transition::advance`), and which edge was taken.
async fn decide(
    time_scale: f64,
    live: &Live,
    node: &Node,
    at: &At,
    result: &Result<Outcome, StepError>,
    now: i64,
    budget: Option<Budget>,
) -> Result<(Advance, Option<usize>), OutOfTime> {
    let retry = retry_policy(&node.spec, node.retry.as_ref());
    let inputs = Inputs {
        now_ms: now,
        time_scale,
        jitter: rand_unit(),
        max_steps: live.graph.max_steps,
        retry: &retry,
    };
    let visit = Visit {
        node: at.node,
        attempt: at.attempt,
        visits: live.visits as u64,
    };
    let scope = live.scope();
    edges::decide(&live.store_id, node, scope, result, visit, &inputs, budget).await
}

/// One attempt of the node's step, timed; its config's JavaScript is computed first.
async fn attempt(
    time_scale: f64,
    live: &Live,
    node: &Node,
    at: &At,
    services: &dyn Services,
    budget: Option<Budget>,
) -> Result<StepRun, OutOfTime> {
    let scope = live.scope();
    let scripts: Vec<&str> = node.scripts.iter().map(String::as_str).collect();
    let computed = edges::compute(&live.store_id, &scope, &scripts, budget).await?;
    let env = StepEnv {
        scope,
        computed,
        store_id: &live.store_id,
        services,
        run_id: &live.run_id,
        step_id: &node.id,
        idempotency_key: format!("{}:{}:{}", live.run_id, node.id, at.visit),
        now_ms: live.now(),
        started_ms: at.started,
        time_scale,
    };
    let clock = Instant::now();
    let run = node.spec.run(&env).await;
    metrics::histogram!("switchboard_step_duration_seconds", "type" => node.step_type.clone())
        .record(clock.elapsed().as_secs_f64());
    Ok(run)
}

fn position_node(p: Position) -> Option<i64> {
    match p {
        Position::Fresh(n) | Position::Resume { node: n, .. } => Some(n as i64),
        Position::Done => None,
    }
}

/// A number in [-1, 1] for retry jitter.
pub fn rand_unit() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) as f64 / u64::MAX as f64) * 2.0 - 1.0
}
