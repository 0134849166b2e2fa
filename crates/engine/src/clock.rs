//! The server's clock as the store keeps it (milliseconds since the epoch) and as the API shows
//! it. It is the wall clock unless `clock_start` moved it (tests and demos); signatures that carry
//! a timestamp are checked against [`wall_ms`].

use std::sync::atomic::{AtomicI64, Ordering};

/// How far the server's clock is ahead of the wall clock.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The server's clock: what every schedule, timer and record uses.
pub fn now_ms() -> i64 {
    wall_ms() + OFFSET_MS.load(Ordering::Relaxed)
}

/// The real time, for signature timestamps.
pub fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts the server's clock at `start` (ms since the epoch); it runs at normal speed from there.
pub fn start_clock_at(start: i64) {
    OFFSET_MS.store(start - wall_ms(), Ordering::Relaxed);
}

pub use switchboard_store::outbox::rfc3339;

/// Parses an RFC 3339 time into ms since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}
