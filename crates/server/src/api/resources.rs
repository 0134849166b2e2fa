//! Named settings resources of a store (connectors, saved webhooks): one set of operations for
//! every kind — create, read, list, replace (`PUT`), merge (`PATCH`), delete, restore. A kind says
//! only how its body is checked, shown and guarded against deletion.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use switchboard_core::{Problem, Report, ids};
use switchboard_store::{PageRequest, ResourceKind, ResourceRecord};

use super::error::{ApiError, ApiResult};
use super::list::List;
use super::stores::Deleted;
use crate::app::Shared;
use switchboard_engine::clock::{now_ms, rfc3339};

/// Fields the server sets; ignored in a posted body, so a GET → PUT round trip works.
const SERVER_FIELDS: [&str; 5] = ["id", "createdAt", "updatedAt", "deletedAt", "warnings"];

#[async_trait::async_trait]
pub trait Kind {
    const KIND: ResourceKind;
    /// Id prefix (`con`, `wh`).
    const PREFIX: &'static str;
    /// What the resource is called in messages.
    const WHAT: &'static str;

    /// Checks a body as received and gives its name, the body to store and the warnings.
    /// `stored` is the body stored now, on a replacement.
    async fn prepare(
        state: &Shared,
        store_id: &str,
        id: &str,
        body: &Value,
        stored: Option<&Value>,
    ) -> ApiResult<(String, Value, Vec<Problem>)>;

    /// The stored body as the API shows it.
    fn show(body: &Value) -> Value {
        body.clone()
    }

    /// Why the resource cannot be deleted now (something uses it), if so.
    async fn in_use(_state: &Shared, _store_id: &str, _id: &str) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

/// A report's problems as a `validation_failed` error.
pub fn invalid(what: &str, report: &Report) -> ApiError {
    ApiError::validation(format!("the {what} is invalid"), &report.errors)
}

/// `{id, …body, createdAt, updatedAt, deletedAt?, warnings?}`.
pub fn view<K: Kind>(record: &ResourceRecord, warnings: Vec<Problem>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), record.id.clone().into());
    if let Value::Object(body) = K::show(&record.body) {
        out.extend(body);
    }
    out.insert("createdAt".into(), rfc3339(record.created_at).into());
    out.insert("updatedAt".into(), rfc3339(record.updated_at).into());
    if let Some(at) = record.deleted_at {
        out.insert("deletedAt".into(), rfc3339(at).into());
    }
    if !warnings.is_empty() {
        out.insert("warnings".into(), json!(warnings));
    }
    Value::Object(out)
}

fn without_server_fields(body: Value) -> ApiResult<Value> {
    match body {
        Value::Object(mut map) => {
            for f in SERVER_FIELDS {
                map.remove(f);
            }
            Ok(Value::Object(map))
        }
        _ => Err(ApiError::invalid_field(
            "",
            "the body must be a JSON object",
        )),
    }
}

pub async fn create<K: Kind>(
    state: &Shared,
    store_id: &str,
    body: Value,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = without_server_fields(body)?;
    let id = ids::new_id(K::PREFIX);
    let (name, stored, warnings) = K::prepare(state, store_id, &id, &body, None).await?;
    let record = ResourceRecord::new(store_id, K::KIND, id, name, stored, now_ms());
    let record = state.store.create_resource(record).await?;
    Ok((StatusCode::CREATED, Json(view::<K>(&record, warnings))))
}

pub async fn live<K: Kind>(state: &Shared, store_id: &str, id: &str) -> ApiResult<ResourceRecord> {
    state
        .store
        .get_resource(store_id, K::KIND, id)
        .await?
        .ok_or_else(|| ApiError::not_found(K::WHAT))
}

pub async fn get<K: Kind>(state: &Shared, store_id: &str, id: &str) -> ApiResult<Json<Value>> {
    Ok(Json(view::<K>(
        &live::<K>(state, store_id, id).await?,
        Vec::new(),
    )))
}

pub async fn list<K: Kind>(
    state: &Shared,
    store_id: &str,
    deleted: bool,
    page: &PageRequest,
) -> ApiResult<Json<List<Value>>> {
    let page = state
        .store
        .list_resources(store_id, K::KIND, deleted, page)
        .await?;
    Ok(Json(List::from_page(page, |r| view::<K>(&r, Vec::new()))))
}

/// `PUT` replaces the body; `PATCH` (`merge`) applies an RFC 7396 merge patch to what GET shows.
/// Either way secrets sent as `***` or left out keep their stored values.
pub async fn replace<K: Kind>(
    state: &Shared,
    store_id: &str,
    id: &str,
    body: Value,
    merge: bool,
) -> ApiResult<Json<Value>> {
    let current = live::<K>(state, store_id, id).await?;
    let mut body = without_server_fields(body)?;
    if merge {
        let mut base = K::show(&current.body);
        switchboard_core::run::merge_patch(&mut base, &body);
        body = base;
    }
    let (name, stored, warnings) =
        K::prepare(state, store_id, id, &body, Some(&current.body)).await?;
    let record = ResourceRecord {
        name,
        body: stored,
        updated_at: now_ms(),
        ..current
    };
    let record = state
        .store
        .update_resource(record)
        .await?
        .ok_or_else(|| ApiError::not_found(K::WHAT))?;
    Ok(Json(view::<K>(&record, warnings)))
}

pub async fn delete<K: Kind>(state: &Shared, store_id: &str, id: &str) -> ApiResult<Json<Deleted>> {
    live::<K>(state, store_id, id).await?;
    if let Some(why) = K::in_use(state, store_id, id).await? {
        return Err(ApiError::conflict("", why));
    }
    if !state
        .store
        .delete_resource(store_id, K::KIND, id, now_ms())
        .await?
    {
        return Err(ApiError::not_found(K::WHAT));
    }
    Ok(Deleted::new(id.to_owned()))
}

pub async fn restore<K: Kind>(state: &Shared, store_id: &str, id: &str) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .restore_resource(store_id, K::KIND, id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("deleted {}", K::WHAT)))?;
    Ok(Json(view::<K>(&record, Vec::new())))
}
