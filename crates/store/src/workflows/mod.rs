//! Workflows, their versions and the triggers that start them, written once for both backends.
//! Writes are functions of one writer job, so an app install makes many of them in one
//! transaction; a `schedule` workflow's pending tick changes with it.

mod store;

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql};
use crate::error::{name_taken, unique};
use crate::model::*;
use crate::outbox::{Change, workflow_summary};

macro_rules! columns {
    () => {
        "id, store_id, version, active, name, description, format, trigger_kind, trigger_key, \
         definition, warnings, created_at, updated_at"
    };
}

const INSERT: Sql = sql!(
    "INSERT INTO workflows (id, store_id, name, description, format, version, active, \
     trigger_kind, trigger_key, definition, warnings, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $11)"
);
const FIRST_VERSION: Sql = sql!(
    "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ($1, 1, $2, $3)"
);
const UPDATE: Sql = sql!(
    "UPDATE workflows SET name = $3, description = $4, format = $5, version = version + 1, \
     active = COALESCE($6, active), trigger_kind = $7, trigger_key = $8, definition = $9, \
     warnings = $10, updated_at = $11 WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
);
const NEXT_VERSION: Sql = sql!(
    "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) \
     SELECT id, version, $2, $3 FROM workflows WHERE id = $1"
);
const SET_ACTIVE: Sql = sql!(
    "UPDATE workflows SET active = $3, updated_at = $4 \
     WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
);
const DELETE: Sql = sql!(
    "UPDATE workflows SET deleted_at = $3, updated_at = $3 \
     WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
);
const GET: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM workflows WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
));
const LIST: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM workflows WHERE store_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3"
));
const COUNT: Sql =
    sql!("SELECT COUNT(*) FROM workflows WHERE store_id = $1 AND deleted_at IS NULL");
const VERSIONS: Sql = sql!(
    "SELECT workflow_id, version, definition, created_at FROM workflow_versions \
     WHERE workflow_id = $1 AND version > $2 ORDER BY version LIMIT $3"
);
/// A deleted workflow's versions stay readable: its runs are understood by them.
const VERSION: Sql = sql!(
    "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v \
     JOIN workflows w ON w.id = v.workflow_id \
     WHERE w.store_id = $1 AND w.id = $2 AND v.version = $3"
);
/// The workflow, deleted or not, is the store's.
const OWNED: Sql = sql!("SELECT id FROM workflows WHERE store_id = $1 AND id = $2");
const TRIGGER_KEYS: Sql = sql!(
    "SELECT DISTINCT trigger_key FROM workflows WHERE store_id = $1 AND trigger_kind = $2 \
     AND trigger_key IS NOT NULL AND active AND deleted_at IS NULL ORDER BY trigger_key LIMIT 10000"
);
const FOR_TRIGGER: Sql = sql!(
    "SELECT id, version FROM workflows WHERE store_id = $1 AND trigger_kind = $2 \
     AND trigger_key = $3 AND active AND deleted_at IS NULL ORDER BY id"
);

fn workflow(r: &impl Row) -> Result<WorkflowRecord> {
    Ok(WorkflowRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        version: r.col(2)?,
        active: r.col(3)?,
        content: WorkflowContent {
            name: r.col(4)?,
            description: r.col(5)?,
            format: r.col(6)?,
            trigger_kind: r.col(7)?,
            trigger_key: r.col(8)?,
            definition: r.json(9)?,
            warnings: r.json(10)?,
        },
        created_at: r.col(11)?,
        updated_at: r.col(12)?,
    })
}

fn version(r: &impl Row) -> Result<VersionRecord> {
    Ok(VersionRecord {
        workflow_id: r.col(0)?,
        version: r.col(1)?,
        definition: r.json(2)?,
        created_at: r.col(3)?,
    })
}

/// Publishes `workflow.created|updated|deleted` with the workflow's summary.
async fn publish(db: &mut impl Db, name: &str, w: &WorkflowRecord, now: i64) -> Result<()> {
    let change = Change::new(&w.store_id, name, None, now);
    crate::outbox::publish(db, change, || workflow_summary(w)).await
}

/// Creates a workflow at version 1. A name used by another live workflow of the store → conflict.
async fn create(db: &mut impl Db, w: &NewWorkflow) -> Result<WorkflowRecord> {
    let k = &w.content;
    let (definition, warnings) = (k.definition.to_string(), k.warnings.to_string());
    let row = args![
        &w.id,
        &w.store_id,
        &k.name,
        &k.description,
        &k.format,
        w.active,
        &k.trigger_kind,
        &k.trigger_key,
        definition.as_str(),
        warnings.as_str(),
        w.now
    ];
    db.execute(&INSERT, row)
        .await
        .map_err(unique("name", name_taken(&k.name)))?;
    db.execute(&FIRST_VERSION, args![&w.id, definition.as_str(), w.now])
        .await?;
    let tick = w.next_tick.filter(|_| w.active);
    crate::schedules::sync_cron(db, &w.store_id, &w.id, tick, w.now).await?;
    let record = w.clone().into_record();
    publish(db, "workflow.created", &record, w.now).await?;
    Ok(record)
}

/// Replaces the definition, making version + 1. `None` when there is no such live workflow.
async fn update(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    u: &WorkflowUpdate,
) -> Result<Option<WorkflowRecord>> {
    let k = &u.content;
    let (definition, warnings) = (k.definition.to_string(), k.warnings.to_string());
    let row = args![
        store_id,
        id,
        &k.name,
        &k.description,
        &k.format,
        u.active,
        &k.trigger_kind,
        &k.trigger_key,
        definition.as_str(),
        warnings.as_str(),
        u.now
    ];
    let changed = db
        .execute(&UPDATE, row)
        .await
        .map_err(unique("name", name_taken(&k.name)))?;
    if changed == 0 {
        return Ok(None);
    }
    db.execute(&NEXT_VERSION, args![id, definition.as_str(), u.now])
        .await?;
    let record = get(db, store_id, id).await?;
    if let Some(w) = &record {
        let tick = u.next_tick.filter(|_| w.active);
        crate::schedules::sync_cron(db, store_id, id, tick, u.now).await?;
        publish(db, "workflow.updated", w, u.now).await?;
    }
    Ok(record)
}

/// Turns the workflow on or off without a new version, its cron tick with it.
async fn set_active(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    active: bool,
    next_tick: Option<i64>,
    now: i64,
) -> Result<Option<WorkflowRecord>> {
    let changed = db
        .execute(&SET_ACTIVE, args![store_id, id, active, now])
        .await?;
    let record = get(db, store_id, id).await?;
    if let Some(w) = record.as_ref().filter(|_| changed > 0) {
        let tick = next_tick.filter(|_| active);
        crate::schedules::sync_cron(db, store_id, id, tick, now).await?;
        publish(db, "workflow.updated", w, now).await?;
    }
    Ok(record)
}

/// Soft delete: history and versions stay; its live runs and pending schedules are cancelled.
async fn delete(db: &mut impl Db, store_id: &str, id: &str, now: i64) -> Result<bool> {
    let before = get(db, store_id, id).await?;
    let deleted = db.execute(&DELETE, args![store_id, id, now]).await? > 0;
    if deleted {
        crate::runs::cancel_workflow_runs(db, id, now).await?;
        crate::schedules::cancel_for_workflow(db, id, now).await?;
        if let Some(w) = &before {
            publish(db, "workflow.deleted", w, now).await?;
        }
    }
    Ok(deleted)
}

async fn get(db: &mut impl Db, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
    db.fetch_one(&GET, args![store_id, id], |r| workflow(r))
        .await
}

async fn list(
    db: &mut impl Db,
    store_id: &str,
    page: &PageRequest,
) -> Result<Page<WorkflowRecord>> {
    let after = page.after_key();
    let rows = db
        .fetch(
            &LIST,
            args![store_id, after.as_str(), page.limit + 1],
            |r| workflow(r),
        )
        .await?;
    Ok(Page::from_rows(rows, page.limit, |w| w.id.clone()))
}

async fn count(db: &mut impl Db, store_id: &str) -> Result<i64> {
    let n = db
        .fetch_one(&COUNT, args![store_id], |r| r.col::<i64>(0))
        .await?;
    Ok(n.unwrap_or(0))
}

async fn list_versions(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    page: &PageRequest,
) -> Result<Option<Page<VersionRecord>>> {
    let owned = db
        .fetch_one(&OWNED, args![store_id, id], |r| r.col::<String>(0))
        .await?;
    if owned.is_none() {
        return Ok(None);
    }
    let after: i64 = page
        .after
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let rows = db
        .fetch(&VERSIONS, args![id, after, page.limit + 1], |r| version(r))
        .await?;
    Ok(Some(Page::from_rows(rows, page.limit, |v| {
        v.version.to_string()
    })))
}

async fn get_version(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    number: i64,
) -> Result<Option<VersionRecord>> {
    db.fetch_one(&VERSION, args![store_id, id, number], |r| version(r))
        .await
}

async fn for_trigger(
    db: &mut impl Db,
    store_id: &str,
    kind: &str,
    key: &str,
) -> Result<Vec<(String, i64)>> {
    db.fetch(&FOR_TRIGGER, args![store_id, kind, key], |r| {
        Ok((r.col(0)?, r.col(1)?))
    })
    .await
}

/// An app's record and all its workflow changes, in one transaction.
async fn install_app(db: &mut impl Db, install: AppInstall) -> Result<ResourceRecord> {
    let AppInstall {
        app,
        create: new,
        update: changed,
        delete: gone,
    } = install;
    let now = app.updated_at;
    let record = match crate::resources::update(db, app.clone()).await? {
        Some(r) => r,
        None => crate::resources::create(db, app).await?,
    };
    for id in &gone {
        delete(db, &record.store_id, id, now).await?;
    }
    for (id, u) in &changed {
        update(db, &record.store_id, id, u).await?;
    }
    for w in &new {
        create(db, w).await?;
    }
    Ok(record)
}

/// Deletes an app's record and its workflows in one transaction.
async fn uninstall_app(
    db: &mut impl Db,
    store_id: &str,
    app_id: &str,
    workflow_ids: &[String],
    now: i64,
) -> Result<bool> {
    if !crate::resources::delete(db, store_id, ResourceKind::App, app_id, now).await? {
        return Ok(false);
    }
    for id in workflow_ids {
        delete(db, store_id, id, now).await?;
    }
    Ok(true)
}

/// The keys (event types, channels) active workflows of a trigger kind listen to.
pub(super) async fn trigger_keys(
    db: &mut impl Db,
    store_id: &str,
    kind: &str,
) -> Result<Vec<String>> {
    db.fetch(&TRIGGER_KEYS, args![store_id, kind], |r| r.col(0))
        .await
}
