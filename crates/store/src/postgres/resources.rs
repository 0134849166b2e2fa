//! Named settings resources (connectors, saved webhooks) on PostgreSQL.

use super::*;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::unique;
use crate::Result;
use crate::error::{parse_json, resource_name_taken};
use crate::model::*;

const COLUMNS: &str = "id, store_id, name, body, created_at, updated_at, deleted_at";

fn record(kind: ResourceKind, r: &PgRow) -> Result<ResourceRecord> {
    Ok(ResourceRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        kind,
        name: r.try_get(2)?,
        body: parse_json(r.try_get(3)?)?,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
        deleted_at: r.try_get(6)?,
    })
}

pub async fn create(c: &mut PgConnection, r: ResourceRecord) -> Result<ResourceRecord> {
    sqlx::query("INSERT INTO resources (id, store_id, kind, name, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
        .bind(&r.id)
        .bind(&r.store_id)
        .bind(r.kind.as_str())
        .bind(&r.name)
        .bind(r.body.to_string())
        .bind(r.created_at)
        .execute(c)
        .await
        .map_err(unique("name", resource_name_taken(r.kind.as_str(), &r.name)))?;
    Ok(r)
}

/// A live resource by a key column (`id` or `name`).
pub async fn get(
    pool: &PgPool,
    store_id: &str,
    kind: ResourceKind,
    column: &str,
    key: &str,
) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = $1 AND kind = $2 AND {column} = $3 AND deleted_at IS NULL"
    );
    sqlx::query(&sql)
        .bind(store_id)
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(pool)
        .await?
        .map(|r| record(kind, &r))
        .transpose()
}

pub async fn list(
    pool: &PgPool,
    store_id: &str,
    kind: ResourceKind,
    deleted: bool,
    page: &PageRequest,
) -> Result<Page<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = $1 AND kind = $2 AND (deleted_at IS NOT NULL) = $3 AND id > $4 ORDER BY id LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(store_id)
        .bind(kind.as_str())
        .bind(deleted)
        .bind(page.after_key())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(pool)
        .await?;
    let rows = rows
        .iter()
        .map(|r| record(kind, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id.clone()))
}

pub async fn update(c: &mut PgConnection, r: ResourceRecord) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "UPDATE resources SET name = $4, body = $5, updated_at = $6 WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL RETURNING {COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(&r.store_id)
        .bind(r.kind.as_str())
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.body.to_string())
        .bind(r.updated_at)
        .fetch_optional(c)
        .await
        .map_err(unique(
            "name",
            resource_name_taken(r.kind.as_str(), &r.name),
        ))?
        .map(|row| record(r.kind, &row))
        .transpose()
}

pub async fn delete(
    c: &mut PgConnection,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
    now: i64,
) -> Result<bool> {
    let done = if kind.soft_delete() {
        sqlx::query("UPDATE resources SET deleted_at = $4, updated_at = $4 WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(store_id)
            .bind(kind.as_str())
            .bind(id)
            .bind(now)
            .execute(c)
            .await?
    } else {
        sqlx::query("DELETE FROM resources WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(store_id)
            .bind(kind.as_str())
            .bind(id)
            .execute(c)
            .await?
    };
    Ok(done.rows_affected() > 0)
}

pub async fn restore(
    c: &mut PgConnection,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
    now: i64,
) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NOT NULL"
    );
    let Some(found) = sqlx::query(&sql)
        .bind(store_id)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(None);
    };
    let found = record(kind, &found)?;
    sqlx::query("UPDATE resources SET deleted_at = NULL, updated_at = $4 WHERE store_id = $1 AND kind = $2 AND id = $3")
        .bind(store_id)
        .bind(kind.as_str())
        .bind(id)
        .bind(now)
        .execute(c)
        .await
        .map_err(unique("name", resource_name_taken(kind.as_str(), &found.name)))?;
    Ok(Some(ResourceRecord {
        updated_at: now,
        deleted_at: None,
        ..found
    }))
}

#[async_trait::async_trait]
impl crate::Resources for PgStore {
    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| Box::pin(resources::create(c, resource)))
            .await
    }

    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        resources::get(&self.pool, store_id, kind, "id", id).await
    }

    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        resources::get(&self.pool, store_id, kind, "name", name).await
    }

    async fn list_resources(
        &self,
        store_id: &str,
        kind: ResourceKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ResourceRecord>> {
        resources::list(&self.pool, store_id, kind, deleted, page).await
    }

    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>> {
        self.writer
            .write(move |c| Box::pin(resources::update(c, resource)))
            .await
    }

    async fn delete_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
        now: i64,
    ) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { resources::delete(c, &store_id, kind, &id, now).await })
            })
            .await
    }

    async fn restore_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
        now: i64,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { resources::restore(c, &store_id, kind, &id, now).await })
            })
            .await
    }
}
