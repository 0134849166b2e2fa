//! Operations: liveness, readiness, Prometheus metrics, the OpenAPI document. No auth.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use switchboard_store::{Fault, StoreError};

use crate::app::Shared;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Why the server is not ready: `disk_full`, `read_only`, `io_error` or
    /// `database_unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        detail: None,
        reason: None,
    })
}

/// The database answers and took the last writes.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "the database does not answer, or cannot take writes now (`reason`)", body = Health)))]
pub async fn readyz(State(state): State<Shared>) -> (StatusCode, Json<Health>) {
    let fault = match state.store.ping().await {
        Ok(()) => state.store.fault(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Some(match e {
                StoreError::Unavailable { fault, .. } => fault,
                _ => Fault::DatabaseUnreachable,
            })
        }
    };
    match fault {
        None => (
            StatusCode::OK,
            Json(Health {
                status: "ready",
                detail: None,
                reason: None,
            }),
        ),
        Some(fault) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                detail: Some("the database cannot take writes now".into()),
                reason: Some(fault.as_str()),
            }),
        ),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    )
}
