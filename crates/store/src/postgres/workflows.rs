//! Workflow writes on PostgreSQL, as functions of one writer job, so an app install can make many
//! of them in one transaction. A `schedule` workflow's pending tick changes with it.

use sqlx::PgConnection;

use super::{get_workflow, runs, schedules, unique};
use crate::Result;
use crate::error::name_taken;
use crate::model::*;
use crate::outbox::{Change, workflow_summary};

/// Publishes `workflow.created|updated|deleted` with the workflow's summary.
async fn publish(c: &mut PgConnection, name: &str, w: &WorkflowRecord, now: i64) -> Result<()> {
    let e = Change::new(&w.store_id, name, None, now);
    super::outbox::publish(c, e, || workflow_summary(w)).await
}

pub async fn create(c: &mut PgConnection, w: &NewWorkflow) -> Result<WorkflowRecord> {
    let k = &w.content;
    let definition = k.definition.to_string();
    sqlx::query(
        "INSERT INTO workflows (id, store_id, name, description, format, version, active, trigger_kind, trigger_key, definition, warnings, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&w.id)
    .bind(&w.store_id)
    .bind(&k.name)
    .bind(&k.description)
    .bind(&k.format)
    .bind(w.active)
    .bind(&k.trigger_kind)
    .bind(&k.trigger_key)
    .bind(&definition)
    .bind(k.warnings.to_string())
    .bind(w.now)
    .execute(&mut *c)
    .await
    .map_err(unique("name", name_taken(&k.name)))?;
    sqlx::query("INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ($1, 1, $2, $3)")
        .bind(&w.id)
        .bind(&definition)
        .bind(w.now)
        .execute(&mut *c)
        .await?;
    let tick = w.next_tick.filter(|_| w.active);
    schedules::sync_cron(&mut *c, &w.store_id, &w.id, tick, w.now).await?;
    let record = w.clone().into_record();
    publish(c, "workflow.created", &record, w.now).await?;
    Ok(record)
}

pub async fn update(
    c: &mut PgConnection,
    store_id: &str,
    id: &str,
    u: &WorkflowUpdate,
) -> Result<Option<WorkflowRecord>> {
    let k = &u.content;
    let definition = k.definition.to_string();
    let done = sqlx::query(
        "UPDATE workflows SET name = $3, description = $4, format = $5, version = version + 1, active = COALESCE($6, active),
           trigger_kind = $7, trigger_key = $8, definition = $9, warnings = $10, updated_at = $11
         WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(store_id)
    .bind(id)
    .bind(&k.name)
    .bind(&k.description)
    .bind(&k.format)
    .bind(u.active)
    .bind(&k.trigger_kind)
    .bind(&k.trigger_key)
    .bind(&definition)
    .bind(k.warnings.to_string())
    .bind(u.now)
    .execute(&mut *c)
    .await
    .map_err(unique("name", name_taken(&k.name)))?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) SELECT id, version, $2, $3 FROM workflows WHERE id = $1",
    )
    .bind(id)
    .bind(&definition)
    .bind(u.now)
    .execute(&mut *c)
    .await?;
    let record = get_workflow(&mut *c, store_id, id).await?;
    if let Some(w) = &record {
        let tick = u.next_tick.filter(|_| w.active);
        schedules::sync_cron(&mut *c, store_id, id, tick, u.now).await?;
        publish(c, "workflow.updated", w, u.now).await?;
    }
    Ok(record)
}

pub async fn set_active(
    c: &mut PgConnection,
    store_id: &str,
    id: &str,
    active: bool,
    next_tick: Option<i64>,
    now: i64,
) -> Result<Option<WorkflowRecord>> {
    let done = sqlx::query("UPDATE workflows SET active = $3, updated_at = $4 WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(store_id)
        .bind(id)
        .bind(active)
        .bind(now)
        .execute(&mut *c)
        .await?;
    let record = get_workflow(&mut *c, store_id, id).await?;
    if let Some(w) = record.as_ref().filter(|_| done.rows_affected() > 0) {
        let tick = next_tick.filter(|_| active);
        schedules::sync_cron(&mut *c, store_id, id, tick, now).await?;
        publish(c, "workflow.updated", w, now).await?;
    }
    Ok(record)
}

pub async fn delete(c: &mut PgConnection, store_id: &str, id: &str, now: i64) -> Result<bool> {
    let before = get_workflow(&mut *c, store_id, id).await?;
    let done = sqlx::query("UPDATE workflows SET deleted_at = $3, updated_at = $3 WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(store_id)
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    let deleted = done.rows_affected() > 0;
    if deleted {
        runs::cancel_workflow_runs(&mut *c, id, now).await?;
        schedules::cancel_for_workflow(&mut *c, id, now).await?;
        if let Some(w) = &before {
            publish(c, "workflow.deleted", w, now).await?;
        }
    }
    Ok(deleted)
}
