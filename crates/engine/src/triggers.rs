//! Starting runs: an event (or a manual execution) and its runs are written in one transaction
//! through the batching writer, acknowledged only after the commit, and executed in this process:
//! the runs' leading steps that only compute before that commit (so they are written with it),
//! the rest at once after it. `Idempotency-Key` makes a retried request answer as the first one did.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_core::ids;
use switchboard_core::run::{contact_of, email_of};
use switchboard_core::template::Scope;
use switchboard_store::{Acceptance, Idempotency, NewEvent, NewRun, ScheduleSettle, StoreError};

use crate::clock::{now_ms, rfc3339};
use crate::{Ahead, Engine, Graph, Start};

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// How long an inbound provider message's id is remembered: Meta redelivers for days.
const REDELIVERY_WINDOW_MS: i64 = 30 * IDEMPOTENCY_WINDOW_MS;

/// Why a trigger started nothing.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The same `Idempotency-Key` came with a different request within the window.
    #[error("this Idempotency-Key was used for a different request in the last 24 hours")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A workflow version a trigger starts.
pub struct Target {
    pub workflow_id: String,
    pub version: i64,
    pub graph: Arc<Graph>,
}

/// What the caller receives.
pub enum Outcome {
    /// Created now: the event's id and its runs.
    Created {
        event_id: String,
        run_ids: Vec<String>,
    },
    /// A repeat of an earlier request with the same key: its first answer.
    Replayed(Value),
}

pub struct Request<'a> {
    pub store_id: &'a str,
    /// The event type (for `/execute`, `execute`).
    pub event_type: &'a str,
    /// The trigger data; `timestamp` is added when absent.
    pub trigger: Value,
    pub idempotency_key: Option<String>,
    /// The raw request, for telling a repeat from a different request under the same key.
    pub fingerprint: &'a [u8],
    /// An inbound message the event carries, recorded with it.
    pub message: Option<switchboard_store::MessageRecord>,
    /// The schedule this event fires, settled in the same transaction (its `run_id` is filled
    /// in here).
    pub schedule: Option<ScheduleSettle>,
    /// How the runs start: `webhook`, `customer_message`, `schedule`, `callable`, `manual`.
    pub trigger_type: &'a str,
    /// The run the new runs replay.
    pub replay_of: Option<String>,
}

/// Adds `timestamp` (RFC 3339 UTC, now) unless the data has one.
pub fn stamp(trigger: &mut Value, now: i64) {
    if let Value::Object(map) = trigger {
        map.entry("timestamp")
            .or_insert_with(|| Value::String(rfc3339(now)));
    }
}

/// The workflows an event type starts: active ones with a matching `webhook` trigger.
pub async fn event_targets(
    engine: &Engine,
    store_id: &str,
    event_type: &str,
) -> Result<Vec<Target>, StoreError> {
    targets(engine, store_id, "webhook", event_type).await
}

/// The workflows a trigger of `kind` with `key` starts (active ones; the latest versions).
pub async fn targets(
    engine: &Engine,
    store_id: &str,
    kind: &'static str,
    trigger_key: &str,
) -> Result<Vec<Target>, StoreError> {
    let key = (store_id.to_owned(), kind, trigger_key.to_owned());
    let versions = engine
        .trigger_targets
        .get_or_load(&key, async {
            let versions = engine
                .store
                .workflows_for_trigger(store_id, kind, trigger_key)
                .await?;
            Ok::<_, StoreError>(Some(versions))
        })
        .await?
        .unwrap_or_default();
    let mut targets = Vec::with_capacity(versions.len());
    for (workflow_id, version) in versions {
        if let Some(graph) = engine.graphs.get(store_id, &workflow_id, version).await? {
            targets.push(Target {
                workflow_id,
                version,
                graph,
            });
        }
    }
    Ok(targets)
}

/// Records the event and creates one run per target whose entry condition holds (a Kustomer
/// trigger whose transitions all fail starts nothing), then executes them.
pub async fn start(
    engine: &Arc<Engine>,
    request: Request<'_>,
    targets: Vec<Target>,
    respond: impl FnOnce(&str, &[String]) -> Value,
) -> Result<Outcome, TriggerError> {
    let now = now_ms();
    let mut trigger = request.trigger;
    stamp(&mut trigger, now);
    let event_id = ids::new_id(ids::EVENT);
    let contact = contact_of(&trigger);
    let first = New {
        store_id: request.store_id,
        event_id: &event_id,
        trigger: &trigger,
        contact: &contact,
        trigger_type: request.trigger_type,
        replay_of: &request.replay_of,
    };
    let (runs, aheads) = first.runs(engine, targets).await;
    let run_ids: Vec<String> = aheads.iter().map(|r| r.run_id().to_owned()).collect();
    let response = respond(&event_id, &run_ids);
    let request_hash = request_hash(request.fingerprint);
    let window = match request.message {
        Some(_) => REDELIVERY_WINDOW_MS,
        None => IDEMPOTENCY_WINDOW_MS,
    };
    let event = NewEvent {
        id: event_id.clone(),
        store_id: request.store_id.to_owned(),
        event_type: request.event_type.to_owned(),
        payload: trigger,
        idempotency: request.idempotency_key.map(|key| Idempotency {
            key,
            request_hash: request_hash.clone(),
            since: now - window,
        }),
        response,
        message: request.message,
        schedule: request.schedule.map(|settle| ScheduleSettle {
            run_id: run_ids.first().cloned(),
            ..settle
        }),
        now,
    };
    // The event's writes queue in its store's lane at the writer (stores take turns there).
    let accepted = switchboard_store::in_lane(request.store_id, engine.store.accept(event, runs));
    match accepted.await? {
        Acceptance::Accepted => {
            metrics::counter!("switchboard_events_accepted_total").increment(1);
            metrics::counter!("switchboard_runs_started_total").increment(aheads.len() as u64);
            engine.launch(aheads);
            Ok(Outcome::Created { event_id, run_ids })
        }
        Acceptance::Replayed {
            request_hash: first,
            response,
        } if first == request_hash => Ok(Outcome::Replayed(response)),
        Acceptance::Replayed { .. } => Err(TriggerError::KeyReused),
    }
}

/// The first answer to an earlier request with this idempotency key within its window, if there
/// was one: asked when a store's limits refuse a request, so that a repeat of one already accepted
/// still gets its first answer. A different request under the key: [`TriggerError::KeyReused`].
pub async fn replay(
    engine: &Engine,
    store_id: &str,
    key: Option<&str>,
    fingerprint: &[u8],
) -> Result<Option<Value>, TriggerError> {
    let Some(key) = key else { return Ok(None) };
    let since = now_ms() - IDEMPOTENCY_WINDOW_MS;
    match engine.store.first_answer(store_id, key, since).await? {
        Some(Acceptance::Replayed {
            request_hash,
            response,
        }) => {
            if request_hash == self::request_hash(fingerprint) {
                Ok(Some(response))
            } else {
                Err(TriggerError::KeyReused)
            }
        }
        _ => Ok(None),
    }
}

/// What tells a repeat from a different request under the same key.
fn request_hash(fingerprint: &[u8]) -> String {
    hex::encode(Sha256::digest(fingerprint))
}

/// What every run an event starts shares.
struct New<'a> {
    store_id: &'a str,
    event_id: &'a str,
    trigger: &'a Value,
    contact: &'a Option<String>,
    trigger_type: &'a str,
    replay_of: &'a Option<String>,
}

impl New<'_> {
    /// One run per target whose entry condition holds, with its leading steps run ahead.
    async fn runs(&self, engine: &Arc<Engine>, targets: Vec<Target>) -> (Vec<NewRun>, Vec<Ahead>) {
        let scope = Scope::of_trigger(self.trigger);
        // Read before the budget starts: it may need the database.
        let store_root = engine.store_root(self.store_id).await;
        let deadline = Instant::now() + engine.settings.ack_budget;
        let mut runs = Vec::with_capacity(targets.len());
        let mut aheads = Vec::with_capacity(targets.len());
        for target in targets {
            let first = match crate::edges::entry(self.store_id, &target.graph, &scope).await {
                Ok(Some(first)) => first,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(workflow_id = %target.workflow_id, error = %e, "the trigger's condition failed; no run started");
                    continue;
                }
            };
            let start = Start {
                run_id: ids::new_id(ids::RUN),
                store_id: self.store_id.to_owned(),
                workflow_id: target.workflow_id.clone(),
                workflow_version: target.version,
                graph: target.graph,
                trigger: self.trigger.clone(),
                contact: self.contact.clone(),
                first,
            };
            let root = store_root.clone();
            let (ahead, state) = crate::ahead::run_ahead(engine, start, root, deadline).await;
            runs.push(NewRun {
                store_id: self.store_id.to_owned(),
                workflow_id: target.workflow_id,
                workflow_version: target.version,
                event_id: Some(self.event_id.to_owned()),
                trigger: self.trigger.clone(),
                contact: self.contact.clone(),
                email: email_of(self.trigger),
                trigger_type: self.trigger_type.to_owned(),
                replay_of: self.replay_of.clone(),
                state,
            });
            aheads.push(ahead);
        }
        (runs, aheads)
    }
}
