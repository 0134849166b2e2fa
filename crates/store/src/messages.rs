//! Messages sent and received on channels, and their statuses (migration 0003), written once for
//! both backends.

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql};
use crate::dispatch::on_both_backends;
use crate::model::*;
use crate::outbox::{Change, message_contact, message_view};

macro_rules! columns {
    () => {
        "id, store_id, channel, direction, contact, provider_id, status, status_rank, content, \
         error, run_id, step_id, created_at, updated_at"
    };
}

macro_rules! insert {
    ($on_conflict:expr) => {
        sql!(concat!(
            "INSERT INTO messages (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (store_id, channel, provider_id) WHERE provider_id IS NOT NULL ",
            $on_conflict,
            " RETURNING ",
            columns!()
        ))
    };
}

/// A message whose provider id is new.
const INSERT_NEW: Sql = insert!("DO NOTHING");
/// A sent message, completing the record an early status report made; a status only moves
/// forward.
const UPSERT: Sql = insert!(
    "DO UPDATE SET direction = excluded.direction, \
     contact = COALESCE(excluded.contact, messages.contact), content = excluded.content, \
     run_id = COALESCE(excluded.run_id, messages.run_id), \
     step_id = COALESCE(excluded.step_id, messages.step_id), \
     error = COALESCE(messages.error, excluded.error), \
     status = CASE WHEN excluded.status_rank > messages.status_rank THEN excluded.status ELSE messages.status END, \
     status_rank = CASE WHEN excluded.status_rank > messages.status_rank THEN excluded.status_rank ELSE messages.status_rank END, \
     updated_at = excluded.updated_at"
);
const RANK: Sql = sql!(
    "SELECT status_rank FROM messages WHERE store_id = $1 AND channel = $2 AND provider_id = $3"
);
const MOVE_STATUS: Sql = sql!(concat!(
    "UPDATE messages SET status = $4, status_rank = $5, error = COALESCE($6, error), updated_at = $7 \
     WHERE store_id = $1 AND channel = $2 AND provider_id = $3 AND status_rank < $5 RETURNING ",
    columns!()
));
const INSERT_EVENT: Sql = sql!(
    "INSERT INTO events (id, store_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4, $5)"
);
const LIST: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM messages WHERE store_id = $1 AND (CAST($2 AS TEXT) IS NULL OR contact = $2) \
     AND (CAST($3 AS TEXT) IS NULL OR channel = $3) AND id > $4 ORDER BY id LIMIT $5"
));

fn record(r: &impl Row) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        channel: r.col(2)?,
        direction: r.col(3)?,
        contact: r.col(4)?,
        provider_id: r.col(5)?,
        status: r.status(6)?,
        status_rank: r.col(7)?,
        content: r.json(8)?,
        error: r.opt_json(9)?,
        run_id: r.col(10)?,
        step_id: r.col(11)?,
        created_at: r.col(12)?,
        updated_at: r.col(13)?,
    })
}

async fn insert(db: &mut impl Db, sql: &Sql, m: &MessageRecord) -> Result<Option<MessageRecord>> {
    let content = m.content.to_string();
    let error = m.error.as_ref().map(|e| e.to_string());
    let row = args![
        &m.id,
        &m.store_id,
        &m.channel,
        &m.direction,
        &m.contact,
        &m.provider_id,
        m.status.as_str(),
        m.status_rank,
        content.as_str(),
        &error,
        &m.run_id,
        &m.step_id,
        m.created_at,
        m.updated_at
    ];
    db.fetch_one(sql, row, |r| record(r)).await
}

/// Publishes a `message.*` event with the record as it now stands.
async fn publish(db: &mut impl Db, event: &str, m: &MessageRecord, now: i64) -> Result<()> {
    let change = Change::new(&m.store_id, event, message_contact(m), now);
    crate::outbox::publish(db, change, || message_view(m)).await
}

/// Records an inbound message unless its provider id is known already; gives it when recorded.
pub(crate) async fn insert_new(
    db: &mut impl Db,
    m: &MessageRecord,
) -> Result<Option<MessageRecord>> {
    insert(db, &INSERT_NEW, m).await
}

/// Records a message, or completes the record an early status report created. With `event`, it
/// is published when the status moved forward.
async fn record_message(
    db: &mut impl Db,
    m: &MessageRecord,
    event: Option<&str>,
) -> Result<MessageRecord> {
    let before: Option<i64> = match (event, &m.provider_id) {
        (Some(_), Some(provider_id)) => {
            let key = args![&m.store_id, &m.channel, provider_id];
            db.fetch_one(&RANK, key, |r| r.col(0)).await?
        }
        _ => None,
    };
    let merged = insert(db, &UPSERT, m).await?;
    let merged = merged.expect("an upsert returns its row");
    if let Some(event) = event
        && before.is_none_or(|rank| rank < m.status_rank)
    {
        publish(db, event, &merged, m.updated_at).await?;
    }
    Ok(merged)
}

/// Applies a status report when it moves the message forward (creating the record if the report
/// came first), and records its event.
async fn message_status(db: &mut impl Db, u: &StatusReport) -> Result<Option<MessageRecord>> {
    let changed = match insert(db, &INSERT_NEW, &u.first_record()).await? {
        Some(created) => Some(created),
        None => {
            let error = u.error.as_ref().map(|e| e.to_string());
            let report = args![
                &u.store_id,
                &u.channel,
                &u.provider_id,
                u.status.as_str(),
                u.status_rank,
                &error,
                u.now
            ];
            db.fetch_one(&MOVE_STATUS, report, |r| record(r)).await?
        }
    };
    if let (Some(m), Some(event)) = (&changed, &u.event) {
        let payload = message_view(m).to_string();
        let row = args![
            &event.id,
            &u.store_id,
            &event.event_type,
            payload.as_str(),
            u.now
        ];
        db.execute(&INSERT_EVENT, row).await?;
        publish(db, &event.event_type, m, u.now).await?;
    }
    Ok(changed)
}

async fn list(
    db: &mut impl Db,
    store_id: &str,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Page<MessageRecord>> {
    let after = page.after_key();
    let query = args![
        store_id,
        &filter.contact,
        &filter.channel,
        after.as_str(),
        page.limit + 1
    ];
    let rows = db.fetch(&LIST, query, |r| record(r)).await?;
    Ok(Page::from_rows(rows, page.limit, |m| m.id.clone()))
}

on_both_backends!(crate::Messages {
    write fn record_message(message: MessageRecord, event: Option<String>) -> MessageRecord
        => |db| record_message(db, &message, event.as_deref());
    write fn message_status(update: StatusReport) -> Option<MessageRecord> => |db| message_status(db, &update);
    read fn list_messages(store_id: &str, filter: &MessageFilter, page: &PageRequest) -> Page<MessageRecord>
        => |db| list(db, &store_id, &filter, &page);
});
