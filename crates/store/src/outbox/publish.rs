//! Publishing, written once for both backends: a change becomes an event, with one delivery per
//! matching active subscription, in the transaction of the change.

use serde_json::Value;

use super::{Change, Outgoing};
use crate::Result;
use crate::db::{Db, Sql, args, sql};
use crate::model::DeliveryRecord;

const INSERT_EVENT: Sql = sql!(
    "INSERT INTO outgoing_events (id, store_id, event, data, contact, origin_key, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
const INSERT_DELIVERY: Sql = sql!(
    "INSERT INTO deliveries (id, store_id, subscription_id, event_id, event, status, attempts, \
     manual, next_attempt_at, last_status, last_error, delivered_at, created_at, updated_at, contact) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, FALSE, $6, NULL, NULL, NULL, $6, $6, $7)"
);
const EMITTED: Sql = sql!("SELECT id FROM outgoing_events WHERE origin_key = $1");

/// Writes the change's event with one delivery per matching active subscription; nothing (not
/// even its data) when none matches.
pub(crate) async fn publish(
    db: &mut impl Db,
    change: Change<'_>,
    data: impl FnOnce() -> Value,
) -> Result<()> {
    let targets = db.subscribers(change.store_id, change.event).await?;
    if targets.is_empty() {
        return Ok(());
    }
    write(db, &change.event(data()), &targets).await
}

/// An emitted event is kept even when nothing subscribes: its `origin_key` gives a step run
/// again the same id.
pub(crate) async fn emit(db: &mut impl Db, event: Outgoing) -> Result<String> {
    if let Some(key) = &event.origin_key
        && let Some(id) = db
            .fetch_one(&EMITTED, args![key], |r| crate::db::Row::col(r, 0))
            .await?
    {
        return Ok(id);
    }
    let targets = db.subscribers(&event.store_id, &event.event).await?;
    write(db, &event, &targets).await?;
    Ok(event.id)
}

/// Writes an event and its deliveries.
async fn write(db: &mut impl Db, event: &Outgoing, targets: &[(String, bool)]) -> Result<()> {
    let data = event.data.to_string();
    let row = args![
        &event.id,
        &event.store_id,
        &event.event,
        data.as_str(),
        &event.contact,
        &event.origin_key,
        event.now
    ];
    db.execute(&INSERT_EVENT, row).await?;
    for (subscription_id, ordered) in targets {
        let id = DeliveryRecord::new_id();
        let contact = event.contact.as_deref().filter(|_| *ordered);
        let delivery = args![
            id.as_str(),
            &event.store_id,
            subscription_id,
            &event.id,
            &event.event,
            event.now,
            contact
        ];
        db.execute(&INSERT_DELIVERY, delivery).await?;
    }
    if !targets.is_empty() {
        db.published();
    }
    Ok(())
}
