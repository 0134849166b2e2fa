//! The `Workflows` area on both backends.

use super::{
    count, create, delete, for_trigger, get, get_version, install_app, list, list_versions,
    trigger_keys,
};
use super::{set_active, uninstall_app, update};
use crate::dispatch::on_both_backends;
use crate::model::*;

on_both_backends!(crate::Workflows {
    write fn create_workflow(w: NewWorkflow) -> WorkflowRecord => |db| create(db, &w);
    write fn update_workflow(store_id: &str, id: &str, u: WorkflowUpdate) -> Option<WorkflowRecord>
        => |db| update(db, &store_id, &id, &u);
    write fn set_workflow_active(store_id: &str, id: &str, active: bool, next_tick: Option<i64>, now: i64)
        -> Option<WorkflowRecord> => |db| set_active(db, &store_id, &id, active, next_tick, now);
    write fn delete_workflow(store_id: &str, id: &str, now: i64) -> bool => |db| delete(db, &store_id, &id, now);
    read fn get_workflow(store_id: &str, id: &str) -> Option<WorkflowRecord> => |db| get(db, &store_id, &id);
    read fn list_workflows(store_id: &str, page: &PageRequest) -> Page<WorkflowRecord>
        => |db| list(db, &store_id, &page);
    read fn count_workflows(store_id: &str) -> i64 => |db| count(db, &store_id);
    read fn list_versions(store_id: &str, id: &str, page: &PageRequest) -> Option<Page<VersionRecord>>
        => |db| list_versions(db, &store_id, &id, &page);
    read fn get_version(store_id: &str, id: &str, number: i64) -> Option<VersionRecord>
        => |db| get_version(db, &store_id, &id, number);
    read fn workflows_for_trigger(store_id: &str, kind: &str, key: &str) -> Vec<(String, i64)>
        => |db| for_trigger(db, &store_id, &kind, &key);
    read fn trigger_keys(store_id: &str, kind: &str) -> Vec<String>
        => |db| trigger_keys(db, &store_id, &kind);
    write fn install_app(install: AppInstall) -> ResourceRecord => |db| install_app(db, install);
    write fn uninstall_app(store_id: &str, app_id: &str, workflow_ids: Vec<String>, now: i64) -> bool
        => |db| uninstall_app(db, &store_id, &app_id, &workflow_ids, now);
});
