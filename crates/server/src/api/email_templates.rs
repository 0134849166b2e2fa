//! `/api/email-templates`: stored emails that `send_email` fills in by name. `subject`, `text` and
//! `html` are templates over a step's roots, with the step's `variables` as `variables`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use switchboard_core::Problem;
use switchboard_steps::Js;
use switchboard_steps::send_email::stored_template;
use switchboard_store::ResourceKind;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::error::{ApiResult, ErrorBody};
use super::extract::Path;
use super::list::{List, ListParams, Paging};
use super::resources::{self, Kind, invalid};
use super::stores::Deleted;
use super::views::EmailTemplateView;
use crate::app::Shared;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(
            get_template,
            replace_template,
            patch_template,
            delete_template
        ))
}

pub struct EmailTemplates;

#[async_trait::async_trait]
impl Kind for EmailTemplates {
    const KIND: ResourceKind = ResourceKind::EmailTemplate;
    const PREFIX: &'static str = "et";
    const WHAT: &'static str = "email template";

    async fn prepare(
        state: &Shared,
        store_id: &str,
        _id: &str,
        body: &Value,
        _stored: Option<&Value>,
    ) -> ApiResult<(String, Value, Vec<Problem>)> {
        let (checked, options) = (body.clone(), state.validation.clone());
        let checked = switchboard_steps::apart(store_id, move || {
            stored_template(&checked, &options, Js::Check)
        })
        .await?;
        match checked {
            (Some((name, _)), report) => Ok((name, body.clone(), report.warnings)),
            (None, report) => Err(invalid(Self::WHAT, &report)),
        }
    }
}

/// Documents the request body; handlers read it as a JSON value to check it totally.
#[derive(ToSchema)]
#[allow(dead_code)]
struct EmailTemplateInput {
    name: String,
    description: Option<String>,
    /// A template, e.g. `Welcome, {{variables.customer_name}}`.
    subject: String,
    /// The plain-text part (a template); give `text`, `html` or both.
    text: Option<String>,
    /// The HTML part (a template).
    html: Option<String>,
}

/// The store's email templates.
#[utoipa::path(get, path = "/api/email-templates", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<EmailTemplateView>)))]
async fn list_templates(
    scope: Scope,
    State(state): State<Shared>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    resources::list::<EmailTemplates>(&state, &scope.store.id, false, &page).await
}

/// Creates an email template (its name is what `send_email` refers to).
#[utoipa::path(post, path = "/api/email-templates", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = EmailTemplateInput,
    responses((status = 201, body = EmailTemplateView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_template(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    resources::create::<EmailTemplates>(&state, &scope.store.id, body).await
}

/// An email template.
#[utoipa::path(get, path = "/api/email-templates/{id}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = EmailTemplateView), (status = 404, body = ErrorBody)))]
async fn get_template(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    resources::get::<EmailTemplates>(&state, &scope.store.id, &id).await
}

/// Replaces an email template.
#[utoipa::path(put, path = "/api/email-templates/{id}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = EmailTemplateInput,
    responses((status = 200, body = EmailTemplateView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replace_template(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    resources::replace::<EmailTemplates>(&state, &scope.store.id, &id, body, false).await
}

/// Merges an RFC 7396 patch into an email template.
#[utoipa::path(patch, path = "/api/email-templates/{id}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Object,
    responses((status = 200, body = EmailTemplateView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_template(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    resources::replace::<EmailTemplates>(&state, &scope.store.id, &id, body, true).await
}

/// Deletes an email template; steps that name it then fail with `email_template_not_found`.
#[utoipa::path(delete, path = "/api/email-templates/{id}", tag = "channels", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
async fn delete_template(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    resources::delete::<EmailTemplates>(&state, &scope.store.id, &id).await
}
