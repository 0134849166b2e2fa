//! A small map whose entries expire: for hot reads on every request (tokens, stores, which
//! workflows an event type starts). Writes on this node clear it at once; other nodes sharing a
//! PostgreSQL see a change after the time-to-live at most.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past it the cache starts over.
const CAPACITY: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().expect("ttl cache");
        map.get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut map = self.map.lock().expect("ttl cache");
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key, (value, Instant::now()));
    }

    pub fn clear(&self) {
        self.map.lock().expect("ttl cache").clear();
    }
}
