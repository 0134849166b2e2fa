//! Deliveries of outgoing events: claims with a lease, the attempt log, and the rules after an
//! attempt (retry, fail, disable a subscription that keeps failing), written once for both
//! backends.

use super::{Change, subscription_summary, subscriptions};
use crate::Result;
use crate::db::{Db, Row, Sql, args, sql, sql_pg_clause};
use crate::model::*;

macro_rules! columns {
    () => {
        "id, store_id, subscription_id, event_id, event, status, attempts, manual, \
         next_attempt_at, last_status, last_error, delivered_at, created_at, updated_at"
    };
}

/// Due deliveries of active subscriptions; of an ordered one, only the oldest pending delivery of
/// each contact. `$5`: steal leases of other owners (a lone node restarting on SQLite).
const CLAIM: Sql = sql_pg_clause!(
    "UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
     SELECT d.id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
     WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
     AND ($5 OR d.lease_until IS NULL OR d.lease_until < $3) AND s.active \
     AND NOT (d.contact IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries p \
     WHERE p.subscription_id = d.subscription_id AND p.contact = d.contact \
     AND p.status = 'pending' AND p.event_id < d.event_id)) \
     ORDER BY d.next_attempt_at LIMIT $4",
    " FOR UPDATE OF d SKIP LOCKED",
    ") RETURNING id"
);
/// The claimed deliveries with what sending them needs (the ids: an array on PostgreSQL, JSON
/// text on SQLite).
const JOBS: Sql = Sql::each(
    "SELECT d.id, d.store_id, d.subscription_id, d.event_id, d.event, d.status, d.attempts, d.manual, \
     d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, d.updated_at, \
     s.url, s.secret, CASE WHEN s.previous_until > $2 THEN s.previous_secret END, e.created_at, e.data \
     FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
     JOIN outgoing_events e ON e.id = d.event_id WHERE d.id = ANY($1) ORDER BY d.next_attempt_at",
    "SELECT d.id, d.store_id, d.subscription_id, d.event_id, d.event, d.status, d.attempts, d.manual, \
     d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, d.updated_at, \
     s.url, s.secret, CASE WHEN s.previous_until > ?2 THEN s.previous_secret END, e.created_at, e.data \
     FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
     JOIN outgoing_events e ON e.id = d.event_id WHERE d.id IN (SELECT value FROM json_each(?1)) \
     ORDER BY d.next_attempt_at",
);
/// Under the lease: succeeded; pending again with a retry time; else failed — except that a
/// manual attempt at a delivery that succeeded before leaves it succeeded.
const FINISH: Sql = sql!(
    "UPDATE deliveries SET status = CASE WHEN $6 THEN 'succeeded' \
     WHEN CAST($3 AS BIGINT) IS NOT NULL THEN 'pending' \
     WHEN delivered_at IS NULL THEN 'failed' ELSE 'succeeded' END, \
     attempts = attempts + 1, manual = CASE WHEN CAST($3 AS BIGINT) IS NULL THEN FALSE ELSE manual END, \
     next_attempt_at = $3, lease_owner = NULL, lease_until = NULL, last_status = $4, last_error = $5, \
     delivered_at = CASE WHEN $6 THEN COALESCE(delivered_at, $7) ELSE delivered_at END, updated_at = $7 \
     WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING subscription_id"
);
const LOG_ATTEMPT: Sql = sql!(
    "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status, response, \
     error, manual) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (delivery_id, attempt) \
     DO UPDATE SET started_at = excluded.started_at, duration_ms = excluded.duration_ms, \
     status = excluded.status, response = excluded.response, error = excluded.error, \
     manual = excluded.manual"
);
const FORGIVE: Sql = sql!(
    "UPDATE subscriptions SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL"
);
/// Failing since the first failure after a success; a record older than twice the limit is
/// forgiven (the endpoint had no traffic since), as Svix does.
const FAILING: Sql = sql!(
    "UPDATE subscriptions SET failing_since = CASE WHEN failing_since IS NULL \
     OR failing_since < $2 - 2 * $3 THEN $2 ELSE failing_since END WHERE id = $1 RETURNING failing_since"
);
const DISABLE: Sql = sql!(
    "UPDATE subscriptions SET active = FALSE, disabled_at = $2, disabled_reason = $3, updated_at = $2 \
     WHERE id = $1 AND active RETURNING store_id"
);
const GET: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM deliveries WHERE store_id = $1 AND id = $2"
));
const ATTEMPTS: Sql = sql!(
    "SELECT attempt, started_at, duration_ms, status, response, error, manual \
     FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt"
);
const LIST: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM deliveries WHERE store_id = $1 AND subscription_id = $2 \
     AND (CAST($3 AS TEXT) IS NULL OR status = $3) AND (CAST($4 AS TEXT) IS NULL OR event = $4) \
     AND (CAST($5 AS TEXT) IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
));
/// A pending delivery becomes due now; a finished one gets one manual attempt.
const RETRY: Sql = sql!(
    "UPDATE deliveries SET manual = CASE WHEN status = 'pending' THEN manual ELSE TRUE END, \
     status = 'pending', next_attempt_at = $2, updated_at = $2 WHERE id = $1"
);
const RECOVER: Sql = sql!(
    "UPDATE deliveries SET status = 'pending', manual = TRUE, next_attempt_at = $5, updated_at = $5 \
     WHERE store_id = $1 AND subscription_id = $2 AND status = 'failed' AND created_at >= $3 \
     AND (CAST($4 AS BIGINT) IS NULL OR created_at < $4)"
);

fn delivery(r: &impl Row) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        subscription_id: r.col(2)?,
        event_id: r.col(3)?,
        event: r.col(4)?,
        status: r.status(5)?,
        attempts: r.col(6)?,
        manual: r.col(7)?,
        next_attempt_at: r.col(8)?,
        last_status: r.col(9)?,
        last_error: r.col(10)?,
        delivered_at: r.col(11)?,
        created_at: r.col(12)?,
        updated_at: r.col(13)?,
    })
}

fn job(r: &impl Row) -> Result<DeliveryJob> {
    let mut secrets = vec![r.col::<String>(15)?];
    secrets.extend(r.col::<Option<String>>(16)?);
    Ok(DeliveryJob {
        delivery: delivery(r)?,
        url: r.col(14)?,
        secrets,
        event_created_at: r.col(17)?,
        data: r.col(18)?,
    })
}

pub(super) async fn claim(
    db: &mut impl Db,
    lease: &Lease,
    limit: u32,
    steal: bool,
) -> Result<Vec<DeliveryJob>> {
    let claim = args![&lease.owner, lease.until, lease.now, limit, steal];
    let ids: Vec<String> = db.fetch(&CLAIM, claim, |r| r.col(0)).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch(&JOBS, args![ids.as_slice(), lease.now], |r| job(r))
        .await
}

/// Logs an attempt and moves the delivery on; `false` when the lease was lost.
pub(super) async fn finish_attempt(db: &mut impl Db, o: &AttemptOutcome) -> Result<bool> {
    let a = &o.attempt;
    let finish = args![
        &o.delivery_id,
        &o.owner,
        o.retry_at,
        a.status,
        &a.error,
        o.succeeded,
        o.now
    ];
    let Some(subscription_id) = db
        .fetch_one(&FINISH, finish, |r| r.col::<String>(0))
        .await?
    else {
        return Ok(false);
    };
    let log = args![
        &o.delivery_id,
        a.attempt,
        a.started_at,
        a.duration_ms,
        a.status,
        &a.response,
        &a.error,
        a.manual
    ];
    db.execute(&LOG_ATTEMPT, log).await?;
    if o.succeeded {
        db.execute(&FORGIVE, args![subscription_id.as_str()])
            .await?;
        return Ok(true);
    }
    let failing = args![subscription_id.as_str(), o.now, o.disable_after];
    let failing_since: i64 = db
        .fetch_one(&FAILING, failing, |r| r.col(0))
        .await?
        .unwrap_or(o.now);
    if let Some(reason) = disable_reason(o, failing_since) {
        disable(db, &subscription_id, &reason, o.now).await?;
    }
    Ok(true)
}

/// Why a subscription is disabled after this failed attempt, if it is: 410 Gone at once, or
/// failures for the whole limit.
fn disable_reason(o: &AttemptOutcome, failing_since: i64) -> Option<String> {
    if o.gone {
        Some("the endpoint answered 410 Gone".to_owned())
    } else if o.now - failing_since >= o.disable_after {
        let since = crate::outbox::rfc3339(failing_since);
        Some(format!("every attempt has failed since {since}"))
    } else {
        None
    }
}

/// Disables an active subscription and publishes `subscription.disabled` to the store's others.
async fn disable(db: &mut impl Db, id: &str, reason: &str, now: i64) -> Result<()> {
    let disabled = db
        .fetch_one(&DISABLE, args![id, now, reason], |r| r.col::<String>(0))
        .await?;
    let Some(store_id) = disabled else {
        return Ok(());
    };
    db.subscriptions_changed();
    let Some(s) = subscriptions::get(db, &store_id, id).await? else {
        return Ok(());
    };
    let change = Change::new(&store_id, "subscription.disabled", None, now);
    crate::outbox::publish(db, change, || subscription_summary(&s)).await
}

pub(super) async fn get(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
) -> Result<Option<DeliveryRecord>> {
    db.fetch_one(&GET, args![store_id, id], |r| delivery(r))
        .await
}

pub(super) async fn attempts(db: &mut impl Db, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
    db.fetch(&ATTEMPTS, args![delivery_id], |r| {
        Ok(AttemptRecord {
            attempt: r.col(0)?,
            started_at: r.col(1)?,
            duration_ms: r.col(2)?,
            status: r.col(3)?,
            response: r.col(4)?,
            error: r.col(5)?,
            manual: r.col(6)?,
        })
    })
    .await
}

pub(super) async fn list(
    db: &mut impl Db,
    store_id: &str,
    subscription_id: &str,
    f: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<DeliveryRecord>> {
    let filter = args![
        store_id,
        subscription_id,
        f.status.map(DeliveryStatus::as_str),
        &f.event,
        &page.after,
        page.limit + 1
    ];
    let rows = db.fetch(&LIST, filter, |r| delivery(r)).await?;
    Ok(Page::from_rows(rows, page.limit, |d| d.id.clone()))
}

pub(super) async fn retry(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<DeliveryRecord>> {
    let Some(current) = get(db, store_id, id).await? else {
        return Ok(None);
    };
    if current.status == DeliveryStatus::Cancelled {
        return Err(crate::StoreError::Conflict {
            field: "status",
            message: "the delivery was cancelled (its subscription was deleted)".into(),
        });
    }
    db.execute(&RETRY, args![id, now]).await?;
    db.published();
    get(db, store_id, id).await
}

pub(super) async fn recover(
    db: &mut impl Db,
    store_id: &str,
    subscription_id: &str,
    since: i64,
    until: Option<i64>,
    now: i64,
) -> Result<u64> {
    let window = args![store_id, subscription_id, since, until, now];
    let recovered = db.execute(&RECOVER, window).await?;
    if recovered > 0 {
        db.published();
    }
    Ok(recovered)
}
