//! The `Outbox` area on both backends.

use std::sync::Arc;

use super::{Outgoing, deliveries, emit, subscriptions};
use crate::dispatch::on_both_backends;
use crate::model::*;

on_both_backends! {
    crate::Outbox {
        write fn create_subscription(s: SubscriptionRecord) -> SubscriptionRecord
            => |db| subscriptions::create(db, &s);
        read fn get_subscription(store_id: &str, id: &str) -> Option<SubscriptionRecord>
            => |db| subscriptions::get(db, &store_id, &id);
        read fn list_subscriptions(store_id: &str, page: &PageRequest) -> Page<SubscriptionRecord>
            => |db| subscriptions::list(db, &store_id, &page);
        write fn update_subscription(s: SubscriptionRecord) -> Option<SubscriptionRecord>
            => |db| subscriptions::update(db, &s);
        write fn delete_subscription(store_id: &str, id: &str, now: i64) -> bool
            => |db| subscriptions::delete(db, &store_id, &id, now);
        write fn emit_event(event: Outgoing) -> String => |db| emit(db, event);
        write fn claim_deliveries(lease: Lease, limit: u32, steal: bool) -> Vec<DeliveryJob>
            => |db| deliveries::claim(db, &lease, limit, steal);
        write fn finish_attempt(outcome: AttemptOutcome) -> bool => |db| deliveries::finish_attempt(db, &outcome);
        read fn get_delivery(store_id: &str, id: &str) -> Option<DeliveryRecord>
            => |db| deliveries::get(db, &store_id, &id);
        read fn delivery_attempts(delivery_id: &str) -> Vec<AttemptRecord>
            => |db| deliveries::attempts(db, &delivery_id);
        read fn list_deliveries(store_id: &str, subscription_id: &str, filter: &DeliveryFilter, page: &PageRequest)
            -> Page<DeliveryRecord> => |db| deliveries::list(db, &store_id, &subscription_id, &filter, &page);
        write fn retry_delivery(store_id: &str, id: &str, now: i64) -> Option<DeliveryRecord>
            => |db| deliveries::retry(db, &store_id, &id, now);
        write fn recover_deliveries(store_id: &str, subscription_id: &str, since: i64, until: Option<i64>, now: i64)
            -> u64 => |db| deliveries::recover(db, &store_id, &subscription_id, since, until, now);
    }
    sqlite {
        fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
            self.signal.clone()
        }
    }
    postgres {
        fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
            self.signal.clone()
        }
    }
}
