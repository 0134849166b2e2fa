//! Stores (tenants) and their tokens. Admin token only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_core::{ids, workflow::check_name};
use switchboard_store::{NewStore, NewToken, StoreRecord};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::body::{JsonBody, parse};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::limits::{LimitsPatch, LimitsView, StoreLimits};
use super::list::{List, ListParams, Paging};
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};
use switchboard_engine::secrets::{hash_token, new_token};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(create_store, list_stores))
        .routes(routes!(get_store, patch_store))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(delete_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStoreBody {
    /// 1–128 letters, digits, `.`, `-`, `_` or spaces; unique.
    name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreView {
    id: String,
    name: String,
    created_at: String,
    /// The limits the admin set for this store (`PATCH`); the others are the server's settings.
    limits: LimitsView,
    /// Every limit in force for this store.
    effective_limits: LimitsView,
    /// A store-scoped token, shown only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl StoreView {
    fn new(s: StoreRecord, token: Option<String>, limits: &StoreLimits) -> Self {
        StoreView {
            id: s.id,
            name: s.name,
            created_at: rfc3339(s.created_at),
            limits: LimitsView::own(&s.limits),
            effective_limits: LimitsView::in_force(&s.limits, limits),
            token,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorePatch {
    limits: Option<LimitsPatch>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    id: String,
    name: Option<String>,
    created_at: String,
    /// The token itself, shown only here.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    id: String,
    deleted: bool,
}

impl Deleted {
    pub fn new(id: String) -> Json<Deleted> {
        Json(Deleted { id, deleted: true })
    }
}

/// Creates a store and its first store-scoped token.
#[utoipa::path(post, path = "/api/stores", tag = "stores", security(("bearer" = [])), request_body = NewStoreBody,
    responses((status = 201, body = StoreView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_store(
    _: Admin,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<NewStoreBody>,
) -> ApiResult<(StatusCode, Json<StoreView>)> {
    check_name(&body.name).map_err(|e| ApiError::invalid_field("/name", e))?;
    let id = ids::new_id(ids::STORE);
    let token = new_token("sbs");
    let now = now_ms();
    let first = NewToken {
        id: ids::new_id(ids::TOKEN),
        store_id: Some(id.clone()),
        name: Some("default".into()),
        hash: hash_token(&token),
        now,
    };
    let store = state
        .store
        .create_store(
            NewStore {
                id,
                name: body.name,
                now,
            },
            Some(first),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(StoreView::new(store, Some(token), &state.limits)),
    ))
}

/// Lists stores.
#[utoipa::path(get, path = "/api/stores", tag = "stores", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<StoreView>), (status = 403, body = ErrorBody)))]
async fn list_stores(
    _: Admin,
    State(state): State<Shared>,
    Paging(page): Paging,
) -> ApiResult<Json<List<StoreView>>> {
    let page = state.store.list_stores(&page).await?;
    Ok(Json(List::from_page(page, |s| {
        StoreView::new(s, None, &state.limits)
    })))
}

/// The store `id`, or 404.
async fn existing(state: &Shared, id: &str) -> ApiResult<StoreRecord> {
    state
        .store
        .get_store(id)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))
}

/// One store.
#[utoipa::path(get, path = "/api/stores/{id}", tag = "stores", security(("bearer" = [])),
    responses((status = 200, body = StoreView), (status = 404, body = ErrorBody)))]
async fn get_store(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<StoreView>> {
    let store = existing(&state, &id).await?;
    Ok(Json(StoreView::new(store, None, &state.limits)))
}

/// Changes a store: its own `limits` (a JSON merge patch; `null` gives a limit back the server's
/// setting). Every node holds the store to them within a moment.
#[utoipa::path(patch, path = "/api/stores/{id}", tag = "stores", security(("bearer" = [])), request_body = StorePatch,
    responses((status = 200, body = StoreView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patch_store(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StorePatch>,
) -> ApiResult<Json<StoreView>> {
    let store = existing(&state, &id).await?;
    let Some(patch) = body.limits else {
        return Ok(Json(StoreView::new(store, None, &state.limits)));
    };
    let limits = patch.apply(store.limits)?;
    let store = state
        .store
        .set_store_limits(&id, limits)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    state.caches.stores.remove(&id);
    state.engine.forget_store(&id);
    let js = limits.js_ms_per_minute.map(|ms| ms as u64);
    switchboard_script::set_store_js_budget(&id, js);
    Ok(Json(StoreView::new(store, None, &state.limits)))
}

/// Creates another token for a store.
#[utoipa::path(post, path = "/api/stores/{id}/tokens", tag = "stores", security(("bearer" = [])), request_body = Option<NewTokenBody>,
    responses((status = 201, body = TokenView), (status = 404, body = ErrorBody)))]
async fn create_token(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    // The body is optional: an empty one names nothing.
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse::<NewTokenBody>(&body)?.name
    };
    existing(&state, &id).await?;
    let token = new_token("sbs");
    let record = state
        .store
        .create_token(NewToken {
            id: ids::new_id(ids::TOKEN),
            store_id: Some(id),
            name,
            hash: hash_token(&token),
            now: now_ms(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenView {
            id: record.id,
            name: record.name,
            created_at: rfc3339(record.created_at),
            token,
        }),
    ))
}

/// A token as listed: never its secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    id: String,
    name: Option<String>,
    created_at: String,
}

/// A store's tokens (their secrets are never shown again).
#[utoipa::path(get, path = "/api/stores/{id}/tokens", tag = "stores", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<TokenInfo>), (status = 404, body = ErrorBody)))]
async fn list_tokens(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    Paging(page): Paging,
) -> ApiResult<Json<List<TokenInfo>>> {
    existing(&state, &id).await?;
    let page = state.store.list_tokens(&id, &page).await?;
    Ok(Json(List::from_page(page, |t| TokenInfo {
        id: t.id,
        name: t.name,
        created_at: rfc3339(t.created_at),
    })))
}

/// Revokes a store's token at once.
#[utoipa::path(delete, path = "/api/stores/{id}/tokens/{token_id}", tag = "stores", security(("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
async fn delete_token(
    _: Admin,
    State(state): State<Shared>,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    let deleted = state.store.delete_token(&id, &token_id).await?;
    state.caches.tokens.clear();
    if deleted {
        Ok(Deleted::new(token_id))
    } else {
        Err(ApiError::not_found("token"))
    }
}
