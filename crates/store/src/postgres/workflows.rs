//! Workflow writes on PostgreSQL, as functions of one writer job, so an app install can make many
//! of them in one transaction. A `schedule` workflow's pending tick changes with it.

use super::*;

use sqlx::PgConnection;

use super::{get_workflow, unique};
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
    crate::schedules::sync_cron(&mut *c, &w.store_id, &w.id, tick, w.now).await?;
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
        crate::schedules::sync_cron(&mut *c, store_id, id, tick, u.now).await?;
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
        crate::schedules::sync_cron(&mut *c, store_id, id, tick, now).await?;
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
        crate::runs::cancel_workflow_runs(&mut *c, id, now).await?;
        crate::schedules::cancel_for_workflow(&mut *c, id, now).await?;
        if let Some(w) = &before {
            publish(c, "workflow.deleted", w, now).await?;
        }
    }
    Ok(deleted)
}

#[async_trait::async_trait]
impl crate::Workflows for PgStore {
    async fn create_workflow(&self, w: NewWorkflow) -> Result<WorkflowRecord> {
        self.writer
            .write(move |c| Box::pin(async move { workflows::create(c, &w).await }))
            .await
    }

    async fn update_workflow(
        &self,
        store_id: &str,
        id: &str,
        u: WorkflowUpdate,
    ) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { workflows::update(c, &store_id, &id, &u).await }))
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
            .write(move |c| {
                Box::pin(async move {
                    workflows::set_active(c, &store_id, &id, active, next_tick, now).await
                })
            })
            .await
    }

    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { workflows::delete(c, &store_id, &id, now).await })
            })
            .await
    }

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
        get_workflow(&self.pool, store_id, id).await
    }

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>> {
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE store_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(store_id)
            .bind(page.after_key())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(workflow_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |w| w.id.clone()))
    }

    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>> {
        if get_workflow(&self.pool, store_id, id).await?.is_none() {
            return Ok(None);
        }
        let after: i64 = page
            .after
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let rows = sqlx::query(
            "SELECT workflow_id, version, definition, created_at FROM workflow_versions WHERE workflow_id = $1 AND version > $2 ORDER BY version LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(version_row).collect::<Result<Vec<_>>>()?;
        Ok(Some(Page::from_rows(rows, page.limit, |v| {
            v.version.to_string()
        })))
    }

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>> {
        sqlx::query(
            "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
             WHERE w.store_id = $1 AND w.id = $2 AND w.deleted_at IS NULL AND v.version = $3",
        )
        .bind(store_id)
        .bind(id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(version_row)
        .transpose()
    }

    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT id, version FROM workflows WHERE store_id = $1 AND trigger_kind = $2 AND trigger_key = $3 AND active AND deleted_at IS NULL ORDER BY id")
            .bind(store_id)
            .bind(kind)
            .bind(key)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let AppInstall {
                        app,
                        create,
                        update,
                        delete,
                    } = install;
                    let now = app.updated_at;
                    let record = match crate::resources::update(&mut *c, app.clone()).await? {
                        Some(r) => r,
                        None => crate::resources::create(&mut *c, app).await?,
                    };
                    for id in &delete {
                        workflows::delete(&mut *c, &record.store_id, id, now).await?;
                    }
                    for (id, u) in &update {
                        workflows::update(&mut *c, &record.store_id, id, u).await?;
                    }
                    for w in &create {
                        workflows::create(&mut *c, w).await?;
                    }
                    Ok(record)
                })
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
                Box::pin(async move {
                    if !crate::resources::delete(
                        &mut *c,
                        &store_id,
                        ResourceKind::App,
                        &app_id,
                        now,
                    )
                    .await?
                    {
                        return Ok(false);
                    }
                    for id in &workflow_ids {
                        workflows::delete(&mut *c, &store_id, id, now).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }
}
