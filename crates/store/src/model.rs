//! Records as stored and returned.

use serde_json::Value;
pub use switchboard_core::status::{
    DeliveryStatus, MessageStatus, RunStatus, ScheduleKind, ScheduleStatus, StepStatus,
};

#[derive(Debug, Clone, PartialEq)]
pub struct NewStore {
    pub id: String,
    pub name: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub id: String,
    /// `None` for an admin token.
    pub store_id: Option<String>,
    pub name: Option<String>,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub hash: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub store_id: Option<String>,
    pub name: Option<String>,
    pub created_at: i64,
}

impl TokenRecord {
    pub fn is_admin(&self) -> bool {
        self.store_id.is_none()
    }
}

/// What a definition says about itself, extracted when it is saved.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowContent {
    pub name: String,
    pub description: Option<String>,
    /// `native` or `kustomer`.
    pub format: String,
    /// The trigger's type (`webhook`, `callable`, …) and the key it is looked up by (the event type).
    pub trigger_kind: String,
    pub trigger_key: Option<String>,
    /// The definition as posted (key order kept).
    pub definition: Value,
    pub warnings: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    pub id: String,
    pub store_id: String,
    pub active: bool,
    pub content: WorkflowContent,
    /// A `schedule` workflow's first tick, scheduled with it when it is active.
    pub next_tick: Option<i64>,
    pub now: i64,
}

impl NewWorkflow {
    /// The record a fresh insert stores: version 1.
    pub fn into_record(self) -> WorkflowRecord {
        WorkflowRecord {
            id: self.id,
            store_id: self.store_id,
            version: 1,
            active: self.active,
            content: self.content,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowUpdate {
    pub content: WorkflowContent,
    /// `None` keeps the current setting.
    pub active: Option<bool>,
    /// A `schedule` workflow's next tick: it replaces the pending one unless that one is due
    /// already (then it fires, with the new version). `None` (or an inactive workflow) removes it.
    pub next_tick: Option<i64>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub id: String,
    pub store_id: String,
    pub version: i64,
    pub active: bool,
    pub content: WorkflowContent,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub workflow_id: String,
    pub version: i64,
    pub definition: Value,
    pub created_at: i64,
}

/// The kinds of named settings resources a store keeps (one table, one set of operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Credentials for outbound calls; deleting one removes it (and its secrets).
    Connector,
    /// An installed Kustomer app: its definition and the ids its workflows were given.
    App,
    /// A saved HTTP request; deleting one is soft, so it can be restored.
    Webhook,
    /// A store's settings of one channel (`whatsapp`, `email`, `voice`), named after it.
    Channel,
    /// A stored email template (subject, text, html).
    EmailTemplate,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Connector => "connector",
            ResourceKind::App => "app",
            ResourceKind::Webhook => "webhook",
            ResourceKind::Channel => "channel",
            ResourceKind::EmailTemplate => "email_template",
        }
    }

    /// Whether a delete keeps the row (listed with `?deleted=true`, restorable).
    pub fn soft_delete(self) -> bool {
        matches!(self, ResourceKind::Webhook)
    }
}

/// A named resource: `body` is what the API shows, with secrets sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRecord {
    pub id: String,
    pub store_id: String,
    pub kind: ResourceKind,
    pub name: String,
    pub body: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

impl ResourceRecord {
    /// A record not stored yet.
    pub fn new(
        store_id: &str,
        kind: ResourceKind,
        id: String,
        name: String,
        body: Value,
        now: i64,
    ) -> ResourceRecord {
        ResourceRecord {
            id,
            store_id: store_id.to_owned(),
            kind,
            name,
            body,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

/// Keyset pagination: items after the cursor, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    /// The sort key of the last item already seen.
    pub after: Option<String>,
}

impl PageRequest {
    /// The key to list after; the empty string sorts before every id.
    pub fn after_key(&self) -> String {
        self.after.clone().unwrap_or_default()
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: 50,
            after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The key to continue after, when more items exist.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

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
    pub state: Checkpoint,
}

impl NewRun {
    /// The record this run is once created at `created_at`.
    pub fn record(&self, created_at: i64) -> RunRecord {
        let cp = &self.state;
        RunRecord {
            id: cp.run_id.clone(),
            store_id: self.store_id.clone(),
            workflow_id: self.workflow_id.clone(),
            workflow_version: self.workflow_version,
            event_id: self.event_id.clone(),
            status: cp.status,
            trigger: self.trigger.clone(),
            contact: self.contact.clone(),
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub workflow_id: Option<String>,
    pub status: Option<RunStatus>,
    /// Created at or after.
    pub since: Option<i64>,
    /// Created before.
    pub until: Option<i64>,
}

/// A run taking new work: a claim of due or orphaned runs, or a failed run retried.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
    pub now: i64,
}

/// What a lease holds: a run or a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leased {
    Runs,
    Deliveries,
}

impl Leased {
    /// The table of the leased rows (both have `lease_owner` and `lease_until`).
    pub fn table(self) -> &'static str {
        match self {
            Leased::Runs => "runs",
            Leased::Deliveries => "deliveries",
        }
    }
}

/// A node of the cluster, as it last reported itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub id: String,
    /// The address its API listens on.
    pub address: String,
    pub started_at: i64,
    pub last_seen_at: i64,
    /// Runs executing on it then.
    pub runs_in_flight: i64,
}

/// Statuses of runs that are not finished.
pub const LIVE_STATUSES: &str = "'queued', 'running', 'waiting'";

/// A message sent or received on a channel (a call counts as a voice message).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: String,
    pub store_id: String,
    /// `whatsapp`, `email` or `voice`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Phone digits, or the email address.
    pub contact: Option<String>,
    /// The provider's id (wamid, call sid, `Message-ID`): unique per store and channel.
    pub provider_id: Option<String>,
    pub status: MessageStatus,
    /// Statuses only move forward: an update with a lower rank than the stored one is ignored.
    pub status_rank: i64,
    /// What was said: text, template and variables, subject, TwiML…
    pub content: Value,
    pub error: Option<Value>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A provider's report on a message: applied when it moves the status forward, creating the
/// record when the report arrives before the send was recorded.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub store_id: String,
    pub channel: String,
    pub provider_id: String,
    pub status: MessageStatus,
    pub status_rank: i64,
    pub error: Option<Value>,
    /// The recipient, for a record created by this report.
    pub contact: Option<String>,
    /// Id of the record created by this report, if it creates one.
    pub new_id: String,
    /// When the status moves forward: the event to record with it.
    pub event: Option<StatusEvent>,
    pub now: i64,
}

impl StatusReport {
    /// The record this report creates when it is the first word on its message (the send is
    /// recorded later and completes it).
    pub fn first_record(&self) -> MessageRecord {
        MessageRecord {
            id: self.new_id.clone(),
            store_id: self.store_id.clone(),
            channel: self.channel.clone(),
            direction: "outbound".into(),
            contact: self.contact.clone(),
            provider_id: Some(self.provider_id.clone()),
            status: self.status,
            status_rank: self.status_rank,
            content: serde_json::json!({}),
            error: self.error.clone(),
            run_id: None,
            step_id: None,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFilter {
    pub contact: Option<String>,
    pub channel: Option<String>,
}

/// The event a status change records (`message.delivered`, …) and publishes, in the same
/// transaction; its payload is the updated record.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    pub id: String,
    pub event_type: String,
}

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

/// An app installed (or upgraded) in one transaction: its record and its workflows' changes.
#[derive(Debug, Clone, PartialEq)]
pub struct AppInstall {
    /// The app's record: created, or replacing the installed one of the same id.
    pub app: ResourceRecord,
    pub create: Vec<NewWorkflow>,
    /// `(workflow id, update)`.
    pub update: Vec<(String, WorkflowUpdate)>,
    /// Workflows the new version no longer has.
    pub delete: Vec<String>,
}

/// An endpoint that receives the store's outgoing events. Secrets are sealed by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub store_id: String,
    pub url: String,
    pub description: Option<String>,
    /// Event names, `group.*` or `*`.
    pub events: Vec<String>,
    /// Deliveries sharing a contact go out in order; a failing one holds the later ones.
    pub ordered: bool,
    pub active: bool,
    /// The sealed `whsec_` secret.
    pub secret: String,
    /// The secret before the latest rotation (sealed), signing alongside until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    /// The first failed attempt since the latest success.
    pub failing_since: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SubscriptionRecord {
    pub fn new_id() -> String {
        format!("sub_{}", uuid::Uuid::now_v7().simple())
    }
}

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: String,
    pub store_id: String,
    pub subscription_id: String,
    /// The outgoing event's id (the envelope's `id`, `webhook-id`).
    pub event_id: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// One attempt asked for by hand (retry, recover): no schedule after it.
    pub manual: bool,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DeliveryRecord {
    pub fn new_id() -> String {
        format!("dlv_{}", uuid::Uuid::now_v7().simple())
    }
}

/// One attempt of a delivery, as its log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// From 1.
    pub attempt: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    /// The HTTP status, when a response came back.
    pub status: Option<i64>,
    /// The start of the response body.
    pub response: Option<String>,
    /// Why the attempt failed.
    pub error: Option<String>,
    pub manual: bool,
}

/// A claimed delivery with everything needed to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    pub delivery: DeliveryRecord,
    pub url: String,
    /// Sealed secrets that sign: the current one, then the previous one while it still does.
    pub secrets: Vec<String>,
    /// The envelope's `created_at` and `data` (stored JSON text, sent as is).
    pub event_created_at: i64,
    pub data: String,
}

/// What an attempt came to. Applies only while `owner` holds the delivery's lease.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub delivery_id: String,
    pub owner: String,
    pub attempt: AttemptRecord,
    pub succeeded: bool,
    /// After a failure: when to try again; `None` ends the delivery as failed.
    pub retry_at: Option<i64>,
    /// The endpoint answered 410 Gone: disable the subscription now.
    pub gone: bool,
    /// A subscription whose attempts have all failed for this long (ms) is disabled.
    pub disable_after: i64,
    pub now: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event: Option<String>,
}
