//! Run history: the list with its filters and one run with every step visit; what can be done
//! to runs is in `run_actions`, how they read in `run_view`.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Deserialize;
use switchboard_core::run::{RunStatus, phone_key};
use switchboard_store::RunFilter;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Scope;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query};
use super::list::{List, ListParams, Paging, refuse_unknown};
use super::run_actions;
use super::run_view::{RunSummary, RunView, run_view, summary_of};
use crate::app::Shared;
use switchboard_engine::clock::parse_rfc3339;

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .merge(run_actions::router())
        .merge(super::run_live::router())
}

/// The filters of the run list (and of bulk actions).
pub const FILTERS: [&str; 9] = [
    "workflowId",
    "status",
    "phoneNumber",
    "email",
    "eventId",
    "errorCode",
    "triggerType",
    "since",
    "until",
];

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RunQuery {
    workflow_id: Option<String>,
    /// `queued`, `running`, `waiting`, `completed`, `failed` or `cancelled`.
    status: Option<String>,
    /// The contact's phone number, in any spelling (compared by its digits).
    phone_number: Option<String>,
    /// The contact's email (the trigger's `email`), in any case.
    email: Option<String>,
    /// The event that started the run.
    event_id: Option<String>,
    /// A failed or cancelled run's error code, e.g. `channel_not_configured`.
    error_code: Option<String>,
    /// `webhook`, `customer_message`, `schedule`, `callable` or `manual`.
    trigger_type: Option<String>,
    /// RFC 3339: runs created at or after.
    since: Option<String>,
    /// RFC 3339: runs created before.
    until: Option<String>,
}

impl RunQuery {
    /// The store's filter; a bad value is a 400 naming the parameter (at `pointer`'s child, for
    /// a JSON filter).
    pub fn filter(self, pointer: &str) -> ApiResult<RunFilter> {
        let bad = |name: &str, why: String| {
            let at = if pointer.is_empty() {
                String::new()
            } else {
                format!("{pointer}/{name}")
            };
            ApiError::invalid_field(&at, format!("filter '{name}' {why}"))
        };
        let status = self
            .status
            .map(|s| {
                RunStatus::parse(&s).ok_or_else(|| {
                    bad(
                        "status",
                        format!("must be one of {}; not '{s}'", RunStatus::names()),
                    )
                })
            })
            .transpose()?;
        let time = |name: &str, v: Option<String>| {
            v.map(|s| {
                parse_rfc3339(&s)
                    .ok_or_else(|| bad(name, format!("must be an RFC 3339 time, not '{s}'")))
            })
            .transpose()
        };
        let contact = self
            .phone_number
            .map(|p| {
                let digits = phone_key(&p);
                if digits.is_empty() {
                    return Err(bad("phoneNumber", format!("holds no digits: '{p}'")));
                }
                Ok(digits)
            })
            .transpose()?;
        Ok(RunFilter {
            workflow_id: self.workflow_id,
            status,
            contact,
            email: self.email.map(|e| e.trim().to_lowercase()),
            event_id: self.event_id,
            error_code: self.error_code,
            trigger_type: self.trigger_type,
            since: time("since", self.since)?,
            until: time("until", self.until)?,
        })
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        [
            &self.workflow_id,
            &self.status,
            &self.phone_number,
            &self.email,
            &self.event_id,
            &self.error_code,
            &self.trigger_type,
            &self.since,
            &self.until,
        ]
        .iter()
        .all(|f| f.is_none())
    }
}

/// The store's runs, newest first.
#[utoipa::path(get, path = "/api/runs", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])), params(RunQuery, ListParams),
    responses((status = 200, body = List<RunSummary>), (status = 400, body = ErrorBody)))]
async fn list_runs(
    scope: Scope,
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    Query(q): Query<RunQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<List<RunSummary>>> {
    refuse_unknown(raw.as_deref(), &FILTERS)?;
    let filter = q.filter("")?;
    let page = state
        .store
        .list_runs(&scope.store.id, &filter, &page)
        .await?;
    let mut data = Vec::with_capacity(page.items.len());
    for run in &page.items {
        data.push(summary_of(&state, run).await?);
    }
    Ok(Json(List::from_page(
        switchboard_store::Page {
            items: data,
            next: page.next,
        },
        |s| s,
    )))
}

/// A run with its context, every step visit and the actions taken on it.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs", security(("bearer" = [], "storeId" = []), ("bearer" = [])),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
async fn get_run(
    scope: Scope,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    let run = state
        .store
        .get_run(&scope.store.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    Ok(Json(run_view(&state, run).await?))
}
