//! Named settings resources.

use serde_json::Value;

/// The kinds of named settings resources a store keeps (one table, one set of operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Credentials for outbound calls; deleting one removes it (and its secrets).
    Connector,
    /// An installed Kustomer app: its definition and the ids its workflows were given.
    App,
    /// A saved HTTP request; deleting one is soft, so it can be restored.
    Webhook,
    /// A store's settings of one channel (`whatsapp`, `email`, `voice`), named after it.
    Channel,
    /// A stored email template (subject, text, html).
    EmailTemplate,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Connector => "connector",
            ResourceKind::App => "app",
            ResourceKind::Webhook => "webhook",
            ResourceKind::Channel => "channel",
            ResourceKind::EmailTemplate => "email_template",
        }
    }

    /// Whether a delete keeps the row (listed with `?deleted=true`, restorable).
    pub fn soft_delete(self) -> bool {
        matches!(self, ResourceKind::Webhook)
    }
}

/// A named resource: `body` is what the API shows, with secrets sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRecord {
    pub id: String,
    pub store_id: String,
    pub kind: ResourceKind,
    pub name: String,
    pub body: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

impl ResourceRecord {
    /// A record not stored yet.
    pub fn new(
        store_id: &str,
        kind: ResourceKind,
        id: String,
        name: String,
        body: Value,
        now: i64,
    ) -> ResourceRecord {
        ResourceRecord {
            id,
            store_id: store_id.to_owned(),
            kind,
            name,
            body,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}
