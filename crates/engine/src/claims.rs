//! Claiming due runs (woken timers, retry backoffs, orphans of a dead node) so that no store takes
//! every slot (docs/architecture.md, "Due runs").
//!
//! A node executes at most `max` claimed runs at once. A claim takes the oldest due runs, whatever
//! their store, at most half the slots at a time. When more were due than it took, the node is
//! *behind*: then each store with due waiting runs gets an equal share of the free slots, from its
//! own oldest (marked running, so the next look does not step over them), and no store holds
//! more than half of them; a small slice still goes to the oldest due runs of any kind (orphans
//! among them), so nothing waits forever. A store whose thousands of
//! timers fell due together thus takes turns with the others instead of going first; the free
//! half is there for a store whose run falls due at the next poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use switchboard_store::{RunRecord, RunStatus};

use crate::Engine;

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
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max: max.max(2),
            held: Mutex::default(),
            total: AtomicUsize::new(0),
            behind: AtomicBool::new(false),
            freed: AtomicUsize::new(0),
        }
    }

    /// What one store may hold while others wait.
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

    fn set_behind(&self, behind: bool) {
        self.freed.store(0, Ordering::Relaxed);
        self.behind.store(behind, Ordering::Relaxed);
    }
}

impl Engine {
    /// Claims due runs and executes them: rounds of the oldest until none are left, or, once
    /// behind, one fair round (the next comes as slots free up or at the next poll). With
    /// `steal` (a lone node starting), everything left by the previous process, oldest first.
    pub(crate) async fn claim(self: &Arc<Self>, steal: bool) -> anyhow::Result<()> {
        loop {
            let behind = !steal && self.slots.behind.load(Ordering::Relaxed);
            let mut free = self.slots.free();
            if free == 0 {
                self.slots.set_behind(true);
                return Ok(());
            }
            let mut more = false;
            if behind {
                let (taken, left) = self.claim_fairly(free).await?;
                free = free.saturating_sub(taken);
                more |= left;
            }
            let slice = if behind { OLDEST_SLICE } else { CLAIM_BATCH };
            let limit = slice.min(free).min(self.slots.store_share());
            if limit > 0 {
                let runs = self
                    .store
                    .claim_runs(self.lease(), limit as u32, steal)
                    .await?;
                more |= runs.len() == limit;
                woke(
                    runs.iter()
                        .filter(|r| r.status == RunStatus::Waiting)
                        .count(),
                );
                self.dispatch_claimed(runs);
            }
            self.slots.set_behind(more);
            if !more || behind {
                return Ok(());
            }
        }
    }

    /// Shares `free` slots between the stores with due waiting runs; how many runs it took, and
    /// whether any store may have more due.
    async fn claim_fairly(self: &Arc<Self>, free: usize) -> anyhow::Result<(usize, bool)> {
        let stores = self
            .store
            .stores_with_waking_runs(crate::clock::now_ms())
            .await?;
        if stores.is_empty() {
            return Ok((0, false));
        }
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
        if quotas.is_empty() {
            return Ok((0, capped));
        }
        let runs = self
            .store
            .claim_waking_runs(self.lease(), quotas.clone())
            .await?;
        let mut got: HashMap<&str, u32> = HashMap::new();
        for run in &runs {
            *got.entry(run.store_id.as_str()).or_default() += 1;
        }
        let filled = quotas
            .iter()
            .any(|(store, quota)| got.get(store.as_str()) == Some(quota));
        let taken = runs.len();
        woke(taken);
        self.dispatch_claimed(runs);
        Ok((taken, capped || filled))
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

/// `n` waiting runs were claimed: they wait no more.
fn woke(n: usize) {
    metrics::gauge!("switchboard_runs_waiting").decrement(n as f64);
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
