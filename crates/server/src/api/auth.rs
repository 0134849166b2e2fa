//! Who is calling, and for which store. `Authorization: Bearer <token>`; store-scoped routes also
//! take `StoreId`: a store token may omit it (its own store), the admin token must send it. No or
//! unknown token → 401; a token without access to the named store → 403; the admin naming a store
//! that does not exist → 404.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use switchboard_store::StoreRecord;

use super::error::ApiError;
use crate::app::Shared;
use switchboard_engine::secrets::hash_token;

pub enum Caller {
    Admin,
    Store(String),
}

/// Any valid token.
impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?;
        let hash = hash_token(token);
        if state.admin_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Caller::Admin);
        }
        let store_id = state
            .caches
            .tokens
            .get_or_load(&hash, async {
                let token = state.store.token_by_hash(&hash).await?;
                Ok::<_, ApiError>(token.map(|t| t.store_id))
            })
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        Ok(store_id.map_or(Caller::Admin, Caller::Store))
    }
}

/// The admin token.
pub struct Admin;

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(Admin),
            Caller::Store(_) => Err(ApiError::forbidden("this route needs the admin token")),
        }
    }
}

/// The store a store-scoped request acts on; the request counts against the store's API rate.
pub struct Scope {
    pub store: StoreRecord,
    /// Who acts, as actions on runs record it: `admin` or `store_token`.
    pub by: &'static str,
}

impl FromRequestParts<Shared> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let (store, by) = store_of(parts, state).await?;
        state.limits.api.admit(&store.id, store.limits.api_rate)?;
        Ok(Scope { store, by })
    }
}

/// The store an event is sent to; the event counts against the store's event rate where it is
/// accepted (`events::accept`), not against its API rate.
pub struct EventScope {
    pub store: StoreRecord,
}

impl FromRequestParts<Shared> for EventScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        Ok(EventScope {
            store: store_of(parts, state).await?.0,
        })
    }
}

/// The store the caller names (or its own), if the caller may act on it, and who the caller is.
async fn store_of(
    parts: &mut Parts,
    state: &Shared,
) -> Result<(StoreRecord, &'static str), ApiError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    let by = match caller {
        Caller::Admin => "admin",
        Caller::Store(_) => "store_token",
    };
    let named = match parts.headers.get("storeid") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "store_required",
                        "the StoreId header is empty or unreadable",
                    )
                })?
                .to_owned(),
        ),
    };
    let id = match (caller, named) {
        (Caller::Admin, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "store_required",
                "the admin token must name a store in the StoreId header",
            ));
        }
        (Caller::Admin, Some(id)) => id,
        (Caller::Store(own), None) => own,
        (Caller::Store(own), Some(id)) if id == own => own,
        (Caller::Store(_), Some(_)) => {
            return Err(ApiError::forbidden(
                "this token has no access to that store",
            ));
        }
    };
    crate::observe::Noted::store(parts, &id);
    let store = store_record(state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    Ok((store, by))
}

/// A store's record, through the cache.
pub async fn store_record(state: &Shared, id: &str) -> Result<Option<StoreRecord>, ApiError> {
    state
        .caches
        .stores
        .get_or_load(id, async {
            Ok::<_, ApiError>(state.store.get_store(id).await?)
        })
        .await
}
