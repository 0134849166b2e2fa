//! The `Workflows` area on each backend: writes through its batching writer, reads on a reader.

use super::{create, delete, for_trigger, get, get_version, install_app, list, list_versions};
use super::{set_active, uninstall_app, update};
use crate::db::{Sqlite, run_now};
use crate::model::*;
use crate::{PgStore, Result, SqliteStore};

#[async_trait::async_trait]
impl crate::Workflows for SqliteStore {
    async fn create_workflow(&self, w: NewWorkflow) -> Result<WorkflowRecord> {
        self.writer
            .write(move |c| run_now(create(&mut Sqlite(c), &w)))
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
            .write(move |c| run_now(update(&mut Sqlite(c), &store_id, &id, &u)))
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
                run_now(set_active(
                    &mut Sqlite(c),
                    &store_id,
                    &id,
                    active,
                    next_tick,
                    now,
                ))
            })
            .await
    }

    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| run_now(delete(&mut Sqlite(c), &store_id, &id, now)))
            .await
    }

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| run_now(get(&mut Sqlite(c), &store_id, &id)))
            .await
    }

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| run_now(list(&mut Sqlite(c), &store_id, &page)))
            .await
    }

    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>> {
        let (store_id, id, page) = (store_id.to_owned(), id.to_owned(), page.clone());
        self.read(move |c| run_now(list_versions(&mut Sqlite(c), &store_id, &id, &page)))
            .await
    }

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| run_now(get_version(&mut Sqlite(c), &store_id, &id, number)))
            .await
    }

    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>> {
        let (store_id, kind, key) = (store_id.to_owned(), kind.to_owned(), key.to_owned());
        self.read(move |c| run_now(for_trigger(&mut Sqlite(c), &store_id, &kind, &key)))
            .await
    }

    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| run_now(install_app(&mut Sqlite(c), install)))
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
                run_now(uninstall_app(
                    &mut Sqlite(c),
                    &store_id,
                    &app_id,
                    &workflow_ids,
                    now,
                ))
            })
            .await
    }
}

#[async_trait::async_trait]
impl crate::Workflows for PgStore {
    async fn create_workflow(&self, w: NewWorkflow) -> Result<WorkflowRecord> {
        self.writer
            .write(move |c| Box::pin(async move { create(c, &w).await }))
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
            .write(move |c| Box::pin(async move { update(c, &store_id, &id, &u).await }))
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
                Box::pin(async move { set_active(c, &store_id, &id, active, next_tick, now).await })
            })
            .await
    }

    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { delete(c, &store_id, &id, now).await }))
            .await
    }

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
        get(&mut *self.pool.acquire().await?, store_id, id).await
    }

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>> {
        list(&mut *self.pool.acquire().await?, store_id, page).await
    }

    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>> {
        list_versions(&mut *self.pool.acquire().await?, store_id, id, page).await
    }

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>> {
        get_version(&mut *self.pool.acquire().await?, store_id, id, number).await
    }

    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>> {
        for_trigger(&mut *self.pool.acquire().await?, store_id, kind, key).await
    }

    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| Box::pin(async move { install_app(c, install).await }))
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
                Box::pin(
                    async move { uninstall_app(c, &store_id, &app_id, &workflow_ids, now).await },
                )
            })
            .await
    }
}
