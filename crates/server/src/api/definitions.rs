//! What a posted workflow definition becomes: checked totally (compiled, and its references
//! resolved in the store), then the content to store. Shared by the workflows and apps APIs.

use serde_json::{Value, json};
use switchboard_core::workflow::{Reference, ReferenceKind, Trigger};
use switchboard_core::{Problem, Report};
use switchboard_steps::StepSpec;
use switchboard_store::{ResourceKind, StoreRecord, WorkflowContent};

use super::error::{ApiError, ApiResult};
use crate::app::Shared;

/// Fields the server sets; they are ignored in a posted definition, so a GET → PUT round trip works.
const SERVER_FIELDS: [&str; 7] = [
    "id",
    "format",
    "version",
    "active",
    "createdAt",
    "updatedAt",
    "warnings",
];

/// A definition that passed validation: what to store.
pub(super) struct Saved {
    pub content: WorkflowContent,
    /// The `active` the definition asked for.
    pub active: Option<bool>,
    /// A `schedule` workflow's first tick after now.
    pub next_tick: Option<i64>,
}

/// The first tick after `now` of a `schedule` trigger.
pub(super) fn first_tick(trigger: &Trigger, now: i64) -> Option<i64> {
    match trigger {
        Trigger::Schedule(schedule) => schedule.next_after(now),
        _ => None,
    }
}

/// Validates a posted definition; on success, what to store.
pub(super) async fn accept(
    state: &Shared,
    store: &StoreRecord,
    body: Value,
    now: i64,
) -> ApiResult<Saved> {
    let checked = check(state, store, &body).await?;
    saved(body, checked, now)
}

/// What to store of a checked definition, or its problems as a validation error.
pub(super) fn saved(body: Value, checked: Checked, now: i64) -> ApiResult<Saved> {
    match checked {
        Err(report) => Err(ApiError::validation(
            "the workflow definition is invalid",
            &report.errors,
        )),
        Ok((workflow, report)) => {
            let active = body.get("active").and_then(Value::as_bool);
            let definition = match body {
                Value::Object(mut map) => {
                    map.retain(|k, _| !SERVER_FIELDS.contains(&k.as_str()));
                    Value::Object(map)
                }
                other => other,
            };
            let (trigger_kind, trigger_key) = match &workflow.trigger {
                Trigger::Webhook { event_type } => ("webhook", Some(event_type.clone())),
                Trigger::CustomerMessage { channel, .. } => {
                    ("customer_message", Some(channel.clone()))
                }
                other => (other.kind(), None),
            };
            let next_tick = first_tick(&workflow.trigger, now);
            let content = WorkflowContent {
                name: workflow.name,
                description: workflow.description,
                format: workflow.format.as_str().into(),
                trigger_kind: trigger_kind.into(),
                trigger_key,
                definition,
                warnings: json!(report.warnings),
            };
            Ok(Saved {
                content,
                active,
                next_tick,
            })
        }
    }
}

pub(super) type Checked = Result<(switchboard_core::workflow::Workflow<StepSpec>, Report), Report>;

/// Compiles a definition and resolves what it refers to in the store.
pub(super) async fn check(state: &Shared, store: &StoreRecord, body: &Value) -> ApiResult<Checked> {
    if !body.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "a workflow definition must be a JSON object",
        ));
    }
    let compiled =
        switchboard_steps::compile_apart(&store.id, body.clone(), state.validation.clone()).await?;
    let mut report = compiled.report;
    report
        .errors
        .extend(unresolved(state, &store.id, &compiled.references).await?);
    report.sort();
    Ok(match compiled.workflow {
        Some(workflow) if report.is_valid() => Ok((workflow, report)),
        _ => Err(report),
    })
}

/// The references (saved webhooks, connectors, callable workflows) the store cannot resolve.
pub(super) async fn unresolved(
    state: &Shared,
    store_id: &str,
    references: &[Reference],
) -> ApiResult<Vec<Problem>> {
    let store = state.store.as_ref();
    let mut problems = Vec::new();
    for r in references {
        let problem = match r.kind {
            ReferenceKind::Workflow => match store.get_workflow(store_id, &r.key).await? {
                None => Some(format!("no workflow with id '{}' in this store", r.key)),
                Some(w) if w.content.trigger_kind != "callable" => Some(format!(
                    "workflow '{}' cannot be scheduled: its trigger is '{}', not 'callable'",
                    r.key, w.content.trigger_kind
                )),
                Some(_) => None,
            },
            ReferenceKind::Webhook => store
                .resource_by_name(store_id, ResourceKind::Webhook, &r.key)
                .await?
                .is_none()
                .then(|| {
                    format!(
                        "unknown action: no saved webhook named '{}' in this store",
                        r.key
                    )
                }),
            ReferenceKind::WebhookId => store
                .get_resource(store_id, ResourceKind::Webhook, &r.key)
                .await?
                .is_none()
                .then(|| format!("no saved webhook with id '{}' in this store", r.key)),
            ReferenceKind::EmailTemplate => store
                .resource_by_name(store_id, ResourceKind::EmailTemplate, &r.key)
                .await?
                .is_none()
                .then(|| format!("no email template named '{}' in this store", r.key)),
            ReferenceKind::Connector => store
                .get_resource(store_id, ResourceKind::Connector, &r.key)
                .await?
                .is_none()
                .then(|| format!("no connector with id '{}' in this store", r.key)),
        };
        if let Some(message) = problem {
            problems.push(Problem {
                pointer: r.pointer.clone(),
                message,
            });
        }
    }
    Ok(problems)
}
