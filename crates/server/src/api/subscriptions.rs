//! `/api/subscriptions`: endpoints that receive the store's outgoing events. The signing secret
//! (`whsec_…`) is shown when a subscription is created and when it is rotated, never again. What
//! was sent to them is in [`super::deliveries`], the events there are in [`super::event_types`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard_core::Report;
use switchboard_core::workflow::{Context, Fields, OPTIONAL, REQUIRED};
use switchboard_store::SubscriptionRecord;
use switchboard_store::outbox::subscription_summary;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::event_types::catalogue;
use super::extract::Path;
use super::list::{List, ListParams, Paging};
use super::resources::invalid;
use super::stores::Deleted;
use super::views::{RotatedSecret, SubscriptionView};
use crate::app::{AppState, Shared};
use switchboard_engine::clock::{now_ms, rfc3339};
use switchboard_engine::deliveries::secret_binding;
use switchboard_engine::signatures::{new_secret, secret_key};

/// How long a rotated-out secret keeps signing alongside the new one (before time scaling).
const ROTATION_OVERLAP_MS: f64 = 24.0 * 3_600_000.0;
/// Fields the server sets: ignored in a posted body, so a GET → PUT round trip works.
const SERVER_FIELDS: [&str; 8] = [
    "id",
    "createdAt",
    "updatedAt",
    "warnings",
    "failingSince",
    "disabledAt",
    "disabledReason",
    "previousSecretExpiresAt",
];
const MASK: &str = "***";

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            replace_subscription,
            patch_subscription,
            delete_subscription
        ))
        .routes(routes!(rotate_secret))
}

/// Documents the request body; handlers read it as a JSON value to check it totally.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SubscriptionInput {
    /// Where deliveries are POSTed (HTTPS; the SSRF guard applies).
    url: String,
    /// Event names, `group.*` (e.g. `run.*`) or `*`.
    events: Vec<String>,
    description: Option<String>,
    /// Default true.
    active: Option<bool>,
    /// Deliveries sharing a contact go out in order; a failing one holds the later ones.
    ordered: Option<bool>,
    /// A `whsec_` secret of 24–64 bytes; generated when omitted; `***` keeps the stored one.
    secret: Option<String>,
}

/// What a checked body says.
struct Checked {
    url: String,
    events: Vec<String>,
    description: Option<String>,
    active: bool,
    ordered: bool,
    /// A new secret given in the body (not `***`).
    secret: Option<String>,
}

/// Whether `name` may be used in a filter: `*`, an event name, or `group.*`.
fn is_pattern(name: &str) -> bool {
    name == "*"
        || switchboard_steps::emit_event::is_event_name(name)
        || name.strip_suffix(".*").is_some_and(|group| {
            !group.contains('.') && switchboard_steps::emit_event::is_event_name(group)
        })
}

/// Checks a subscription body: every problem at its pointer; filter names nobody emits are warnings
/// that list the catalogue.
async fn check(
    state: &AppState,
    store_id: &str,
    body: &Value,
) -> ApiResult<(Checked, Vec<switchboard_core::Problem>)> {
    let mut body = body.clone();
    if let Value::Object(m) = &mut body {
        for field in SERVER_FIELDS {
            m.remove(field);
        }
    }
    let mut ctx = Context::default();
    let read = Fields::new(Some(&body), "", "subscription", &mut ctx).map(|mut f| {
        let url = f.string("url", REQUIRED);
        if let Some(u) = &url
            && let Err(e) = state.engine.outbound.client.check_url(u)
        {
            f.error("url", e.to_string());
        }
        let events = read_events(&mut f);
        let description = f.string("description", OPTIONAL);
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 4096)
        {
            f.error("description", "description is longer than 4096 characters");
        }
        let active = f.boolean("active", OPTIONAL);
        let ordered = f.boolean("ordered", OPTIONAL);
        let secret = f.string("secret", OPTIONAL).filter(|s| s != MASK);
        if let Some(s) = &secret
            && !(s.starts_with("whsec_")
                && secret_key(s).is_some_and(|k| (24..=64).contains(&k.len())))
        {
            f.error(
                "secret",
                "a secret is 'whsec_' followed by the base64 of 24 to 64 random bytes",
            );
        }
        f.finish();
        (url, events, description, active, ordered, secret)
    });
    let mut report: Report = ctx.report;
    let (Some((Some(url), Some(events), description, active, ordered, secret)), true) =
        (read, report.is_valid())
    else {
        report.sort();
        return Err(invalid("subscription", &report));
    };
    warn_unknown_events(state, store_id, &events, &mut report).await?;
    let checked = Checked {
        url,
        events,
        description,
        active: active.unwrap_or(true),
        ordered: ordered.unwrap_or(false),
        secret,
    };
    Ok((checked, report.warnings))
}

/// `events`: a non-empty array of event names, `group.*` patterns or `*`, each checked at its
/// pointer.
fn read_events(f: &mut Fields<'_, '_>) -> Option<Vec<String>> {
    let items = match f.raw("events", REQUIRED) {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            let message = "'events' is a non-empty array of event names, or [\"*\"] for all";
            f.error("events", message);
            return None;
        }
        None => return None,
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("/events/{i}");
        match item.as_str() {
            Some(name) if is_pattern(name) => names.push(name.to_owned()),
            Some(name) => f.ctx.report.error(
                at,
                format!("'{name}' is not an event name, 'group.*' or '*'"),
            ),
            None => f.ctx.report.error(at, "each entry of 'events' is a string"),
        }
    }
    Some(names)
}

/// Names no event of the catalogue matches are kept, with a warning listing the catalogue.
async fn warn_unknown_events(
    state: &AppState,
    store_id: &str,
    events: &[String],
    report: &mut Report,
) -> ApiResult<()> {
    let known = catalogue(state, store_id).await?;
    for (i, name) in events.iter().enumerate() {
        let group = name.strip_suffix(".*");
        let matches = name == "*"
            || known.contains_key(name.as_str())
            || group.is_some_and(|g| known.keys().any(|k| k.split('.').next() == Some(g)));
        if !matches {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            report.warn(
                format!("/events/{i}"),
                format!("no event '{name}' is emitted by Switchboard or this store's workflows (yet); the events are: {}", names.join(", ")),
            );
        }
    }
    Ok(())
}

/// The subscription as the API shows it; `secret` only when just made.
fn view(
    s: &SubscriptionRecord,
    secret: Option<&str>,
    warnings: Option<Vec<switchboard_core::Problem>>,
) -> Value {
    let mut out = subscription_summary(s);
    out["secret"] = json!(secret.unwrap_or(MASK));
    if let Some(until) = s
        .previous_until
        .filter(|u| *u > now_ms() && s.previous_secret.is_some())
    {
        out["previousSecretExpiresAt"] = json!(rfc3339(until));
    }
    if let Some(w) = warnings {
        out["warnings"] = json!(w);
    }
    out
}

pub(super) async fn find(
    state: &AppState,
    store_id: &str,
    id: &str,
) -> ApiResult<SubscriptionRecord> {
    state
        .store
        .get_subscription(store_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))
}

/// The store's subscriptions.
#[utoipa::path(get, path = "/api/subscriptions", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(ListParams),
    responses((status = 200, body = List<SubscriptionView>)))]
async fn list_subscriptions(
    scope: Scope,
    State(state): State<Shared>,
    Paging(page): Paging,
) -> ApiResult<Json<List<Value>>> {
    let page = state
        .store
        .list_subscriptions(&scope.store.id, &page)
        .await?;
    Ok(Json(List::from_page(page, |s| view(&s, None, None))))
}

/// Creates a subscription; the answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/api/subscriptions", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = SubscriptionInput,
    responses((status = 201, body = SubscriptionView), (status = 400, body = ErrorBody)))]
async fn create_subscription(
    scope: Scope,
    State(state): State<Shared>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (c, warnings) = check(&state, &scope.store.id, &body).await?;
    let id = SubscriptionRecord::new_id();
    let secret = c.secret.unwrap_or_else(new_secret);
    let now = now_ms();
    let record = SubscriptionRecord {
        secret: state.sealer.seal(secret.as_bytes(), &secret_binding(&id)),
        id,
        store_id: scope.store.id.clone(),
        url: c.url,
        description: c.description,
        events: c.events,
        ordered: c.ordered,
        active: c.active,
        previous_secret: None,
        previous_until: None,
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    let record = state.store.create_subscription(record).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&record, Some(&secret), Some(warnings))),
    ))
}

/// A subscription (its secret as `***`).
#[utoipa::path(get, path = "/api/subscriptions/{id}", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody)))]
async fn get_subscription(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(
        &find(&state, &scope.store.id, &id).await?,
        None,
        None,
    )))
}

/// Replaces a subscription; `secret` omitted or `***` keeps the stored one. Turning a disabled
/// subscription on again forgets its failures.
#[utoipa::path(put, path = "/api/subscriptions/{id}", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = SubscriptionInput,
    responses((status = 200, body = SubscriptionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn replace_subscription(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let current = find(&state, &scope.store.id, &id).await?;
    save(&state, current, &body).await
}

/// Merges an RFC 7396 patch into a subscription (`{"active": true}` turns a disabled one on again).
#[utoipa::path(patch, path = "/api/subscriptions/{id}", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])), request_body = Object,
    responses((status = 200, body = SubscriptionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patch_subscription(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let current = find(&state, &scope.store.id, &id).await?;
    if !patch.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "a patch is a JSON object (RFC 7396)",
        ));
    }
    let mut body = view(&current, None, None);
    switchboard_core::run::merge_patch(&mut body, &patch);
    save(&state, current, &body).await
}

async fn save(
    state: &AppState,
    current: SubscriptionRecord,
    body: &Value,
) -> ApiResult<Json<Value>> {
    let (c, warnings) = check(state, &current.store_id, body).await?;
    let now = now_ms();
    let revived = c.active && !current.active;
    let mut record = SubscriptionRecord {
        url: c.url,
        events: c.events,
        description: c.description,
        active: c.active,
        ordered: c.ordered,
        updated_at: now,
        ..current
    };
    if revived {
        record.failing_since = None;
        record.disabled_at = None;
        record.disabled_reason = None;
    }
    if let Some(secret) = &c.secret {
        record.secret = state
            .sealer
            .seal(secret.as_bytes(), &secret_binding(&record.id));
    }
    let saved = state
        .store
        .update_subscription(record)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    Ok(Json(view(&saved, None, Some(warnings))))
}

/// Deletes a subscription: nothing more is sent to it (pending deliveries are cancelled); its
/// delivery history stays.
#[utoipa::path(delete, path = "/api/subscriptions/{id}", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
async fn delete_subscription(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    if !state
        .store
        .delete_subscription(&scope.store.id, &id, now_ms())
        .await?
    {
        return Err(ApiError::not_found("subscription"));
    }
    Ok(Deleted::new(id))
}

/// Makes a new signing secret; the previous one keeps signing alongside it for 24 hours, so
/// receivers can switch without missing a delivery.
#[utoipa::path(post, path = "/api/subscriptions/{id}/rotate-secret", tag = "subscriptions", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = RotatedSecret), (status = 404, body = ErrorBody)))]
async fn rotate_secret(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let current = find(&state, &scope.store.id, &id).await?;
    let secret = new_secret();
    let now = now_ms();
    let until = now
        + switchboard_core::transition::scaled(
            ROTATION_OVERLAP_MS,
            state.engine.settings.time_scale,
        );
    let record = SubscriptionRecord {
        previous_secret: Some(current.secret.clone()),
        previous_until: Some(until),
        secret: state.sealer.seal(secret.as_bytes(), &secret_binding(&id)),
        updated_at: now,
        ..current
    };
    state
        .store
        .update_subscription(record)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    Ok(Json(
        json!({"id": id, "secret": secret, "previousSecretExpiresAt": rfc3339(until)}),
    ))
}
