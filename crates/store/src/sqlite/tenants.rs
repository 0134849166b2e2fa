//! Stores, their tokens, the inbound signing secret, server-wide settings on SQLite.

use super::*;

#[async_trait::async_trait]
impl crate::Tenants for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .write(move |c| {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                    [&key, &value],
                )?;
                Ok(
                    c.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
    }

    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord> {
        self.writer
            .write(move |c| {
                let message = format!("a store named '{}' already exists", store.name);
                c.execute(
                    "INSERT INTO stores (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![store.id, store.name, store.now],
                )
                .map_err(unique("name", message))?;
                if let Some(t) = token {
                    insert_token(c, &t)?;
                }
                Ok(StoreRecord {
                    id: store.id,
                    name: store.name,
                    created_at: store.now,
                })
            })
            .await
    }

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([id], store_row)
                .optional()?)
        })
        .await
    }

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>> {
        let page = page.clone();
        self.read(move |c| {
            let sql =
                format!("SELECT {STORE_COLUMNS} FROM stores WHERE id > ?1 ORDER BY id LIMIT ?2");
            let rows = c
                .prepare_cached(&sql)?
                .query_map(params![page.after_key(), page.limit + 1], store_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
        })
        .await
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.writer
            .write(move |c| {
                insert_token(c, &token)?;
                Ok(TokenRecord {
                    id: token.id,
                    store_id: token.store_id,
                    name: token.name,
                    created_at: token.now,
                })
            })
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([hash], token_row)
                .optional()?)
        })
        .await
    }

    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool> {
        let (store_id, token_id) = (store_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM tokens WHERE store_id = ?1 AND id = ?2",
                    [store_id, token_id],
                )? > 0)
            })
            .await
    }

    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>> {
        let store_id = store_id.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT inbound_secret FROM stores WHERE id = ?1",
                [store_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
        })
        .await
    }

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()> {
        let (store_id, sealed) = (store_id.to_owned(), sealed.to_owned());
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE stores SET inbound_secret = ?2 WHERE id = ?1",
                    [store_id, sealed],
                )?;
                Ok(())
            })
            .await
    }
}
