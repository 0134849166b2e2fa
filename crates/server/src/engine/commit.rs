//! Committing what a run did: step records, its new position, and on completion the merge of its
//! `contextVariables` into the contact's conversation — one checkpoint through the store's writer.

use std::sync::Arc;

use serde_json::Value;
use switchboard_core::run::{RunStatus, StepError};
use switchboard_store::{Checkpoint, ConversationPatch, StepRecord};

use super::Engine;
use super::executor::Live;
use crate::time::now_ms;

/// Completes the run, merging its `contextVariables` into the contact's conversation.
pub(super) async fn finish(engine: &Arc<Engine>, live: &mut Live) {
    let conversation = live.contact.clone().and_then(|phone| {
        let vars = live.ctx.variables.as_object()?;
        let patch: serde_json::Map<String, Value> = live
            .graph
            .context_variables
            .iter()
            .filter_map(|name| vars.get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        (!patch.is_empty()).then(|| ConversationPatch {
            store_id: live.store_id.clone(),
            phone,
            patch: Value::Object(patch),
        })
    });
    let cp = checkpoint(
        engine,
        &live.run_id,
        RunStatus::Completed,
        None,
        live.visits,
        None,
        None,
        std::mem::take(&mut live.pending),
        conversation,
    );
    if flush(engine, live, cp, true).await {
        metrics::counter!("switchboard_runs_completed_total").increment(1);
    }
}

pub(super) async fn fail(
    engine: &Arc<Engine>,
    live: &mut Live,
    node: Option<usize>,
    error: StepError,
    step_id: Option<String>,
) {
    let mut error = error.to_json();
    if let (Some(id), Some(map)) = (step_id, error.as_object_mut()) {
        map.insert("stepId".into(), Value::String(id));
    }
    let cp = checkpoint(
        engine,
        &live.run_id,
        RunStatus::Failed,
        node.map(|n| n as i64),
        live.visits,
        None,
        Some(error),
        std::mem::take(&mut live.pending),
        None,
    );
    if flush(engine, live, cp, true).await {
        metrics::counter!("switchboard_runs_failed_total").increment(1);
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn checkpoint(
    engine: &Engine,
    run_id: &str,
    status: RunStatus,
    next_node: Option<i64>,
    visits: i64,
    wake_at: Option<i64>,
    error: Option<Value>,
    records: Vec<StepRecord>,
    conversation: Option<ConversationPatch>,
) -> Checkpoint {
    let now = now_ms();
    Checkpoint {
        run_id: run_id.to_owned(),
        owner: engine.node_id.clone(),
        records,
        status: status.as_str().to_owned(),
        next_node,
        visits,
        wake_at,
        error,
        finished_at: status.is_final().then_some(now),
        lease_until: None,
        conversation,
        now,
    }
}

/// Commits a checkpoint; `false` when the run must stop here (its lease is gone — cancelled or
/// taken over — or the store failed, in which case the lease runs out and the run is resumed
/// from its last checkpoint).
pub(super) async fn flush(engine: &Engine, live: &Live, cp: Checkpoint, settles: bool) -> bool {
    let result = engine.store.checkpoint(cp).await;
    if settles {
        engine.settled(&live.run_id);
    }
    match result {
        Ok(true) => true,
        Ok(false) => {
            tracing::info!(run_id = %live.run_id, "the run was cancelled or taken over; stopping here");
            engine.settled(&live.run_id);
            false
        }
        Err(e) => {
            tracing::error!(run_id = %live.run_id, error = %e, "checkpoint failed; the run resumes from its last checkpoint when its lease expires");
            false
        }
    }
}
