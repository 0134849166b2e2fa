//! Stores and their tokens.

#[derive(Debug, Clone, PartialEq)]
pub struct NewStore {
    pub id: String,
    pub name: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// Limits the admin set for this store; the rest are the server's settings.
    pub limits: StoreLimits,
}

/// A store's own limits (`PATCH /api/stores/{id}`); `None`: the server's setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreLimits {
    pub event_rate: Option<i64>,
    pub api_rate: Option<i64>,
    pub max_workflows: Option<i64>,
    pub max_runs_in_flight: Option<i64>,
    pub js_ms_per_minute: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub id: String,
    /// `None` for an admin token.
    pub store_id: Option<String>,
    pub name: Option<String>,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub hash: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub store_id: Option<String>,
    pub name: Option<String>,
    pub created_at: i64,
}

impl TokenRecord {
    pub fn is_admin(&self) -> bool {
        self.store_id.is_none()
    }
}
