//! Claiming due runs (woken timers, retry backoffs, orphans of a dead node) so that no store takes
//! every slot (docs/architecture.md, "Due runs").
//!
//! A node executes at most `max` claimed runs at once. A claim takes the oldest due runs, whatever
//! their store. When more were due than it took, the node is *behind*, and claims again as slots
//! free up. Then, if several stores have due waiting runs, each gets an equal share of the free
//! slots, from its own oldest (marked running, so the next look does not step over them), and
//! none holds more than half of them; once a poll, a small slice still goes to the oldest due
//! runs of any kind (orphans among them), so nothing waits forever. A store whose thousands of
//! timers fell due together thus takes turns with the others instead of going first. A store
//! alone is claimed oldest first, as fast as one statement allows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use switchboard_store::{RunRecord, RunStatus};

use crate::Engine;
use crate::clock::now_ms;

/// Runs claimed per store round trip, at most.
const CLAIM_BATCH: usize = 256;
/// The oldest due runs of any store taken in each round while behind.
const OLDEST_SLICE: usize = 16;

/// The claimed runs executing here, in all and per store.
pub(crate) struct Slots {
    max: usize,
    held: Mutex<HashMap<Arc<str>, usize>>,
    total: AtomicUsize,
    /// More runs were due than the last claim took.
    behind: AtomicBool,
    /// Claimed runs that finished since the last claim while behind.
    freed: AtomicUsize,
    /// When the oldest due runs of any store were last looked for while behind (ms): once a poll
    /// is enough for orphans, and the look steps over every run in flight.
    oldest_at: AtomicI64,
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max: max.max(2),
            held: Mutex::default(),
            total: AtomicUsize::new(0),
            behind: AtomicBool::new(false),
            freed: AtomicUsize::new(0),
            oldest_at: AtomicI64::new(0),
        }
    }

    /// What one store may hold while others are due too.
    fn store_share(&self) -> usize {
        self.max / 2
    }

    fn free(&self) -> usize {
        self.max.saturating_sub(self.total.load(Ordering::Relaxed))
    }

    fn held_by(&self, store_id: &str) -> usize {
        let held = self.held.lock().expect("slots");
        held.get(store_id).copied().unwrap_or(0)
    }

    pub fn take(&self, store_id: &str) {
        let mut held = self.held.lock().expect("slots");
        match held.get_mut(store_id) {
            Some(n) => *n += 1,
            None => {
                held.insert(Arc::from(store_id), 1);
            }
        }
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A claimed run finished; `true` when the claim loop should look again now (it is behind,
    /// and enough slots came free to be worth a round).
    pub fn give_back(&self, store_id: &str) -> bool {
        {
            let mut held = self.held.lock().expect("slots");
            if let Some(n) = held.get_mut(store_id) {
                *n -= 1;
                if *n == 0 {
                    held.remove(store_id);
                }
            }
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
        if !self.behind.load(Ordering::Relaxed) {
            return false;
        }
        let refill = (self.max / 4).max(1);
        self.freed.fetch_add(1, Ordering::Relaxed) + 1 >= refill
            && self.freed.swap(0, Ordering::Relaxed) >= refill
    }

    /// Whether it is time, while behind, to take a slice of the oldest due runs again.
    fn oldest_turn(&self, now: i64, every_ms: i64) -> bool {
        let last = self.oldest_at.load(Ordering::Relaxed);
        now - last >= every_ms
            && self
                .oldest_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn set_behind(&self, behind: bool) {
        self.freed.store(0, Ordering::Relaxed);
        self.behind.store(behind, Ordering::Relaxed);
    }
}

impl Engine {
    /// Claims due runs and executes them: the oldest, round after round, until none are left or
    /// the slots are full; while behind with several stores due, one fair round instead (the next
    /// comes as slots free up, or at the next poll). With `steal` (a lone node starting),
    /// everything left by the previous process, oldest first.
    pub(crate) async fn claim(self: &Arc<Self>, steal: bool) -> anyhow::Result<()> {
        loop {
            let free = self.slots.free();
            if free == 0 {
                self.slots.set_behind(true);
                return Ok(());
            }
            if !steal && self.slots.behind.load(Ordering::Relaxed) {
                let stores = self.store.stores_with_waking_runs(now_ms()).await?;
                if stores.len() > 1 {
                    let more = self.claim_fairly(stores, free).await?;
                    self.slots.set_behind(more);
                    return Ok(());
                }
            }
            let more = self.claim_oldest(free.min(CLAIM_BATCH), steal).await?;
            self.slots.set_behind(more);
            if !more {
                return Ok(());
            }
        }
    }

    /// Claims up to `limit` of the oldest due runs of any store; whether there may be more.
    async fn claim_oldest(self: &Arc<Self>, limit: usize, steal: bool) -> anyhow::Result<bool> {
        let runs = self
            .store
            .claim_runs(self.lease(), limit as u32, steal)
            .await?;
        let full = runs.len() == limit;
        woke(runs.iter().filter(|r| r.status == RunStatus::Waiting));
        self.dispatch_claimed(runs);
        Ok(full)
    }

    /// Shares `free` slots between `stores`, those with due waiting runs, none taking more than
    /// half the slots; once a poll, a slice of the oldest due runs of any kind too. Whether any
    /// may have more due.
    async fn claim_fairly(
        self: &Arc<Self>,
        stores: Vec<String>,
        free: usize,
    ) -> anyhow::Result<bool> {
        let share = free.div_ceil(stores.len());
        let mut capped = false;
        let quotas: Vec<(String, u32)> = stores
            .into_iter()
            .filter_map(|store| {
                let room = self
                    .slots
                    .store_share()
                    .saturating_sub(self.slots.held_by(&store));
                capped |= room < share;
                let quota = share.min(room);
                (quota > 0).then_some((store, quota as u32))
            })
            .collect();
        let mut more = capped;
        let mut free = free;
        if !quotas.is_empty() {
            let runs = self
                .store
                .claim_waking_runs(self.lease(), quotas.clone())
                .await?;
            let mut got: HashMap<&str, u32> = HashMap::new();
            for run in &runs {
                *got.entry(run.store_id.as_str()).or_default() += 1;
            }
            more |= quotas
                .iter()
                .any(|(store, quota)| got.get(store.as_str()) == Some(quota));
            free = free.saturating_sub(runs.len());
            woke(runs.iter());
            self.dispatch_claimed(runs);
        }
        let every = self.settings.poll_ms as i64;
        if free > 0 && self.slots.oldest_turn(now_ms(), every) {
            more |= self.claim_oldest(free.min(OLDEST_SLICE), false).await?;
        }
        Ok(more)
    }

    /// Executes runs claimed from the store.
    pub fn dispatch_claimed(self: &Arc<Self>, runs: Vec<RunRecord>) {
        for run in runs {
            if self.track(&run.id, &run.store_id) {
                self.slots.take(&run.store_id);
                let engine = self.clone();
                let store = run.store_id.clone();
                tokio::spawn(switchboard_store::in_lane(&store, async move {
                    let id = run.id.clone();
                    let store_id = run.store_id.clone();
                    crate::executor::execute_claimed(&engine, run).await;
                    engine.untrack(&id);
                    if engine.slots.give_back(&store_id) {
                        engine.wake.notify_one();
                    }
                }));
            }
        }
    }
}

/// These waiting runs were claimed: they wait no more, each this late.
fn woke<'a>(runs: impl Iterator<Item = &'a RunRecord>) {
    let now = now_ms();
    let mut count = 0;
    for run in runs {
        count += 1;
        let late_ms = run.wake_at.map_or(0, |at| (now - at).max(0));
        metrics::histogram!("switchboard_timer_lateness_seconds").record(late_ms as f64 / 1000.0);
    }
    metrics::gauge!("switchboard_runs_waiting").decrement(f64::from(count));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_store_and_ask_for_a_round_while_behind() {
        let slots = Slots::new(8);
        slots.take("a");
        slots.take("a");
        slots.take("b");
        assert_eq!(
            (slots.held_by("a"), slots.held_by("b"), slots.free()),
            (2, 1, 5)
        );
        assert!(!slots.give_back("a"), "not behind: the poll is enough");
        slots.set_behind(true);
        assert!(!slots.give_back("a"), "one of two needed");
        slots.take("a");
        assert!(slots.give_back("b"), "two freed: a round");
        assert_eq!(
            (slots.held_by("a"), slots.held_by("b"), slots.free()),
            (1, 0, 7)
        );
    }
}
