//! The runs this node executes now, with their stores: their leases are renewed, shutdown waits
//! for them, and each store's count is held to its ceiling (`SWITCHBOARD_STORE_MAX_RUNS_IN_FLIGHT`)
//! where runs start. Runs parked on a timer are not executing, so they do not count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct InFlight(Mutex<Runs>);

#[derive(Default)]
struct Runs {
    stores: HashMap<String, Arc<str>>,
    per_store: HashMap<Arc<str>, usize>,
}

impl InFlight {
    /// Notes a run as executing here; `false` when it already was.
    pub fn insert(&self, run_id: &str, store_id: &str) -> bool {
        let mut runs = self.0.lock().expect("runs in flight");
        if runs.stores.contains_key(run_id) {
            return false;
        }
        let store: Arc<str> = match runs.per_store.get_key_value(store_id) {
            Some((k, _)) => k.clone(),
            None => Arc::from(store_id),
        };
        *runs.per_store.entry(store.clone()).or_default() += 1;
        runs.stores.insert(run_id.to_owned(), store);
        true
    }

    /// The run stopped executing here; whether none is left.
    pub fn remove(&self, run_id: &str) -> bool {
        let mut runs = self.0.lock().expect("runs in flight");
        if let Some(store) = runs.stores.remove(run_id)
            && let Some(n) = runs.per_store.get_mut(&store)
        {
            *n -= 1;
            if *n == 0 {
                runs.per_store.remove(&store);
            }
        }
        runs.stores.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.lock().expect("runs in flight").stores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of `store_id`'s runs execute here.
    pub fn of_store(&self, store_id: &str) -> usize {
        let runs = self.0.lock().expect("runs in flight");
        runs.per_store.get(store_id).copied().unwrap_or(0)
    }

    pub fn ids(&self) -> Vec<String> {
        let runs = self.0.lock().expect("runs in flight");
        runs.stores.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_runs_per_store() {
        let f = InFlight::default();
        assert!(f.insert("r1", "a"));
        assert!(!f.insert("r1", "a"));
        assert!(f.insert("r2", "a"));
        assert!(f.insert("r3", "b"));
        assert_eq!((f.of_store("a"), f.of_store("b"), f.len()), (2, 1, 3));
        assert!(!f.remove("r1"));
        assert!(!f.remove("r1"));
        assert_eq!(f.of_store("a"), 1);
        assert!(!f.remove("r2"));
        assert!(f.remove("r3"));
        assert_eq!((f.of_store("a"), f.is_empty()), (0, true));
    }
}
