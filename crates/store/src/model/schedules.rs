//! Scheduled calls and cron ticks.

use serde_json::Value;

use super::*;

/// `call`: one call of a callable workflow, made by a `schedule_workflow` step. `cron`: the next
/// tick of an active `schedule` workflow (one per workflow, moved on at every tick).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub id: String,
    pub store_id: String,
    pub workflow_id: String,
    pub kind: ScheduleKind,
    pub status: ScheduleStatus,
    pub due_at: i64,
    /// A call's inputs: the callee's trigger data.
    pub inputs: Option<Value>,
    pub origin_run_id: Option<String>,
    pub origin_step_id: Option<String>,
    /// The run it started (for a cron tick, the latest).
    pub run_id: Option<String>,
    pub fired_at: Option<i64>,
    /// Why a call could not start (`failed`).
    pub error: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ScheduleRecord {
    /// A new schedule's id (`sch_…`, time-ordered like every id).
    pub fn new_id() -> String {
        format!("sch_{}", uuid::Uuid::now_v7().simple())
    }
}

/// A call to schedule. `origin_key` (`{runId}:{stepId}:{visit}`) makes it idempotent: a step run
/// again after a crash finds the call it made before.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCall {
    pub id: String,
    pub store_id: String,
    pub workflow_id: String,
    pub due_at: i64,
    pub inputs: Value,
    pub origin_key: String,
    pub origin_run_id: String,
    pub origin_step_id: String,
    pub now: i64,
}

/// What becomes of a pending schedule. It applies only while the schedule is pending and due at
/// `due_at`, so however many nodes look at a due schedule, exactly one changes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSettle {
    pub id: String,
    pub due_at: i64,
    /// A cron schedule's next tick: it stays pending, due then.
    pub next: Option<i64>,
    /// Without `next`: `fired`, `cancelled` or `failed`.
    pub status: ScheduleStatus,
    pub run_id: Option<String>,
    pub error: Option<Value>,
    pub now: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleFilter {
    /// Default: `pending`.
    pub status: Option<ScheduleStatus>,
    pub workflow_id: Option<String>,
}
