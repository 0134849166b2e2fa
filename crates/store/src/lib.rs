//! Durable storage. [`Store`] is what the server needs; two backends implement it: SQLite through
//! rusqlite (the embedded default: one writer thread, a few reader connections) and PostgreSQL
//! through sqlx (production and clusters). Every write goes through a batching writer: many requests
//! share one transaction (group commit), each in its own savepoint so one failing request changes
//! nothing, and each is answered only after its batch committed. One conformance suite
//! (`tests/conformance/`, one file per area) runs against both.
//!
//! Times are integer milliseconds since the Unix epoch, supplied by the caller, so the engine's
//! injectable clock governs everything stored.

mod batch;
pub use batch::in_lane;
mod cluster;
mod db;
mod dispatch;
mod error;
mod health;
mod messages;
mod model;
pub mod outbox;
mod postgres;
mod resources;
mod runs;
mod schedules;
mod sqlite;
mod tenants;
mod workflows;

use std::sync::Arc;

pub use error::{Fault, Result, StoreError};
pub use health::Health;
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, backup as backup_sqlite};

/// Everything the engine and the API need of durable storage: one trait per area, behind one name
/// (`Arc<dyn Store>` offers every area's methods).
pub trait Store:
    Tenants + Workflows + Runs + Resources + Messages + Schedules + Outbox + Cluster + 'static
{
}

impl<T> Store for T where
    T: Tenants + Workflows + Runs + Resources + Messages + Schedules + Outbox + Cluster + 'static
{
}

/// The store's stores, their tokens, the inbound signing secret, server-wide settings.
#[async_trait::async_trait]
pub trait Tenants: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<()>;
    /// What keeps the database from taking writes now (a full disk, …), if anything: met by the
    /// last writes, it holds until a later batch commits.
    fn fault(&self) -> Option<Fault>;

    /// A server-wide setting.
    async fn get_meta(&self, key: &str) -> Result<Option<String>>;

    /// Sets `key` unless it is set already; returns the value that is stored. This is how first-start
    /// work happens once even when several nodes start together.
    async fn init_meta(&self, key: &str, value: &str) -> Result<String>;

    /// Creates a store, and its first token when given, in one transaction. A name already used → conflict.
    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord>;

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>>;

    /// Sets a store's own limits (all of them: `None` is the server's setting); `None` when
    /// there is no such store.
    async fn set_store_limits(&self, id: &str, limits: StoreLimits) -> Result<Option<StoreRecord>>;

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>>;

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord>;

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>>;

    /// A store's tokens (never their secrets), by id.
    async fn list_tokens(&self, store_id: &str, page: &PageRequest) -> Result<Page<TokenRecord>>;

    /// Returns whether a token was deleted.
    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool>;

    /// The store's inbound signing secret (sealed by the caller), if one was set.
    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>>;

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()>;
}

/// The store's definitions, their versions, the triggers that start them, app installs.
#[async_trait::async_trait]
pub trait Workflows: Send + Sync {
    /// Creates a workflow at version 1. A name used by another live workflow of the store → conflict.
    async fn create_workflow(&self, workflow: NewWorkflow) -> Result<WorkflowRecord>;

    /// Replaces the definition, making version + 1. `None` when there is no such live workflow.
    async fn update_workflow(
        &self,
        store_id: &str,
        id: &str,
        update: WorkflowUpdate,
    ) -> Result<Option<WorkflowRecord>>;

    /// Turns the workflow on or off without a new version. Turning on a `schedule` workflow
    /// schedules `next_tick` (unless a tick is pending); turning it off removes its pending tick.
    async fn set_workflow_active(
        &self,
        store_id: &str,
        id: &str,
        active: bool,
        next_tick: Option<i64>,
        now: i64,
    ) -> Result<Option<WorkflowRecord>>;

    /// Soft delete: history and versions stay; the name is free again. Its waiting runs and
    /// pending schedules are cancelled.
    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool>;

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>>;

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>>;

    /// How many live (not deleted) workflows the store has.
    async fn count_workflows(&self, store_id: &str) -> Result<i64>;

    /// `None` when there is no such live workflow.
    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>>;

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>>;

    /// The keys active workflows with a trigger of `kind` listen to (e.g. the event types of
    /// `webhook` triggers), sorted.
    async fn trigger_keys(&self, store_id: &str, kind: &str) -> Result<Vec<String>>;

    /// Active live workflows whose trigger is of `kind` (`webhook`, `customer_message`) with
    /// that key (the event type, the channel): `(id, version)`.
    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>>;

    /// Installs or upgrades an app: its record and all its workflow changes in one transaction
    /// (a workflow name taken outside the app → conflict, and nothing changes).
    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord>;

    /// Deletes an app's record and its workflows in one transaction; `false` when there is no
    /// such app.
    async fn uninstall_app(
        &self,
        store_id: &str,
        app_id: &str,
        workflow_ids: Vec<String>,
        now: i64,
    ) -> Result<bool>;
}

/// The store's events, runs and their step records; claims, checkpoints; per-contact conversations.
#[async_trait::async_trait]
pub trait Runs: Send + Sync {
    /// Records an event (and the inbound message it carries) and creates its runs in one
    /// transaction. With an idempotency key that was used within its window, creates nothing and
    /// gives back the first answer.
    async fn accept(&self, event: NewEvent, runs: Vec<NewRun>) -> Result<Acceptance>;

    /// The first answer to an event accepted with idempotency key `key` since `since`, as
    /// [`Acceptance::Replayed`]; `None` when there was none.
    async fn first_answer(
        &self,
        store_id: &str,
        key: &str,
        since: i64,
    ) -> Result<Option<Acceptance>>;

    /// Commits step records and the run's new position; `false` when the lease was lost (the run
    /// was cancelled or taken over), in which case nothing changed.
    async fn checkpoint(&self, checkpoint: Checkpoint) -> Result<bool>;

    /// Leases up to `limit` runs that are due (`wake_at` passed) and not leased by a live owner.
    /// With `steal`, leases of other owners are ignored (a lone node restarting on SQLite).
    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>>;

    /// The stores that have waiting runs due at `now` and not leased (docs/architecture.md, "Due
    /// runs"): found store by store, never by reading every due run.
    async fn stores_with_waking_runs(&self, now: i64) -> Result<Vec<String>>;

    /// Leases up to each store's quota of its due waiting runs (oldest first), so that a store
    /// with many due runs cannot take every claim from the others.
    async fn claim_waking_runs(
        &self,
        lease: Lease,
        quotas: Vec<(String, u32)>,
    ) -> Result<Vec<RunRecord>>;

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>>;

    /// Newest first.
    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>>;

    /// The store's runs a filter matches that changed after `after` (updated at, id), oldest
    /// change first: what a live view of runs polls.
    async fn changed_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        after: (i64, String),
        limit: u32,
    ) -> Result<Vec<RunRecord>>;

    /// A workflow's runs created since `since`, by outcome and by step.
    async fn workflow_stats(
        &self,
        store_id: &str,
        workflow_id: &str,
        since: i64,
    ) -> Result<WorkflowStats>;

    /// The store's received events, newest first.
    async fn list_events(
        &self,
        store_id: &str,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<EventRecord>>;

    /// The runs the events started: `(event id, run id)`, in run order.
    async fn event_runs(&self, event_ids: Vec<String>) -> Result<Vec<(String, String)>>;

    /// The run's step records in visit order.
    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>>;

    /// Cancels a queued, running or waiting run and its open step visits, recording `action`
    /// (conflict otherwise).
    async fn cancel_run(
        &self,
        store_id: &str,
        id: &str,
        action: serde_json::Value,
        now: i64,
    ) -> Result<Option<RunRecord>>;

    /// Queues a run again as `retry` says, leased to the caller (conflict when its status is not
    /// one `retry` allows).
    async fn retry_run(&self, retry: RunRetry) -> Result<Option<RunRecord>>;

    /// Appends `action` to what was done to the run.
    async fn record_run_action(
        &self,
        store_id: &str,
        id: &str,
        action: serde_json::Value,
    ) -> Result<Option<RunRecord>>;

    /// How many runs wait (for a delay or a retry).
    async fn count_waiting(&self) -> Result<i64>;

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>>;

    /// Applies a merge patch, creating the conversation if needed.
    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord>;

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool>;
}

/// The store's a store's named settings: connectors, saved webhooks, email templates, channels, apps.
#[async_trait::async_trait]
pub trait Resources: Send + Sync {
    /// Creates a named resource. A name used by a live resource of that kind → conflict.
    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord>;

    /// A live resource by id.
    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>>;

    /// A live resource by name.
    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>>;

    /// Live resources, or with `deleted` the soft-deleted ones, in id order.
    async fn list_resources(
        &self,
        store_id: &str,
        kind: ResourceKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ResourceRecord>>;

    /// Replaces a live resource's name and body. `None` when there is no such live resource.
    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>>;

    /// Deletes a live resource: softly when its kind keeps deleted ones, else for good.
    async fn delete_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
        now: i64,
    ) -> Result<bool>;

    /// Brings back a soft-deleted resource (conflict when its name was taken meanwhile).
    async fn restore_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
        now: i64,
    ) -> Result<Option<ResourceRecord>>;
}

/// The store's messages sent and received on channels, and their statuses.
#[async_trait::async_trait]
pub trait Messages: Send + Sync {
    /// Records a message sent on a channel, or completes the record that an early status report
    /// created for its provider id (a status only ever moves forward).
    /// With `event`, the `message.*` event the record is worth is published when it moved the
    /// status forward.
    async fn record_message(
        &self,
        message: MessageRecord,
        event: Option<String>,
    ) -> Result<MessageRecord>;

    /// Applies a provider's status report; gives the record when the status moved forward (and
    /// then records the report's event in the same transaction).
    async fn message_status(&self, update: StatusReport) -> Result<Option<MessageRecord>>;

    /// Messages in id (time) order.
    async fn list_messages(
        &self,
        store_id: &str,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>>;
}

/// The store's scheduled calls and cron ticks.
#[async_trait::async_trait]
pub trait Schedules: Send + Sync {
    /// Schedules a call of a callable workflow; the call an earlier attempt of the same step
    /// visit made (same `origin_key`) when there is one.
    async fn schedule_call(&self, call: NewCall) -> Result<ScheduleRecord>;

    /// Leases up to `limit` pending schedules due at `lease.now` that no live owner holds,
    /// earliest first. With `steal`, leases of other owners are ignored (a lone node restarting on
    /// SQLite).
    async fn claim_schedules(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<ScheduleRecord>>;

    /// Applies `settle` if the schedule is still pending at that due time; gives whether it did.
    async fn settle_schedule(&self, settle: ScheduleSettle) -> Result<bool>;

    async fn get_schedule(&self, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>>;

    /// In id (creation) order.
    async fn list_schedules(
        &self,
        store_id: &str,
        filter: &ScheduleFilter,
        page: &PageRequest,
    ) -> Result<Page<ScheduleRecord>>;
}

/// The store's subscriptions, outgoing events and their deliveries.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Creates a subscription (secrets sealed by the caller).
    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord>;

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>>;

    /// Live subscriptions in id order.
    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>>;

    /// Replaces a live subscription, its filter included. `None` when there is no such one.
    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>>;

    /// Deletes a subscription: its pending deliveries are cancelled, its history stays.
    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool>;

    /// Publishes an event a workflow emits; with an `origin_key` used before, publishes nothing
    /// and gives the id of the event published then.
    async fn emit_event(&self, event: outbox::Outgoing) -> Result<String>;

    /// Leases up to `limit` due deliveries of active subscriptions; of an ordered subscription,
    /// only the oldest pending delivery of each contact. With `steal`, other owners' leases are
    /// ignored (a lone node restarting on SQLite).
    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>>;

    /// Logs an attempt and moves the delivery on (a failing subscription may be disabled, with
    /// its `subscription.disabled` event); `false` when the lease was lost.
    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool>;

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>>;

    /// A delivery's attempts, first first.
    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>>;

    /// A subscription's deliveries, newest first.
    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>>;

    /// Makes a pending delivery due now, or queues one manual attempt of a finished one (a
    /// cancelled one → conflict).
    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>>;

    /// Queues one manual attempt of each failed delivery of the subscription created in
    /// `[since, until)`; gives how many.
    async fn recover_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        since: i64,
        until: Option<i64>,
        now: i64,
    ) -> Result<u64>;

    /// Notified after each commit that published deliveries, so the worker starts at once.
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify>;
}

/// The store's nodes, leases and the config generation that nodes sharing a database go by.
#[async_trait::async_trait]
pub trait Cluster: Send + Sync {
    /// Extends the leases `lease.owner` still holds on these runs or deliveries to `lease.until`;
    /// gives how many.
    async fn renew_leases(&self, leased: Leased, lease: Lease, ids: Vec<String>) -> Result<u64>;

    /// Records that a node is alive (its address, its load, the time) and forgets nodes not seen
    /// since `forget_before`.
    async fn heartbeat(&self, node: NodeRecord, forget_before: i64) -> Result<()>;

    /// Nodes seen at or after `since`, oldest first.
    async fn list_nodes(&self, since: i64) -> Result<Vec<NodeRecord>>;

    /// A node that stops cleanly leaves the list at once.
    async fn remove_node(&self, id: &str) -> Result<()>;

    /// A counter that every change to stores, tokens or workflows bumps in its own transaction,
    /// for nodes sharing the database to know when their caches are stale. `None` on SQLite, whose
    /// one node clears its caches as it writes.
    async fn config_generation(&self) -> Result<Option<i64>>;
}

/// Opens the store a URL names: `sqlite://PATH` or `postgres://…`, applying migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL '{url}': use sqlite://PATH or postgres://…"
        )))
    }
}
