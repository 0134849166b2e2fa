//! Stores, their tokens, the inbound signing secret, server-wide settings on PostgreSQL.

use super::*;

#[async_trait::async_trait]
impl crate::Tenants for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                        .bind(&key)
                        .bind(&value)
                        .execute(&mut *c)
                        .await?;
                    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(&key).fetch_one(&mut *c).await?)
                })
            })
            .await
    }

    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let message = format!("a store named '{}' already exists", store.name);
                    sqlx::query("INSERT INTO stores (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(&store.id)
                        .bind(&store.name)
                        .bind(store.now)
                        .execute(&mut *c)
                        .await
                        .map_err(unique("name", message))?;
                    if let Some(t) = &token {
                        insert_token(c, t).await?;
                    }
                    Ok(StoreRecord {
                        id: store.id,
                        name: store.name,
                        created_at: store.now,
                    })
                })
            })
            .await
    }

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(store_row)
            .transpose()
    }

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(page.after_key())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(store_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    insert_token(c, &token).await?;
                    Ok(TokenRecord {
                        id: token.id,
                        store_id: token.store_id,
                        name: token.name,
                        created_at: token.now,
                    })
                })
            })
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1");
        sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool> {
        let (store_id, token_id) = (store_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM tokens WHERE store_id = $1 AND id = $2")
                        .bind(&store_id)
                        .bind(&token_id)
                        .execute(c)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>> {
        let row: Option<Option<String>> =
            sqlx::query_scalar("SELECT inbound_secret FROM stores WHERE id = $1")
                .bind(store_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.flatten())
    }

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()> {
        sqlx::query("UPDATE stores SET inbound_secret = $2 WHERE id = $1")
            .bind(store_id)
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
