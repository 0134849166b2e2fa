//! `/api/webhooks`: saved HTTP requests (seed 002) that `webhook` steps call by id or name.
//! Deleting is soft (`?deleted=true` lists them, `restore` brings one back); `test` sends the real
//! request built from sample trigger data and shows what went out and what came back.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::Problem;
use switchboard_core::run::phone_key;
use switchboard_core::template::Scope as TemplateScope;
use switchboard_steps::Js;
use switchboard_steps::webhook::{self, Call};
use switchboard_store::ResourceKind;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::{JsonBody, RawJson};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::{List, ListParams, Paging};
use super::resources::{self, Kind, invalid};
use super::stores::Deleted;
use super::views::{WebhookTestResult, WebhookView};
use crate::app::Shared;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(
            get_webhook,
            replace_webhook,
            patch_webhook,
            delete_webhook
        ))
        .routes(routes!(restore_webhook))
        .routes(routes!(test_webhook))
}

pub struct Webhooks;

#[async_trait::async_trait]
impl Kind for Webhooks {
    const KIND: ResourceKind = ResourceKind::Webhook;
    const PREFIX: &'static str = "wh";
    const WHAT: &'static str = "webhook";

    async fn prepare(
        state: &Shared,
        store_id: &str,
        _id: &str,
        body: &Value,
        _stored: Option<&Value>,
    ) -> ApiResult<(String, Value, Vec<Problem>)> {
        let (checked, options) = (body.clone(), state.validation.clone());
        let (saved, mut report) = switchboard_steps::apart(store_id, move || {
            webhook::saved(&checked, &options, Js::Check)
        })
        .await?;
        let Some(saved) = saved else {
            return Err(invalid(Self::WHAT, &report));
        };
        report
            .errors
            .extend(super::definitions::unresolved(state, store_id, &saved.references).await?);
        if !report.is_valid() {
            return Err(invalid(Self::WHAT, &report));
        }
        Ok((saved.name, body.clone(), report.warnings))
    }
}

/// Documents the request body; every string may hold templates (`params` too, for callers' params).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct WebhookInput {
    name: String,
    description: Option<String>,
    /// GET, POST, PUT, PATCH or DELETE (default GET).
    method: Option<String>,
    url: String,
    /// Query parameters, or headers with `paramsInHeaders`.
    #[schema(value_type = Object)]
    params: Option<Value>,
    params_in_headers: Option<bool>,
    #[schema(value_type = Object)]
    headers: Option<Value>,
    connector_id: Option<String>,
    /// `{format: "json"|"xml"|"text"|"form", content}`
    #[schema(value_type = Object)]
    body: Option<Value>,
    timeout_ms: Option<u64>,
    accept_statuses: Option<Vec<u16>>,
    /// `auto` (by Content-Type, the default), `json` or `text`.
    response_format: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeletedQuery {
    /// `true` lists the soft-deleted webhooks instead.
    deleted: Option<bool>,
}

/// The store's saved webhooks.
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(DeletedQuery, ListParams),
    responses((status = 200, body = List<WebhookView>)))]
async fn list_webhooks(
    scope: Scope,
    State(state): State<Shared>,
    Query(q): Query<DeletedQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    resources::list::<Webhooks>(&state, &scope.store.id, q.deleted.unwrap_or(false), &page).await
}

/// Saves a webhook. An invalid URL, plain `http://` (unless allowed) or an unknown connector is a
/// validation error with the field's pointer.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = WebhookInput,
    responses((status = 201, body = WebhookView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_webhook(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    resources::create::<Webhooks>(&state, &scope.store.id, body).await
}

#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)))]
async fn get_webhook(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    resources::get::<Webhooks>(&state, &scope.store.id, &id).await
}

#[utoipa::path(put, path = "/api/webhooks/{id}", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = WebhookInput,
    responses((status = 200, body = WebhookView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replace_webhook(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    resources::replace::<Webhooks>(&state, &scope.store.id, &id, body, false).await
}

/// Merges an RFC 7396 patch into a webhook.
#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Object,
    responses((status = 200, body = WebhookView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_webhook(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    resources::replace::<Webhooks>(&state, &scope.store.id, &id, body, true).await
}

/// Soft delete: listed with `?deleted=true`, restorable; steps calling it fail meanwhile.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
async fn delete_webhook(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    resources::delete::<Webhooks>(&state, &scope.store.id, &id).await
}

/// Brings back a deleted webhook (409 when a live one took its name meanwhile).
#[utoipa::path(post, path = "/api/webhooks/{id}/restore", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn restore_webhook(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    resources::restore::<Webhooks>(&state, &scope.store.id, &id).await
}

/// Sample data for a test-send.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TestInput {
    /// The trigger data the templates see (an event's body).
    #[schema(value_type = Object)]
    trigger: Option<Value>,
    /// A contact: their conversation state is the templates' `state`, and `trigger.phoneNumber`
    /// is set when the trigger has none.
    phone_number: Option<String>,
    /// A caller's `params`, as a step calling this webhook would pass them.
    #[schema(value_type = Object)]
    params: Option<Value>,
}

/// Sends the real request, built from the sample data, and answers with
/// `{request, response, durationMs, output?, error?}` (secrets as `***`).
#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Option<TestInput>,
    responses((status = 200, body = WebhookTestResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test_webhook(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> ApiResult<Json<Value>> {
    // The sample data is optional: an empty body tests with an empty trigger.
    let input: TestInput = if body.iter().all(u8::is_ascii_whitespace) {
        TestInput::default()
    } else {
        super::body::parse(&body)?
    };
    let store_id = &scope.store.id;
    let record = resources::live::<Webhooks>(&state, store_id, &id).await?;
    let outbound = &state.engine.outbound;
    let saved = match webhook::saved(&record.body, &state.validation, Js::Stored) {
        (Some(saved), _) => saved,
        (None, report) => {
            return Err(ApiError::validation(
                "the saved webhook is no longer valid",
                &report.errors,
            ));
        }
    };
    let request = saved.request;
    let auth = match &request.connector_id {
        None => None,
        Some(cid) => Some(
            outbound
                .connector(state.store.as_ref(), store_id, cid)
                .await
                .map_err(|e| ApiError::invalid_field("/connectorId", e.message))?,
        ),
    };
    let (trigger, contact) = sample(&state, store_id, &input).await?;
    let empty = json!({});
    let store_root = json!({"id": store_id, "name": scope.store.name});
    let scope = TemplateScope {
        state: &contact,
        variables: &empty,
        steps: &empty,
        store: &store_root,
        params: input.params.as_ref(),
        ..TemplateScope::of_trigger(&trigger)
    };
    let key = format!("test:{}", switchboard_core::ids::new_id("send"));
    let scripts = switchboard_script::eval::scripts_of(&[&request]);
    let computed = switchboard_script::Computed::of(store_id, &scope, &scripts).await;
    let evaluator = switchboard_script::Evaluator::with(scope, &computed);
    let done = webhook::exchange(
        &request,
        Call {
            evaluator: &evaluator,
            auth: auth.as_ref(),
            default_body: input.params.as_ref(),
            idempotency_key: Some(&key),
            client: &outbound.client,
        },
    )
    .await;
    let mut out = done.record();
    match done.result {
        Ok(output) => out["output"] = output,
        Err(e) => out["error"] = e.to_json(),
    }
    Ok(Json(out))
}

/// The test's trigger data (with `phoneNumber` when given) and, for that phone, the conversation
/// state the templates see as `state`.
async fn sample(state: &Shared, store_id: &str, input: &TestInput) -> ApiResult<(Value, Value)> {
    let mut trigger = match &input.trigger {
        None | Some(Value::Null) => json!({}),
        Some(t @ Value::Object(_)) => t.clone(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "/trigger",
                "'trigger' must be an object",
            ));
        }
    };
    let mut contact = json!({});
    if let Some(phone) = &input.phone_number {
        if trigger.get("phoneNumber").is_none() {
            trigger["phoneNumber"] = json!(phone);
        }
        let key = phone_key(phone);
        if let Some(c) = state.store.get_conversation(store_id, &key).await? {
            contact = c.state;
        }
    }
    Ok((trigger, contact))
}
