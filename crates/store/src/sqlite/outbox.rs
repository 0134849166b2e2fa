//! Subscriptions, outgoing events and deliveries on SQLite (see migration 0005).

use super::*;

use super::rows::get_status;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::Result;
use crate::error::parse_json;
use crate::model::*;
use crate::outbox::{Change, Outgoing, filter_matches, subscription_summary};

const SUBSCRIPTION_COLUMNS: &str = "id, store_id, url, description, events, ordered, active, secret, previous_secret, previous_until, failing_since, disabled_at, disabled_reason, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, store_id, subscription_id, event_id, event, status, attempts, manual, next_attempt_at, last_status, last_error, delivered_at, created_at, updated_at";

fn subscription_row(r: &Row) -> rusqlite::Result<(SubscriptionRecord, String)> {
    Ok((
        SubscriptionRecord {
            id: r.get(0)?,
            store_id: r.get(1)?,
            url: r.get(2)?,
            description: r.get(3)?,
            events: Vec::new(),
            ordered: r.get(5)?,
            active: r.get(6)?,
            secret: r.get(7)?,
            previous_secret: r.get(8)?,
            previous_until: r.get(9)?,
            failing_since: r.get(10)?,
            disabled_at: r.get(11)?,
            disabled_reason: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
        },
        r.get(4)?,
    ))
}

fn subscription((mut s, events): (SubscriptionRecord, String)) -> Result<SubscriptionRecord> {
    s.events = serde_json::from_value(parse_json(events)?).map_err(crate::StoreError::backend)?;
    Ok(s)
}

fn delivery_row(r: &Row) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.get(0)?,
        store_id: r.get(1)?,
        subscription_id: r.get(2)?,
        event_id: r.get(3)?,
        event: r.get(4)?,
        status: get_status(r, 5)?,
        attempts: r.get(6)?,
        manual: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_status: r.get(9)?,
        last_error: r.get(10)?,
        delivered_at: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

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

/// Publishes on the writer's connection (see [`crate::outbox::publish`]).
pub fn publish(c: &Connection, change: Change, data: impl FnOnce() -> Value) -> Result<()> {
    crate::db::run_now(crate::outbox::publish(
        &mut crate::db::Sqlite(c),
        change,
        data,
    ))
}

pub fn emit(c: &Connection, event: Outgoing) -> Result<String> {
    crate::db::run_now(crate::outbox::emit(&mut crate::db::Sqlite(c), event))
}

fn write_filter(c: &Connection, s: &SubscriptionRecord) -> Result<()> {
    c.prepare_cached("DELETE FROM subscription_events WHERE subscription_id = ?1")?
        .execute([&s.id])?;
    let mut insert = c.prepare_cached(
        "INSERT OR IGNORE INTO subscription_events (subscription_id, store_id, event) VALUES (?1, ?2, ?3)",
    )?;
    for e in &s.events {
        insert.execute(params![s.id, s.store_id, e])?;
    }
    Ok(())
}

fn events_json(s: &SubscriptionRecord) -> String {
    serde_json::to_string(&s.events).unwrap_or_else(|_| "[]".into())
}

pub fn create_subscription(c: &Connection, s: &SubscriptionRecord) -> Result<SubscriptionRecord> {
    c.prepare_cached(&format!(
        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?
    .execute(params![
        s.id,
        s.store_id,
        s.url,
        s.description,
        events_json(s),
        s.ordered,
        s.active,
        s.secret,
        s.previous_secret,
        s.previous_until,
        s.failing_since,
        s.disabled_at,
        s.disabled_reason,
        s.created_at,
        s.updated_at
    ])?;
    write_filter(c, s)?;
    forget_targets();
    Ok(s.clone())
}

pub fn get_subscription(
    c: &Connection,
    store_id: &str,
    id: &str,
) -> Result<Option<SubscriptionRecord>> {
    c.prepare_cached(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL"
    ))?
    .query_row([store_id, id], subscription_row)
    .optional()?
    .map(subscription)
    .transpose()
}

pub fn list_subscriptions(
    c: &Connection,
    store_id: &str,
    page: &PageRequest,
) -> Result<Page<SubscriptionRecord>> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE store_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3"
        ))?
        .query_map(params![store_id, page.after_key(), page.limit + 1], subscription_row)?
        .map(|r| subscription(r?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

pub fn update_subscription(
    c: &Connection,
    s: &SubscriptionRecord,
) -> Result<Option<SubscriptionRecord>> {
    let changed = c
        .prepare_cached(
            "UPDATE subscriptions SET url = ?3, description = ?4, events = ?5, ordered = ?6, active = ?7, secret = ?8, previous_secret = ?9, \
             previous_until = ?10, failing_since = ?11, disabled_at = ?12, disabled_reason = ?13, updated_at = ?14 \
             WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL",
        )?
        .execute(params![
            s.store_id,
            s.id,
            s.url,
            s.description,
            events_json(s),
            s.ordered,
            s.active,
            s.secret,
            s.previous_secret,
            s.previous_until,
            s.failing_since,
            s.disabled_at,
            s.disabled_reason,
            s.updated_at
        ])?;
    if changed == 0 {
        return Ok(None);
    }
    write_filter(c, s)?;
    forget_targets();
    get_subscription(c, &s.store_id, &s.id)
}

pub fn delete_subscription(c: &Connection, store_id: &str, id: &str, now: i64) -> Result<bool> {
    let changed = c
        .prepare_cached("UPDATE subscriptions SET deleted_at = ?3, active = 0, updated_at = ?3 WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL")?
        .execute(params![store_id, id, now])?;
    if changed == 0 {
        return Ok(false);
    }
    forget_targets();
    c.prepare_cached("DELETE FROM subscription_events WHERE subscription_id = ?1")?
        .execute([id])?;
    c.prepare_cached("UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, last_error = 'the subscription was deleted', updated_at = ?2 WHERE subscription_id = ?1 AND status = 'pending'")?
        .execute(params![id, now])?;
    Ok(true)
}

pub fn claim(c: &Connection, lease: &Lease, limit: u32, steal: bool) -> Result<Vec<DeliveryJob>> {
    let guard = if steal {
        ""
    } else {
        "AND (d.lease_until IS NULL OR d.lease_until < ?3)"
    };
    let claimed: Vec<String> = c
        .prepare_cached(&format!(
            "UPDATE deliveries SET lease_owner = ?1, lease_until = ?2 WHERE id IN (\
               SELECT d.id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= ?3 {guard} AND s.active = 1 \
               AND NOT (d.contact IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries p WHERE p.subscription_id = d.subscription_id \
                 AND p.contact = d.contact AND p.status = 'pending' AND p.event_id < d.event_id)) \
               ORDER BY d.next_attempt_at LIMIT ?4) RETURNING id"
        ))?
        .query_map(params![lease.owner, lease.until, lease.now, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut job = c.prepare_cached(&format!(
        "SELECT {}, s.url, s.secret, CASE WHEN s.previous_until > ?2 THEN s.previous_secret END, e.created_at, e.data \
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN outgoing_events e ON e.id = d.event_id WHERE d.id = ?1",
        DELIVERY_COLUMNS.split(", ").map(|col| format!("d.{col}")).collect::<Vec<_>>().join(", ")
    ))?;
    claimed
        .iter()
        .map(|id| {
            Ok(job.query_row(params![id, lease.now], |r| {
                let mut secrets = vec![r.get::<_, String>(15)?];
                secrets.extend(r.get::<_, Option<String>>(16)?);
                Ok(DeliveryJob {
                    delivery: delivery_row(r)?,
                    url: r.get(14)?,
                    secrets,
                    event_created_at: r.get(17)?,
                    data: r.get(18)?,
                })
            })?)
        })
        .collect()
}

pub fn finish_attempt(c: &Connection, o: &AttemptOutcome) -> Result<bool> {
    let a = &o.attempt;
    let status = if o.succeeded {
        "'succeeded'"
    } else if o.retry_at.is_some() {
        "'pending'"
    } else {
        // A manual attempt at a delivery that succeeded before leaves it succeeded.
        "CASE WHEN delivered_at IS NULL THEN 'failed' ELSE 'succeeded' END"
    };
    let subscription: Option<String> = c
        .prepare_cached(&format!(
            "UPDATE deliveries SET status = {status}, attempts = attempts + 1, manual = CASE WHEN ?3 IS NULL THEN 0 ELSE manual END, next_attempt_at = ?3, \
             lease_owner = NULL, lease_until = NULL, last_status = ?4, last_error = ?5, \
             delivered_at = CASE WHEN ?6 THEN COALESCE(delivered_at, ?7) ELSE delivered_at END, updated_at = ?7 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending' RETURNING subscription_id"
        ))?
        .query_row(params![o.delivery_id, o.owner, o.retry_at, a.status, a.error, o.succeeded, o.now], |r| r.get(0))
        .optional()?;
    let Some(subscription_id) = subscription else {
        return Ok(false);
    };
    c.prepare_cached("INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status, response, error, manual) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?
        .execute(params![o.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status, a.response, a.error, a.manual])?;
    if o.succeeded {
        c.prepare_cached("UPDATE subscriptions SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL")?
            .execute([&subscription_id])?;
        return Ok(true);
    }
    // Failing since the first failure after a success; a record older than twice the limit is
    // forgiven (the endpoint had no traffic since), as Svix does.
    let failing_since: i64 = c
        .prepare_cached(
            "UPDATE subscriptions SET failing_since = CASE WHEN failing_since IS NULL OR failing_since < ?2 - 2 * ?3 THEN ?2 ELSE failing_since END \
             WHERE id = ?1 RETURNING failing_since",
        )?
        .query_row(params![subscription_id, o.now, o.disable_after], |r| r.get(0))?;
    let reason = if o.gone {
        Some("the endpoint answered 410 Gone".to_owned())
    } else if o.now - failing_since >= o.disable_after {
        Some(format!(
            "every attempt has failed since {}",
            crate::outbox::rfc3339(failing_since)
        ))
    } else {
        None
    };
    if let Some(reason) = reason {
        disable(c, &subscription_id, &reason, o.now)?;
    }
    Ok(true)
}

/// Disables an active subscription and publishes `subscription.disabled` to the store's others.
fn disable(c: &Connection, id: &str, reason: &str, now: i64) -> Result<()> {
    let store_id: Option<String> = c
        .prepare_cached("UPDATE subscriptions SET active = 0, disabled_at = ?2, disabled_reason = ?3, updated_at = ?2 WHERE id = ?1 AND active = 1 RETURNING store_id")?
        .query_row(params![id, now, reason], |r| r.get(0))
        .optional()?;
    let Some(store_id) = store_id else {
        return Ok(());
    };
    forget_targets();
    let Some(s) = get_subscription(c, &store_id, id)? else {
        return Ok(());
    };
    publish(
        c,
        Change::new(&store_id, "subscription.disabled", None, now),
        || subscription_summary(&s),
    )
}

pub fn get_delivery(c: &Connection, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE store_id = ?1 AND id = ?2"
    ))?
    .query_row([store_id, id], delivery_row)
    .optional()?)
}

pub fn attempts(c: &Connection, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
    Ok(c.prepare_cached("SELECT attempt, started_at, duration_ms, status, response, error, manual FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY attempt")?
        .query_map([delivery_id], |r| {
            Ok(AttemptRecord {
                attempt: r.get(0)?,
                started_at: r.get(1)?,
                duration_ms: r.get(2)?,
                status: r.get(3)?,
                response: r.get(4)?,
                error: r.get(5)?,
                manual: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

pub fn list_deliveries(
    c: &Connection,
    store_id: &str,
    subscription_id: &str,
    f: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<DeliveryRecord>> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE store_id = ?1 AND subscription_id = ?2 AND (?3 IS NULL OR status = ?3) \
             AND (?4 IS NULL OR event = ?4) AND (?5 IS NULL OR id < ?5) ORDER BY id DESC LIMIT ?6"
        ))?
        .query_map(params![store_id, subscription_id, f.status.map(DeliveryStatus::as_str), f.event, page.after, page.limit + 1], delivery_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |d| d.id.clone()))
}

pub fn retry(c: &Connection, store_id: &str, id: &str, now: i64) -> Result<Option<DeliveryRecord>> {
    let Some(current) = get_delivery(c, store_id, id)? else {
        return Ok(None);
    };
    if current.status == DeliveryStatus::Cancelled {
        return Err(crate::StoreError::Conflict {
            field: "status",
            message: "the delivery was cancelled (its subscription was deleted)".into(),
        });
    }
    c.prepare_cached(
        "UPDATE deliveries SET manual = CASE WHEN status = 'pending' THEN manual ELSE 1 END, status = 'pending', next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    PUBLISHED.with(|p| p.set(true));
    get_delivery(c, store_id, id)
}

pub fn recover(
    c: &Connection,
    store_id: &str,
    subscription_id: &str,
    since: i64,
    until: Option<i64>,
    now: i64,
) -> Result<u64> {
    let n = c
        .prepare_cached(
            "UPDATE deliveries SET status = 'pending', manual = 1, next_attempt_at = ?5, updated_at = ?5 \
             WHERE store_id = ?1 AND subscription_id = ?2 AND status = 'failed' AND created_at >= ?3 AND (?4 IS NULL OR created_at < ?4)",
        )?
        .execute(params![store_id, subscription_id, since, until, now])?;
    if n > 0 {
        PUBLISHED.with(|p| p.set(true));
    }
    Ok(n as u64)
}

#[async_trait::async_trait]
impl crate::Outbox for SqliteStore {
    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord> {
        self.writer
            .write(move |c| outbox::create_subscription(c, &s))
            .await
    }

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| outbox::get_subscription(c, &store_id, &id))
            .await
    }

    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| outbox::list_subscriptions(c, &store_id, &page))
            .await
    }

    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>> {
        self.writer
            .write(move |c| outbox::update_subscription(c, &s))
            .await
    }

    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| outbox::delete_subscription(c, &store_id, &id, now))
            .await
    }

    async fn emit_event(&self, event: crate::outbox::Outgoing) -> Result<String> {
        self.writer.write(move |c| outbox::emit(c, event)).await
    }

    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>> {
        self.writer
            .write(move |c| outbox::claim(c, &lease, limit, steal))
            .await
    }

    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool> {
        self.writer
            .write(move |c| outbox::finish_attempt(c, &outcome))
            .await
    }

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| outbox::get_delivery(c, &store_id, &id))
            .await
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        let id = delivery_id.to_owned();
        self.read(move |c| outbox::attempts(c, &id)).await
    }

    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| outbox::list_deliveries(c, &store_id, &subscription_id, &filter, &page))
            .await
    }

    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| outbox::retry(c, &store_id, &id, now))
            .await
    }

    async fn recover_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        since: i64,
        until: Option<i64>,
        now: i64,
    ) -> Result<u64> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        self.writer
            .write(move |c| outbox::recover(c, &store_id, &subscription_id, since, until, now))
            .await
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.signal.clone()
    }
}
