//! Workflows and their versions.

use serde_json::Value;

use super::*;

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
    /// A `schedule` workflow's first tick, scheduled with it when it is active.
    pub next_tick: Option<i64>,
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
    /// A `schedule` workflow's next tick: it replaces the pending one unless that one is due
    /// already (then it fires, with the new version). `None` (or an inactive workflow) removes it.
    pub next_tick: Option<i64>,
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

/// An app installed (or upgraded) in one transaction: its record and its workflows' changes.
#[derive(Debug, Clone, PartialEq)]
pub struct AppInstall {
    /// The app's record: created, or replacing the installed one of the same id.
    pub app: ResourceRecord,
    pub create: Vec<NewWorkflow>,
    /// `(workflow id, update)`.
    pub update: Vec<(String, WorkflowUpdate)>,
    /// Workflows the new version no longer has.
    pub delete: Vec<String>,
}
