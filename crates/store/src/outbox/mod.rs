//! Outgoing events (docs/protocols.md §4): what subscribers receive, and the shapes of its
//! `data`. Each backend's `publish` writes an event, with its deliveries to the matching active
//! subscriptions, inside the transaction of the change that caused it.

mod deliveries;
mod publish;
mod store;
mod subscriptions;

pub(crate) use publish::{emit, publish};
use serde_json::{Map, Value, json};

use crate::model::*;

/// The events Switchboard itself emits, with what they mean (`GET /api/event-types`). Workflows
/// add their own through `emit_event`.
pub const SYSTEM_EVENTS: &[(&str, &str)] = &[
    ("run.started", "A run was created (data: the run summary)."),
    ("run.completed", "A run finished successfully."),
    ("run.failed", "A run failed (data.error says why)."),
    (
        "run.cancelled",
        "A run was cancelled, or its workflow deleted.",
    ),
    ("workflow.created", "A workflow was created."),
    (
        "workflow.updated",
        "A workflow got a new version or was switched on or off.",
    ),
    ("workflow.deleted", "A workflow was deleted."),
    (
        "message.sent",
        "A channel provider accepted a message for delivery.",
    ),
    (
        "message.delivered",
        "A message reached its recipient (a call was answered).",
    ),
    ("message.read", "The recipient read a message."),
    (
        "message.failed",
        "A message could not be delivered (a call failed or went unanswered).",
    ),
    ("message.received", "A customer sent a message."),
    ("conversation.updated", "A conversation's state changed."),
    (
        "subscription.disabled",
        "A subscription was disabled after failing for too long.",
    ),
];

/// An event for subscribers, written with the change that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// A UUIDv7: the envelope's `id` and the `webhook-id` of every delivery.
    pub id: String,
    pub store_id: String,
    pub event: String,
    pub data: Value,
    /// The contact it concerns (phone digits): ordered subscriptions keep its deliveries in order.
    pub contact: Option<String>,
    /// An emitted event's step visit (`{runId}:{stepId}:{visit}`): emitting again gives the same event.
    pub origin_key: Option<String>,
    pub now: i64,
}

impl Outgoing {
    pub fn new(
        store_id: &str,
        event: &str,
        data: Value,
        contact: Option<String>,
        now: i64,
    ) -> Outgoing {
        Outgoing {
            id: uuid::Uuid::now_v7().to_string(),
            store_id: store_id.to_owned(),
            event: event.to_owned(),
            data,
            contact,
            origin_key: None,
            now,
        }
    }
}

/// A change subscribers may hear about, before anyone knows whether one does: publishing makes
/// the event (its id, its data) only when a subscription matches.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub store_id: &'a str,
    pub event: &'a str,
    /// The contact it concerns (phone digits), for ordered subscriptions.
    pub contact: Option<&'a str>,
    pub now: i64,
}

impl<'a> Change<'a> {
    pub fn new(store_id: &'a str, event: &'a str, contact: Option<&'a str>, now: i64) -> Self {
        Change {
            store_id,
            event,
            contact,
            now,
        }
    }

    /// The event this change becomes.
    pub fn event(self, data: Value) -> Outgoing {
        Outgoing::new(
            self.store_id,
            self.event,
            data,
            self.contact.map(str::to_owned),
            self.now,
        )
    }
}

/// Whether a subscription's filter entry (a name, `group.*` or `*`) takes `event`.
pub fn filter_matches(filter: &str, event: &str) -> bool {
    filter == "*"
        || filter == event
        || filter
            .strip_suffix(".*")
            .is_some_and(|group| event.split('.').next() == Some(group))
}

/// The filter entries that match `event`: itself, its group (`run.*`) and everything (`*`).
pub fn filters_matching(event: &str) -> [String; 3] {
    let group = event.split('.').next().unwrap_or(event);
    [event.to_owned(), format!("{group}.*"), "*".to_owned()]
}

/// RFC 3339 UTC with exactly three fractional digits, e.g. `2026-11-21T13:05:00.123Z`: every time
/// the API and outgoing events show (docs/api.md).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `run.*` data: the run summary.
pub fn run_summary(r: &RunRecord) -> Value {
    let mut out = json!({
        "id": r.id,
        "workflowId": r.workflow_id,
        "workflowVersion": r.workflow_version,
        "status": r.status,
        "createdAt": rfc3339(r.created_at),
        "finishedAt": r.finished_at.map(rfc3339),
    });
    if let Some(e) = &r.error {
        out["error"] = e.clone();
    }
    out
}

/// The event a run's status is worth, if any.
pub fn run_event(status: RunStatus) -> Option<&'static str> {
    match status {
        RunStatus::Completed => Some("run.completed"),
        RunStatus::Failed => Some("run.failed"),
        RunStatus::Cancelled => Some("run.cancelled"),
        _ => None,
    }
}

/// `message.*` data, and the API's view of a message.
pub fn message_view(m: &MessageRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), m.id.clone().into());
    out.insert("channel".into(), m.channel.clone().into());
    out.insert("direction".into(), m.direction.clone().into());
    let contact_key = if m.channel == "email" {
        "email"
    } else {
        "phoneNumber"
    };
    out.insert(contact_key.into(), m.contact.clone().into());
    out.insert("providerMessageId".into(), m.provider_id.clone().into());
    out.insert("status".into(), m.status.as_str().into());
    out.insert("content".into(), m.content.clone());
    if let Some(e) = &m.error {
        out.insert("error".into(), e.clone());
    }
    out.insert("runId".into(), m.run_id.clone().into());
    out.insert("stepId".into(), m.step_id.clone().into());
    out.insert("createdAt".into(), rfc3339(m.created_at).into());
    out.insert("updatedAt".into(), rfc3339(m.updated_at).into());
    Value::Object(out)
}

/// A message's ordering key: phone digits (an email address orders nothing).
pub fn message_contact(m: &MessageRecord) -> Option<&str> {
    m.contact.as_deref().filter(|_| m.channel != "email")
}

/// `conversation.updated` data.
pub fn conversation_view(c: &ConversationRecord) -> Value {
    json!({"phoneNumber": c.phone, "state": c.state, "updatedAt": rfc3339(c.updated_at)})
}

/// `workflow.*` data: the workflow without its definition.
pub fn workflow_summary(w: &WorkflowRecord) -> Value {
    json!({
        "id": w.id,
        "name": w.content.name,
        "description": w.content.description,
        "format": w.content.format,
        "version": w.version,
        "active": w.active,
        "trigger": w.content.trigger_kind,
        "createdAt": rfc3339(w.created_at),
        "updatedAt": rfc3339(w.updated_at),
    })
}

/// A subscription without its secrets: `subscription.disabled` data and the core of the API's view.
pub fn subscription_summary(s: &SubscriptionRecord) -> Value {
    json!({
        "id": s.id,
        "url": s.url,
        "description": s.description,
        "events": s.events,
        "ordered": s.ordered,
        "active": s.active,
        "failingSince": s.failing_since.map(rfc3339),
        "disabledAt": s.disabled_at.map(rfc3339),
        "disabledReason": s.disabled_reason,
        "createdAt": rfc3339(s.created_at),
        "updatedAt": rfc3339(s.updated_at),
    })
}
