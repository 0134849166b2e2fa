//! Stores, their tokens, the inbound signing secret and server-wide settings, written once for
//! both backends.

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql};
use crate::dispatch::on_both_backends;
use crate::error::unique;
use crate::model::*;

const PING: Sql = sql!("SELECT 1");
const GET_META: Sql = sql!("SELECT value FROM meta WHERE key = $1");
const INIT_META: Sql =
    sql!("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING");
const INSERT_STORE: Sql = sql!("INSERT INTO stores (id, name, created_at) VALUES ($1, $2, $3)");
const GET_STORE: Sql = sql!(
    "SELECT id, name, created_at, limit_event_rate, limit_api_rate, limit_max_workflows, \
     limit_max_runs_in_flight, limit_js_ms_per_minute FROM stores WHERE id = $1"
);
const LIST_STORES: Sql = sql!(
    "SELECT id, name, created_at, limit_event_rate, limit_api_rate, limit_max_workflows, \
     limit_max_runs_in_flight, limit_js_ms_per_minute FROM stores WHERE id > $1 ORDER BY id LIMIT $2"
);
const SET_STORE_LIMITS: Sql = sql!(
    "UPDATE stores SET limit_event_rate = $2, limit_api_rate = $3, limit_max_workflows = $4, \
     limit_max_runs_in_flight = $5, limit_js_ms_per_minute = $6 WHERE id = $1"
);
const INSERT_TOKEN: Sql =
    sql!("INSERT INTO tokens (id, store_id, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)");
const TOKEN_BY_HASH: Sql =
    sql!("SELECT id, store_id, name, created_at FROM tokens WHERE hash = $1");
const DELETE_TOKEN: Sql = sql!("DELETE FROM tokens WHERE store_id = $1 AND id = $2");
const STORE_TOKENS: Sql = sql!(
    "SELECT id, store_id, name, created_at FROM tokens WHERE store_id = $1 AND id > $2 \
     ORDER BY id LIMIT $3"
);
const INBOUND_SECRET: Sql = sql!("SELECT inbound_secret FROM stores WHERE id = $1");
const SET_INBOUND_SECRET: Sql = sql!("UPDATE stores SET inbound_secret = $2 WHERE id = $1");

fn store_row(r: &impl Row) -> Result<StoreRecord> {
    Ok(StoreRecord {
        id: r.col(0)?,
        name: r.col(1)?,
        created_at: r.col(2)?,
        limits: StoreLimits {
            event_rate: r.col(3)?,
            api_rate: r.col(4)?,
            max_workflows: r.col(5)?,
            max_runs_in_flight: r.col(6)?,
            js_ms_per_minute: r.col(7)?,
        },
    })
}

fn token_row(r: &impl Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        name: r.col(2)?,
        created_at: r.col(3)?,
    })
}

async fn ping(db: &mut impl Db) -> Result<()> {
    db.fetch(&PING, &[], |_| Ok(())).await?;
    Ok(())
}

async fn get_meta(db: &mut impl Db, key: &str) -> Result<Option<String>> {
    db.fetch_one(&GET_META, args![key], |r| r.col(0)).await
}

async fn init_meta(db: &mut impl Db, key: &str, value: &str) -> Result<String> {
    db.execute(&INIT_META, args![key, value]).await?;
    let stored = db.fetch_one(&GET_META, args![key], |r| r.col(0)).await?;
    stored.ok_or_else(|| crate::StoreError::Backend(format!("setting '{key}' vanished")))
}

async fn create_store(
    db: &mut impl Db,
    store: &NewStore,
    token: Option<&NewToken>,
) -> Result<StoreRecord> {
    let taken = format!("a store named '{}' already exists", store.name);
    db.execute(&INSERT_STORE, args![&store.id, &store.name, store.now])
        .await
        .map_err(unique("name", taken))?;
    if let Some(t) = token {
        insert_token(db, t).await?;
    }
    Ok(StoreRecord {
        id: store.id.clone(),
        name: store.name.clone(),
        created_at: store.now,
        limits: StoreLimits::default(),
    })
}

async fn insert_token(db: &mut impl Db, t: &NewToken) -> Result<TokenRecord> {
    let row = args![&t.id, &t.store_id, &t.name, &t.hash, t.now];
    db.execute(&INSERT_TOKEN, row)
        .await
        .map_err(unique("token", "this token already exists"))?;
    Ok(TokenRecord {
        id: t.id.clone(),
        store_id: t.store_id.clone(),
        name: t.name.clone(),
        created_at: t.now,
    })
}

async fn get_store(db: &mut impl Db, id: &str) -> Result<Option<StoreRecord>> {
    db.fetch_one(&GET_STORE, args![id], |r| store_row(r)).await
}

/// Sets a store's own limits; `None` when there is no such store.
async fn set_store_limits(
    db: &mut impl Db,
    id: &str,
    limits: &StoreLimits,
) -> Result<Option<StoreRecord>> {
    let l = limits;
    let row = args![
        id,
        l.event_rate,
        l.api_rate,
        l.max_workflows,
        l.max_runs_in_flight,
        l.js_ms_per_minute
    ];
    if db.execute(&SET_STORE_LIMITS, row).await? == 0 {
        return Ok(None);
    }
    get_store(db, id).await
}

async fn list_stores(db: &mut impl Db, page: &PageRequest) -> Result<Page<StoreRecord>> {
    let after = page.after_key();
    let rows = db
        .fetch(&LIST_STORES, args![after.as_str(), page.limit + 1], |r| {
            store_row(r)
        })
        .await?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

async fn token_by_hash(db: &mut impl Db, hash: &str) -> Result<Option<TokenRecord>> {
    db.fetch_one(&TOKEN_BY_HASH, args![hash], |r| token_row(r))
        .await
}

async fn list_tokens(
    db: &mut impl Db,
    store_id: &str,
    page: &PageRequest,
) -> Result<Page<TokenRecord>> {
    let after = page.after.as_deref().unwrap_or("");
    let rows = db
        .fetch(&STORE_TOKENS, args![store_id, after, page.limit + 1], |r| {
            token_row(r)
        })
        .await?;
    Ok(Page::from_rows(rows, page.limit, |t| t.id.clone()))
}

async fn delete_token(db: &mut impl Db, store_id: &str, token_id: &str) -> Result<bool> {
    Ok(db.execute(&DELETE_TOKEN, args![store_id, token_id]).await? > 0)
}

async fn inbound_secret(db: &mut impl Db, store_id: &str) -> Result<Option<String>> {
    let found: Option<Option<String>> = db
        .fetch_one(&INBOUND_SECRET, args![store_id], |r| r.col(0))
        .await?;
    Ok(found.flatten())
}

async fn set_inbound_secret(db: &mut impl Db, store_id: &str, sealed: &str) -> Result<()> {
    db.execute(&SET_INBOUND_SECRET, args![store_id, sealed])
        .await?;
    Ok(())
}

on_both_backends! {
    crate::Tenants {
        read fn ping() -> () => |db| ping(db);
        read fn get_meta(key: &str) -> Option<String> => |db| get_meta(db, &key);
        write fn init_meta(key: &str, value: &str) -> String => |db| init_meta(db, &key, &value);
        write fn create_store(store: NewStore, token: Option<NewToken>) -> StoreRecord
            => |db| create_store(db, &store, token.as_ref());
        read fn get_store(id: &str) -> Option<StoreRecord> => |db| get_store(db, &id);
        write fn set_store_limits(id: &str, limits: StoreLimits) -> Option<StoreRecord>
            => |db| set_store_limits(db, &id, &limits);
        read fn list_stores(page: &PageRequest) -> Page<StoreRecord> => |db| list_stores(db, &page);
        write fn create_token(token: NewToken) -> TokenRecord => |db| insert_token(db, &token);
        read fn token_by_hash(hash: &str) -> Option<TokenRecord> => |db| token_by_hash(db, &hash);
        read fn list_tokens(store_id: &str, page: &PageRequest) -> Page<TokenRecord>
            => |db| list_tokens(db, &store_id, &page);
        write fn delete_token(store_id: &str, token_id: &str) -> bool
            => |db| delete_token(db, &store_id, &token_id);
        read fn inbound_secret(store_id: &str) -> Option<String> => |db| inbound_secret(db, &store_id);
        direct fn set_inbound_secret(store_id: &str, sealed: &str) -> ()
            => |db| set_inbound_secret(db, &store_id, &sealed);
    }
    sqlite {
        fn backend(&self) -> &'static str {
            "sqlite"
        }

        fn fault(&self) -> Option<crate::Fault> {
            self.health.fault()
        }
    }
    postgres {
        fn backend(&self) -> &'static str {
            "postgres"
        }

        fn fault(&self) -> Option<crate::Fault> {
            self.health.fault()
        }
    }
}
