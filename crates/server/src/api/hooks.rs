//! Signed ingest for third-party senders that cannot send a Bearer token:
//! `POST /hooks/{storeId}/{eventType}` verified with Standard Webhooks headers against the store's
//! inbound secret, which `POST /api/inbound-secret` rotates and shows once. The previous secret
//! keeps verifying for a day, so senders can switch without losing events.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::RawJson;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::events::{EventAccepted, accept, typed_payload};
use super::extract::Path;
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};
use switchboard_engine::signatures::{self, Signed};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(rotate_secret))
        .routes(routes!(post_hook))
}

/// How long the previous secret still verifies after a rotation.
const ROTATION_GRACE_MS: i64 = 24 * 3600 * 1000;

/// What is sealed in the store's `inbound_secret` column.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboundSecrets {
    current: String,
    previous: Option<String>,
    previous_until: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretShown {
    /// The new `whsec_` secret; it is not shown again.
    secret: String,
    /// Until when the secret it replaces still verifies (absent on the first secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_valid_until: Option<String>,
}

fn sealed_for(store_id: &str) -> String {
    format!("inbound-secret:{store_id}")
}

async fn secrets(state: &Shared, store_id: &str) -> Result<Option<InboundSecrets>, ApiError> {
    let Some(sealed) = state.store.inbound_secret(store_id).await? else {
        return Ok(None);
    };
    let plain = state
        .sealer
        .open(&sealed, &sealed_for(store_id))
        .ok_or_else(|| {
            ApiError::internal("the store's inbound secret does not open under this master key")
        })?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("the store's inbound secret is unreadable: {e}")))
}

/// Creates or rotates the store's inbound secret and shows it once.
#[utoipa::path(post, path = "/api/inbound-secret", operation_id = "rotate_inbound_secret", tag = "events", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = SecretShown)))]
async fn rotate_secret(scope: Scope, State(state): State<Shared>) -> ApiResult<Json<SecretShown>> {
    let store_id = &scope.store.id;
    let now = now_ms();
    let old = secrets(&state, store_id).await?;
    let next = InboundSecrets {
        current: signatures::new_secret(),
        previous: old.as_ref().map(|o| o.current.clone()),
        previous_until: old.as_ref().map(|_| now + ROTATION_GRACE_MS),
    };
    let plain = serde_json::to_vec(&next).expect("secrets serialise");
    state
        .store
        .set_inbound_secret(store_id, &state.sealer.seal(&plain, &sealed_for(store_id)))
        .await?;
    state.caches.inbound_keys.clear();
    Ok(Json(SecretShown {
        secret: next.current,
        previous_valid_until: next.previous_until.map(rfc3339),
    }))
}

/// The keys that verify a store's hooks now; empty for an unknown store or one without a secret.
async fn inbound_keys(state: &Shared, store_id: &str) -> Result<Vec<Vec<u8>>, ApiError> {
    let keys = state
        .caches
        .inbound_keys
        .get_or_load(store_id, async {
            let Some(secrets) = secrets(state, store_id).await? else {
                return Ok::<_, ApiError>(Some(Vec::new()));
            };
            let now = now_ms();
            let previous = secrets
                .previous
                .filter(|_| secrets.previous_until.is_some_and(|until| until > now));
            let keys: Vec<Vec<u8>> = std::iter::once(secrets.current)
                .chain(previous)
                .filter_map(|s| signatures::secret_key(&s))
                .collect();
            Ok(Some(keys))
        })
        .await?;
    Ok(keys.unwrap_or_default())
}

/// Accepts an event from a sender holding the store's inbound secret, as `POST /api/events/{eventType}`
/// does; `webhook-id` is the idempotency key, so a redelivery starts nothing twice.
#[utoipa::path(post, path = "/hooks/{storeId}/{eventType}", tag = "events", request_body = Object,
    params(("storeId" = String, Path), ("eventType" = String, Path),
        ("webhook-id" = String, Header), ("webhook-timestamp" = String, Header, description = "Unix seconds, within 5 minutes"),
        ("webhook-signature" = String, Header, description = "space-separated `v1,<base64 HMAC-SHA256>` tokens")),
    responses((status = 202, body = EventAccepted), (status = 200, description = "a redelivery: the first answer", body = EventAccepted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn post_hook(
    State(state): State<Shared>,
    Path((store_id, event_type)): Path<(String, String)>,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = Signed {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    let keys = inbound_keys(&state, &store_id).await?;
    if keys.is_empty() {
        // The same answer for an unknown store, so store ids cannot be probed.
        return Err(ApiError::unauthorized(
            "this store has no inbound secret: create one with POST /api/inbound-secret",
        ));
    }
    signatures::verify(
        &keys,
        &signed,
        &body,
        switchboard_engine::clock::wall_ms() / 1000,
    )
    .map_err(|why| ApiError::unauthorized(why.to_string()))?;
    let payload = typed_payload(&body, &event_type)?;
    let key = signed.id.map(|id| format!("webhook-id:{id}"));
    let store = super::auth::store_record(&state, &store_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("this store has no inbound secret"))?;
    accept(&state, &store, key, &body, event_type, payload).await
}
