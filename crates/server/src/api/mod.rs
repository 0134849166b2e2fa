//! The HTTP API (docs/api.md). Each resource has its module with a `router()`; the OpenAPI document is
//! generated from the handlers' annotations.

mod apps;
mod auth;
pub mod body;
mod channels;
mod cluster;
mod connectors;
mod contract;
mod conversations;
mod definitions;
mod deliveries;
pub mod dry_runs;
mod email_templates;
pub mod error;
mod event_types;
mod events;
mod execute;
mod extract;
mod hooks;
mod inbound;
pub mod limits;
mod list;
pub mod messages;
mod ops;
mod resources;
mod run_actions;
mod run_live;
mod run_view;
mod runs;
mod schedules;
mod stores;
mod subscriptions;
mod views;
mod webhooks;
mod workflow_schema;
mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::Shared;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Durable, event-driven workflows for customer engagement. \
        Store-scoped routes take `Authorization: Bearer <token>` and `StoreId: <store id>` \
        (a store token may omit StoreId; the admin token must send it)."),
    tags((name = "operations"), (name = "stores", description = "Tenants and their tokens (admin token)"), (name = "workflows"), (name = "events"), (name = "runs"), (name = "conversations"), (name = "connectors", description = "Credentials for outbound calls; secrets write-only"), (name = "webhooks", description = "Saved HTTP requests (seed 002)"), (name = "channels", description = "WhatsApp, email and voice: settings, email templates, messages, and the providers' signed callbacks"), (name = "schedules", description = "Scheduled calls of callable workflows and upcoming cron ticks"), (name = "apps", description = "Kustomer app definitions (seeds 001, 003): their workflows installed together"), (name = "subscriptions", description = "Outgoing events: subscriptions, their signed deliveries, the event catalogue (seed 004)"))
)]
struct ApiDoc;

/// The routes, state still to be given: probes and metrics, which answer without the database,
/// and the API, each request of which first brings the caches up to date ([`sync_caches`]).
pub struct Routes {
    probes: Router<Shared>,
    api: Router<Shared>,
    body_limit: usize,
}

impl Routes {
    pub fn with_state(self, state: Shared) -> Router {
        self.api
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                sync_caches,
            ))
            .merge(self.probes)
            .route("/assets/{file}", axum::routing::get(crate::console::asset))
            .route_layer(axum::middleware::from_fn(crate::observe::matched))
            .fallback(crate::console::fallback)
            .method_not_allowed_fallback(error::wrong_method)
            .layer(DefaultBodyLimit::max(self.body_limit))
            .layer(axum::middleware::from_fn(crate::observe::requests))
            .with_state(state)
    }
}

/// The routes and the OpenAPI document describing them (as JSON).
pub fn routes(body_limit: usize) -> (Routes, String) {
    let (probes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    let (api, api_doc) = OpenApiRouter::new()
        .routes(routes!(ops::openapi))
        .merge(stores::router())
        .merge(workflows::router())
        .merge(execute::router())
        .merge(dry_runs::router())
        .merge(events::router())
        .merge(hooks::router())
        .merge(runs::router())
        .merge(conversations::router())
        .merge(connectors::router())
        .merge(webhooks::router())
        .merge(channels::router())
        .merge(email_templates::router())
        .merge(messages::router())
        .merge(inbound::router())
        .merge(schedules::router())
        .merge(apps::router())
        .merge(subscriptions::router())
        .merge(deliveries::router())
        .merge(event_types::router())
        .merge(cluster::router())
        .split_for_parts();
    doc.merge(api_doc);
    contract::finish(&mut doc);
    let mut doc = serde_json::to_value(&doc).expect("the OpenAPI document is JSON");
    contract::optional_bodies(&mut doc);
    workflow_schema::register(&mut doc);
    let routes = Routes {
        probes,
        api,
        body_limit,
    };
    (routes, doc.to_string())
}

/// Runs before every API request: caches reflect every change committed before it, on any node
/// (see [`switchboard_engine::caches`]).
async fn sync_caches(
    axum::extract::State(state): axum::extract::State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.engine.generation.sync().await {
        Ok(()) => next.run(request).await,
        Err(e) => error::ApiError::from(e).into_response(),
    }
}
