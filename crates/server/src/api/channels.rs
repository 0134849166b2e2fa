//! `/api/channels`: each store's settings of WhatsApp (Cloud API), email (SMTP) and voice (Twilio).
//! Secrets are write-only (sealed at rest, read back as `***`); a `PUT` that omits one or sends
//! `***` keeps it. Each view also says where the provider must send its webhooks.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};
use switchboard_core::ids;
use switchboard_store::{ResourceKind, ResourceRecord};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Path;
use super::list::List;
use super::resources::invalid;
use super::stores::Deleted;
use super::views::ChannelView;
use crate::app::Shared;
use switchboard_engine::channels::{self, KINDS};
use switchboard_engine::clock::{now_ms, rfc3339};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_channels))
        .routes(routes!(
            get_channel,
            put_channel,
            patch_channel,
            delete_channel
        ))
}

/// A channel's settings, flat: those of the channel the path names. Secrets are write-only; on a
/// replacement a secret omitted or sent as `***` keeps its stored value. Documents the request
/// body; handlers read it as a JSON value to check it totally.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ChannelInput {
    WhatsApp(WhatsAppSettings),
    Email(EmailSettings),
    Voice(VoiceSettings),
}

/// Which channel.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ChannelKind {
    Whatsapp,
    Email,
    Voice,
}

/// WhatsApp Cloud API (Meta).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct WhatsAppSettings {
    phone_number_id: String,
    access_token: String,
    /// The Meta app's secret, which signs its webhooks.
    app_secret: String,
    /// What Meta's subscription handshake must echo.
    verify_token: String,
    /// Graph API version, e.g. `v21.0`.
    api_version: Option<String>,
    base_url: Option<String>,
}

/// Email over SMTP.
#[derive(ToSchema)]
#[allow(dead_code)]
struct EmailSettings {
    host: String,
    #[schema(minimum = 1, maximum = 65535)]
    port: u16,
    /// `starttls` (default), `tls` or `none`.
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// The sender's address.
    from: String,
}

/// Voice calls (Twilio).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct VoiceSettings {
    account_sid: String,
    auth_token: String,
    /// The calling number.
    from: String,
    base_url: Option<String>,
}

fn known(kind: &str) -> ApiResult<&'static str> {
    KINDS.iter().find(|k| **k == kind).copied().ok_or_else(|| {
        ApiError::not_found(&format!("channel '{kind}' (one of whatsapp, email, voice)"))
    })
}

/// `{channel, …settings (secrets ***), webhookUrl | statusCallbackUrl, updatedAt}`.
fn view(state: &Shared, record: &ResourceRecord) -> Value {
    let mut out = Map::new();
    out.insert("channel".into(), record.name.clone().into());
    if let Value::Object(body) = channels::view(&record.name, &record.body) {
        out.extend(body);
    }
    let base = &state.engine.outbound.public_url;
    let store = &record.store_id;
    match record.name.as_str() {
        "whatsapp" => {
            out.insert(
                "webhookUrl".into(),
                format!("{base}/channels/whatsapp/{store}").into(),
            );
        }
        "voice" => {
            out.insert(
                "statusCallbackUrl".into(),
                format!("{base}/channels/voice/{store}/status").into(),
            );
        }
        _ => {}
    }
    out.insert("createdAt".into(), rfc3339(record.created_at).into());
    out.insert("updatedAt".into(), rfc3339(record.updated_at).into());
    Value::Object(out)
}

/// The store's configured channels (secrets as `***`).
#[utoipa::path(get, path = "/api/channels", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = List<ChannelView>)))]
async fn list_channels(scope: Scope, State(state): State<Shared>) -> ApiResult<Json<List<Value>>> {
    let mut data = Vec::new();
    for kind in KINDS {
        if let Some(record) = channels::stored(state.store.as_ref(), &scope.store.id, kind).await? {
            data.push(view(&state, &record));
        }
    }
    Ok(Json(List {
        data,
        next_cursor: None,
    }))
}

async fn configured(state: &Shared, store_id: &str, kind: &str) -> ApiResult<ResourceRecord> {
    channels::stored(state.store.as_ref(), store_id, kind)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("{kind} channel")))
}

/// One channel's settings (secrets as `***`).
#[utoipa::path(get, path = "/api/channels/{channel}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    params(("channel" = inline(ChannelKind), Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)))]
async fn get_channel(
    scope: Scope,
    State(state): State<Shared>,
    Path(kind): Path<String>,
) -> ApiResult<Json<Value>> {
    let kind = known(&kind)?;
    Ok(Json(view(
        &state,
        &configured(&state, &scope.store.id, kind).await?,
    )))
}

/// Sets a channel's settings, replacing what was there; a secret omitted or sent as `***` keeps
/// its stored value.
#[utoipa::path(put, path = "/api/channels/{channel}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    params(("channel" = inline(ChannelKind), Path)), request_body = ChannelInput,
    responses((status = 200, body = ChannelView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_channel(
    scope: Scope,
    State(state): State<Shared>,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    save(&state, &scope.store.id, known(&kind)?, body, false).await
}

/// Merges an RFC 7396 patch into a channel's settings.
#[utoipa::path(patch, path = "/api/channels/{channel}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    params(("channel" = inline(ChannelKind), Path)), request_body = Object,
    responses((status = 200, body = ChannelView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patch_channel(
    scope: Scope,
    State(state): State<Shared>,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let kind = known(&kind)?;
    configured(&state, &scope.store.id, kind).await?;
    save(&state, &scope.store.id, kind, body, true).await
}

/// Fields the server shows; ignored in a posted body, so a GET → PUT round trip works.
const SHOWN_ONLY: [&str; 5] = [
    "channel",
    "webhookUrl",
    "statusCallbackUrl",
    "createdAt",
    "updatedAt",
];

async fn save(
    state: &Shared,
    store_id: &str,
    kind: &str,
    body: Value,
    merge: bool,
) -> ApiResult<Json<Value>> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::invalid_field(
            "",
            "the body must be a JSON object",
        ));
    };
    for key in SHOWN_ONLY {
        body.remove(key);
    }
    let mut body = Value::Object(body);
    let current = channels::stored(state.store.as_ref(), store_id, kind).await?;
    if merge && let Some(current) = &current {
        let mut base = channels::view(kind, &current.body);
        switchboard_core::run::merge_patch(&mut base, &body);
        body = base;
    }
    let outbound = &state.engine.outbound;
    let stored = current.as_ref().map(|c| &c.body);
    let (prepared, _) = channels::prepare(
        &outbound.client,
        &outbound.sealer,
        store_id,
        kind,
        &body,
        stored,
    )
    .map_err(|report| invalid(&format!("{kind} channel"), &report))?;
    let now = now_ms();
    let record = match current {
        Some(current) => state
            .store
            .update_resource(ResourceRecord {
                body: prepared,
                updated_at: now,
                ..current
            })
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("{kind} channel")))?,
        None => {
            let id = ids::new_id("ch");
            let record = ResourceRecord::new(
                store_id,
                ResourceKind::Channel,
                id,
                kind.into(),
                prepared,
                now,
            );
            state.store.create_resource(record).await?
        }
    };
    Ok(Json(view(state, &record)))
}

/// Removes a channel's settings and secrets; its steps then fail with `channel_not_configured`.
#[utoipa::path(delete, path = "/api/channels/{channel}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    params(("channel" = inline(ChannelKind), Path)),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
async fn delete_channel(
    scope: Scope,
    State(state): State<Shared>,
    Path(kind): Path<String>,
) -> ApiResult<Json<Deleted>> {
    let kind = known(&kind)?;
    let record = configured(&state, &scope.store.id, kind).await?;
    state
        .store
        .delete_resource(&scope.store.id, ResourceKind::Channel, &record.id, now_ms())
        .await?;
    Ok(Deleted::new(record.id))
}
