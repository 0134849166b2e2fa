//! Subscriptions: endpoints that receive the store's outgoing events, written once for both
//! backends (migration 0005). Each keeps its filter twice: as JSON for reading, and one row per
//! entry in `subscription_events` for the fan-out to match on.

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql};
use crate::model::*;

macro_rules! columns {
    () => {
        "id, store_id, url, description, events, ordered, active, secret, previous_secret, \
         previous_until, failing_since, disabled_at, disabled_reason, created_at, updated_at"
    };
}

const INSERT: Sql = sql!(concat!(
    "INSERT INTO subscriptions (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
));
const GET: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM subscriptions WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
));
const LIST: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM subscriptions WHERE store_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3"
));
/// Takes the same parameters as [`INSERT`]; the creation time (`$14`) is not changed.
const UPDATE: Sql = sql!(
    "UPDATE subscriptions SET url = $3, description = $4, events = $5, ordered = $6, active = $7, \
     secret = $8, previous_secret = $9, previous_until = $10, failing_since = $11, \
     disabled_at = $12, disabled_reason = $13, updated_at = $15 \
     WHERE id = $1 AND store_id = $2 AND deleted_at IS NULL"
);
const DELETE: Sql = sql!(
    "UPDATE subscriptions SET deleted_at = $3, active = FALSE, updated_at = $3 \
     WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
);
const CLEAR_FILTER: Sql = sql!("DELETE FROM subscription_events WHERE subscription_id = $1");
const ADD_FILTER: Sql = sql!(
    "INSERT INTO subscription_events (subscription_id, store_id, event) VALUES ($1, $2, $3) \
     ON CONFLICT DO NOTHING"
);
const CANCEL_PENDING: Sql = sql!(
    "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, \
     lease_until = NULL, last_error = 'the subscription was deleted', updated_at = $2 \
     WHERE subscription_id = $1 AND status = 'pending'"
);

fn subscription(r: &impl Row) -> Result<SubscriptionRecord> {
    let events = serde_json::from_value(r.json(4)?).map_err(crate::StoreError::backend)?;
    Ok(SubscriptionRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        url: r.col(2)?,
        description: r.col(3)?,
        events,
        ordered: r.col(5)?,
        active: r.col(6)?,
        secret: r.col(7)?,
        previous_secret: r.col(8)?,
        previous_until: r.col(9)?,
        failing_since: r.col(10)?,
        disabled_at: r.col(11)?,
        disabled_reason: r.col(12)?,
        created_at: r.col(13)?,
        updated_at: r.col(14)?,
    })
}

fn events_json(s: &SubscriptionRecord) -> String {
    serde_json::to_string(&s.events).unwrap_or_else(|_| "[]".into())
}

async fn write_filter(db: &mut impl Db, s: &SubscriptionRecord) -> Result<()> {
    db.execute(&CLEAR_FILTER, args![&s.id]).await?;
    for event in &s.events {
        db.execute(&ADD_FILTER, args![&s.id, &s.store_id, event])
            .await?;
    }
    db.subscriptions_changed();
    Ok(())
}

/// Runs `sql` with the subscription's columns as parameters, in [`INSERT`]'s order.
async fn write_row(db: &mut impl Db, sql: &Sql, s: &SubscriptionRecord) -> Result<u64> {
    let events = events_json(s);
    let row = args![
        &s.id,
        &s.store_id,
        &s.url,
        &s.description,
        events.as_str(),
        s.ordered,
        s.active,
        &s.secret,
        &s.previous_secret,
        s.previous_until,
        s.failing_since,
        s.disabled_at,
        &s.disabled_reason,
        s.created_at,
        s.updated_at
    ];
    db.execute(sql, row).await
}

pub(super) async fn create(db: &mut impl Db, s: &SubscriptionRecord) -> Result<SubscriptionRecord> {
    write_row(db, &INSERT, s).await?;
    write_filter(db, s).await?;
    Ok(s.clone())
}

pub(super) async fn get(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
) -> Result<Option<SubscriptionRecord>> {
    db.fetch_one(&GET, args![store_id, id], |r| subscription(r))
        .await
}

pub(super) async fn list(
    db: &mut impl Db,
    store_id: &str,
    page: &PageRequest,
) -> Result<Page<SubscriptionRecord>> {
    let after = page.after_key();
    let rows = db
        .fetch(
            &LIST,
            args![store_id, after.as_str(), page.limit + 1],
            |r| subscription(r),
        )
        .await?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

/// Replaces a live subscription, its filter included.
pub(super) async fn update(
    db: &mut impl Db,
    s: &SubscriptionRecord,
) -> Result<Option<SubscriptionRecord>> {
    if write_row(db, &UPDATE, s).await? == 0 {
        return Ok(None);
    }
    write_filter(db, s).await?;
    get(db, &s.store_id, &s.id).await
}

/// Deletes a subscription: its pending deliveries are cancelled, its history stays.
pub(super) async fn delete(db: &mut impl Db, store_id: &str, id: &str, now: i64) -> Result<bool> {
    if db.execute(&DELETE, args![store_id, id, now]).await? == 0 {
        return Ok(false);
    }
    db.subscriptions_changed();
    db.execute(&CLEAR_FILTER, args![id]).await?;
    db.execute(&CANCEL_PENDING, args![id, now]).await?;
    Ok(true)
}
