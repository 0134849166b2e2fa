//! The nodes sharing this database (docs/scaling.md). Admin token only.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::error::{ApiResult, ErrorBody};
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    id: String,
    /// Where its API listens.
    address: String,
    started_at: String,
    last_seen_at: String,
    /// Runs executing on it at its last heartbeat.
    runs_in_flight: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// Live nodes (seen within one lease), oldest first.
    data: Vec<NodeView>,
    /// The node that answered.
    this_node: String,
    /// A node unseen for this long is gone; its runs and deliveries are taken over.
    lease_ms: u64,
}

/// The live nodes and their load.
#[utoipa::path(get, path = "/api/cluster", tag = "operations", security(("bearer" = [])),
    responses((status = 200, body = ClusterView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn cluster(_: Admin, State(state): State<Shared>) -> ApiResult<Json<ClusterView>> {
    let lease_ms = state.engine.settings.lease_ms;
    let nodes = state.store.list_nodes(now_ms() - lease_ms as i64).await?;
    Ok(Json(ClusterView {
        data: nodes
            .into_iter()
            .map(|n| NodeView {
                id: n.id,
                address: n.address,
                started_at: rfc3339(n.started_at),
                last_seen_at: rfc3339(n.last_seen_at),
                runs_in_flight: n.runs_in_flight,
            })
            .collect(),
        this_node: state.engine.node_id.clone(),
        lease_ms,
    }))
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(cluster))
}
