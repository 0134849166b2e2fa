//! The `Runs` area on each backend: writes through its batching writer, reads on a reader.

use super::conversations;
use super::write::{accept, cancel_run, checkpoint, retry_run};
use super::{claim, count_waiting, get_run, list_runs, run_steps};
use crate::db::{Sqlite, run_now};
use crate::model::*;
use crate::{PgStore, Result, SqliteStore};

#[async_trait::async_trait]
impl crate::Runs for SqliteStore {
    async fn accept(&self, event: NewEvent, new_runs: Vec<NewRun>) -> Result<Acceptance> {
        self.writer
            .write(move |c| run_now(accept(&mut Sqlite(c), &event, &new_runs)))
            .await
    }

    async fn checkpoint(&self, cp: Checkpoint) -> Result<bool> {
        self.writer
            .write(move |c| run_now(checkpoint(&mut Sqlite(c), &cp)))
            .await
    }

    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
        self.writer
            .write(move |c| run_now(claim(&mut Sqlite(c), &lease, limit, steal)))
            .await
    }

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| run_now(get_run(&mut Sqlite(c), &store_id, &id)))
            .await
    }

    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| run_now(list_runs(&mut Sqlite(c), &store_id, &filter, &page)))
            .await
    }

    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let run_id = run_id.to_owned();
        self.read(move |c| run_now(run_steps(&mut Sqlite(c), &run_id)))
            .await
    }

    async fn cancel_run(&self, store_id: &str, id: &str, now: i64) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| run_now(cancel_run(&mut Sqlite(c), &store_id, &id, now)))
            .await
    }

    async fn retry_run(&self, store_id: &str, id: &str, lease: Lease) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| run_now(retry_run(&mut Sqlite(c), &store_id, &id, &lease)))
            .await
    }

    async fn count_waiting(&self) -> Result<i64> {
        self.read(|c| run_now(count_waiting(&mut Sqlite(c)))).await
    }

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>> {
        let (store_id, phone) = (store_id.to_owned(), phone.to_owned());
        self.read(move |c| run_now(conversations::get(&mut Sqlite(c), &store_id, &phone)))
            .await
    }

    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |c| run_now(conversations::merge(&mut Sqlite(c), &patch, now)))
            .await
    }

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool> {
        let (store_id, phone) = (store_id.to_owned(), phone.to_owned());
        self.writer
            .write(move |c| run_now(conversations::delete(&mut Sqlite(c), &store_id, &phone)))
            .await
    }
}

#[async_trait::async_trait]
impl crate::Runs for PgStore {
    async fn accept(&self, event: NewEvent, new_runs: Vec<NewRun>) -> Result<Acceptance> {
        self.writer
            .write(move |c| Box::pin(async move { accept(c, &event, &new_runs).await }))
            .await
    }

    async fn checkpoint(&self, cp: Checkpoint) -> Result<bool> {
        self.writer
            .write(move |c| Box::pin(async move { checkpoint(c, &cp).await }))
            .await
    }

    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
        self.writer
            .write(move |c| Box::pin(async move { claim(c, &lease, limit, steal).await }))
            .await
    }

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
        get_run(&mut *self.pool.acquire().await?, store_id, id).await
    }

    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        list_runs(&mut *self.pool.acquire().await?, store_id, filter, page).await
    }

    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        run_steps(&mut *self.pool.acquire().await?, run_id).await
    }

    async fn cancel_run(&self, store_id: &str, id: &str, now: i64) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { cancel_run(c, &store_id, &id, now).await }))
            .await
    }

    async fn retry_run(&self, store_id: &str, id: &str, lease: Lease) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { retry_run(c, &store_id, &id, &lease).await }))
            .await
    }

    async fn count_waiting(&self) -> Result<i64> {
        count_waiting(&mut *self.pool.acquire().await?).await
    }

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>> {
        conversations::get(&mut *self.pool.acquire().await?, store_id, phone).await
    }

    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |c| Box::pin(async move { conversations::merge(c, &patch, now).await }))
            .await
    }

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool> {
        conversations::delete(&mut *self.pool.acquire().await?, store_id, phone).await
    }
}
