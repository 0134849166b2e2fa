//! `/api/apps`: Kustomer app definitions (seeds 001, 003). An app's workflows are installed in one
//! transaction; their app-local ids become global ids everywhere the app refers to them
//! (`workflowId` params, `kustomer.workflow.<id>.call` event names). Posting a newer version
//! updates the same workflows in place (each gets a new version), removes those the app no longer
//! has, and keeps each workflow's `active` setting.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use regex::Regex;
use serde_json::{Value, json};
use switchboard_core::problem::child;
use switchboard_core::workflow::{ReferenceKind, Trigger, check_name, remap_workflow_ids};
use switchboard_core::{Problem, ids};
use switchboard_store::{
    AppInstall, NewWorkflow, ResourceKind, ResourceRecord, StoreRecord, WorkflowUpdate,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::definitions::{Saved, saved, unresolved};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::list::{List, ListParams, Paging};
use super::views::{AppRemoved, AppView};
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+][0-9A-Za-z.+-]*)?$").expect("valid pattern")
});

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, install_app))
        .routes(routes!(delete_app))
}

/// Installs an app, or upgrades it to a newer version.
#[utoipa::path(post, path = "/api/apps", tag = "apps", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Object,
    responses((status = 201, description = "installed", body = AppView),
        (status = 200, description = "upgraded", body = AppView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn install_app(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let app = read_app(&body)?;
    let store = &scope.store;
    let installed = state
        .store
        .resource_by_name(&store.id, ResourceKind::App, &app.name)
        .await?;
    let known = installed_ids(installed.as_ref(), &app)?;
    // Global ids: kept for workflows the installed version had, new for the others.
    let global: HashMap<String, String> = app
        .workflows
        .iter()
        .map(|w| {
            let id = known
                .get(&w.local)
                .cloned()
                .unwrap_or_else(|| ids::new_id(ids::WORKFLOW));
            (w.local.clone(), id)
        })
        .collect();
    let now = now_ms();
    let checked = check_all(&state, store, &app, &global, now).await?;
    let changes = changes(&app, checked, &global, &known, &store.id, now);
    if !changes.create.is_empty() {
        let has = state.store.count_workflows(&store.id).await?;
        let leaving = changes.delete.len();
        state.limits.workflows.allows(
            has - leaving as i64,
            changes.create.len(),
            store.limits.max_workflows,
        )?;
    }
    let record_body = json!({
        "app": app.name,
        "version": app.version,
        "title": app.title,
        "workflows": changes.listed,
        "definition": body,
    });
    let app_record = match &installed {
        Some(r) => ResourceRecord {
            body: record_body,
            updated_at: now,
            ..r.clone()
        },
        None => ResourceRecord::new(
            &store.id,
            ResourceKind::App,
            ids::new_id("app"),
            app.name.clone(),
            record_body,
            now,
        ),
    };
    let record = state
        .store
        .install_app(AppInstall {
            app: app_record,
            create: changes.create,
            update: changes.update,
            delete: changes.delete,
        })
        .await?;
    state.engine.trigger_targets.clear();
    let status = if installed.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(&record))))
}

/// The global ids of the installed version's workflows by local id; a conflict unless `app` is
/// newer than the installed version.
fn installed_ids(
    installed: Option<&ResourceRecord>,
    app: &App,
) -> ApiResult<HashMap<String, String>> {
    let mut known = HashMap::new();
    let Some(r) = installed else {
        return Ok(known);
    };
    let have = r.body["version"].as_str().unwrap_or_default();
    if !newer(&app.version, have) {
        return Err(ApiError::conflict(
            "/version",
            format!(
                "version {have} of app '{}' is installed; post a newer version to upgrade it",
                app.name
            ),
        ));
    }
    for w in r.body["workflows"].as_array().into_iter().flatten() {
        if let (Some(local), Some(id)) = (w["localId"].as_str(), w["id"].as_str()) {
            known.insert(local.to_owned(), id.to_owned());
        }
    }
    Ok(known)
}

/// What installing changes: workflows to create, update and delete, and the `{localId, id, name}`
/// list the app record keeps.
struct Changes {
    create: Vec<NewWorkflow>,
    update: Vec<(String, WorkflowUpdate)>,
    delete: Vec<String>,
    listed: Vec<Value>,
}

fn changes(
    app: &App,
    checked: Vec<Saved>,
    global: &HashMap<String, String>,
    known: &HashMap<String, String>,
    store_id: &str,
    now: i64,
) -> Changes {
    let mut install = Changes {
        create: Vec::new(),
        update: Vec::new(),
        delete: known
            .iter()
            .filter(|(local, _)| !global.contains_key(*local))
            .map(|(_, id)| id.clone())
            .collect(),
        listed: Vec::new(),
    };
    for (w, saved) in app.workflows.iter().zip(checked) {
        let id = global[&w.local].clone();
        let entry = json!({"localId": w.local, "id": id, "name": saved.content.name});
        install.listed.push(entry);
        if known.contains_key(&w.local) {
            let u = WorkflowUpdate {
                content: saved.content,
                active: None,
                next_tick: saved.next_tick,
                now,
            };
            install.update.push((id, u));
        } else {
            install.create.push(NewWorkflow {
                id,
                store_id: store_id.to_owned(),
                active: saved.active.unwrap_or(true),
                content: saved.content,
                next_tick: saved.next_tick,
                now,
            });
        }
    }
    install
}

/// The installed apps.
#[utoipa::path(get, path = "/api/apps", tag = "apps", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<AppView>)))]
async fn list_apps(
    scope: Scope,
    State(state): State<Shared>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    let page = state
        .store
        .list_resources(&scope.store.id, ResourceKind::App, false, &page)
        .await?;
    Ok(Json(List::from_page(page, |r| view(&r))))
}

/// Uninstalls an app: its workflows are deleted (their history stays) in one transaction.
#[utoipa::path(delete, path = "/api/apps/{app}", tag = "apps", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = AppRemoved), (status = 404, body = ErrorBody)))]
async fn delete_app(
    scope: Scope,
    State(state): State<Shared>,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .resource_by_name(&scope.store.id, ResourceKind::App, &app)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    let workflow_ids: Vec<String> = record.body["workflows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["id"].as_str().map(str::to_owned))
        .collect();
    if !state
        .store
        .uninstall_app(&scope.store.id, &record.id, workflow_ids.clone(), now_ms())
        .await?
    {
        return Err(ApiError::not_found("app"));
    }
    state.engine.trigger_targets.clear();
    Ok(Json(
        json!({"app": app, "deleted": true, "workflows": workflow_ids}),
    ))
}

fn view(r: &ResourceRecord) -> Value {
    json!({
        "app": r.body["app"],
        "version": r.body["version"],
        "title": r.body["title"],
        "workflows": r.body["workflows"],
        "createdAt": rfc3339(r.created_at),
        "updatedAt": rfc3339(r.updated_at),
    })
}

struct App {
    name: String,
    version: String,
    title: Option<String>,
    workflows: Vec<AppWorkflow>,
}

struct AppWorkflow {
    /// The app-local id (`id`), else the workflow's name.
    local: String,
    definition: Value,
}

/// Reads an app definition's own fields; every problem at its pointer.
fn read_app(body: &Value) -> ApiResult<App> {
    let Some(top) = body.as_object() else {
        return Err(ApiError::invalid_field(
            "",
            "an app definition must be a JSON object {app, version, title, workflows}",
        ));
    };
    let mut problems = Vec::new();
    let mut problem = |pointer: &str, message: String| {
        problems.push(Problem {
            pointer: pointer.into(),
            message,
        })
    };
    let name = match top.get("app").and_then(Value::as_str) {
        Some(n) => {
            if let Err(e) = check_name(n) {
                problem("/app", e);
            }
            n.to_owned()
        }
        None => {
            problem(
                "/app",
                "'app' (the app's name) is required, as a string".into(),
            );
            String::new()
        }
    };
    let version = match top.get("version").and_then(Value::as_str) {
        Some(v) if VERSION.is_match(v) => v.to_owned(),
        other => {
            problem(
                "/version",
                format!(
                    "'version' must be a version like \"1.0.2\", not {}",
                    other.map_or("missing".into(), |v| format!("'{v}'"))
                ),
            );
            String::new()
        }
    };
    let title = match top.get("title") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => {
            problem("/title", "'title' must be a string".into());
            None
        }
    };
    let workflows = app_workflows(top.get("workflows"), &mut problem);
    if !problems.is_empty() {
        return Err(ApiError::validation(
            "the app definition is invalid",
            &problems,
        ));
    }
    Ok(App {
        name,
        version,
        title,
        workflows,
    })
}

/// The app's workflows with their app-local ids (`id`, else `name`), each unique.
fn app_workflows(
    listed: Option<&Value>,
    problem: &mut impl FnMut(&str, String),
) -> Vec<AppWorkflow> {
    let Some(items) = listed.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        let message = "'workflows' must be a non-empty array of workflow definitions";
        problem("/workflows", message.into());
        return Vec::new();
    };
    let mut workflows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, w) in items.iter().enumerate() {
        let at = child("/workflows", i);
        let local = match (w.get("id"), w.get("name")) {
            (Some(Value::String(id)), _) => id.clone(),
            (Some(Value::Number(id)), _) => id.to_string(),
            (None, Some(Value::String(name))) => name.clone(),
            _ => {
                problem(&at, "each workflow needs an 'id' or a 'name'".into());
                continue;
            }
        };
        if let Some(first) = seen.insert(local.clone(), i) {
            let message = format!("'{local}' is also used by /workflows/{first}");
            problem(&child(&at, "id"), message);
        }
        workflows.push(AppWorkflow {
            local,
            definition: w.clone(),
        });
    }
    workflows
}

/// Validates every workflow of the app with its ids remapped; references to the app's own
/// workflows are resolved within the app. All problems of all workflows are reported together,
/// under `/workflows/<i>`.
async fn check_all(
    state: &Shared,
    store: &StoreRecord,
    app: &App,
    global: &HashMap<String, String>,
    now: i64,
) -> ApiResult<Vec<Saved>> {
    // Each workflow compiled once, with its ids remapped; then which of them are callable.
    let mut compiled: Vec<(Value, _)> = Vec::with_capacity(app.workflows.len());
    for w in &app.workflows {
        let mut definition = remap_workflow_ids(&w.definition, global);
        if let Value::Object(map) = &mut definition {
            map.remove("id");
        }
        let options = state.validation.clone();
        let checked =
            switchboard_steps::compile_apart(&store.id, definition.clone(), options).await?;
        compiled.push((definition, checked));
    }
    let callable: HashMap<&str, bool> = app
        .workflows
        .iter()
        .zip(&compiled)
        .map(|(w, (_, c))| {
            let is_callable = c
                .workflow
                .as_ref()
                .is_some_and(|g| matches!(g.trigger, Trigger::Callable { .. }));
            (global[&w.local].as_str(), is_callable)
        })
        .collect();
    let mut problems = Vec::new();
    let mut saved_all = Vec::new();
    for (i, (definition, compiled)) in compiled.into_iter().enumerate() {
        let mut report = compiled.report;
        let (own, others): (Vec<_>, Vec<_>) = compiled.references.into_iter().partition(|r| {
            r.kind == ReferenceKind::Workflow && callable.contains_key(r.key.as_str())
        });
        for r in own.iter().filter(|r| !callable[r.key.as_str()]) {
            report.error(
                &r.pointer,
                format!(
                    "workflow '{}' of this app cannot be scheduled: its trigger is not callable",
                    r.key
                ),
            );
        }
        report
            .errors
            .extend(unresolved(state, &store.id, &others).await?);
        let at = child("/workflows", i);
        if report.is_valid()
            && let Some(workflow) = compiled.workflow
        {
            saved_all.push(saved(definition, Ok((workflow, report)), now)?);
            continue;
        }
        problems.extend(report.errors.into_iter().map(|p| Problem {
            pointer: format!("{at}{}", p.pointer),
            message: p.message,
        }));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(
            "the app definition is invalid",
            &problems,
        ));
    }
    Ok(saved_all)
}

/// Whether version `a` is newer than `b` (numeric major.minor.patch; a suffix is not compared).
fn newer(a: &str, b: &str) -> bool {
    fn parts(v: &str) -> Option<[u64; 3]> {
        let c = VERSION.captures(v)?;
        let n = |i| c.get(i).map_or(Some(0), |m| m.as_str().parse().ok());
        Some([n(1)?, n(2)?, n(3)?])
    }
    match (parts(a), parts(b)) {
        (Some(a), Some(b)) => a > b,
        _ => a != b,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_numerically() {
        assert!(super::newer("0.0.2", "0.0.1"));
        assert!(super::newer("1.10.0", "1.9.9"));
        assert!(super::newer("2", "1.9"));
        assert!(!super::newer("0.0.1", "0.0.1"));
        assert!(!super::newer("0.9.0", "1.0.0"));
    }
}
