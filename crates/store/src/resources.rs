//! Named settings resources (connectors, saved webhooks, email templates, channels, apps), written
//! once for both backends (migration 0002).

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql};
use crate::dispatch::on_both_backends;
use crate::error::{resource_name_taken, unique};
use crate::model::*;

macro_rules! columns {
    () => {
        "id, store_id, name, body, created_at, updated_at, deleted_at"
    };
}

const INSERT: Sql = sql!(
    "INSERT INTO resources (id, store_id, kind, name, body, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6)"
);
const GET: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM resources WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL"
));
const BY_NAME: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM resources WHERE store_id = $1 AND kind = $2 AND name = $3 AND deleted_at IS NULL"
));
const GET_DELETED: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM resources WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NOT NULL"
));
const LIST: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM resources WHERE store_id = $1 AND kind = $2 AND (deleted_at IS NOT NULL) = $3 \
     AND id > $4 ORDER BY id LIMIT $5"
));
const UPDATE: Sql = sql!(concat!(
    "UPDATE resources SET name = $4, body = $5, updated_at = $6 \
     WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL RETURNING ",
    columns!()
));
const SOFT_DELETE: Sql = sql!(
    "UPDATE resources SET deleted_at = $4, updated_at = $4 \
     WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL"
);
const DELETE: Sql = sql!(
    "DELETE FROM resources WHERE store_id = $1 AND kind = $2 AND id = $3 AND deleted_at IS NULL"
);
const RESTORE: Sql = sql!(
    "UPDATE resources SET deleted_at = NULL, updated_at = $4 \
     WHERE store_id = $1 AND kind = $2 AND id = $3"
);

fn record(kind: ResourceKind, r: &impl Row) -> Result<ResourceRecord> {
    Ok(ResourceRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        kind,
        name: r.col(2)?,
        body: r.json(3)?,
        created_at: r.col(4)?,
        updated_at: r.col(5)?,
        deleted_at: r.col(6)?,
    })
}

pub(crate) async fn create(db: &mut impl Db, r: ResourceRecord) -> Result<ResourceRecord> {
    let body = r.body.to_string();
    let row = args![
        &r.id,
        &r.store_id,
        r.kind.as_str(),
        &r.name,
        body.as_str(),
        r.created_at
    ];
    db.execute(&INSERT, row).await.map_err(unique(
        "name",
        resource_name_taken(r.kind.as_str(), &r.name),
    ))?;
    Ok(r)
}

async fn one(
    db: &mut impl Db,
    sql: &Sql,
    store_id: &str,
    kind: ResourceKind,
    key: &str,
) -> Result<Option<ResourceRecord>> {
    db.fetch_one(sql, args![store_id, kind.as_str(), key], |r| {
        record(kind, r)
    })
    .await
}

async fn list(
    db: &mut impl Db,
    store_id: &str,
    kind: ResourceKind,
    deleted: bool,
    page: &PageRequest,
) -> Result<Page<ResourceRecord>> {
    let after = page.after_key();
    let filter = args![
        store_id,
        kind.as_str(),
        deleted,
        after.as_str(),
        page.limit + 1
    ];
    let rows = db.fetch(&LIST, filter, |r| record(kind, r)).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id.clone()))
}

/// Replaces a live resource's name and body; `None` when there is no such live resource.
pub(crate) async fn update(db: &mut impl Db, r: ResourceRecord) -> Result<Option<ResourceRecord>> {
    let body = r.body.to_string();
    let row = args![
        &r.store_id,
        r.kind.as_str(),
        &r.id,
        &r.name,
        body.as_str(),
        r.updated_at
    ];
    db.fetch_one(&UPDATE, row, |row| record(r.kind, row))
        .await
        .map_err(unique(
            "name",
            resource_name_taken(r.kind.as_str(), &r.name),
        ))
}

/// Deletes a live resource: softly when its kind keeps deleted ones, else for good.
pub(crate) async fn delete(
    db: &mut impl Db,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
    now: i64,
) -> Result<bool> {
    let changed = if kind.soft_delete() {
        let row = args![store_id, kind.as_str(), id, now];
        db.execute(&SOFT_DELETE, row).await?
    } else {
        db.execute(&DELETE, args![store_id, kind.as_str(), id])
            .await?
    };
    Ok(changed > 0)
}

async fn restore(
    db: &mut impl Db,
    store_id: &str,
    kind: ResourceKind,
    id: &str,
    now: i64,
) -> Result<Option<ResourceRecord>> {
    let Some(found) = one(db, &GET_DELETED, store_id, kind, id).await? else {
        return Ok(None);
    };
    db.execute(&RESTORE, args![store_id, kind.as_str(), id, now])
        .await
        .map_err(unique(
            "name",
            resource_name_taken(kind.as_str(), &found.name),
        ))?;
    Ok(Some(ResourceRecord {
        updated_at: now,
        deleted_at: None,
        ..found
    }))
}

on_both_backends!(crate::Resources {
    write fn create_resource(resource: ResourceRecord) -> ResourceRecord => |db| create(db, resource);
    read fn get_resource(store_id: &str, kind: ResourceKind, id: &str) -> Option<ResourceRecord>
        => |db| one(db, &GET, &store_id, kind, &id);
    read fn resource_by_name(store_id: &str, kind: ResourceKind, name: &str) -> Option<ResourceRecord>
        => |db| one(db, &BY_NAME, &store_id, kind, &name);
    read fn list_resources(store_id: &str, kind: ResourceKind, deleted: bool, page: &PageRequest)
        -> Page<ResourceRecord> => |db| list(db, &store_id, kind, deleted, &page);
    write fn update_resource(resource: ResourceRecord) -> Option<ResourceRecord> => |db| update(db, resource);
    write fn delete_resource(store_id: &str, kind: ResourceKind, id: &str, now: i64) -> bool
        => |db| delete(db, &store_id, kind, &id, now);
    write fn restore_resource(store_id: &str, kind: ResourceKind, id: &str, now: i64) -> Option<ResourceRecord>
        => |db| restore(db, &store_id, kind, &id, now);
});
