//! Workflow writes on SQLite, as functions of one writer job, so an app install can make many of
//! them in one transaction. A `schedule` workflow's pending tick changes with it.

use super::*;
use crate::db::{Sqlite, run_now};

use rusqlite::{Connection, params};

use super::{get_workflow, unique};
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
    run_now(crate::schedules::sync_cron(
        &mut Sqlite(c),
        &w.store_id,
        &w.id,
        tick,
        w.now,
    ))?;
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
        run_now(crate::schedules::sync_cron(
            &mut Sqlite(c),
            store_id,
            id,
            u.next_tick.filter(|_| w.active),
            u.now,
        ))?;
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
        run_now(crate::schedules::sync_cron(
            &mut Sqlite(c),
            store_id,
            id,
            next_tick.filter(|_| active),
            now,
        ))?;
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
        run_now(crate::runs::cancel_workflow_runs(&mut Sqlite(c), id, now))?;
        run_now(crate::schedules::cancel_for_workflow(
            &mut Sqlite(c),
            id,
            now,
        ))?;
        if let Some(w) = &before {
            publish(c, "workflow.deleted", w, now)?;
        }
    }
    Ok(deleted)
}

#[async_trait::async_trait]
impl crate::Workflows for SqliteStore {
    async fn create_workflow(&self, w: NewWorkflow) -> Result<WorkflowRecord> {
        self.writer.write(move |c| workflows::create(c, &w)).await
    }

    async fn update_workflow(
        &self,
        store_id: &str,
        id: &str,
        u: WorkflowUpdate,
    ) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| workflows::update(c, &store_id, &id, &u))
            .await
    }

    async fn set_workflow_active(
        &self,
        store_id: &str,
        id: &str,
        active: bool,
        next_tick: Option<i64>,
        now: i64,
    ) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| workflows::set_active(c, &store_id, &id, active, next_tick, now))
            .await
    }

    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| workflows::delete(c, &store_id, &id, now))
            .await
    }

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| get_workflow(c, &store_id, &id)).await
    }

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| {
            let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE store_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3");
            let rows = c.prepare_cached(&sql)?.query_map(params![store_id, page.after_key(), page.limit + 1], workflow_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            let rows = rows.into_iter().map(workflow).collect::<Result<Vec<_>>>()?;
            Ok(Page::from_rows(rows, page.limit, |w| w.id.clone()))
        })
        .await
    }

    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>> {
        let (store_id, id, page) = (store_id.to_owned(), id.to_owned(), page.clone());
        self.read(move |c| {
            if get_workflow(c, &store_id, &id)?.is_none() {
                return Ok(None);
            }
            let after: i64 = page.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
            let rows = c
                .prepare_cached("SELECT workflow_id, version, definition, created_at FROM workflow_versions WHERE workflow_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3")?
                .query_map(params![id, after, page.limit + 1], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<(String, i64, String, i64)>>>()?;
            let rows = rows.into_iter().map(version).collect::<Result<Vec<_>>>()?;
            Ok(Some(Page::from_rows(rows, page.limit, |v| v.version.to_string())))
        })
        .await
    }

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
                 WHERE w.store_id = ?1 AND w.id = ?2 AND w.deleted_at IS NULL AND v.version = ?3",
            )?
            .query_row(params![store_id, id, number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?
            .map(version)
            .transpose()
        })
        .await
    }

    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>> {
        let params = [store_id.to_owned(), kind.to_owned(), key.to_owned()];
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT id, version FROM workflows WHERE store_id = ?1 AND trigger_kind = ?2 AND trigger_key = ?3 AND active AND deleted_at IS NULL ORDER BY id")?
                .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| {
                let AppInstall {
                    app,
                    create,
                    update,
                    delete,
                } = install;
                let now = app.updated_at;
                let record = match run_now(crate::resources::update(&mut Sqlite(c), app.clone()))? {
                    Some(r) => r,
                    None => run_now(crate::resources::create(&mut Sqlite(c), app))?,
                };
                for id in &delete {
                    workflows::delete(c, &record.store_id, id, now)?;
                }
                for (id, u) in &update {
                    workflows::update(c, &record.store_id, id, u)?;
                }
                for w in &create {
                    workflows::create(c, w)?;
                }
                Ok(record)
            })
            .await
    }

    async fn uninstall_app(
        &self,
        store_id: &str,
        app_id: &str,
        workflow_ids: Vec<String>,
        now: i64,
    ) -> Result<bool> {
        let (store_id, app_id) = (store_id.to_owned(), app_id.to_owned());
        self.writer
            .write(move |c| {
                if !run_now(crate::resources::delete(
                    &mut Sqlite(c),
                    &store_id,
                    ResourceKind::App,
                    &app_id,
                    now,
                ))? {
                    return Ok(false);
                }
                for id in &workflow_ids {
                    workflows::delete(c, &store_id, id, now)?;
                }
                Ok(true)
            })
            .await
    }
}
