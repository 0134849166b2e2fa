//! The API's hot reads of every request, valid under the engine's config generation (see
//! [`switchboard_engine::caches`]); writes on this node clear them at once.

use switchboard_engine::caches::{Generation, TtlCache};
use switchboard_store::StoreRecord;

pub struct Caches {
    /// Token hash → the token's store (`None`: an admin token).
    pub tokens: TtlCache<String, Option<String>>,
    pub stores: TtlCache<String, StoreRecord>,
    /// Store → the HMAC keys its signed ingest accepts (two during a rotation).
    pub inbound_keys: TtlCache<String, Vec<Vec<u8>>>,
    /// Store → the event types its active workflows listen to (for suggestions).
    pub event_types: TtlCache<String, Vec<String>>,
}

impl Caches {
    pub fn new(generation: &Generation) -> Caches {
        Caches {
            tokens: generation.cache(),
            stores: generation.cache(),
            inbound_keys: generation.cache(),
            event_types: generation.cache(),
        }
    }
}
