//! `/api/event-types`: the events a subscription can ask for.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use switchboard_store::outbox::SYSTEM_EVENTS;
use switchboard_store::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::error::ApiResult;
use super::list::List;
use super::views::EventTypeView;
use crate::app::{AppState, Shared};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(event_types))
}

/// Every event there is for the store: Switchboard's own and those its live workflows emit
/// (`name → (description, emitting workflow ids)`).
pub(super) async fn catalogue(
    state: &AppState,
    store_id: &str,
) -> ApiResult<BTreeMap<String, (String, Vec<String>)>> {
    let mut known: BTreeMap<String, (String, Vec<String>)> = SYSTEM_EVENTS
        .iter()
        .map(|(name, about)| (name.to_string(), (about.to_string(), Vec::new())))
        .collect();
    let mut page = PageRequest {
        limit: 500,
        after: None,
    };
    loop {
        let workflows = state.store.list_workflows(store_id, &page).await?;
        for w in &workflows.items {
            let Some(graph) = state.engine.graphs.get(store_id, &w.id, w.version).await? else {
                continue;
            };
            for node in &graph.nodes {
                if let Some(event) = node.spec.emits() {
                    let entry = known.entry(event.to_owned()).or_insert_with(|| {
                        (
                            format!("Emitted by a workflow's {} step.", node.step_type),
                            Vec::new(),
                        )
                    });
                    if !entry.1.contains(&w.id) {
                        entry.1.push(w.id.clone());
                    }
                }
            }
        }
        match workflows.next {
            Some(next) => page.after = Some(next),
            None => return Ok(known),
        }
    }
}

/// The events a subscription can ask for: Switchboard's own and those the store's workflows emit.
#[utoipa::path(get, path = "/api/event-types", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = List<EventTypeView>)))]
async fn event_types(scope: Scope, State(state): State<Shared>) -> ApiResult<Json<Value>> {
    let known = catalogue(&state, &scope.store.id).await?;
    let data: Vec<Value> = known
        .into_iter()
        .map(|(name, (description, workflows))| {
            let source = if SYSTEM_EVENTS.iter().any(|(n, _)| *n == name) { "system" } else { "workflow" };
            json!({"name": name, "description": description, "source": source, "workflowIds": workflows})
        })
        .collect();
    let page = Page {
        items: data,
        next: None,
    };
    Ok(Json(json!(List::from_page(page, |v| v))))
}
