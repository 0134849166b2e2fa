//! Named settings resources (connectors, saved webhooks, email templates, channels, apps), written
//! once for both backends (migration 0002).

use crate::db::{Db, Row, Sql, Sqlite, args, run_now, sql};
use crate::error::{resource_name_taken, unique};
use crate::model::*;
use crate::{PgStore, Result, SqliteStore};

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

#[async_trait::async_trait]
impl crate::Resources for SqliteStore {
    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| run_now(create(&mut Sqlite(c), resource)))
            .await
    }

    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| run_now(one(&mut Sqlite(c), &GET, &store_id, kind, &id)))
            .await
    }

    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, name) = (store_id.to_owned(), name.to_owned());
        self.read(move |c| run_now(one(&mut Sqlite(c), &BY_NAME, &store_id, kind, &name)))
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
        self.read(move |c| run_now(list(&mut Sqlite(c), &store_id, kind, deleted, &page)))
            .await
    }

    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>> {
        self.writer
            .write(move |c| run_now(update(&mut Sqlite(c), resource)))
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
            .write(move |c| run_now(delete(&mut Sqlite(c), &store_id, kind, &id, now)))
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
            .write(move |c| run_now(restore(&mut Sqlite(c), &store_id, kind, &id, now)))
            .await
    }
}

#[async_trait::async_trait]
impl crate::Resources for PgStore {
    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| Box::pin(async move { create(c, resource).await }))
            .await
    }

    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        one(&mut *self.pool.acquire().await?, &GET, store_id, kind, id).await
    }

    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        one(
            &mut *self.pool.acquire().await?,
            &BY_NAME,
            store_id,
            kind,
            name,
        )
        .await
    }

    async fn list_resources(
        &self,
        store_id: &str,
        kind: ResourceKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ResourceRecord>> {
        list(
            &mut *self.pool.acquire().await?,
            store_id,
            kind,
            deleted,
            page,
        )
        .await
    }

    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>> {
        self.writer
            .write(move |c| Box::pin(async move { update(c, resource).await }))
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
            .write(move |c| Box::pin(async move { delete(c, &store_id, kind, &id, now).await }))
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
            .write(move |c| Box::pin(async move { restore(c, &store_id, kind, &id, now).await }))
            .await
    }
}
