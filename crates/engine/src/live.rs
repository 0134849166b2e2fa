//! A run as it executes in memory: where it stands, its context, the step records not yet
//! committed.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use switchboard_core::run::RunContext;
use switchboard_core::template::Scope;
use switchboard_store::StepRecord;

use crate::Graph;
use crate::clock::now_ms;

/// A node of a compiled workflow.
pub(crate) type Node = switchboard_core::workflow::Node<switchboard_steps::StepSpec>;

/// A run created and committed by this node, ready to execute.
pub struct Start {
    pub run_id: String,
    pub store_id: String,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub graph: Arc<Graph>,
    pub trigger: Value,
    pub contact: Option<String>,
    pub first: Option<usize>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Position {
    /// A new visit of this node.
    Fresh(usize),
    /// The open visit of a step that waits (a delay or a retry backoff).
    Resume {
        node: usize,
        seq: i64,
        visit: i64,
        attempt: u64,
        started: i64,
    },
    Done,
}

pub(crate) struct Live {
    pub(crate) run_id: String,
    pub(crate) store_id: String,
    pub(crate) workflow_id: String,
    /// The version `graph` is; each step record names it.
    pub(crate) workflow_version: i64,
    pub(crate) graph: Arc<Graph>,
    pub(crate) trigger: Value,
    pub(crate) contact: Option<String>,
    pub(crate) store_root: Arc<Value>,
    pub(crate) ctx: RunContext,
    pub(crate) next_seq: i64,
    pub(crate) visits: i64,
    pub(crate) node_visits: HashMap<usize, i64>,
    pub(crate) position: Position,
    pub(crate) pending: Vec<StepRecord>,
    /// Why the run failed, once it did (for the log line when that is committed).
    pub(crate) failure: Option<Value>,
    /// How far the run's clock is ahead of the server's: a dry run skips its waits by moving it.
    pub(crate) skew_ms: i64,
}

impl Live {
    /// A run just started, before its first step.
    pub(crate) fn fresh(store_root: Arc<Value>, start: Start) -> Live {
        Live {
            store_root,
            run_id: start.run_id,
            store_id: start.store_id,
            workflow_id: start.workflow_id,
            workflow_version: start.workflow_version,
            graph: start.graph,
            trigger: start.trigger,
            contact: start.contact,
            ctx: RunContext::default(),
            next_seq: 0,
            visits: 0,
            node_visits: HashMap::new(),
            position: start.first.map_or(Position::Done, Position::Fresh),
            pending: Vec::new(),
            failure: None,
            skew_ms: 0,
        }
    }
}

/// The visit a run stands at.
pub(crate) struct At {
    pub(crate) node: usize,
    pub(crate) seq: i64,
    pub(crate) visit: i64,
    pub(crate) attempt: u64,
    pub(crate) started: i64,
}

impl Live {
    /// Opens the visit the run stands at (a fresh one counts as a new visit); `None` when done.
    /// The run's time: the server's, moved ahead past the waits a dry run skipped.
    pub(crate) fn now(&self) -> i64 {
        now_ms() + self.skew_ms
    }

    pub(crate) fn open_visit(&mut self) -> Option<At> {
        match self.position {
            Position::Done => None,
            Position::Fresh(node) => {
                self.visits += 1;
                let count = self.node_visits.entry(node).or_default();
                *count += 1;
                let seq = self.next_seq;
                self.next_seq += 1;
                Some(At {
                    node,
                    seq,
                    visit: *count,
                    attempt: 1,
                    started: self.now(),
                })
            }
            Position::Resume {
                node,
                seq,
                visit,
                attempt,
                started,
            } => Some(At {
                node,
                seq,
                visit,
                attempt,
                started,
            }),
        }
    }

    /// What templates and conditions see now.
    pub(crate) fn scope(&self) -> Scope<'_> {
        Scope {
            trigger: &self.trigger,
            state: &self.ctx.state,
            variables: &self.ctx.variables,
            steps: &self.ctx.steps,
            store: &self.store_root,
            error: None,
            params: None,
        }
    }

    /// Records a step's output in the run's context.
    pub(crate) fn apply(&mut self, node: &Node, output: &Value) {
        let merges = node.spec.merges_state();
        self.ctx
            .apply(&node.id, node.output_var.as_deref(), merges, output);
    }
}
