//! `/api/connectors`: credentials for outbound calls (Basic, Bearer, API key). Secrets are
//! write-only: sealed at rest, read back as `***`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use switchboard_core::Problem;
use switchboard_store::{PageRequest, ResourceKind};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::error::{ApiResult, ErrorBody};
use super::extract::Path;
use super::list::{List, ListParams, Paging};
use super::resources::{self, Kind, invalid};
use super::stores::Deleted;
use super::views::ConnectorView;
use crate::app::Shared;
use switchboard_engine::outbound::connectors;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_connectors, create_connector))
        .routes(routes!(
            get_connector,
            replace_connector,
            patch_connector,
            delete_connector
        ))
}

pub struct Connectors;

#[async_trait::async_trait]
impl Kind for Connectors {
    const KIND: ResourceKind = ResourceKind::Connector;
    const PREFIX: &'static str = "con";
    const WHAT: &'static str = "connector";

    async fn prepare(
        state: &Shared,
        store_id: &str,
        id: &str,
        body: &Value,
        stored: Option<&Value>,
    ) -> ApiResult<(String, Value, Vec<Problem>)> {
        let sealer = &state.engine.outbound.sealer;
        let (name, body, report) = connectors::prepare(sealer, store_id, id, body, stored)
            .map_err(|report| invalid(Self::WHAT, &report))?;
        Ok((name, body, report.warnings))
    }

    fn show(body: &Value) -> Value {
        connectors::view(body)
    }

    async fn in_use(state: &Shared, store_id: &str, id: &str) -> ApiResult<Option<String>> {
        let store = state.store.as_ref();
        let mut page = PageRequest {
            limit: 500,
            after: None,
        };
        loop {
            let hooks = store
                .list_resources(store_id, ResourceKind::Webhook, false, &page)
                .await?;
            if let Some(h) = hooks.items.iter().find(|h| connectors::uses(&h.body, id)) {
                return Ok(Some(format!(
                    "connector {id} is used by saved webhook '{}' ({})",
                    h.name, h.id
                )));
            }
            match hooks.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut page = PageRequest {
            limit: 500,
            after: None,
        };
        loop {
            let workflows = store.list_workflows(store_id, &page).await?;
            if let Some(w) = workflows
                .items
                .iter()
                .find(|w| connectors::uses(&w.content.definition, id))
            {
                return Ok(Some(format!(
                    "connector {id} is used by workflow '{}' ({})",
                    w.content.name, w.id
                )));
            }
            match workflows.next {
                Some(next) => page.after = Some(next),
                None => return Ok(None),
            }
        }
    }
}

/// Documents the request body; handlers read it as a JSON value to check it totally.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ConnectorInput {
    name: String,
    /// `basic`, `bearer` or `api_key`.
    r#type: String,
    /// basic
    username: Option<String>,
    /// basic; write-only
    password: Option<String>,
    /// bearer; write-only
    token: Option<String>,
    /// api_key: `{name, value (write-only), in: "header"|"query"}`
    #[schema(value_type = Object)]
    key: Option<Value>,
}

/// The store's connectors (secrets as `***`).
#[utoipa::path(get, path = "/api/connectors", tag = "connectors", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<ConnectorView>)))]
async fn list_connectors(
    scope: Scope,
    State(state): State<Shared>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    resources::list::<Connectors>(&state, &scope.store.id, false, &page).await
}

/// Creates a connector.
#[utoipa::path(post, path = "/api/connectors", tag = "connectors", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = ConnectorInput,
    responses((status = 201, body = ConnectorView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_connector(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    resources::create::<Connectors>(&state, &scope.store.id, body).await
}

/// A connector (secrets as `***`).
#[utoipa::path(get, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = ConnectorView), (status = 404, body = ErrorBody)))]
async fn get_connector(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    resources::get::<Connectors>(&state, &scope.store.id, &id).await
}

/// Replaces a connector; a secret omitted or sent as `***` keeps its stored value.
#[utoipa::path(put, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = ConnectorInput,
    responses((status = 200, body = ConnectorView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replace_connector(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    resources::replace::<Connectors>(&state, &scope.store.id, &id, body, false).await
}

/// Merges an RFC 7396 patch into a connector.
#[utoipa::path(patch, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Object,
    responses((status = 200, body = ConnectorView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_connector(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    resources::replace::<Connectors>(&state, &scope.store.id, &id, body, true).await
}

/// Deletes a connector and its secrets; 409 while a saved webhook or workflow uses it.
#[utoipa::path(delete, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_connector(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    resources::delete::<Connectors>(&state, &scope.store.id, &id).await
}
