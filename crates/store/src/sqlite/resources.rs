//! Named settings resources (connectors, saved webhooks) on SQLite.

use super::*;

use rusqlite::{Connection, OptionalExtension, params};

use super::unique;
use crate::Result;
use crate::error::{parse_json, resource_name_taken};
use crate::model::*;

const COLUMNS: &str = "id, store_id, name, body, created_at, updated_at, deleted_at";

type Row = (String, String, String, String, i64, i64, Option<i64>);

fn row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn record(kind: ResourceKind, r: Row) -> Result<ResourceRecord> {
    Ok(ResourceRecord {
        id: r.0,
        store_id: r.1,
        kind,
        name: r.2,
        body: parse_json(r.3)?,
        created_at: r.4,
        updated_at: r.5,
        deleted_at: r.6,
    })
}

fn one(
    c: &Connection,
    kind: ResourceKind,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<ResourceRecord>> {
    c.prepare_cached(sql)?
        .query_row(params, row)
        .optional()?
        .map(|r| record(kind, r))
        .transpose()
}

pub fn create(c: &Connection, r: ResourceRecord) -> Result<ResourceRecord> {
    c.execute(
        "INSERT INTO resources (id, store_id, kind, name, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![r.id, r.store_id, r.kind.as_str(), r.name, r.body.to_string(), r.created_at],
    )
    .map_err(unique("name", resource_name_taken(r.kind.as_str(), &r.name)))?;
    Ok(r)
}

pub fn get(
    c: &Connection,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = ?1 AND kind = ?2 AND id = ?3 AND deleted_at IS NULL"
    );
    one(c, kind, &sql, params![store_id, kind.as_str(), id])
}

pub fn by_name(
    c: &Connection,
    store_id: &str,
    kind: ResourceKind,
    name: &str,
) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = ?1 AND kind = ?2 AND name = ?3 AND deleted_at IS NULL"
    );
    one(c, kind, &sql, params![store_id, kind.as_str(), name])
}

pub fn list(
    c: &Connection,
    store_id: &str,
    kind: ResourceKind,
    deleted: bool,
    page: &PageRequest,
) -> Result<Page<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = ?1 AND kind = ?2 AND (deleted_at IS NOT NULL) = ?3 AND id > ?4 ORDER BY id LIMIT ?5"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(
            params![
                store_id,
                kind.as_str(),
                deleted,
                page.after_key(),
                page.limit + 1
            ],
            row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let rows = rows
        .into_iter()
        .map(|r| record(kind, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id.clone()))
}

pub fn update(c: &Connection, r: ResourceRecord) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "UPDATE resources SET name = ?4, body = ?5, updated_at = ?6 WHERE store_id = ?1 AND kind = ?2 AND id = ?3 AND deleted_at IS NULL RETURNING {COLUMNS}"
    );
    let taken = resource_name_taken(r.kind.as_str(), &r.name);
    c.prepare_cached(&sql)?
        .query_row(
            params![
                r.store_id,
                r.kind.as_str(),
                r.id,
                r.name,
                r.body.to_string(),
                r.updated_at
            ],
            row,
        )
        .optional()
        .map_err(unique("name", taken))?
        .map(|row| record(r.kind, row))
        .transpose()
}

pub fn delete(
    c: &Connection,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
    now: i64,
) -> Result<bool> {
    let changed = if kind.soft_delete() {
        c.execute(
            "UPDATE resources SET deleted_at = ?4, updated_at = ?4 WHERE store_id = ?1 AND kind = ?2 AND id = ?3 AND deleted_at IS NULL",
            params![store_id, kind.as_str(), id, now],
        )?
    } else {
        c.execute(
            "DELETE FROM resources WHERE store_id = ?1 AND kind = ?2 AND id = ?3 AND deleted_at IS NULL",
            params![store_id, kind.as_str(), id],
        )?
    };
    Ok(changed > 0)
}

pub fn restore(
    c: &Connection,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
    now: i64,
) -> Result<Option<ResourceRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM resources WHERE store_id = ?1 AND kind = ?2 AND id = ?3 AND deleted_at IS NOT NULL"
    );
    let Some(found) = one(c, kind, &sql, params![store_id, kind.as_str(), id])? else {
        return Ok(None);
    };
    c.execute(
        "UPDATE resources SET deleted_at = NULL, updated_at = ?4 WHERE store_id = ?1 AND kind = ?2 AND id = ?3",
        params![store_id, kind.as_str(), id, now],
    )
    .map_err(unique("name", resource_name_taken(kind.as_str(), &found.name)))?;
    Ok(Some(ResourceRecord {
        updated_at: now,
        deleted_at: None,
        ..found
    }))
}

#[async_trait::async_trait]
impl crate::Resources for SqliteStore {
    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| resources::create(c, resource))
            .await
    }

    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| resources::get(c, &store_id, kind, &id))
            .await
    }

    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, name) = (store_id.to_owned(), name.to_owned());
        self.read(move |c| resources::by_name(c, &store_id, kind, &name))
            .await
    }

    async fn list_resources(
        &self,
        store_id: &str,
        kind: ResourceKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ResourceRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| resources::list(c, &store_id, kind, deleted, &page))
            .await
    }

    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>> {
        self.writer
            .write(move |c| resources::update(c, resource))
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
            .write(move |c| resources::delete(c, &store_id, kind, &id, now))
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
            .write(move |c| resources::restore(c, &store_id, kind, &id, now))
            .await
    }
}
