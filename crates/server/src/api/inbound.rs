//! What providers send back, on public routes checked by their own signatures:
//! - `GET /channels/whatsapp/{storeId}`: Meta's verification handshake;
//! - `POST /channels/whatsapp/{storeId}`: messages and delivery statuses, signed with
//!   `X-Hub-Signature-256`. A message is recorded with its event and starts the store's
//!   `customer_message` workflows whose `match` fits; a status moves its message forward and is
//!   recorded as a `message.*` event. Meta's repeated deliveries are recognised by message id;
//! - `POST /channels/voice/{storeId}/status`: Twilio's call progress, signed with `X-Twilio-Signature`.

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_channels::{voice, whatsapp};
use switchboard_core::ids;
use switchboard_core::run::{StepError, phone_key};
use switchboard_core::workflow::Trigger;
use switchboard_store::{MessageRecord, MessageStatus, StatusEvent, StatusReport};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::RawBody;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::views::{CallStatus, WhatsAppReceived};
use crate::app::Shared;
use switchboard_engine::channels::{self, open_voice, open_whatsapp};
use switchboard_engine::clock::{now_ms, rfc3339};
use switchboard_engine::triggers::{self, Request};

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(whatsapp_handshake, whatsapp_webhook))
        .routes(routes!(voice_status))
}

/// The store's settings of a channel, for checking what its provider sent. A store without them
/// is "not found", whether or not it exists.
async fn settings<T>(
    state: &Shared,
    store_id: &str,
    kind: &str,
    open: fn(&switchboard_engine::secrets::SecretFields, &Value) -> Result<T, String>,
) -> ApiResult<T> {
    let outbound = &state.engine.outbound;
    channels::load(state.store.as_ref(), &outbound.sealer, store_id, kind, open)
        .await
        .map_err(|e: StepError| match e.code.as_str() {
            "channel_not_configured" => ApiError::not_found(&format!("{kind} channel")),
            _ => ApiError::internal(e.message),
        })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's verification handshake: the challenge back when the verify token is the channel's.
#[utoipa::path(get, path = "/channels/whatsapp/{storeId}", tag = "channels", params(("storeId" = String, Path), Handshake),
    responses((status = 200, description = "the challenge, as plain text"), (status = 403, body = ErrorBody)))]
async fn whatsapp_handshake(
    State(state): State<Shared>,
    Path(store_id): Path<String>,
    Query(query): Query<Handshake>,
) -> ApiResult<Response> {
    let refused = || {
        ApiError::forbidden("the verification token does not match this store's WhatsApp channel")
    };
    let config = settings(&state, &store_id, "whatsapp", open_whatsapp)
        .await
        .map_err(|_| refused())?;
    let challenge = whatsapp::handshake(
        &config.verify_token,
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge.as_deref(),
    )
    .ok_or_else(refused)?;
    Ok((
        StatusCode::OK,
        [("content-type", "text/plain")],
        challenge.to_owned(),
    )
        .into_response())
}

/// Messages and statuses from the WhatsApp Cloud API, signed with the channel's App Secret.
#[utoipa::path(post, path = "/channels/whatsapp/{storeId}", tag = "channels", params(("storeId" = String, Path),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the body under the App Secret")),
    request_body = Object,
    responses((status = 200, body = WhatsAppReceived), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn whatsapp_webhook(
    State(state): State<Shared>,
    Path(store_id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Value>> {
    let config = settings(&state, &store_id, "whatsapp", open_whatsapp).await?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !whatsapp::signature_valid(&config.app_secret, &body, signature) {
        tracing::warn!(
            store_id,
            "refused a WhatsApp webhook whose X-Hub-Signature-256 does not match"
        );
        return Err(ApiError::unauthorized(
            "X-Hub-Signature-256 does not match the body under this channel's App Secret",
        ));
    }
    let root: Value = super::body::parse(&body)?;
    let items = whatsapp::parse(&root).map_err(|why| {
        tracing::warn!(store_id, why, "refused a malformed WhatsApp webhook");
        ApiError::invalid_field("", format!("not a WhatsApp webhook: {why}"))
    })?;
    let (mut received, mut statuses) = (Vec::new(), 0);
    for item in items {
        match item {
            whatsapp::Inbound::Message(m) => received.push(receive(&state, &store_id, m).await?),
            whatsapp::Inbound::Status(s) => {
                let error = s.errors.map(|errors| json!({"errors": errors}));
                status(
                    &state,
                    &store_id,
                    "whatsapp",
                    &s.id,
                    &s.status,
                    error,
                    s.recipient,
                )
                .await?;
                statuses += 1;
            }
        }
    }
    Ok(Json(json!({"messages": received, "statuses": statuses})))
}

/// Records a customer's message with its event, starting the `customer_message` workflows whose
/// `match` fits its text; gives `{messageId, eventId, runIds}` (the first answer for a repeat).
async fn receive(state: &Shared, store_id: &str, m: whatsapp::Message) -> ApiResult<Value> {
    let now = now_ms();
    let mut trigger = json!({
        "phoneNumber": m.from,
        "text": m.text,
        "messageId": m.id,
        "timestamp": rfc3339(m.timestamp_ms.unwrap_or(now)),
        "channel": "whatsapp",
        "type": m.kind,
        "name": m.name,
        "message": m.raw,
    });
    if let Some(reply_to) = &m.reply_to {
        trigger["replyTo"] = reply_to.clone().into();
    }
    let targets = triggers::targets(&state.engine, store_id, "customer_message", "whatsapp")
        .await?
        .into_iter()
        .filter(|t| match &t.graph.trigger {
            Trigger::CustomerMessage {
                pattern: Some(p), ..
            } => m.text.as_deref().is_some_and(|text| p.is_match(text)),
            _ => true,
        })
        .collect::<Vec<_>>();
    // A message is an event of its store: it counts against the store's limits like any other.
    let store = super::auth::store_record(state, store_id)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    super::events::admit(state, &store, targets.len())?;
    let record = MessageRecord {
        id: ids::new_id("msg"),
        store_id: store_id.to_owned(),
        channel: "whatsapp".into(),
        direction: "inbound".into(),
        contact: Some(m.from.clone()),
        provider_id: Some(m.id.clone()),
        status: MessageStatus::Received,
        status_rank: 0,
        content: json!({"type": m.kind, "text": m.text}),
        error: None,
        run_id: None,
        step_id: None,
        created_at: now,
        updated_at: now,
    };
    let request = Request {
        store_id,
        event_type: "message.received",
        trigger,
        idempotency_key: Some(format!("whatsapp:{}", m.id)),
        fingerprint: m.id.as_bytes(),
        message: Some(record),
        schedule: None,
        trigger_type: "customer_message",
        replay_of: None,
    };
    let wamid = m.id.clone();
    let outcome = triggers::start(
        &state.engine,
        request,
        targets,
        |event_id, run_ids| json!({"messageId": wamid, "eventId": event_id, "runIds": run_ids}),
    )
    .await?;
    Ok(match outcome {
        triggers::Outcome::Created { event_id, run_ids } => {
            json!({"messageId": m.id, "eventId": event_id, "runIds": run_ids})
        }
        triggers::Outcome::Replayed(first) => first,
    })
}

/// Moves a message's status forward, recording the `message.*` event it becomes.
async fn status(
    state: &Shared,
    store_id: &str,
    channel: &str,
    provider_id: &str,
    status: &str,
    error: Option<Value>,
    recipient: Option<String>,
) -> ApiResult<()> {
    let Some(status) = MessageStatus::parse(status) else {
        tracing::debug!(
            store_id,
            channel,
            provider_id,
            status,
            "a provider status Switchboard does not track; ignored"
        );
        return Ok(());
    };
    let update = StatusReport {
        store_id: store_id.to_owned(),
        channel: channel.to_owned(),
        provider_id: provider_id.to_owned(),
        status,
        status_rank: status.rank(channel),
        error,
        contact: recipient,
        new_id: ids::new_id("msg"),
        event: status.event(channel).map(|event_type| StatusEvent {
            id: ids::new_id(ids::EVENT),
            event_type: event_type.into(),
        }),
        now: now_ms(),
    };
    state.store.message_status(update).await?;
    Ok(())
}

/// A call's progress from Twilio, signed with the voice channel's auth token over the callback
/// URL (`SWITCHBOARD_PUBLIC_URL` + path) and the form fields.
#[utoipa::path(post, path = "/channels/voice/{storeId}/status", tag = "channels", params(("storeId" = String, Path),
        ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 of the URL and the sorted form fields")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CallStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn voice_status(
    State(state): State<Shared>,
    Path(store_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Value>> {
    let config = settings(&state, &store_id, "voice", open_voice).await?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut url = format!("{}{}", state.engine.outbound.public_url, uri.path());
    if let Some(query) = uri.query() {
        url = format!("{url}?{query}");
    }
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    if !voice::signature_valid(&config.auth_token, &url, &params, signature) {
        tracing::warn!(
            store_id,
            "refused a Twilio callback whose X-Twilio-Signature does not match"
        );
        return Err(ApiError::unauthorized(format!(
            "X-Twilio-Signature does not match {url} and the form under this channel's auth token"
        )));
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(sid), Some(call_status)) = (field("CallSid"), field("CallStatus")) else {
        return Err(ApiError::invalid_field(
            "",
            "a call status callback carries CallSid and CallStatus",
        ));
    };
    let error =
        field("ErrorCode").map(|code| json!({"code": code, "message": field("ErrorMessage")}));
    status(
        &state,
        &store_id,
        "voice",
        sid,
        call_status,
        error,
        field("To").map(phone_key),
    )
    .await?;
    Ok(Json(json!({"callSid": sid, "status": call_status})))
}
