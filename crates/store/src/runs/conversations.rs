//! Per-contact conversation state, merged with JSON merge patches.

use serde_json::Value;

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql, sql_for_update};
use crate::model::*;
use crate::outbox::{Change, conversation_view};

const GET: Sql =
    sql!("SELECT state, updated_at FROM conversations WHERE store_id = $1 AND phone = $2");
/// Locks the row (if any) on PostgreSQL, so concurrent merges on other nodes apply in turn.
const CURRENT: Sql =
    sql_for_update!("SELECT state FROM conversations WHERE store_id = $1 AND phone = $2");
const UPSERT: Sql = sql!(
    "INSERT INTO conversations (store_id, phone, state, updated_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (store_id, phone) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
);
const DELETE: Sql = sql!("DELETE FROM conversations WHERE store_id = $1 AND phone = $2");

pub(super) async fn get(
    db: &mut impl Db,
    store_id: &str,
    phone: &str,
) -> Result<Option<ConversationRecord>> {
    let found = db
        .fetch_one(&GET, args![store_id, phone], |r| {
            Ok((r.json(0)?, r.col(1)?))
        })
        .await?;
    Ok(found.map(|(state, updated_at)| ConversationRecord {
        phone: phone.to_owned(),
        state,
        updated_at,
    }))
}

/// Applies a merge patch, creating the conversation if needed; publishes `conversation.updated`.
pub(super) async fn merge(
    db: &mut impl Db,
    p: &ConversationPatch,
    now: i64,
) -> Result<ConversationRecord> {
    let current = db
        .fetch_one(&CURRENT, args![&p.store_id, &p.phone], |r| r.json(0))
        .await?;
    let mut state = current.unwrap_or_else(|| Value::Object(Default::default()));
    switchboard_core::run::merge_patch(&mut state, &p.patch);
    let text = state.to_string();
    db.execute(&UPSERT, args![&p.store_id, &p.phone, text.as_str(), now])
        .await?;
    let record = ConversationRecord {
        phone: p.phone.clone(),
        state,
        updated_at: now,
    };
    let change = Change::new(&p.store_id, "conversation.updated", Some(&p.phone), now);
    crate::outbox::publish(db, change, || conversation_view(&record)).await?;
    Ok(record)
}

pub(super) async fn delete(db: &mut impl Db, store_id: &str, phone: &str) -> Result<bool> {
    Ok(db.execute(&DELETE, args![store_id, phone]).await? > 0)
}
