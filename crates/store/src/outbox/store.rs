//! The `Outbox` area on each backend: writes through its batching writer, reads on a reader.

use std::sync::Arc;

use super::{Outgoing, deliveries, emit, subscriptions};
use crate::db::{Sqlite, run_now};
use crate::model::*;
use crate::{PgStore, Result, SqliteStore};

#[async_trait::async_trait]
impl crate::Outbox for SqliteStore {
    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord> {
        self.writer
            .write(move |c| run_now(subscriptions::create(&mut Sqlite(c), &s)))
            .await
    }

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| run_now(subscriptions::get(&mut Sqlite(c), &store_id, &id)))
            .await
    }

    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| run_now(subscriptions::list(&mut Sqlite(c), &store_id, &page)))
            .await
    }

    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>> {
        self.writer
            .write(move |c| run_now(subscriptions::update(&mut Sqlite(c), &s)))
            .await
    }

    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| run_now(subscriptions::delete(&mut Sqlite(c), &store_id, &id, now)))
            .await
    }

    async fn emit_event(&self, event: Outgoing) -> Result<String> {
        self.writer
            .write(move |c| run_now(emit(&mut Sqlite(c), event)))
            .await
    }

    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>> {
        self.writer
            .write(move |c| run_now(deliveries::claim(&mut Sqlite(c), &lease, limit, steal)))
            .await
    }

    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool> {
        self.writer
            .write(move |c| run_now(deliveries::finish_attempt(&mut Sqlite(c), &outcome)))
            .await
    }

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| run_now(deliveries::get(&mut Sqlite(c), &store_id, &id)))
            .await
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        let id = delivery_id.to_owned();
        self.read(move |c| run_now(deliveries::attempts(&mut Sqlite(c), &id)))
            .await
    }

    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| {
            run_now(deliveries::list(
                &mut Sqlite(c),
                &store_id,
                &subscription_id,
                &filter,
                &page,
            ))
        })
        .await
    }

    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| run_now(deliveries::retry(&mut Sqlite(c), &store_id, &id, now)))
            .await
    }

    async fn recover_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        since: i64,
        until: Option<i64>,
        now: i64,
    ) -> Result<u64> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        self.writer
            .write(move |c| {
                let db = &mut Sqlite(c);
                run_now(deliveries::recover(
                    db,
                    &store_id,
                    &subscription_id,
                    since,
                    until,
                    now,
                ))
            })
            .await
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.signal.clone()
    }
}

#[async_trait::async_trait]
impl crate::Outbox for PgStore {
    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord> {
        self.writer
            .write(move |c| Box::pin(async move { subscriptions::create(c, &s).await }))
            .await
    }

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>> {
        subscriptions::get(&mut *self.pool.acquire().await?, store_id, id).await
    }

    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>> {
        subscriptions::list(&mut *self.pool.acquire().await?, store_id, page).await
    }

    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>> {
        self.writer
            .write(move |c| Box::pin(async move { subscriptions::update(c, &s).await }))
            .await
    }

    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { subscriptions::delete(c, &store_id, &id, now).await })
            })
            .await
    }

    async fn emit_event(&self, event: Outgoing) -> Result<String> {
        self.writer
            .write(move |c| Box::pin(async move { emit(c, event).await }))
            .await
    }

    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>> {
        self.writer
            .write(move |c| {
                Box::pin(async move { deliveries::claim(c, &lease, limit, steal).await })
            })
            .await
    }

    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool> {
        self.writer
            .write(move |c| Box::pin(async move { deliveries::finish_attempt(c, &outcome).await }))
            .await
    }

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
        deliveries::get(&mut *self.pool.acquire().await?, store_id, id).await
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        deliveries::attempts(&mut *self.pool.acquire().await?, delivery_id).await
    }

    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        let mut c = self.pool.acquire().await?;
        deliveries::list(&mut *c, store_id, subscription_id, filter, page).await
    }

    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { deliveries::retry(c, &store_id, &id, now).await })
            })
            .await
    }

    async fn recover_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        since: i64,
        until: Option<i64>,
        now: i64,
    ) -> Result<u64> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    deliveries::recover(c, &store_id, &subscription_id, since, until, now).await
                })
            })
            .await
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.signal.clone()
    }
}
