//! What only SQLite's side of the outbox has: the writer thread's copy of the active
//! subscriptions, which spares the fan-out a query, and the flag that rings the delivery worker.

use rusqlite::Connection;

use crate::Result;
use crate::error::parse_json;
use crate::outbox::filter_matches;

thread_local! {
    /// Set when a job of the writer's current batch published deliveries; the writer rings the
    /// outbox signal after the batch commits.
    pub static PUBLISHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A live, active subscription as the fan-out matches it.
struct Target {
    id: String,
    store_id: String,
    ordered: bool,
    events: Vec<String>,
}

thread_local! {
    /// The writer thread's copy of every active subscription. Every subscription write goes
    /// through this thread and clears it, so it is never stale; it spares each run, message and
    /// workflow change a query when its store subscribes to nothing.
    static TARGETS: std::cell::RefCell<Option<std::rc::Rc<Vec<Target>>>> = const { std::cell::RefCell::new(None) };
}

/// After any change to subscriptions, and after a rollback (which may undo one): the fan-out
/// reads them again.
pub fn forget_targets() {
    TARGETS.with(|t| t.borrow_mut().take());
}

fn targets(c: &Connection) -> Result<std::rc::Rc<Vec<Target>>> {
    if let Some(t) = TARGETS.with(|t| t.borrow().clone()) {
        return Ok(t);
    }
    let rows: Vec<(String, String, bool, String)> = c
        .prepare_cached("SELECT id, store_id, ordered, events FROM subscriptions WHERE active = 1 AND deleted_at IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let loaded = rows
        .into_iter()
        .map(|(id, store_id, ordered, events)| {
            let events =
                serde_json::from_value(parse_json(events)?).map_err(crate::StoreError::backend)?;
            Ok(Target {
                id,
                store_id,
                ordered,
                events,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let loaded = std::rc::Rc::new(loaded);
    TARGETS.with(|t| *t.borrow_mut() = Some(loaded.clone()));
    Ok(loaded)
}

/// The active subscriptions of the store whose filter takes `event`: `(id, ordered)`.
pub(crate) fn matching(c: &Connection, store_id: &str, event: &str) -> Result<Vec<(String, bool)>> {
    Ok(targets(c)?
        .iter()
        .filter(|t| t.store_id == store_id && t.events.iter().any(|f| filter_matches(f, event)))
        .map(|t| (t.id.clone(), t.ordered))
        .collect())
}
