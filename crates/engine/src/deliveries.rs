//! The delivery worker: sends outgoing events to subscriptions (docs/protocols.md §4).
//!
//! It claims due deliveries with a lease, renewed while an attempt lasts (so a node that dies has
//! its deliveries taken over when the lease runs out), signs each per Standard Webhooks, sends it through the guarded client (a
//! 3xx is the answer, never followed), and logs the attempt. A failure is retried on Svix's
//! schedule with ±20 % jitter, later when the receiver asks with `Retry-After`; a subscription
//! whose attempts all fail for long enough, or that answers 410 Gone, is disabled. The worker
//! starts as soon as a commit published deliveries, and otherwise looks every poll interval.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_outbound::{Client, Error as SendError, Method, Request, Url};
use switchboard_store::{AttemptOutcome, AttemptRecord, DeliveryJob, Lease, Leased, Store};

use crate::clock::{now_ms, rfc3339, wall_ms};
use crate::secrets::Sealer;
use crate::signatures::{secret_key, sign};

/// How much of a receiver's answer the attempt log keeps.
const RESPONSE_EXCERPT: usize = 1024;

/// The delivery settings (`SWITCHBOARD_DELIVERY_*`).
#[derive(Debug, Clone)]
pub struct Policy {
    /// The wait after each failed attempt, ms, before scaling; attempts = waits + 1.
    pub schedule_ms: Vec<u64>,
    /// Each wait lands within ± this fraction.
    pub jitter: f64,
    pub timeout: Duration,
    /// A subscription whose attempts have all failed for this long (ms, before scaling) is disabled.
    pub disable_after_ms: u64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    pub time_scale: f64,
    pub lease_ms: u64,
    pub poll: Duration,
}

impl Policy {
    /// The wait before the attempt after `attempt` failed, ms (scaled), or `None` when the
    /// schedule is used up. A `Retry-After` the receiver sent lengthens the wait, up to the
    /// schedule's longest.
    pub fn next_wait(
        &self,
        attempt: i64,
        retry_after_ms: Option<u64>,
        jitter_unit: f64,
    ) -> Option<i64> {
        let planned = *self.schedule_ms.get(usize::try_from(attempt - 1).ok()?)? as f64;
        let jittered = planned * (1.0 + self.jitter * jitter_unit.clamp(-1.0, 1.0));
        let longest = self.schedule_ms.iter().copied().max().unwrap_or(0) as f64;
        let asked = retry_after_ms.map_or(0.0, |ms| (ms as f64).min(longest));
        Some(switchboard_core::transition::scaled(
            jittered.max(asked),
            self.time_scale,
        ))
    }

    pub fn disable_after(&self) -> i64 {
        switchboard_core::transition::scaled(self.disable_after_ms as f64, self.time_scale)
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    client: Client,
    sealer: Sealer,
    policy: Policy,
    owner: String,
    /// Deliveries being attempted here, whose leases the keepalive renews.
    in_flight: Mutex<HashSet<String>>,
}

impl Worker {
    /// Starts the worker. On SQLite (one node) the first claim takes over what a previous process
    /// left leased.
    pub fn spawn(
        store: Arc<dyn Store>,
        client: Client,
        sealer: Sealer,
        policy: Policy,
        owner: String,
    ) {
        let steal = store.backend() == "sqlite";
        let worker = Arc::new(Worker {
            store,
            client,
            sealer,
            policy,
            owner,
            in_flight: Mutex::default(),
        });
        tokio::spawn(worker.clone().keepalive());
        tokio::spawn(worker.run(steal));
    }

    fn lease(&self) -> Lease {
        let now = now_ms();
        Lease {
            owner: self.owner.clone(),
            until: now + self.policy.lease_ms as i64,
            now,
        }
    }

    /// Renews the leases of the attempts in flight every third of a lease, so a slow receiver
    /// keeps its delivery here while a dead node's deliveries are taken over after one lease.
    async fn keepalive(self: Arc<Self>) {
        let mut every = tokio::time::interval(Duration::from_millis(self.policy.lease_ms / 3));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let ids: Vec<String> = {
                let in_flight = self.in_flight.lock().expect("deliveries in flight");
                in_flight.iter().cloned().collect()
            };
            crate::renew(self.store.as_ref(), Leased::Deliveries, self.lease(), ids).await;
        }
    }

    async fn run(self: Arc<Self>, mut steal: bool) {
        let signal = self.store.outbox_signal();
        let slots = Arc::new(tokio::sync::Semaphore::new(self.policy.concurrency));
        loop {
            let free = slots.available_permits();
            let mut full = false;
            if free > 0 {
                match self
                    .store
                    .claim_deliveries(self.lease(), free as u32, steal)
                    .await
                {
                    Ok(jobs) => {
                        steal = false;
                        full = jobs.len() == free;
                        for job in jobs {
                            let Ok(slot) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let worker = self.clone();
                            let signal = signal.clone();
                            let id = job.delivery.id.clone();
                            worker
                                .in_flight
                                .lock()
                                .expect("deliveries in flight")
                                .insert(id.clone());
                            tokio::spawn(async move {
                                worker.attempt(job).await;
                                worker
                                    .in_flight
                                    .lock()
                                    .expect("deliveries in flight")
                                    .remove(&id);
                                drop(slot);
                                // Room again, and an ordered subscription's next delivery may be due.
                                signal.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming deliveries failed; trying again")
                    }
                }
            }
            if !full {
                let _ = tokio::time::timeout(self.policy.poll, signal.notified()).await;
            } else {
                signal.notified().await;
            }
        }
    }

    /// Sends one delivery and records what came of it.
    async fn attempt(&self, job: DeliveryJob) {
        let d = &job.delivery;
        let attempt = d.attempts + 1;
        let started_at = now_ms();
        let clock = Instant::now();
        let answer = Answer::of(&self.send(&job).await);
        let duration_ms = clock.elapsed().as_millis() as i64;
        let succeeded = answer.error.is_none();
        let retry_at = if succeeded || d.manual || answer.abort || answer.gone {
            None
        } else {
            self.policy
                .next_wait(attempt, answer.retry_after, crate::rand_unit())
                .map(|wait| now_ms() + wait)
        };
        let outcome = match (succeeded, retry_at) {
            (true, _) => "succeeded",
            (false, Some(_)) => "retrying",
            (false, None) => "failed",
        };
        metrics::counter!("switchboard_deliveries_total", "outcome" => outcome).increment(1);
        if !succeeded {
            tracing::warn!(
                store_id = d.store_id,
                subscription_id = d.subscription_id,
                delivery_id = d.id,
                event = d.event,
                attempt,
                status = answer.status,
                error = answer.error.as_deref().unwrap_or(""),
                retry_at = retry_at.map(rfc3339),
                "delivery attempt failed"
            );
        }
        let outcome = AttemptOutcome {
            delivery_id: d.id.clone(),
            owner: self.owner.clone(),
            attempt: AttemptRecord {
                attempt,
                started_at,
                duration_ms,
                status: answer.status,
                response: answer.excerpt,
                error: answer.error,
                manual: d.manual,
            },
            succeeded,
            retry_at,
            gone: answer.gone,
            disable_after: self.policy.disable_after(),
            now: now_ms(),
        };
        match self.store.finish_attempt(outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery_id = d.id,
                "a delivery's lease was lost during its attempt; another worker owns it now"
            ),
            Err(e) => {
                tracing::error!(delivery_id = d.id, error = %e, "a delivery attempt could not be recorded; it will be tried again")
            }
        }
    }

    async fn send(&self, job: &DeliveryJob) -> Result<switchboard_outbound::Response, SendError> {
        let d = &job.delivery;
        let url = Url::parse(&job.url)
            .map_err(|e| SendError::InvalidUrl(format!("invalid URL '{}': {e}", job.url)))?;
        let body = envelope(&d.event_id, &d.event, job.event_created_at, &job.data);
        // Receivers check the timestamp against their own clock: the real one, whatever the
        // server's clock says (SWITCHBOARD_CLOCK_START).
        let timestamp = wall_ms() / 1000;
        let keys: Vec<Vec<u8>> = job
            .secrets
            .iter()
            .filter_map(|sealed| {
                self.sealer
                    .open(sealed, &secret_binding(&d.subscription_id))
            })
            .filter_map(|plain| secret_key(&String::from_utf8_lossy(&plain)))
            .collect();
        let signature = keys
            .iter()
            .map(|key| sign(key, &d.event_id, timestamp, body.as_bytes()))
            .collect::<Vec<_>>()
            .join(" ");
        self.client
            .send(Request {
                method: Method::POST,
                url,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    (
                        "user-agent".into(),
                        concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")).into(),
                    ),
                    ("webhook-id".into(), d.event_id.clone()),
                    ("webhook-timestamp".into(), timestamp.to_string()),
                    ("webhook-signature".into(), signature),
                ],
                body: Some(body.into_bytes()),
                timeout: self.policy.timeout,
            })
            .await
    }
}

/// What a sealed subscription secret is bound to.
pub fn secret_binding(subscription_id: &str) -> String {
    format!("subscription:{subscription_id}/secret")
}

/// The delivery body: `{id, event, object: "event", created_at, data}`, `data` as stored.
pub fn envelope(id: &str, event: &str, created_at: i64, data: &str) -> String {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        r#"{{"id":{},"event":{},"object":"event","created_at":{},"data":{data}}}"#,
        text(id),
        text(event),
        text(&rfc3339(created_at))
    )
}

/// What an attempt's answer says: its status and start, why it failed, and what the receiver
/// asked for (a later retry, no more retries, or to be disabled).
struct Answer {
    status: Option<i64>,
    excerpt: Option<String>,
    error: Option<String>,
    retry_after: Option<u64>,
    /// 410 Gone: disable the subscription now.
    gone: bool,
    /// `webhook-delivery: abort-message` (Svix's convention): no more retries.
    abort: bool,
}

impl Answer {
    fn of(sent: &Result<switchboard_outbound::Response, SendError>) -> Answer {
        let r = match sent {
            Ok(r) => r,
            Err(e) => {
                return Answer {
                    status: None,
                    excerpt: None,
                    error: Some(e.to_string()),
                    retry_after: None,
                    gone: false,
                    abort: false,
                };
            }
        };
        let error = match r.status {
            200..=299 => None,
            300..=399 => Some(format!("HTTP {}: redirects are not followed", r.status)),
            s => Some(format!("HTTP {s}")),
        };
        Answer {
            status: Some(r.status as i64),
            excerpt: Some(
                String::from_utf8_lossy(&r.body[..r.body.len().min(RESPONSE_EXCERPT)]).into_owned(),
            ),
            error,
            retry_after: r
                .header("retry-after")
                .and_then(switchboard_outbound::retry_after_ms),
            gone: r.status == 410,
            abort: r
                .header("webhook-delivery")
                .is_some_and(|v| v.eq_ignore_ascii_case("abort-message")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            schedule_ms: vec![
                5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
            ],
            jitter: 0.2,
            timeout: Duration::from_secs(15),
            disable_after_ms: 5 * 86_400_000,
            concurrency: 8,
            time_scale: 1.0,
            lease_ms: 15_000,
            poll: Duration::from_millis(200),
        }
    }

    #[test]
    fn svix_schedule_with_jitter_and_retry_after() {
        let p = policy();
        assert_eq!(p.next_wait(1, None, 0.0), Some(5_000));
        assert_eq!(p.next_wait(2, None, 0.0), Some(300_000));
        assert_eq!(p.next_wait(7, None, 0.0), Some(36_000_000));
        // Eight attempts in all: after the eighth fails, the delivery has failed.
        assert_eq!(p.next_wait(8, None, 0.0), None);
        assert_eq!(p.next_wait(1, None, 1.0), Some(6_000));
        assert_eq!(p.next_wait(1, None, -1.0), Some(4_000));
        // Retry-After lengthens a wait, never shortens it, and is capped at the longest wait.
        assert_eq!(p.next_wait(1, Some(60_000), 0.0), Some(60_000));
        assert_eq!(p.next_wait(2, Some(1_000), 0.0), Some(300_000));
        assert_eq!(p.next_wait(1, Some(u64::MAX), 0.0), Some(36_000_000));
        let fast = Policy {
            time_scale: 1000.0,
            ..p
        };
        assert_eq!(fast.next_wait(2, None, 0.0), Some(300));
        assert_eq!(fast.disable_after(), 432_000);
    }

    #[test]
    fn envelope_keeps_data_as_stored() {
        let body = envelope(
            "018eb05e-7efd-7bef-a765-7bccbd9f39d9",
            "captured_form.created",
            1_712_356_000_000,
            r#"{"form_name":"Algoscale Leads"}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], "018eb05e-7efd-7bef-a765-7bccbd9f39d9");
        assert_eq!(v["object"], "event");
        assert_eq!(v["event"], "captured_form.created");
        assert_eq!(v["data"]["form_name"], "Algoscale Leads");
        assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
        let keys: Vec<&str> = body
            .split("\":")
            .map(|k| k.rsplit('"').next().unwrap())
            .collect();
        assert_eq!(&keys[..4], ["id", "event", "object", "created_at"]);
    }
}
