//! List pagination: `?limit=` (default 50, at most 500) and an opaque `?cursor=`; responses are
//! `{"data": [...], "nextCursor": "…" | null}`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use switchboard_store::{Page, PageRequest};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::Query;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page request read from the query string.
pub struct Paging(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<ListParams>::from_request_parts(parts, state).await?;
        let limit = match params.limit.as_deref() {
            None => 50,
            Some(l) => l.parse::<u32>().ok().filter(|n| (1..=500).contains(n)).ok_or_else(|| {
                ApiError::invalid_field("", format!("query parameter 'limit' must be a whole number from 1 to 500, not '{l}'"))
            })?,
        };
        let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "",
                            "query parameter 'cursor' is not a cursor this API gave out",
                        )
                    })?,
            ),
        };
        Ok(Paging(PageRequest { limit, after }))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> List<T> {
    pub fn from_page<R>(page: Page<R>, f: impl FnMut(R) -> T) -> Self {
        let next_cursor = page.next.as_deref().map(|n| URL_SAFE_NO_PAD.encode(n));
        List {
            data: page.items.into_iter().map(f).collect(),
            next_cursor,
        }
    }
}

/// An unknown query parameter is refused, not ignored: a misspelt filter would list everything.
/// `filters` are the route's own; `limit` and `cursor` are always known.
pub fn refuse_unknown(query: Option<&str>, filters: &[&str]) -> Result<(), ApiError> {
    let known = |k: &str| filters.contains(&k) || k == "limit" || k == "cursor";
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let key = pair.split('=').next().unwrap_or_default();
        if !known(key) {
            return Err(ApiError::invalid_field(
                "",
                format!(
                    "unknown query parameter '{key}' (known: {}, limit, cursor)",
                    filters.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
