//! Events, runs, their steps and conversations.

use serde_json::Value;

use super::*;

/// An accepted inbound event (or manual execution) with its `Idempotency-Key`, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub store_id: String,
    pub event_type: String,
    pub payload: Value,
    pub idempotency: Option<Idempotency>,
    /// The answer given now, repeated to retries with the same key (kept only with a key).
    pub response: Value,
    /// An inbound message the event carries, recorded with it.
    pub message: Option<MessageRecord>,
    /// The schedule this event fires (a scheduled call, a cron tick). When it is no longer pending
    /// at that due time, another node fired it: nothing is written and the answer is a conflict.
    pub schedule: Option<ScheduleSettle>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the request: the same key with another request is a conflict.
    pub request_hash: String,
    /// Keys first used before this time have expired and may be used again.
    pub since: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Acceptance {
    Accepted,
    /// The key was used already: nothing was created; here is what was answered then.
    Replayed {
        request_hash: String,
        response: Value,
    },
}

/// A run to create. Its `state` says where it stands: a fresh run may already have run its first
/// steps (those that only compute) and so be created running, waiting, completed or failed, with
/// their records, in the transaction that accepts its event. `state.owner` holds the lease while
/// `state.lease_until` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub store_id: String,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub event_id: Option<String>,
    pub trigger: Value,
    pub contact: Option<String>,
    /// The contact's email (the trigger's `email`), lower case.
    pub email: Option<String>,
    /// How the run started: `webhook`, `customer_message`, `schedule`, `callable`, `manual`.
    pub trigger_type: String,
    /// The run this one replays.
    pub replay_of: Option<String>,
    pub state: Checkpoint,
}

impl NewRun {
    /// The record this run is once created at `created_at`.
    pub fn record(&self, created_at: i64) -> RunRecord {
        let cp = &self.state;
        let (error_code, failed_step) = failure_of(cp.error.as_ref());
        RunRecord {
            id: cp.run_id.clone(),
            store_id: self.store_id.clone(),
            workflow_id: self.workflow_id.clone(),
            workflow_version: self.workflow_version,
            event_id: self.event_id.clone(),
            status: cp.status,
            trigger: self.trigger.clone(),
            contact: self.contact.clone(),
            email: self.email.clone(),
            trigger_type: Some(self.trigger_type.clone()),
            error_code,
            failed_step,
            replay_of: self.replay_of.clone(),
            actions: Vec::new(),
            next_node: cp.next_node,
            visits: cp.visits,
            wake_at: cp.wake_at,
            error: cp.error.clone(),
            created_at,
            updated_at: cp.now,
            finished_at: cp.finished_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub store_id: String,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub event_id: Option<String>,
    pub status: RunStatus,
    pub trigger: Value,
    pub contact: Option<String>,
    pub email: Option<String>,
    /// How the run started (none for runs from before it was recorded).
    pub trigger_type: Option<String>,
    /// A failed or cancelled run's `error.code`.
    pub error_code: Option<String>,
    /// The id of the step a failed run failed at.
    pub failed_step: Option<String>,
    pub replay_of: Option<String>,
    /// What was done to the run through the API: `{action, at, by, …}`, oldest first.
    pub actions: Vec<Value>,
    /// Where the run goes on (or, for a failed run, the node that failed).
    pub next_node: Option<i64>,
    pub visits: i64,
    pub wake_at: Option<i64>,
    pub error: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// One visit of a step, as run history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Visit order within the run, from 0.
    pub seq: i64,
    pub step_id: String,
    pub node: i64,
    /// How many times the run has visited this step, from 1.
    pub visit: i64,
    pub status: StepStatus,
    pub attempts: i64,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub http: Option<Value>,
    pub logs: Option<Value>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// The workflow version the visit ran on (none for records from before it was recorded).
    pub workflow_version: Option<i64>,
    /// Set when a rerun from an earlier step replaced this visit: kept as history, out of the
    /// run's context.
    pub superseded_at: Option<i64>,
}

/// A run's error code and failed step, as its error (`{code, message, stepId?}`) says.
pub fn failure_of(error: Option<&Value>) -> (Option<String>, Option<String>) {
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (text("code"), text("stepId"))
}

/// A retry through the API: the run goes on at `next_node` of `version`, leased to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRetry {
    pub store_id: String,
    pub run_id: String,
    /// The statuses the run may have now (another status is a conflict).
    pub from: Vec<RunStatus>,
    pub version: i64,
    pub next_node: i64,
    /// Step records from this `seq` on are superseded (a rerun from a step).
    pub supersede_from: Option<i64>,
    /// Appended to the run's `actions`.
    pub action: Value,
    pub lease: Lease,
}

/// Step records and the run's new position, committed together. Applies only while `owner`
/// holds the run's lease: a cancelled or taken-over run refuses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub run_id: String,
    pub owner: String,
    /// Inserted, or replacing the record of the same `seq` (a waiting visit that went on).
    pub records: Vec<StepRecord>,
    pub status: RunStatus,
    pub next_node: Option<i64>,
    pub visits: i64,
    pub wake_at: Option<i64>,
    pub error: Option<Value>,
    pub finished_at: Option<i64>,
    /// Keep the lease until then; `None` releases it.
    pub lease_until: Option<i64>,
    /// `contextVariables` merged into the contact's conversation on completion.
    pub conversation: Option<ConversationPatch>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationPatch {
    pub store_id: String,
    /// Digits only.
    pub phone: String,
    /// An RFC 7396 merge patch.
    pub patch: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    pub phone: String,
    pub state: Value,
    pub updated_at: i64,
}

/// A workflow's runs created since a time: how many ended each way, and per step how many runs
/// reached it and how many failed there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowStats {
    /// `(status, runs)`.
    pub runs: Vec<(String, i64)>,
    /// `(step id, runs that reached it, runs whose visit of it failed)`, by step id.
    pub steps: Vec<(String, i64, i64)>,
}

/// A received event as history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: String,
    pub store_id: String,
    pub event_type: String,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub event_type: Option<String>,
    /// Received at or after.
    pub since: Option<i64>,
    /// Received before.
    pub until: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub workflow_id: Option<String>,
    pub status: Option<RunStatus>,
    /// Phone digits.
    pub contact: Option<String>,
    /// Lower case.
    pub email: Option<String>,
    pub event_id: Option<String>,
    pub error_code: Option<String>,
    pub trigger_type: Option<String>,
    /// Created at or after.
    pub since: Option<i64>,
    /// Created before.
    pub until: Option<i64>,
}
