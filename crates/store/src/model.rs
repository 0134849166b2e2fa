//! Records as stored and returned.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct NewStore {
    pub id: String,
    pub name: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub id: String,
    /// `None` for an admin token.
    pub store_id: Option<String>,
    pub name: Option<String>,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub hash: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub store_id: Option<String>,
    pub name: Option<String>,
    pub created_at: i64,
}

impl TokenRecord {
    pub fn is_admin(&self) -> bool {
        self.store_id.is_none()
    }
}

/// What a definition says about itself, extracted when it is saved.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowContent {
    pub name: String,
    pub description: Option<String>,
    /// `native` or `kustomer`.
    pub format: String,
    /// The trigger's type (`webhook`, `callable`, …) and the key it is looked up by (the event type).
    pub trigger_kind: String,
    pub trigger_key: Option<String>,
    /// The definition as posted (key order kept).
    pub definition: Value,
    pub warnings: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    pub id: String,
    pub store_id: String,
    pub active: bool,
    pub content: WorkflowContent,
    pub now: i64,
}

impl NewWorkflow {
    /// The record a fresh insert stores: version 1.
    pub fn into_record(self) -> WorkflowRecord {
        WorkflowRecord {
            id: self.id,
            store_id: self.store_id,
            version: 1,
            active: self.active,
            content: self.content,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowUpdate {
    pub content: WorkflowContent,
    /// `None` keeps the current setting.
    pub active: Option<bool>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub id: String,
    pub store_id: String,
    pub version: i64,
    pub active: bool,
    pub content: WorkflowContent,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub workflow_id: String,
    pub version: i64,
    pub definition: Value,
    pub created_at: i64,
}

/// Keyset pagination: items after the cursor, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    /// The sort key of the last item already seen.
    pub after: Option<String>,
}

impl PageRequest {
    /// The key to list after; the empty string sorts before every id.
    pub fn after_key(&self) -> String {
        self.after.clone().unwrap_or_default()
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: 50,
            after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The key to continue after, when more items exist.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
