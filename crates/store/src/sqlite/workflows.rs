//! Workflow writes on SQLite, as functions of one writer job, so an app install can make many of
//! them in one transaction. A `schedule` workflow's pending tick changes with it.

use rusqlite::{Connection, params};

use super::{get_workflow, schedules, unique};
use crate::Result;
use crate::error::name_taken;
use crate::model::*;
use crate::outbox::{Change, workflow_summary};

/// Publishes `workflow.created|updated|deleted` with the workflow's summary.
fn publish(c: &Connection, name: &str, w: &WorkflowRecord, now: i64) -> Result<()> {
    let e = Change::new(&w.store_id, name, None, now);
    super::outbox::publish(c, e, || workflow_summary(w))
}

pub fn create(c: &Connection, w: &NewWorkflow) -> Result<WorkflowRecord> {
    let k = &w.content;
    let definition = k.definition.to_string();
    c.execute(
        "INSERT INTO workflows (id, store_id, name, description, format, version, active, trigger_kind, trigger_key, definition, warnings, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        params![w.id, w.store_id, k.name, k.description, k.format, w.active, k.trigger_kind, k.trigger_key, definition, k.warnings.to_string(), w.now],
    )
    .map_err(unique("name", name_taken(&k.name)))?;
    c.execute(
        "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES (?1, 1, ?2, ?3)",
        params![w.id, definition, w.now],
    )?;
    let tick = w.next_tick.filter(|_| w.active);
    schedules::sync_cron(c, &w.store_id, &w.id, tick, w.now)?;
    let record = w.clone().into_record();
    publish(c, "workflow.created", &record, w.now)?;
    Ok(record)
}

pub fn update(
    c: &Connection,
    store_id: &str,
    id: &str,
    u: &WorkflowUpdate,
) -> Result<Option<WorkflowRecord>> {
    let k = &u.content;
    let definition = k.definition.to_string();
    let changed = c
        .execute(
            "UPDATE workflows SET name = ?3, description = ?4, format = ?5, version = version + 1, active = COALESCE(?6, active),
               trigger_kind = ?7, trigger_key = ?8, definition = ?9, warnings = ?10, updated_at = ?11
             WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL",
            params![store_id, id, k.name, k.description, k.format, u.active, k.trigger_kind, k.trigger_key, definition, k.warnings.to_string(), u.now],
        )
        .map_err(unique("name", name_taken(&k.name)))?;
    if changed == 0 {
        return Ok(None);
    }
    c.execute(
        "INSERT INTO workflow_versions (workflow_id, version, definition, created_at)
         SELECT id, version, ?2, ?3 FROM workflows WHERE id = ?1",
        params![id, definition, u.now],
    )?;
    let record = get_workflow(c, store_id, id)?;
    if let Some(w) = &record {
        schedules::sync_cron(c, store_id, id, u.next_tick.filter(|_| w.active), u.now)?;
        publish(c, "workflow.updated", w, u.now)?;
    }
    Ok(record)
}

pub fn set_active(
    c: &Connection,
    store_id: &str,
    id: &str,
    active: bool,
    next_tick: Option<i64>,
    now: i64,
) -> Result<Option<WorkflowRecord>> {
    let changed = c.execute(
        "UPDATE workflows SET active = ?3, updated_at = ?4 WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL",
        params![store_id, id, active, now],
    )?;
    let record = get_workflow(c, store_id, id)?;
    if let Some(w) = record.as_ref().filter(|_| changed > 0) {
        schedules::sync_cron(c, store_id, id, next_tick.filter(|_| active), now)?;
        publish(c, "workflow.updated", w, now)?;
    }
    Ok(record)
}

pub fn delete(c: &Connection, store_id: &str, id: &str, now: i64) -> Result<bool> {
    let before = get_workflow(c, store_id, id)?;
    let deleted = c.execute(
        "UPDATE workflows SET deleted_at = ?3, updated_at = ?3 WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL",
        params![store_id, id, now],
    )? > 0;
    if deleted {
        super::runs::cancel_workflow_runs(c, id, now)?;
        schedules::cancel_for_workflow(c, id, now)?;
        if let Some(w) = &before {
            publish(c, "workflow.deleted", w, now)?;
        }
    }
    Ok(deleted)
}
