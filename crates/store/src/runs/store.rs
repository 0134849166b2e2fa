//! The `Runs` area on both backends.

use super::conversations;
use super::write::{accept, cancel_run, checkpoint, first_answer, record_action, retry_run};
use super::{
    changed_runs, claim, claim_waking, count_waiting, event_runs, get_run, list_events, list_runs,
    run_steps, stores_waking, workflow_stats,
};
use crate::dispatch::on_both_backends;
use crate::model::*;
use serde_json::Value;

on_both_backends!(crate::Runs {
    write fn accept(event: NewEvent, new_runs: Vec<NewRun>) -> Acceptance => |db| accept(db, &event, &new_runs);
    write fn checkpoint(cp: Checkpoint) -> bool => |db| checkpoint(db, &cp);
    read fn first_answer(store_id: &str, key: &str, since: i64) -> Option<Acceptance>
        => |db| first_answer(db, &store_id, &key, since);
    write fn claim_runs(lease: Lease, limit: u32, steal: bool) -> Vec<RunRecord>
        => |db| claim(db, &lease, limit, steal);
    read fn stores_with_waking_runs(now: i64) -> Vec<String> => |db| stores_waking(db, now);
    write fn claim_waking_runs(lease: Lease, quotas: Vec<(String, u32)>) -> Vec<RunRecord>
        => |db| claim_waking(db, &lease, &quotas);
    read fn get_run(store_id: &str, id: &str) -> Option<RunRecord> => |db| get_run(db, &store_id, &id);
    read fn list_runs(store_id: &str, filter: &RunFilter, page: &PageRequest) -> Page<RunRecord>
        => |db| list_runs(db, &store_id, &filter, &page);
    read fn run_steps(run_id: &str) -> Vec<StepRecord> => |db| run_steps(db, &run_id);
    read fn changed_runs(store_id: &str, filter: &RunFilter, after: (i64, String), limit: u32) -> Vec<RunRecord>
        => |db| changed_runs(db, &store_id, &filter, &after, limit);
    read fn list_events(store_id: &str, filter: &EventFilter, page: &PageRequest) -> Page<EventRecord>
        => |db| list_events(db, &store_id, &filter, &page);
    read fn event_runs(event_ids: Vec<String>) -> Vec<(String, String)> => |db| event_runs(db, &event_ids);
    read fn workflow_stats(store_id: &str, workflow_id: &str, since: i64) -> WorkflowStats
        => |db| workflow_stats(db, &store_id, &workflow_id, since);
    write fn cancel_run(store_id: &str, id: &str, action: Value, now: i64) -> Option<RunRecord>
        => |db| cancel_run(db, &store_id, &id, &action, now);
    write fn retry_run(retry: RunRetry) -> Option<RunRecord> => |db| retry_run(db, &retry);
    write fn record_run_action(store_id: &str, id: &str, action: Value) -> Option<RunRecord>
        => |db| record_action(db, &store_id, &id, &action);
    read fn count_waiting() -> i64 => |db| count_waiting(db);
    read fn get_conversation(store_id: &str, phone: &str) -> Option<ConversationRecord>
        => |db| conversations::get(db, &store_id, &phone);
    write fn merge_conversation(patch: ConversationPatch, now: i64) -> ConversationRecord
        => |db| conversations::merge(db, &patch, now);
    direct fn delete_conversation(store_id: &str, phone: &str) -> bool
        => |db| conversations::delete(db, &store_id, &phone);
});
