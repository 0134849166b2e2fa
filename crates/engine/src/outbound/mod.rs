//! The server's side of outbound calls: the guarded client (one for the whole process), the
//! store's connectors (credentials sealed at rest) and saved webhooks, loaded for a step or a
//! test-send.

pub mod connectors;

use switchboard_core::run::StepError;
use switchboard_core::workflow::Options;
use switchboard_outbound::Client;
use switchboard_steps::send_email::{StoredTemplate, stored_template};
use switchboard_steps::webhook::{self, Auth, Request, SavedRef};
use switchboard_store::{ResourceKind, Store};

use crate::secrets::Sealer;

#[derive(Clone)]
pub struct Outbound {
    pub client: Client,
    pub sealer: Sealer,
    pub validation: Options,
    /// The server's externally visible base URL, for providers' callbacks.
    pub public_url: String,
}

impl Outbound {
    /// A saved webhook of the store, compiled; a deleted or unknown one is a step error.
    pub async fn saved_webhook(
        &self,
        store: &dyn Store,
        store_id: &str,
        by: &SavedRef,
    ) -> Result<Request, StepError> {
        let found = match by {
            SavedRef::Id(id) => {
                store
                    .get_resource(store_id, ResourceKind::Webhook, id)
                    .await
            }
            SavedRef::Name(name) => {
                store
                    .resource_by_name(store_id, ResourceKind::Webhook, name)
                    .await
            }
        }
        .map_err(unavailable)?;
        let record = found.ok_or_else(|| {
            let (what, key) = match by {
                SavedRef::Id(id) => ("id", id),
                SavedRef::Name(name) => ("name", name),
            };
            StepError::new(
                "webhook_not_found",
                format!("no saved webhook with {what} '{key}' in this store (deleted?)"),
            )
        })?;
        match webhook::saved(
            &record.body,
            &self.validation,
            switchboard_steps::Js::Stored,
        ) {
            (Some(saved), _) => Ok(saved.request),
            (None, report) => Err(StepError::new(
                "webhook_invalid",
                format!(
                    "saved webhook '{}' is no longer valid: {}",
                    record.name,
                    problems(&report)
                ),
            )),
        }
    }

    /// The credentials of connector `id`, opened.
    pub async fn connector(
        &self,
        store: &dyn Store,
        store_id: &str,
        id: &str,
    ) -> Result<Auth, StepError> {
        let record = store
            .get_resource(store_id, ResourceKind::Connector, id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                StepError::new(
                    "connector_not_found",
                    format!("no connector with id '{id}' in this store"),
                )
            })?;
        connectors::open(&self.sealer, &record).map_err(|e| {
            StepError::new(
                "connector_unreadable",
                format!("connector '{}' cannot be opened: {e}", record.name),
            )
        })
    }
}

impl Outbound {
    /// The store's email template `name`, compiled.
    pub async fn email_template(
        &self,
        store: &dyn Store,
        store_id: &str,
        name: &str,
    ) -> Result<StoredTemplate, StepError> {
        let record = store
            .resource_by_name(store_id, ResourceKind::EmailTemplate, name)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                StepError::new(
                    "email_template_not_found",
                    format!("no email template named '{name}' in this store"),
                )
            })?;
        match stored_template(
            &record.body,
            &self.validation,
            switchboard_steps::Js::Stored,
        ) {
            (Some((_, template)), _) => Ok(template),
            (None, report) => Err(StepError::new(
                "email_template_invalid",
                format!(
                    "email template '{name}' is no longer valid: {}",
                    problems(&report)
                ),
            )),
        }
    }
}

/// A report's problems on one line.
fn problems(report: &switchboard_core::Report) -> String {
    report
        .errors
        .iter()
        .map(|p| format!("{} {}", p.pointer, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A store failure as a step error: retryable.
pub(crate) fn unavailable(e: switchboard_store::StoreError) -> StepError {
    StepError::new(
        "store_unavailable",
        format!("the store could not be read: {e}"),
    )
    .retryable()
}
