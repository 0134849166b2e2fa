//! Channel messages on PostgreSQL.

use super::*;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use crate::Result;
use crate::error::{parse_json, parse_opt, status};
use crate::model::*;
use crate::outbox::{Change, message_contact, message_view};

/// Publishes a `message.*` event with the record as it now stands.
async fn publish(c: &mut PgConnection, event: &str, m: &MessageRecord, now: i64) -> Result<()> {
    let e = Change::new(&m.store_id, event, message_contact(m), now);
    super::outbox::publish(c, e, || message_view(m)).await
}

const COLUMNS: &str = "id, store_id, channel, direction, contact, provider_id, status, status_rank, content, error, run_id, step_id, created_at, updated_at";

fn record(r: &PgRow) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        channel: r.try_get(2)?,
        direction: r.try_get(3)?,
        contact: r.try_get(4)?,
        provider_id: r.try_get(5)?,
        status: status(r.try_get(6)?)?,
        status_rank: r.try_get(7)?,
        content: parse_json(r.try_get(8)?)?,
        error: parse_opt(r.try_get(9)?)?,
        run_id: r.try_get(10)?,
        step_id: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

async fn insert(
    c: &mut PgConnection,
    m: &MessageRecord,
    on_conflict: &str,
) -> Result<Option<MessageRecord>> {
    let sql = format!(
        "INSERT INTO messages ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (store_id, channel, provider_id) WHERE provider_id IS NOT NULL {on_conflict} RETURNING {COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(&m.id)
        .bind(&m.store_id)
        .bind(&m.channel)
        .bind(&m.direction)
        .bind(&m.contact)
        .bind(&m.provider_id)
        .bind(m.status.as_str())
        .bind(m.status_rank)
        .bind(m.content.to_string())
        .bind(m.error.as_ref().map(|e| e.to_string()))
        .bind(&m.run_id)
        .bind(&m.step_id)
        .bind(m.created_at)
        .bind(m.updated_at)
        .fetch_optional(c)
        .await?
        .map(|r| record(&r))
        .transpose()
}

/// Records an inbound message unless its provider id is known already; gives it when recorded.
pub async fn insert_new(c: &mut PgConnection, m: &MessageRecord) -> Result<Option<MessageRecord>> {
    insert(c, m, "DO NOTHING").await
}

/// Records a message, or completes the record an early status report created. With `event`, it
/// is published when the status moved forward.
pub async fn record_message(
    c: &mut PgConnection,
    m: MessageRecord,
    event: Option<String>,
) -> Result<MessageRecord> {
    let before: Option<i64> = match (&event, &m.provider_id) {
        (Some(_), Some(provider_id)) => sqlx::query_scalar("SELECT status_rank FROM messages WHERE store_id = $1 AND channel = $2 AND provider_id = $3")
            .bind(&m.store_id)
            .bind(&m.channel)
            .bind(provider_id)
            .fetch_optional(&mut *c)
            .await?,
        _ => None,
    };
    let merged = insert(
        &mut *c,
        &m,
        "DO UPDATE SET direction = excluded.direction, contact = COALESCE(excluded.contact, messages.contact), \
         content = excluded.content, run_id = COALESCE(excluded.run_id, messages.run_id), \
         step_id = COALESCE(excluded.step_id, messages.step_id), error = COALESCE(messages.error, excluded.error), \
         status = CASE WHEN excluded.status_rank > messages.status_rank THEN excluded.status ELSE messages.status END, \
         status_rank = GREATEST(excluded.status_rank, messages.status_rank), updated_at = excluded.updated_at",
    )
    .await?;
    let merged = merged.expect("an upsert returns its row");
    if let Some(event) = event
        && before.is_none_or(|rank| rank < m.status_rank)
    {
        publish(c, &event, &merged, m.updated_at).await?;
    }
    Ok(merged)
}

/// Applies a status report when it moves the message forward (creating the record if the report
/// came first), and records its event.
pub async fn message_status(
    c: &mut PgConnection,
    u: StatusReport,
) -> Result<Option<MessageRecord>> {
    let fresh = u.first_record();
    let changed = match insert(&mut *c, &fresh, "DO NOTHING").await? {
        Some(created) => Some(created),
        None => sqlx::query(&format!(
            "UPDATE messages SET status = $4, status_rank = $5, error = COALESCE($6, error), updated_at = $7 \
             WHERE store_id = $1 AND channel = $2 AND provider_id = $3 AND status_rank < $5 RETURNING {COLUMNS}"
        ))
        .bind(&u.store_id)
        .bind(&u.channel)
        .bind(&u.provider_id)
        .bind(u.status.as_str())
        .bind(u.status_rank)
        .bind(u.error.as_ref().map(|e| e.to_string()))
        .bind(u.now)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| record(&r))
        .transpose()?,
    };
    if let (Some(m), Some(event)) = (&changed, &u.event) {
        sqlx::query("INSERT INTO events (id, store_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&event.id)
            .bind(&u.store_id)
            .bind(&event.event_type)
            .bind(message_view(m).to_string())
            .bind(u.now)
            .execute(&mut *c)
            .await?;
        publish(c, &event.event_type, m, u.now).await?;
    }
    Ok(changed)
}

pub async fn list(
    pool: &PgPool,
    store_id: &str,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Page<MessageRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE store_id = $1 AND ($2::TEXT IS NULL OR contact = $2) \
         AND ($3::TEXT IS NULL OR channel = $3) AND id > $4 ORDER BY id LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(store_id)
        .bind(&filter.contact)
        .bind(&filter.channel)
        .bind(page.after_key())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(pool)
        .await?;
    let rows = rows.iter().map(record).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |m| m.id.clone()))
}

#[async_trait::async_trait]
impl crate::Messages for PgStore {
    async fn record_message(
        &self,
        message: MessageRecord,
        event: Option<String>,
    ) -> Result<MessageRecord> {
        self.writer
            .write(move |c| Box::pin(messages::record_message(c, message, event)))
            .await
    }

    async fn message_status(&self, update: StatusReport) -> Result<Option<MessageRecord>> {
        self.writer
            .write(move |c| Box::pin(messages::message_status(c, update)))
            .await
    }

    async fn list_messages(
        &self,
        store_id: &str,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        messages::list(&self.pool, store_id, filter, page).await
    }
}
