//! Channel messages on SQLite.

use super::*;

use super::rows::get_status;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;
use crate::error::{parse_json, parse_opt};
use crate::model::*;
use crate::outbox::{Change, message_contact, message_view};

/// Publishes a `message.*` event with the record as it now stands.
fn publish(c: &Connection, event: &str, m: &MessageRecord, now: i64) -> Result<()> {
    let e = Change::new(&m.store_id, event, message_contact(m), now);
    super::outbox::publish(c, e, || message_view(m))
}

const COLUMNS: &str = "id, store_id, channel, direction, contact, provider_id, status, status_rank, content, error, run_id, step_id, created_at, updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<(MessageRecord, String, Option<String>)> {
    Ok((
        MessageRecord {
            id: r.get(0)?,
            store_id: r.get(1)?,
            channel: r.get(2)?,
            direction: r.get(3)?,
            contact: r.get(4)?,
            provider_id: r.get(5)?,
            status: get_status(r, 6)?,
            status_rank: r.get(7)?,
            content: serde_json::Value::Null,
            error: None,
            run_id: r.get(10)?,
            step_id: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
        },
        r.get(8)?,
        r.get(9)?,
    ))
}

fn record(
    (mut m, content, error): (MessageRecord, String, Option<String>),
) -> Result<MessageRecord> {
    m.content = parse_json(content)?;
    m.error = parse_opt(error)?;
    Ok(m)
}

fn insert_sql(on_conflict: &str) -> String {
    format!(
        "INSERT INTO messages ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (store_id, channel, provider_id) WHERE provider_id IS NOT NULL {on_conflict} RETURNING {COLUMNS}"
    )
}

fn insert(c: &Connection, m: &MessageRecord, on_conflict: &str) -> Result<Option<MessageRecord>> {
    c.prepare_cached(&insert_sql(on_conflict))?
        .query_row(
            params![
                m.id,
                m.store_id,
                m.channel,
                m.direction,
                m.contact,
                m.provider_id,
                m.status.as_str(),
                m.status_rank,
                m.content.to_string(),
                m.error.as_ref().map(|e| e.to_string()),
                m.run_id,
                m.step_id,
                m.created_at,
                m.updated_at
            ],
            row,
        )
        .optional()?
        .map(record)
        .transpose()
}

/// Records an inbound message unless its provider id is known already; gives it when recorded.
pub fn insert_new(c: &Connection, m: &MessageRecord) -> Result<Option<MessageRecord>> {
    insert(c, m, "DO NOTHING")
}

/// Records a message, or completes the record an early status report created. With `event`, it
/// is published when the status moved forward.
pub fn record_message(
    c: &Connection,
    m: &MessageRecord,
    event: Option<&str>,
) -> Result<MessageRecord> {
    let before: Option<i64> = match (&event, &m.provider_id) {
        (Some(_), Some(provider_id)) => c
            .prepare_cached("SELECT status_rank FROM messages WHERE store_id = ?1 AND channel = ?2 AND provider_id = ?3")?
            .query_row(params![m.store_id, m.channel, provider_id], |r| r.get(0))
            .optional()?,
        _ => None,
    };
    let merged = insert(
        c,
        m,
        "DO UPDATE SET direction = excluded.direction, contact = COALESCE(excluded.contact, messages.contact), \
         content = excluded.content, run_id = COALESCE(excluded.run_id, messages.run_id), \
         step_id = COALESCE(excluded.step_id, messages.step_id), error = COALESCE(messages.error, excluded.error), \
         status = CASE WHEN excluded.status_rank > messages.status_rank THEN excluded.status ELSE messages.status END, \
         status_rank = MAX(excluded.status_rank, messages.status_rank), updated_at = excluded.updated_at",
    )?;
    let merged = merged.expect("an upsert returns its row");
    if let Some(event) = event
        && before.is_none_or(|rank| rank < m.status_rank)
    {
        publish(c, event, &merged, m.updated_at)?;
    }
    Ok(merged)
}

/// Applies a status report when it moves the message forward (creating the record if the report
/// came first), and records its event.
pub fn message_status(c: &Connection, u: &StatusReport) -> Result<Option<MessageRecord>> {
    let fresh = u.first_record();
    let changed = match insert(c, &fresh, "DO NOTHING")? {
        Some(created) => Some(created),
        None => c
            .prepare_cached(&format!(
                "UPDATE messages SET status = ?4, status_rank = ?5, error = COALESCE(?6, error), updated_at = ?7 \
                 WHERE store_id = ?1 AND channel = ?2 AND provider_id = ?3 AND status_rank < ?5 RETURNING {COLUMNS}"
            ))?
            .query_row(
                params![
                    u.store_id,
                    u.channel,
                    u.provider_id,
                    u.status.as_str(),
                    u.status_rank,
                    u.error.as_ref().map(|e| e.to_string()),
                    u.now
                ],
                row,
            )
            .optional()?
            .map(record)
            .transpose()?,
    };
    if let (Some(m), Some(event)) = (&changed, &u.event) {
        c.prepare_cached("INSERT INTO events (id, store_id, event_type, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![event.id, u.store_id, event.event_type, message_view(m).to_string(), u.now])?;
        publish(c, &event.event_type, m, u.now)?;
    }
    Ok(changed)
}

pub fn list(
    c: &Connection,
    store_id: &str,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Page<MessageRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE store_id = ?1 AND (?2 IS NULL OR contact = ?2) \
         AND (?3 IS NULL OR channel = ?3) AND id > ?4 ORDER BY id LIMIT ?5"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(
            params![
                store_id,
                filter.contact,
                filter.channel,
                page.after_key(),
                page.limit + 1
            ],
            row,
        )?
        .map(|r| record(r?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |m| m.id.clone()))
}

#[async_trait::async_trait]
impl crate::Messages for SqliteStore {
    async fn record_message(
        &self,
        message: MessageRecord,
        event: Option<String>,
    ) -> Result<MessageRecord> {
        self.writer
            .write(move |c| messages::record_message(c, &message, event.as_deref()))
            .await
    }

    async fn message_status(&self, update: StatusReport) -> Result<Option<MessageRecord>> {
        self.writer
            .write(move |c| messages::message_status(c, &update))
            .await
    }

    async fn list_messages(
        &self,
        store_id: &str,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| messages::list(c, &store_id, &filter, &page))
            .await
    }
}
