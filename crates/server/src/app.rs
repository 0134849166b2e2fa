//! What every request handler shares: the store, the engine, caches, settings the API needs.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use switchboard_core::workflow::Options;
use switchboard_engine::Engine;
use switchboard_store::Store;

use crate::caches::Caches;

pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Hash of the admin token given in the environment, if any.
    pub admin_hash: Option<String>,
    /// What workflow validation accepts (e.g. plain-http URLs).
    pub validation: Options,
    pub metrics: PrometheusHandle,
    /// The generated OpenAPI document, serialised once.
    pub openapi: String,
    pub engine: Arc<Engine>,
    pub caches: Caches,
    /// Seals secrets at rest under the master key.
    pub sealer: switchboard_engine::secrets::Sealer,
    /// What each store may do a second, and have.
    pub limits: crate::api::limits::StoreLimits,
}

pub type Shared = Arc<AppState>;
