//! Records as stored and returned, one file per area; paging and leases are shared.

mod messages;
mod outbox;
mod resources;
mod runs;
mod schedules;
mod tenants;
mod workflows;

pub use messages::*;
pub use outbox::*;
pub use resources::*;
pub use runs::*;
pub use schedules::*;
pub use switchboard_core::status::{
    DeliveryStatus, MessageStatus, RunStatus, ScheduleKind, ScheduleStatus, StepStatus,
};
pub use tenants::*;
pub use workflows::*;

/// Keyset pagination: items after the cursor, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    /// The sort key of the last item already seen.
    pub after: Option<String>,
}

impl PageRequest {
    /// The key to list after; the empty string sorts before every id.
    pub fn after_key(&self) -> String {
        self.after.clone().unwrap_or_default()
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: 50,
            after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The key to continue after, when more items exist.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// A run taking new work: a claim of due or orphaned runs, or a failed run retried.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
    pub now: i64,
}

/// What a lease holds: a run or a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leased {
    Runs,
    Deliveries,
}

impl Leased {
    /// The table of the leased rows (both have `lease_owner` and `lease_until`).
    pub fn table(self) -> &'static str {
        match self {
            Leased::Runs => "runs",
            Leased::Deliveries => "deliveries",
        }
    }
}

/// A node of the cluster, as it last reported itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub id: String,
    /// The address its API listens on.
    pub address: String,
    pub started_at: i64,
    pub last_seen_at: i64,
    /// Runs executing on it then.
    pub runs_in_flight: i64,
}
