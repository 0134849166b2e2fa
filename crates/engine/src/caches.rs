//! Hot reads (tokens, stores, which workflows a trigger starts, inbound keys), kept in memory
//! briefly.
//!
//! Writes on this node clear them at once. Nodes sharing a PostgreSQL also see each other's
//! changes at once: every change to stores, tokens or workflows bumps the database's config
//! generation in its own transaction (migration 0006), each request reads that generation before
//! it trusts a cache ([`Generation::sync`]), and an entry is valid only under the generation it
//! was loaded in. Concurrent requests share one read of the generation ([`Fence`]), so this costs
//! one small query per burst of requests, not one per request.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_store::{Store, StoreError};
use tokio::sync::{Notify, watch};

/// Entries kept at most; past it a cache starts over.
const CAPACITY: usize = 10_000;
/// How long an entry lives at most, whatever the generation says.
const TTL: Duration = Duration::from_secs(2);

/// A store, a trigger kind (`webhook`, `customer_message`) and its key (event type, channel).
pub type TriggerKey = (String, &'static str, String);

/// The config generation every cache of this process is valid under.
pub struct Generation {
    /// The newest config generation seen (always 0 on SQLite).
    seen: Arc<AtomicI64>,
    /// Reads the generation on PostgreSQL; `None` on SQLite, whose one node clears as it writes.
    fence: Option<Arc<Fence>>,
}

impl Generation {
    pub fn new(store: &Arc<dyn Store>) -> Generation {
        Generation {
            seen: Arc::new(AtomicI64::new(0)),
            fence: (store.backend() != "sqlite").then(|| Fence::start(store.clone())),
        }
    }

    /// A new cache valid under this generation.
    pub fn cache<K: Eq + Hash, V: Clone>(&self) -> TtlCache<K, V> {
        TtlCache::new(self.seen.clone())
    }

    /// Brings the caches up to every change committed before this call (on any node).
    pub async fn sync(&self) -> Result<(), StoreError> {
        if let Some(fence) = &self.fence {
            let now = fence.generation().await?;
            self.seen.fetch_max(now, Ordering::SeqCst);
        }
        Ok(())
    }
}

pub struct TtlCache<K, V> {
    generation: Arc<AtomicI64>,
    map: Mutex<HashMap<K, Entry<V>>>,
}

struct Entry<V> {
    value: V,
    at: Instant,
    generation: i64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    fn new(generation: Arc<AtomicI64>) -> Self {
        TtlCache {
            generation,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.generation.load(Ordering::SeqCst);
        let map = self.map.lock().expect("cache");
        map.get(key)
            .filter(|e| e.generation == now && e.at.elapsed() < TTL)
            .map(|e| e.value.clone())
    }

    /// The cached value, or what `load` finds (cached when found). The generation is taken before
    /// the load, so a value loaded while a change lands is never kept past that change. The key is
    /// only copied to be kept.
    pub async fn get_or_load<Q, E, F>(&self, key: &Q, load: F) -> Result<Option<V>, E>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.get(key) {
            return Ok(Some(v));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = load.await?;
        if let Some(value) = &loaded {
            let mut map = self.map.lock().expect("cache");
            if map.len() >= CAPACITY {
                map.clear();
            }
            let entry = Entry {
                value: value.clone(),
                at: Instant::now(),
                generation,
            };
            map.insert(key.to_owned(), entry);
        }
        Ok(loaded)
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.lock().expect("cache").remove(key);
    }

    pub fn clear(&self) {
        self.map.lock().expect("cache").clear();
    }
}

/// One read of the config generation serves every request that arrived before the read began; a
/// request never takes the answer of a read that began before it arrived (that read may predate
/// a change the caller has already seen committed).
struct Fence {
    store: Arc<dyn Store>,
    /// Tickets handed out.
    arrived: AtomicU64,
    /// (every ticket up to this one is served, the generation read for them).
    /// The error is kept whole, so a lost database still answers 503, not 500.
    served: watch::Sender<(u64, Result<i64, StoreError>)>,
    wake: Notify,
}

impl Fence {
    fn start(store: Arc<dyn Store>) -> Arc<Fence> {
        let fence = Arc::new(Fence {
            store,
            arrived: AtomicU64::new(0),
            served: watch::Sender::new((0, Ok(0))),
            wake: Notify::new(),
        });
        tokio::spawn(fence.clone().read_loop());
        fence
    }

    async fn generation(&self) -> Result<i64, StoreError> {
        let ticket = self.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        let mut served = self.served.subscribe();
        self.wake.notify_one();
        let answer = served
            .wait_for(|(upto, _)| *upto >= ticket)
            .await
            .map_err(StoreError::backend)?;
        answer.1.clone()
    }

    async fn read_loop(self: Arc<Self>) {
        let mut done = 0;
        loop {
            self.wake.notified().await;
            loop {
                let upto = self.arrived.load(Ordering::SeqCst);
                if upto <= done {
                    break;
                }
                let read = self.store.config_generation().await.map(|g| g.unwrap_or(0));
                let _ = self.served.send_replace((upto, read));
                done = upto;
            }
        }
    }
}
