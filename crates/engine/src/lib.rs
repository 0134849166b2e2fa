//! The engine: runs workflows durably (see `docs/architecture.md`).
//!
//! Fresh runs are executed at once in this process: their leading steps that only compute run
//! before the commit that creates them (and are committed with it); the rest right after.
//! Due runs (timers, retry backoffs) and orphaned ones (a node died holding them) are claimed from
//! the store with a lease by the timer loop. Each run executes in its own task ([`executor`]).
//!
//! Around it: [`triggers`] start runs, the [`scheduler`] fires scheduled calls and cron ticks, the
//! [`deliveries`] worker sends outgoing events, and [`services`] connect steps to outbound HTTP
//! ([`outbound`]), [`channels`], [`secrets`] and [`signatures`]. Nothing here knows HTTP serving.

mod ahead;
pub mod caches;
pub mod channels;
mod claims;
pub mod clock;
mod commit;
pub mod deliveries;
pub mod dry_run;
mod edges;
mod executor;
mod graphs;
mod in_flight;
mod live;
pub mod outbound;
pub mod scheduler;
pub mod secrets;
mod services;
pub mod signatures;
pub mod triggers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use switchboard_store::{Lease, Leased, NodeRecord, Store};
use tokio::sync::{Notify, oneshot};

pub use ahead::Ahead;
pub use executor::{Start, context_of, rand_unit};
pub use graphs::{Graph, Graphs};

use crate::clock::now_ms;

/// Nodes not seen for this long leave the node table.
const FORGET_NODES_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub time_scale: f64,
    pub lease_ms: u64,
    pub poll_ms: u64,
    /// Claimed runs (woken timers, retries, orphans) executing at once, at most: a burst of due
    /// timers is taken in slices, so memory stays bounded however many wake together. Fresh runs
    /// are not counted against it.
    pub max_claimed_runs: usize,
    /// A lone node on SQLite takes over every unfinished run at start.
    pub steal_at_start: bool,
    /// Where this node's API listens, as `GET /api/cluster` shows it.
    pub address: String,
    /// How long an event's runs may run their leading steps before it is acknowledged; what is
    /// left runs after the acknowledgement.
    pub ack_budget: std::time::Duration,
}

pub struct Engine {
    pub store: Arc<dyn Store>,
    /// The guarded HTTP client, connectors and saved webhooks.
    pub outbound: crate::outbound::Outbound,
    pub graphs: Graphs,
    /// The config generation every cache is valid under.
    pub generation: caches::Generation,
    /// (store, trigger kind, key) → the workflow versions it starts.
    pub trigger_targets: caches::TtlCache<caches::TriggerKey, Vec<(String, i64)>>,
    pub settings: EngineSettings,
    /// This process's lease owner name.
    pub node_id: String,
    started_at: i64,
    in_flight: in_flight::InFlight,
    drained: Notify,
    stopping: AtomicBool,
    /// Claimed runs executing now, per store.
    slots: claims::Slots,
    /// Callers waiting for a run to settle (`execute?wait=`).
    watchers: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
    /// `{id, name}` of stores, for the `store` root of templates.
    store_roots: caches::TtlCache<String, Arc<Value>>,
    wake: Notify,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        outbound: crate::outbound::Outbound,
        settings: EngineSettings,
    ) -> Arc<Engine> {
        let generation = caches::Generation::new(&store);
        let store_roots = generation.cache();
        Arc::new(Engine {
            slots: claims::Slots::new(settings.max_claimed_runs),
            graphs: Graphs::new(store.clone(), outbound.validation.clone()),
            trigger_targets: generation.cache(),
            generation,
            outbound,
            store,
            settings,
            node_id: switchboard_core::ids::new_id("node"),
            started_at: now_ms(),
            in_flight: Default::default(),
            drained: Notify::new(),
            stopping: AtomicBool::new(false),
            watchers: Mutex::new(HashMap::new()),
            store_roots,
            wake: Notify::new(),
        })
    }

    /// Starts the timer loop, after taking over what a previous process left (SQLite).
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let waiting = self.store.count_waiting().await?;
        metrics::gauge!("switchboard_runs_waiting").set(waiting as f64);
        if self.settings.steal_at_start {
            self.claim(true).await?;
        }
        self.heartbeat().await?;
        let engine = self.clone();
        tokio::spawn(async move { engine.timer_loop().await });
        let engine = self.clone();
        tokio::spawn(async move { engine.keepalive_loop().await });
        Ok(())
    }

    /// Dry-runs a workflow of a store: its saved webhooks, connectors, channels and email
    /// templates are read, nothing is sent or written ([`dry_run`]).
    pub async fn dry_run(
        &self,
        store_id: &str,
        graph: Arc<Graph>,
        trigger: serde_json::Value,
        mocks: std::collections::HashMap<String, serde_json::Value>,
    ) -> dry_run::DryRun {
        let services = services::EngineServices {
            store: self.store.as_ref(),
            store_id,
            outbound: &self.outbound,
            graphs: &self.graphs,
        };
        let request = dry_run::DryRequest {
            store_id: store_id.to_owned(),
            store_root: self.store_root(store_id).await.as_ref().clone(),
            graph,
            trigger,
            mocks,
            time_scale: self.settings.time_scale,
        };
        dry_run::dry_run(request, Some(&services), &self.outbound.client).await
    }

    /// The lease a claim takes now.
    pub fn lease(&self) -> Lease {
        let now = now_ms();
        Lease {
            owner: self.node_id.clone(),
            until: now + self.settings.lease_ms as i64,
            now,
        }
    }

    /// Goes on with runs whose creation is committed.
    pub fn launch(self: &Arc<Self>, runs: Vec<Ahead>) {
        ahead::launch(self, runs);
    }

    fn track(&self, run_id: &str, store_id: &str) -> bool {
        self.in_flight.insert(run_id, store_id)
    }

    fn untrack(&self, run_id: &str) {
        if self.in_flight.remove(run_id) {
            self.drained.notify_waiters();
        }
    }

    /// How many of the store's runs this node executes now (runs on a timer not counted).
    pub fn runs_in_flight(&self, store_id: &str) -> usize {
        self.in_flight.of_store(store_id)
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Graceful stop: no new claims; runs in flight finish their current step, commit, and release
    /// their lease. Waits for them up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_waiters();
        let _ = tokio::time::timeout(grace, async {
            loop {
                let drained = self.drained.notified();
                if self.in_flight.is_empty() {
                    return;
                }
                drained.await;
            }
        })
        .await;
        // Runs still in flight keep their leases; they are taken over when those lapse.
        if let Err(e) = self.store.remove_node(&self.node_id).await {
            tracing::warn!(error = %e, "could not leave the node list; it drops out after a lease");
        }
    }

    async fn timer_loop(self: Arc<Self>) {
        let poll = Duration::from_millis(self.settings.poll_ms);
        while !self.stopping() {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.wake.notified() => {}
            }
            if self.stopping() {
                break;
            }
            if let Err(e) = self.claim(false).await {
                tracing::warn!(error = %e, "claiming due runs failed; trying again");
            }
        }
    }

    /// Every third of a lease, so two renewals may fail before one lapses: keeps the leases of
    /// the runs executing here, however long their current step takes (a slow HTTP call, long
    /// user code), and tells the cluster this node lives. Its own task, so a busy claim loop
    /// cannot delay it.
    async fn keepalive_loop(self: Arc<Self>) {
        let mut every = tokio::time::interval(Duration::from_millis(self.settings.lease_ms / 3));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        while !self.stopping() {
            every.tick().await;
            renew(
                self.store.as_ref(),
                Leased::Runs,
                self.lease(),
                self.in_flight.ids(),
            )
            .await;
            if let Err(e) = self.heartbeat().await {
                tracing::warn!(error = %e, "the cluster heartbeat failed; trying again");
            }
        }
    }

    /// Tells the cluster this node lives, with its load; forgets nodes gone for a day.
    async fn heartbeat(&self) -> anyhow::Result<()> {
        let now = now_ms();
        let node = NodeRecord {
            id: self.node_id.clone(),
            address: self.settings.address.clone(),
            started_at: self.started_at,
            last_seen_at: now,
            runs_in_flight: self.in_flight.len() as i64,
        };
        Ok(self.store.heartbeat(node, now - FORGET_NODES_MS).await?)
    }

    /// A receiver that fires when the run next settles (completes, fails, waits or is cancelled).
    pub fn watch(&self, run_id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.watchers
            .lock()
            .expect("watchers")
            .entry(run_id.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    pub fn forget_watch(&self, run_id: &str) {
        self.watchers.lock().expect("watchers").remove(run_id);
    }

    fn settled(&self, run_id: &str) {
        let waiting = self.watchers.lock().expect("watchers").remove(run_id);
        for tx in waiting.into_iter().flatten() {
            let _ = tx.send(());
        }
    }

    /// The `store` root of templates: `{id, name}`.
    /// The `store` root of templates. Loading it also hands the store's own JS budget to the JS
    /// threads, so it is in force before the store's scripts run (and renewed with the cache).
    pub(crate) async fn store_root(&self, store_id: &str) -> Arc<Value> {
        let loaded = self
            .store_roots
            .get_or_load(store_id, async {
                let record = self.store.get_store(store_id).await?;
                let name = record
                    .as_ref()
                    .map_or(Value::Null, |s| s.name.clone().into());
                let budget = record.and_then(|s| s.limits.js_ms_per_minute);
                switchboard_script::set_store_js_budget(store_id, budget.map(|b| b.max(1) as u64));
                Ok::<_, switchboard_store::StoreError>(Some(Arc::new(
                    serde_json::json!({ "id": store_id, "name": name }),
                )))
            })
            .await;
        match loaded {
            Ok(Some(root)) => root,
            _ => Arc::new(serde_json::json!({ "id": store_id, "name": null })),
        }
    }

    /// Forgets what this node cached of a store (its limits changed).
    pub fn forget_store(&self, store_id: &str) {
        self.store_roots.remove(store_id);
    }
}

/// Renews this node's leases on the runs or deliveries `ids` (nothing to do when none); a
/// failure is logged and the next renewal tries again.
pub async fn renew(store: &dyn Store, leased: Leased, lease: Lease, ids: Vec<String>) {
    if !ids.is_empty()
        && let Err(e) = store.renew_leases(leased, lease, ids).await
    {
        tracing::warn!(error = %e, ?leased, "renewing leases failed; trying again");
    }
}
