//! Runs' leading steps that only compute (`Effects::Pure`: context data, conditions, delays) run
//! before the run is created, so it is created with their records in the transaction that
//! accepts its event — one write instead of two, and nothing to lose: until that commit nothing
//! happened.

use std::sync::Arc;
use std::time::Instant;

use switchboard_core::run::RunStatus;
use switchboard_steps::Effects;
use switchboard_store::Checkpoint;

use crate::Engine;
use crate::commit::committed;
use crate::edges::Budget;
use crate::executor::{Stepped, execute, step};
use crate::live::{Live, Position, Start};
use crate::services::EngineServices;

/// Steps a fresh run may run before its event is acknowledged, at most; all the runs of one
/// event share a wall-clock budget too (`EngineSettings::ack_budget`).
const AHEAD_STEPS: usize = 16;

/// A fresh run whose first steps ran before its creation was committed.
pub struct Ahead {
    live: Live,
    status: RunStatus,
}

impl Ahead {
    pub fn run_id(&self) -> &str {
        &self.live.run_id
    }
}

/// Runs a fresh run's leading steps that only compute, starting none after `deadline`; returns
/// the run and the state to create it in. `store_root` is the `store` root of its templates.
pub async fn run_ahead(
    engine: &Arc<Engine>,
    start: Start,
    store_root: Arc<serde_json::Value>,
    deadline: Instant,
) -> (Ahead, Checkpoint) {
    let mut live = Live::fresh(store_root, start);
    let services = EngineServices {
        store: engine.store.as_ref(),
        store_id: &live.store_id.clone(),
        outbound: &engine.outbound,
        graphs: &engine.graphs,
    };
    let mut ran = 0;
    let cp = loop {
        let next = match live.position {
            Position::Done => break live.completed(engine),
            Position::Fresh(next) => next,
            Position::Resume { node, .. } => break live.running(engine, node),
        };
        let pure = live
            .graph
            .nodes
            .get(next)
            .is_some_and(|n| n.spec.effects() == Effects::Pure);
        if !pure || ran == AHEAD_STEPS || Instant::now() >= deadline {
            break live.running(engine, next);
        }
        ran += 1;
        let budget = Budget {
            deadline,
            long: engine.settings.ack_budget,
        };
        match step(
            engine.settings.time_scale,
            &mut live,
            &services,
            Some(budget),
        )
        .await
        {
            Stepped::Next { .. } => {}
            Stepped::OutOfTime => break live.running(engine, next),
            Stepped::Wait { node, at } => break live.waiting(engine, node, at),
            Stepped::Complete => live.position = Position::Done,
            Stepped::Fail {
                node,
                error,
                step_id,
            } => break live.failed(engine, Some(node), error, step_id),
        }
    };
    let status = cp.status;
    (Ahead { live, status }, cp)
}

/// Goes on with runs whose creation (see [`run_ahead`]) is committed: running ones execute in
/// their own task; the others are settled already.
pub fn launch(engine: &Arc<Engine>, runs: Vec<Ahead>) {
    for Ahead { live, status } in runs {
        committed(engine, &live, status);
        if status == RunStatus::Running && engine.track(&live.run_id, &live.store_id) {
            let engine = engine.clone();
            let store = live.store_id.clone();
            // Its writes queue in its store's lane (`switchboard_store::in_lane`).
            tokio::spawn(switchboard_store::in_lane(&store, async move {
                let id = live.run_id.clone();
                execute(&engine, live).await;
                engine.untrack(&id);
            }));
        }
    }
}
