//! Workflows: CRUD, activation, versions, validation. A definition is either format (native or
//! Kustomer, detected by shape), validated totally, and stored as posted.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use switchboard_core::{Problem, ids};
use switchboard_store::{NewWorkflow, VersionRecord, WorkflowRecord, WorkflowUpdate};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::definitions::{accept, check, first_tick};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::list::{List, ListParams, Paging};
use super::stores::Deleted;
use super::views::ProblemView;
use super::workflow_schema;
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_workflows, create_workflow))
        .routes(routes!(validate_workflow))
        .routes(routes!(
            get_workflow,
            replace_workflow,
            patch_workflow,
            delete_workflow
        ))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
}

/// A workflow definition, native (seed 000) or Kustomer graph (seed 001); see docs/workflows.md.
/// Documents the request body; handlers read it as a JSON value to validate it totally.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct WorkflowDefinition {
    name: String,
    description: Option<String>,
    /// Default `true`.
    active: Option<bool>,
    /// `{type, …}` (native) or `{eventName, transitions}` (Kustomer).
    #[schema(schema_with = trigger_schema)]
    trigger: Value,
    #[schema(schema_with = steps_schema)]
    steps: Vec<Value>,
    context_variables: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    max_steps: Option<u64>,
}

fn trigger_schema() -> utoipa::openapi::Ref {
    workflow_schema::trigger_ref()
}

fn steps_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(workflow_schema::step_ref())
        .build()
}

/// A stored workflow: `id`, its definition as posted, and the server's fields.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct WorkflowView {
    id: String,
    name: String,
    /// `native` or `kustomer`.
    format: String,
    version: i64,
    active: bool,
    created_at: String,
    updated_at: String,
    /// Unknown fields kept but unused, and other remarks.
    warnings: Vec<ProblemView>,
    #[schema(schema_with = trigger_schema)]
    trigger: Value,
    #[schema(schema_with = steps_schema)]
    steps: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowSummary {
    id: String,
    name: String,
    description: Option<String>,
    version: i64,
    active: bool,
    #[schema(value_type = Object)]
    trigger: Value,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VersionView {
    workflow_id: String,
    version: i64,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    definition: Option<Value>,
}

#[derive(Serialize, ToSchema)]
struct Validation {
    valid: bool,
    errors: Vec<ProblemView>,
    warnings: Vec<ProblemView>,
}

/// Documents the PATCH body; the handler reads it as a JSON value to name any other field.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ActivePatch {
    active: bool,
}

/// Lists the store's workflows.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<WorkflowSummary>), (status = 401, body = ErrorBody)))]
async fn list_workflows(
    scope: Scope,
    State(state): State<Shared>,
    Paging(page): Paging,
) -> ApiResult<Json<List<WorkflowSummary>>> {
    let page = state.store.list_workflows(&scope.store.id, &page).await?;
    Ok(Json(List::from_page(page, |w| WorkflowSummary {
        trigger: w
            .content
            .definition
            .get("trigger")
            .cloned()
            .unwrap_or(Value::Null),
        id: w.id,
        name: w.content.name,
        description: w.content.description,
        version: w.version,
        active: w.active,
        created_at: rfc3339(w.created_at),
        updated_at: rfc3339(w.updated_at),
    })))
}

/// Creates a workflow (version 1).
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = WorkflowDefinition,
    responses((status = 201, body = WorkflowView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_workflow(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = now_ms();
    let saved = accept(&state, &scope.store, body, now).await?;
    let has = state.store.count_workflows(&scope.store.id).await?;
    let own = scope.store.limits.max_workflows;
    state.limits.workflows.allows(has, 1, own)?;
    let new = NewWorkflow {
        id: ids::new_id(ids::WORKFLOW),
        store_id: scope.store.id,
        active: saved.active.unwrap_or(true),
        content: saved.content,
        next_tick: saved.next_tick,
        now,
    };
    let record = state.store.create_workflow(new).await?;
    state.engine.trigger_targets.clear();
    Ok((StatusCode::CREATED, Json(view(record))))
}

/// Checks a definition without storing anything.
#[utoipa::path(post, path = "/api/workflows/validate", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = WorkflowDefinition,
    responses((status = 200, body = Validation), (status = 400, description = "malformed JSON", body = ErrorBody)))]
async fn validate_workflow(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Validation>> {
    let report = match check(&state, &scope.store, &body).await? {
        Ok((_, report)) | Err(report) => report,
    };
    Ok(Json(Validation {
        valid: report.is_valid(),
        errors: problems(report.errors),
        warnings: problems(report.warnings),
    }))
}

/// One workflow, at its current version.
#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = WorkflowView), (status = 404, body = ErrorBody)))]
async fn get_workflow(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .get_workflow(&scope.store.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(view(record)))
}

/// Replaces the definition: a new version; running runs keep theirs.
#[utoipa::path(put, path = "/api/workflows/{id}", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = WorkflowDefinition,
    responses((status = 200, body = WorkflowView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replace_workflow(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if state
        .store
        .get_workflow(&scope.store.id, &id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("workflow"));
    }
    let now = now_ms();
    let saved = accept(&state, &scope.store, body, now).await?;
    let update = WorkflowUpdate {
        content: saved.content,
        active: saved.active,
        next_tick: saved.next_tick,
        now,
    };
    let record = state
        .store
        .update_workflow(&scope.store.id, &id, update)
        .await?
        .inspect(|_| state.engine.trigger_targets.clear())
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(view(record)))
}

/// Turns a workflow on or off (no new version).
#[utoipa::path(patch, path = "/api/workflows/{id}", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = ActivePatch,
    responses((status = 200, body = WorkflowView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patch_workflow(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let Value::Object(fields) = &body else {
        return Err(ApiError::invalid_field(
            "",
            "the body must be an object like {\"active\": false}",
        ));
    };
    if let Some(other) = fields.keys().find(|k| *k != "active") {
        return Err(ApiError::invalid_field(
            &switchboard_core::problem::child("", other),
            format!("only 'active' can be patched; PUT the whole definition to change '{other}'"),
        ));
    }
    let active = match fields.get("active") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(ApiError::invalid_field(
                "/active",
                "'active' must be given as true or false",
            ));
        }
    };
    let current = state
        .store
        .get_workflow(&scope.store.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let now = now_ms();
    let graph = state
        .engine
        .graphs
        .get(&scope.store.id, &id, current.version)
        .await?;
    let next_tick = graph.and_then(|g| first_tick(&g.trigger, now));
    let record = state
        .store
        .set_workflow_active(&scope.store.id, &id, active, next_tick, now)
        .await?
        .inspect(|_| state.engine.trigger_targets.clear())
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(view(record)))
}

/// Deletes a workflow; its history stays.
#[utoipa::path(delete, path = "/api/workflows/{id}", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
async fn delete_workflow(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    if state
        .store
        .delete_workflow(&scope.store.id, &id, now_ms())
        .await?
    {
        state.engine.trigger_targets.clear();
        Ok(Deleted::new(id))
    } else {
        Err(ApiError::not_found("workflow"))
    }
}

/// The workflow's versions, oldest first.
#[utoipa::path(get, path = "/api/workflows/{id}/versions", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<VersionView>), (status = 404, body = ErrorBody)))]
async fn list_versions(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    Paging(page): Paging,
) -> ApiResult<Json<List<VersionView>>> {
    let page = state
        .store
        .list_versions(&scope.store.id, &id, &page)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(List::from_page(page, |v| version_view(v, false))))
}

/// One version's definition.
#[utoipa::path(get, path = "/api/workflows/{id}/versions/{version}", tag = "workflows", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
async fn get_version(
    scope: Scope,
    State(state): State<Shared>,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Json<VersionView>> {
    let number: i64 = version
        .parse()
        .map_err(|_| ApiError::not_found("version"))?;
    let v = state
        .store
        .get_version(&scope.store.id, &id, number)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    Ok(Json(version_view(v, true)))
}

fn version_view(v: VersionRecord, with_definition: bool) -> VersionView {
    VersionView {
        workflow_id: v.workflow_id,
        version: v.version,
        created_at: rfc3339(v.created_at),
        definition: with_definition.then_some(v.definition),
    }
}

fn problems(list: Vec<Problem>) -> Vec<ProblemView> {
    list.into_iter()
        .map(|p| ProblemView {
            pointer: p.pointer,
            message: p.message,
        })
        .collect()
}

/// The stored workflow as the API shows it: `id`, the definition as posted, then the server's fields.
fn view(w: WorkflowRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), w.id.into());
    if let Value::Object(definition) = w.content.definition {
        out.extend(definition);
    }
    out.insert("format".into(), w.content.format.into());
    out.insert("version".into(), w.version.into());
    out.insert("active".into(), w.active.into());
    out.insert("createdAt".into(), rfc3339(w.created_at).into());
    out.insert("updatedAt".into(), rfc3339(w.updated_at).into());
    out.insert("warnings".into(), w.content.warnings);
    Value::Object(out)
}
