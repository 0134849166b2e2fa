//! Subscriptions and deliveries.

use super::*;

/// An endpoint that receives the store's outgoing events. Secrets are sealed by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub id: String,
    pub store_id: String,
    pub url: String,
    pub description: Option<String>,
    /// Event names, `group.*` or `*`.
    pub events: Vec<String>,
    /// Deliveries sharing a contact go out in order; a failing one holds the later ones.
    pub ordered: bool,
    pub active: bool,
    /// The sealed `whsec_` secret.
    pub secret: String,
    /// The secret before the latest rotation (sealed), signing alongside until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    /// The first failed attempt since the latest success.
    pub failing_since: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SubscriptionRecord {
    pub fn new_id() -> String {
        format!("sub_{}", uuid::Uuid::now_v7().simple())
    }
}

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: String,
    pub store_id: String,
    pub subscription_id: String,
    /// The outgoing event's id (the envelope's `id`, `webhook-id`).
    pub event_id: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// One attempt asked for by hand (retry, recover): no schedule after it.
    pub manual: bool,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DeliveryRecord {
    pub fn new_id() -> String {
        format!("dlv_{}", uuid::Uuid::now_v7().simple())
    }
}

/// One attempt of a delivery, as its log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// From 1.
    pub attempt: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    /// The HTTP status, when a response came back.
    pub status: Option<i64>,
    /// The start of the response body.
    pub response: Option<String>,
    /// Why the attempt failed.
    pub error: Option<String>,
    pub manual: bool,
}

/// A claimed delivery with everything needed to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    pub delivery: DeliveryRecord,
    pub url: String,
    /// Sealed secrets that sign: the current one, then the previous one while it still does.
    pub secrets: Vec<String>,
    /// The envelope's `created_at` and `data` (stored JSON text, sent as is).
    pub event_created_at: i64,
    pub data: String,
}

/// What an attempt came to. Applies only while `owner` holds the delivery's lease.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub delivery_id: String,
    pub owner: String,
    pub attempt: AttemptRecord,
    pub succeeded: bool,
    /// After a failure: when to try again; `None` ends the delivery as failed.
    pub retry_at: Option<i64>,
    /// The endpoint answered 410 Gone: disable the subscription now.
    pub gone: bool,
    /// A subscription whose attempts have all failed for this long (ms) is disabled.
    pub disable_after: i64,
    pub now: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event: Option<String>,
}
