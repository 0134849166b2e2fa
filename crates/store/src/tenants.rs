//! Stores, their tokens, the inbound signing secret and server-wide settings, written once for
//! both backends.

use crate::db::{Db, Row, Sql, Sqlite, args, run_now, sql};
use crate::error::unique;
use crate::model::*;
use crate::{PgStore, Result, SqliteStore};

const PING: Sql = sql!("SELECT 1");
const GET_META: Sql = sql!("SELECT value FROM meta WHERE key = $1");
const INIT_META: Sql =
    sql!("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING");
const INSERT_STORE: Sql = sql!("INSERT INTO stores (id, name, created_at) VALUES ($1, $2, $3)");
const GET_STORE: Sql = sql!("SELECT id, name, created_at FROM stores WHERE id = $1");
const LIST_STORES: Sql =
    sql!("SELECT id, name, created_at FROM stores WHERE id > $1 ORDER BY id LIMIT $2");
const INSERT_TOKEN: Sql =
    sql!("INSERT INTO tokens (id, store_id, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)");
const TOKEN_BY_HASH: Sql =
    sql!("SELECT id, store_id, name, created_at FROM tokens WHERE hash = $1");
const DELETE_TOKEN: Sql = sql!("DELETE FROM tokens WHERE store_id = $1 AND id = $2");
const INBOUND_SECRET: Sql = sql!("SELECT inbound_secret FROM stores WHERE id = $1");
const SET_INBOUND_SECRET: Sql = sql!("UPDATE stores SET inbound_secret = $2 WHERE id = $1");

fn store_row(r: &impl Row) -> Result<StoreRecord> {
    Ok(StoreRecord {
        id: r.col(0)?,
        name: r.col(1)?,
        created_at: r.col(2)?,
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

#[async_trait::async_trait]
impl crate::Tenants for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| run_now(ping(&mut Sqlite(c)))).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| run_now(get_meta(&mut Sqlite(c), &key)))
            .await
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .write(move |c| run_now(init_meta(&mut Sqlite(c), &key, &value)))
            .await
    }

    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord> {
        self.writer
            .write(move |c| run_now(create_store(&mut Sqlite(c), &store, token.as_ref())))
            .await
    }

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>> {
        let id = id.to_owned();
        self.read(move |c| run_now(get_store(&mut Sqlite(c), &id)))
            .await
    }

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>> {
        let page = page.clone();
        self.read(move |c| run_now(list_stores(&mut Sqlite(c), &page)))
            .await
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.writer
            .write(move |c| run_now(insert_token(&mut Sqlite(c), &token)))
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let hash = hash.to_owned();
        self.read(move |c| run_now(token_by_hash(&mut Sqlite(c), &hash)))
            .await
    }

    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool> {
        let (store_id, token_id) = (store_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |c| run_now(delete_token(&mut Sqlite(c), &store_id, &token_id)))
            .await
    }

    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>> {
        let store_id = store_id.to_owned();
        self.read(move |c| run_now(inbound_secret(&mut Sqlite(c), &store_id)))
            .await
    }

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()> {
        let (store_id, sealed) = (store_id.to_owned(), sealed.to_owned());
        self.writer
            .write(move |c| run_now(set_inbound_secret(&mut Sqlite(c), &store_id, &sealed)))
            .await
    }
}

#[async_trait::async_trait]
impl crate::Tenants for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        ping(&mut *self.pool.acquire().await?).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        get_meta(&mut *self.pool.acquire().await?, key).await
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { init_meta(c, &key, &value).await }))
            .await
    }

    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord> {
        self.writer
            .write(move |c| Box::pin(async move { create_store(c, &store, token.as_ref()).await }))
            .await
    }

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>> {
        get_store(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>> {
        list_stores(&mut *self.pool.acquire().await?, page).await
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.writer
            .write(move |c| Box::pin(async move { insert_token(c, &token).await }))
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        token_by_hash(&mut *self.pool.acquire().await?, hash).await
    }

    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool> {
        let (store_id, token_id) = (store_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { delete_token(c, &store_id, &token_id).await }))
            .await
    }

    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>> {
        inbound_secret(&mut *self.pool.acquire().await?, store_id).await
    }

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()> {
        set_inbound_secret(&mut *self.pool.acquire().await?, store_id, sealed).await
    }
}
