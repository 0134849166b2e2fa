//! Messages and their statuses.

use serde_json::Value;

use super::*;

/// A message sent or received on a channel (a call counts as a voice message).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: String,
    pub store_id: String,
    /// `whatsapp`, `email` or `voice`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Phone digits, or the email address.
    pub contact: Option<String>,
    /// The provider's id (wamid, call sid, `Message-ID`): unique per store and channel.
    pub provider_id: Option<String>,
    pub status: MessageStatus,
    /// Statuses only move forward: an update with a lower rank than the stored one is ignored.
    pub status_rank: i64,
    /// What was said: text, template and variables, subject, TwiML…
    pub content: Value,
    pub error: Option<Value>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A provider's report on a message: applied when it moves the status forward, creating the
/// record when the report arrives before the send was recorded.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub store_id: String,
    pub channel: String,
    pub provider_id: String,
    pub status: MessageStatus,
    pub status_rank: i64,
    pub error: Option<Value>,
    /// The recipient, for a record created by this report.
    pub contact: Option<String>,
    /// Id of the record created by this report, if it creates one.
    pub new_id: String,
    /// When the status moves forward: the event to record with it.
    pub event: Option<StatusEvent>,
    pub now: i64,
}

impl StatusReport {
    /// The record this report creates when it is the first word on its message (the send is
    /// recorded later and completes it).
    pub fn first_record(&self) -> MessageRecord {
        MessageRecord {
            id: self.new_id.clone(),
            store_id: self.store_id.clone(),
            channel: self.channel.clone(),
            direction: "outbound".into(),
            contact: self.contact.clone(),
            provider_id: Some(self.provider_id.clone()),
            status: self.status,
            status_rank: self.status_rank,
            content: serde_json::json!({}),
            error: self.error.clone(),
            run_id: None,
            step_id: None,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFilter {
    pub contact: Option<String>,
    pub channel: Option<String>,
}

/// The event a status change records (`message.delivered`, …) and publishes, in the same
/// transaction; its payload is the updated record.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    pub id: String,
    pub event_type: String,
}
