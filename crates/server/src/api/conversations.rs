//! Conversation state per phone number (for AI agents); keyed by the number's digits alone.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use switchboard_core::run::phone_key;
use switchboard_store::{ConversationPatch, ConversationRecord};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::stores::Deleted;
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(
        get_conversation,
        patch_conversation,
        delete_conversation
    ))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ConversationView {
    phone_number: String,
    #[schema(value_type = Object)]
    state: Value,
    updated_at: String,
}

impl From<ConversationRecord> for ConversationView {
    fn from(c: ConversationRecord) -> Self {
        ConversationView {
            phone_number: c.phone,
            state: c.state,
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// `{state: {...}}`: an RFC 7396 merge patch of the state.
#[derive(ToSchema)]
#[allow(dead_code)]
struct StatePatch {
    #[schema(value_type = Object)]
    state: Value,
}

fn key(phone: &str) -> Result<String, ApiError> {
    let key = phone_key(phone);
    if key.is_empty() {
        return Err(ApiError::invalid_field(
            "",
            format!("'{phone}' is not a phone number: it has no digits"),
        ));
    }
    Ok(key)
}

/// A conversation's state.
#[utoipa::path(get, path = "/api/conversations/{phoneNumber}", tag = "conversations", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 400, description = "not a phone number", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_conversation(
    scope: Scope,
    State(state): State<Shared>,
    Path(phone): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    let c = state
        .store
        .get_conversation(&scope.store.id, &key(&phone)?)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    Ok(Json(c.into()))
}

/// Merges `state` into the conversation (objects merge deeply, `null` deletes), creating it.
#[utoipa::path(patch, path = "/api/conversations/{phoneNumber}", tag = "conversations", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = StatePatch,
    responses((status = 200, body = ConversationView), (status = 400, body = ErrorBody)))]
async fn patch_conversation(
    scope: Scope,
    State(state): State<Shared>,
    Path(phone): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<ConversationView>> {
    let phone = key(&phone)?;
    let patch = match body.get("state") {
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "/state",
                "'state' must be an object",
            ));
        }
        None => {
            return Err(ApiError::invalid_field(
                "/state",
                "'state' is required: {\"state\": {...}}",
            ));
        }
    };
    if let Some(other) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| *k != "state"))
    {
        return Err(ApiError::invalid_field(
            &switchboard_core::problem::child("", other),
            format!("unknown field '{other}'"),
        ));
    }
    let c = state
        .store
        .merge_conversation(
            ConversationPatch {
                store_id: scope.store.id,
                phone,
                patch,
            },
            now_ms(),
        )
        .await?;
    Ok(Json(c.into()))
}

/// Forgets a conversation.
#[utoipa::path(delete, path = "/api/conversations/{phoneNumber}", tag = "conversations", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 400, description = "not a phone number", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_conversation(
    scope: Scope,
    State(state): State<Shared>,
    Path(phone): Path<String>,
) -> ApiResult<Json<Deleted>> {
    let phone = key(&phone)?;
    if state
        .store
        .delete_conversation(&scope.store.id, &phone)
        .await?
    {
        Ok(Deleted::new(phone))
    } else {
        Err(ApiError::not_found("conversation"))
    }
}
