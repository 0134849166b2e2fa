//! Subscriptions, outgoing events and deliveries on PostgreSQL (see migration 0005). Claims use
//! `FOR UPDATE SKIP LOCKED`, so several nodes never lease the same delivery.

use super::*;

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use crate::Result;
use crate::error::{parse_json, status};
use crate::model::*;
use crate::outbox::{Change, Outgoing, subscription_summary};

const SUBSCRIPTION_COLUMNS: &str = "id, store_id, url, description, events, ordered, active, secret, previous_secret, previous_until, failing_since, disabled_at, disabled_reason, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, store_id, subscription_id, event_id, event, status, attempts, manual, next_attempt_at, last_status, last_error, delivered_at, created_at, updated_at";

fn subscription(r: &PgRow) -> Result<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        url: r.try_get(2)?,
        description: r.try_get(3)?,
        events: serde_json::from_value(parse_json(r.try_get(4)?)?)
            .map_err(crate::StoreError::backend)?,
        ordered: r.try_get(5)?,
        active: r.try_get(6)?,
        secret: r.try_get(7)?,
        previous_secret: r.try_get(8)?,
        previous_until: r.try_get(9)?,
        failing_since: r.try_get(10)?,
        disabled_at: r.try_get(11)?,
        disabled_reason: r.try_get(12)?,
        created_at: r.try_get(13)?,
        updated_at: r.try_get(14)?,
    })
}

fn delivery(r: &PgRow) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        subscription_id: r.try_get(2)?,
        event_id: r.try_get(3)?,
        event: r.try_get(4)?,
        status: status(r.try_get(5)?)?,
        attempts: r.try_get(6)?,
        manual: r.try_get(7)?,
        next_attempt_at: r.try_get(8)?,
        last_status: r.try_get(9)?,
        last_error: r.try_get(10)?,
        delivered_at: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

tokio::task_local! {
    /// Set when a job of the writer's current batch published deliveries; the writer rings the
    /// outbox signal after the batch commits.
    pub static PUBLISHED: std::cell::Cell<bool>;
}

/// Publishes on the writer's connection (see [`crate::outbox::publish`]).
pub async fn publish(
    c: &mut PgConnection,
    change: Change<'_>,
    data: impl FnOnce() -> Value,
) -> Result<()> {
    crate::outbox::publish(c, change, data).await
}

pub async fn emit(c: &mut PgConnection, event: Outgoing) -> Result<String> {
    crate::outbox::emit(c, event).await
}

async fn write_filter(c: &mut PgConnection, s: &SubscriptionRecord) -> Result<()> {
    sqlx::query("DELETE FROM subscription_events WHERE subscription_id = $1")
        .bind(&s.id)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO subscription_events (subscription_id, store_id, event) SELECT $1, $2, e FROM UNNEST($3::TEXT[]) AS e ON CONFLICT DO NOTHING",
    )
    .bind(&s.id)
    .bind(&s.store_id)
    .bind(&s.events)
    .execute(&mut *c)
    .await?;
    Ok(())
}

fn events_json(s: &SubscriptionRecord) -> String {
    serde_json::to_string(&s.events).unwrap_or_else(|_| "[]".into())
}

pub async fn create_subscription(
    c: &mut PgConnection,
    s: SubscriptionRecord,
) -> Result<SubscriptionRecord> {
    sqlx::query(&format!(
        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&s.id)
    .bind(&s.store_id)
    .bind(&s.url)
    .bind(&s.description)
    .bind(events_json(&s))
    .bind(s.ordered)
    .bind(s.active)
    .bind(&s.secret)
    .bind(&s.previous_secret)
    .bind(s.previous_until)
    .bind(s.failing_since)
    .bind(s.disabled_at)
    .bind(&s.disabled_reason)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(&mut *c)
    .await?;
    write_filter(c, &s).await?;
    Ok(s)
}

pub async fn get_subscription<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    id: &str,
) -> Result<Option<SubscriptionRecord>> {
    sqlx::query(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
    ))
    .bind(store_id)
    .bind(id)
    .fetch_optional(exec)
    .await?
    .as_ref()
    .map(subscription)
    .transpose()
}

pub async fn list_subscriptions(
    pool: &PgPool,
    store_id: &str,
    page: &PageRequest,
) -> Result<Page<SubscriptionRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE store_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(store_id)
    .bind(page.after_key())
    .bind(page.limit as i64 + 1)
    .fetch_all(pool)
    .await?
    .iter()
    .map(subscription)
    .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

pub async fn update_subscription(
    c: &mut PgConnection,
    s: SubscriptionRecord,
) -> Result<Option<SubscriptionRecord>> {
    let changed = sqlx::query(
        "UPDATE subscriptions SET url = $3, description = $4, events = $5, ordered = $6, active = $7, secret = $8, previous_secret = $9, \
         previous_until = $10, failing_since = $11, disabled_at = $12, disabled_reason = $13, updated_at = $14 \
         WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(&s.store_id)
    .bind(&s.id)
    .bind(&s.url)
    .bind(&s.description)
    .bind(events_json(&s))
    .bind(s.ordered)
    .bind(s.active)
    .bind(&s.secret)
    .bind(&s.previous_secret)
    .bind(s.previous_until)
    .bind(s.failing_since)
    .bind(s.disabled_at)
    .bind(&s.disabled_reason)
    .bind(s.updated_at)
    .execute(&mut *c)
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    write_filter(&mut *c, &s).await?;
    get_subscription(&mut *c, &s.store_id, &s.id).await
}

pub async fn delete_subscription(
    c: &mut PgConnection,
    store_id: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let changed = sqlx::query("UPDATE subscriptions SET deleted_at = $3, active = FALSE, updated_at = $3 WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(store_id)
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    if changed.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM subscription_events WHERE subscription_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, last_error = 'the subscription was deleted', updated_at = $2 WHERE subscription_id = $1 AND status = 'pending'")
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(true)
}

pub async fn claim(
    c: &mut PgConnection,
    lease: Lease,
    limit: u32,
    steal: bool,
) -> Result<Vec<DeliveryJob>> {
    let guard = if steal {
        ""
    } else {
        "AND (d.lease_until IS NULL OR d.lease_until < $3)"
    };
    let claimed: Vec<String> = sqlx::query_scalar(&format!(
        "UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
           SELECT d.id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= $3 {guard} AND s.active \
           AND NOT (d.contact IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries p WHERE p.subscription_id = d.subscription_id \
             AND p.contact = d.contact AND p.status = 'pending' AND p.event_id < d.event_id)) \
           ORDER BY d.next_attempt_at LIMIT $4 FOR UPDATE OF d SKIP LOCKED) RETURNING id"
    ))
    .bind(&lease.owner)
    .bind(lease.until)
    .bind(lease.now)
    .bind(limit as i64)
    .fetch_all(&mut *c)
    .await?;
    let columns = DELIVERY_COLUMNS
        .split(", ")
        .map(|col| format!("d.{col}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT {columns}, s.url, s.secret, CASE WHEN s.previous_until > $2 THEN s.previous_secret END, e.created_at, e.data \
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN outgoing_events e ON e.id = d.event_id \
         WHERE d.id = ANY($1) ORDER BY d.next_attempt_at"
    ))
    .bind(&claimed)
    .bind(lease.now)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let mut secrets = vec![r.try_get::<String, _>(15)?];
            secrets.extend(r.try_get::<Option<String>, _>(16)?);
            Ok(DeliveryJob {
                delivery: delivery(r)?,
                url: r.try_get(14)?,
                secrets,
                event_created_at: r.try_get(17)?,
                data: r.try_get(18)?,
            })
        })
        .collect()
}

pub async fn finish_attempt(c: &mut PgConnection, o: AttemptOutcome) -> Result<bool> {
    let a = &o.attempt;
    let status = if o.succeeded {
        "'succeeded'"
    } else if o.retry_at.is_some() {
        "'pending'"
    } else {
        // A manual attempt at a delivery that succeeded before leaves it succeeded.
        "CASE WHEN delivered_at IS NULL THEN 'failed' ELSE 'succeeded' END"
    };
    let subscription_id: Option<String> = sqlx::query_scalar(&format!(
        "UPDATE deliveries SET status = {status}, attempts = attempts + 1, manual = CASE WHEN $3::BIGINT IS NULL THEN FALSE ELSE manual END, next_attempt_at = $3, \
         lease_owner = NULL, lease_until = NULL, last_status = $4, last_error = $5, \
         delivered_at = CASE WHEN $6 THEN COALESCE(delivered_at, $7) ELSE delivered_at END, updated_at = $7 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING subscription_id"
    ))
    .bind(&o.delivery_id)
    .bind(&o.owner)
    .bind(o.retry_at)
    .bind(a.status)
    .bind(&a.error)
    .bind(o.succeeded)
    .bind(o.now)
    .fetch_optional(&mut *c)
    .await?;
    let Some(subscription_id) = subscription_id else {
        return Ok(false);
    };
    sqlx::query("INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, status, response, error, manual) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (delivery_id, attempt) DO UPDATE SET started_at = excluded.started_at, duration_ms = excluded.duration_ms, status = excluded.status, response = excluded.response, error = excluded.error, manual = excluded.manual")
        .bind(&o.delivery_id)
        .bind(a.attempt)
        .bind(a.started_at)
        .bind(a.duration_ms)
        .bind(a.status)
        .bind(&a.response)
        .bind(&a.error)
        .bind(a.manual)
        .execute(&mut *c)
        .await?;
    if o.succeeded {
        sqlx::query("UPDATE subscriptions SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
            .bind(&subscription_id)
            .execute(&mut *c)
            .await?;
        return Ok(true);
    }
    // Failing since the first failure after a success; a record older than twice the limit is
    // forgiven (the endpoint had no traffic since), as Svix does.
    let failing_since: i64 = sqlx::query_scalar(
        "UPDATE subscriptions SET failing_since = CASE WHEN failing_since IS NULL OR failing_since < $2 - 2 * $3 THEN $2 ELSE failing_since END \
         WHERE id = $1 RETURNING failing_since",
    )
    .bind(&subscription_id)
    .bind(o.now)
    .bind(o.disable_after)
    .fetch_one(&mut *c)
    .await?;
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
        disable(c, &subscription_id, &reason, o.now).await?;
    }
    Ok(true)
}

/// Disables an active subscription and publishes `subscription.disabled` to the store's others.
async fn disable(c: &mut PgConnection, id: &str, reason: &str, now: i64) -> Result<()> {
    let store_id: Option<String> = sqlx::query_scalar("UPDATE subscriptions SET active = FALSE, disabled_at = $2, disabled_reason = $3, updated_at = $2 WHERE id = $1 AND active RETURNING store_id")
        .bind(id)
        .bind(now)
        .bind(reason)
        .fetch_optional(&mut *c)
        .await?;
    let Some(store_id) = store_id else {
        return Ok(());
    };
    let Some(s) = get_subscription(&mut *c, &store_id, id).await? else {
        return Ok(());
    };
    let event = Change::new(&store_id, "subscription.disabled", None, now);
    publish(c, event, || subscription_summary(&s)).await
}

pub async fn get_delivery<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    id: &str,
) -> Result<Option<DeliveryRecord>> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE store_id = $1 AND id = $2"
    ))
    .bind(store_id)
    .bind(id)
    .fetch_optional(exec)
    .await?
    .as_ref()
    .map(delivery)
    .transpose()
}

pub async fn attempts(pool: &PgPool, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
    sqlx::query("SELECT attempt, started_at, duration_ms, status, response, error, manual FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt")
        .bind(delivery_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AttemptRecord {
                attempt: r.try_get(0)?,
                started_at: r.try_get(1)?,
                duration_ms: r.try_get(2)?,
                status: r.try_get(3)?,
                response: r.try_get(4)?,
                error: r.try_get(5)?,
                manual: r.try_get(6)?,
            })
        })
        .collect()
}

pub async fn list_deliveries(
    pool: &PgPool,
    store_id: &str,
    subscription_id: &str,
    f: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<DeliveryRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE store_id = $1 AND subscription_id = $2 AND ($3::TEXT IS NULL OR status = $3) \
         AND ($4::TEXT IS NULL OR event = $4) AND ($5::TEXT IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
    ))
    .bind(store_id)
    .bind(subscription_id)
    .bind(f.status.map(DeliveryStatus::as_str))
    .bind(&f.event)
    .bind(&page.after)
    .bind(page.limit as i64 + 1)
    .fetch_all(pool)
    .await?
    .iter()
    .map(delivery)
    .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |d| d.id.clone()))
}

pub async fn retry(
    c: &mut PgConnection,
    store_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<DeliveryRecord>> {
    let Some(current) = get_delivery(&mut *c, store_id, id).await? else {
        return Ok(None);
    };
    if current.status == DeliveryStatus::Cancelled {
        return Err(crate::StoreError::Conflict {
            field: "status",
            message: "the delivery was cancelled (its subscription was deleted)".into(),
        });
    }
    sqlx::query(
        "UPDATE deliveries SET manual = CASE WHEN status = 'pending' THEN manual ELSE TRUE END, status = 'pending', next_attempt_at = $2, updated_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    crate::db::Db::published(&mut *c);
    get_delivery(&mut *c, store_id, id).await
}

pub async fn recover(
    c: &mut PgConnection,
    store_id: &str,
    subscription_id: &str,
    since: i64,
    until: Option<i64>,
    now: i64,
) -> Result<u64> {
    let n = sqlx::query(
        "UPDATE deliveries SET status = 'pending', manual = TRUE, next_attempt_at = $5, updated_at = $5 \
         WHERE store_id = $1 AND subscription_id = $2 AND status = 'failed' AND created_at >= $3 AND ($4::BIGINT IS NULL OR created_at < $4)",
    )
    .bind(store_id)
    .bind(subscription_id)
    .bind(since)
    .bind(until)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if n > 0 {
        crate::db::Db::published(&mut *c);
    }
    Ok(n)
}

#[async_trait::async_trait]
impl crate::Outbox for PgStore {
    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord> {
        self.writer
            .write(move |c| Box::pin(outbox::create_subscription(c, s)))
            .await
    }

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>> {
        outbox::get_subscription(&self.pool, store_id, id).await
    }

    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>> {
        outbox::list_subscriptions(&self.pool, store_id, page).await
    }

    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>> {
        self.writer
            .write(move |c| Box::pin(outbox::update_subscription(c, s)))
            .await
    }

    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { outbox::delete_subscription(c, &store_id, &id, now).await })
            })
            .await
    }

    async fn emit_event(&self, event: crate::outbox::Outgoing) -> Result<String> {
        self.writer
            .write(move |c| Box::pin(outbox::emit(c, event)))
            .await
    }

    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>> {
        self.writer
            .write(move |c| Box::pin(outbox::claim(c, lease, limit, steal)))
            .await
    }

    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool> {
        self.writer
            .write(move |c| Box::pin(outbox::finish_attempt(c, outcome)))
            .await
    }

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
        outbox::get_delivery(&self.pool, store_id, id).await
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        outbox::attempts(&self.pool, delivery_id).await
    }

    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        outbox::list_deliveries(&self.pool, store_id, subscription_id, filter, page).await
    }

    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { outbox::retry(c, &store_id, &id, now).await }))
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
            .write(move |c| {
                Box::pin(async move {
                    outbox::recover(c, &store_id, &subscription_id, since, until, now).await
                })
            })
            .await
    }

    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.signal.clone()
    }
}
