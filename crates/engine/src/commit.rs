//! Committing what a run did: step records, its new position, and on completion the merge of its
//! `contextVariables` into the contact's conversation — one checkpoint through the store's writer.

use serde_json::Value;
use switchboard_core::run::{RunStatus, StepError};
use switchboard_store::{Checkpoint, ConversationPatch};

use crate::Engine;
use crate::clock::now_ms;
use crate::live::Live;

impl Live {
    /// The run still running at `next`, its lease kept. It is due at once, so another node takes
    /// it over if this one dies and the lease lapses.
    pub(super) fn running(&mut self, engine: &Engine, next: usize) -> Checkpoint {
        let mut cp = self.checkpoint(engine, RunStatus::Running, Some(next as i64));
        cp.lease_until = Some(engine.lease().until);
        cp.wake_at = Some(cp.now);
        cp
    }

    /// The run waiting at `node` until `at`, its lease released for whoever is free then.
    pub(super) fn waiting(&mut self, engine: &Engine, node: usize, at: i64) -> Checkpoint {
        let mut cp = self.checkpoint(engine, RunStatus::Waiting, Some(node as i64));
        cp.wake_at = Some(at);
        cp
    }

    /// The run handed back as it stands (a stopping node): queued, due now.
    pub(super) fn handed_back(&mut self, engine: &Engine, next: Option<i64>) -> Checkpoint {
        let mut cp = self.checkpoint(engine, RunStatus::Queued, next);
        cp.wake_at = Some(cp.now);
        cp
    }

    /// The run completed, merging its `contextVariables` into the contact's conversation.
    pub(super) fn completed(&mut self, engine: &Engine) -> Checkpoint {
        let conversation = self.contact.clone().and_then(|phone| {
            let vars = self.ctx.variables.as_object()?;
            let patch: serde_json::Map<String, Value> = self
                .graph
                .context_variables
                .iter()
                .filter_map(|name| vars.get(name).map(|v| (name.clone(), v.clone())))
                .collect();
            (!patch.is_empty()).then(|| ConversationPatch {
                store_id: self.store_id.clone(),
                phone,
                patch: Value::Object(patch),
            })
        });
        let mut cp = self.checkpoint(engine, RunStatus::Completed, None);
        cp.conversation = conversation;
        cp
    }

    /// The run failed at `node` (the error names the step when there is one).
    pub(super) fn failed(
        &mut self,
        engine: &Engine,
        node: Option<usize>,
        error: StepError,
        step_id: Option<String>,
    ) -> Checkpoint {
        let mut error = error.to_json();
        if let (Some(id), Some(map)) = (step_id, error.as_object_mut()) {
            map.insert("stepId".into(), Value::String(id));
        }
        let mut cp = self.checkpoint(engine, RunStatus::Failed, node.map(|n| n as i64));
        self.failure = Some(error.clone());
        cp.error = Some(error);
        cp
    }

    /// The pending step records and the run's new status, the lease released.
    fn checkpoint(&mut self, engine: &Engine, status: RunStatus, next: Option<i64>) -> Checkpoint {
        let mut cp = bare_checkpoint(engine, &self.run_id, self.visits, status, next);
        cp.records = std::mem::take(&mut self.pending);
        cp
    }
}

/// A run's new status and position, without records, the lease released.
pub(super) fn bare_checkpoint(
    engine: &Engine,
    run_id: &str,
    visits: i64,
    status: RunStatus,
    next: Option<i64>,
) -> Checkpoint {
    let now = now_ms();
    Checkpoint {
        run_id: run_id.to_owned(),
        owner: engine.node_id.clone(),
        records: Vec::new(),
        status,
        next_node: next,
        visits,
        wake_at: None,
        error: None,
        finished_at: status.is_final().then_some(now),
        lease_until: None,
        conversation: None,
        now,
    }
}

/// Commits a checkpoint; `false` when the run must stop here (its lease is gone — cancelled or
/// taken over — or the store failed, in which case the lease runs out and the run is resumed
/// from its last checkpoint).
pub(super) async fn commit(engine: &Engine, live: &Live, cp: Checkpoint) -> bool {
    let run_id = cp.run_id.clone();
    let status = cp.status;
    let result = engine.store.checkpoint(cp).await;
    match result {
        Ok(true) => {
            committed(engine, live, status);
            true
        }
        Ok(false) => {
            tracing::info!(run_id = %run_id, "the run was cancelled or taken over; stopping here");
            engine.settled(&run_id);
            false
        }
        Err(e) => {
            tracing::error!(run_id = %run_id, error = %e, "checkpoint failed; the run resumes from its last checkpoint when its lease expires");
            engine.settled(&run_id);
            false
        }
    }
}

/// What follows a committed change of status: metrics, the log line of a failure, and callers
/// waiting for the run to settle.
pub(super) fn committed(engine: &Engine, live: &Live, status: RunStatus) {
    match status {
        RunStatus::Running => return,
        RunStatus::Completed => metrics::counter!("switchboard_runs_completed_total").increment(1),
        RunStatus::Failed => {
            let error = live.failure.as_ref().unwrap_or(&Value::Null);
            let run = Failed {
                store_id: &live.store_id,
                workflow_id: &live.workflow_id,
                workflow_name: &live.graph.name,
                run_id: &live.run_id,
            };
            run.log(error);
        }
        RunStatus::Waiting => metrics::gauge!("switchboard_runs_waiting").increment(1.0),
        _ => {}
    }
    engine.settled(&live.run_id);
}

/// A run whose failure is committed: one line at `warn` and the counters, by error code.
pub(super) struct Failed<'a> {
    pub store_id: &'a str,
    pub workflow_id: &'a str,
    pub workflow_name: &'a str,
    pub run_id: &'a str,
}

impl Failed<'_> {
    pub fn log(&self, error: &Value) {
        let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("");
        let code = text("code");
        tracing::warn!(
            store_id = self.store_id,
            workflow_id = self.workflow_id,
            workflow_name = self.workflow_name,
            run_id = self.run_id,
            step_id = text("stepId"),
            code,
            "run failed: {}",
            text("message")
        );
        metrics::counter!("switchboard_runs_failed_total").increment(1);
        metrics::counter!("switchboard_run_failures_total", "code" => code.to_owned()).increment(1);
    }
}
