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
