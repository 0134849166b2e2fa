//! The server's side of outbound calls: the guarded client (one for the whole process), the
//! store's connectors (credentials sealed at rest) and saved webhooks, loaded for a step or a
//! test-send.

pub mod connectors;

use switchboard_core::run::StepError;
use switchboard_core::workflow::Options;
use switchboard_outbound::Client;
use switchboard_steps::webhook::{self, Auth, Request, SavedRef};
use switchboard_store::{ResourceKind, Store};

use crate::secrets::Sealer;

#[derive(Clone)]
pub struct Outbound {
    pub client: Client,
    pub sealer: Sealer,
    pub validation: Options,
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
        match webhook::saved(&record.body, &self.validation) {
            (Some(saved), _) => Ok(saved.request),
            (None, report) => Err(StepError::new(
                "webhook_invalid",
                format!(
                    "saved webhook '{}' is no longer valid: {}",
                    record.name,
                    report
                        .errors
                        .iter()
                        .map(|p| format!("{} {}", p.pointer, p.message))
                        .collect::<Vec<_>>()
                        .join("; ")
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

fn unavailable(e: switchboard_store::StoreError) -> StepError {
    StepError::new(
        "store_unavailable",
        format!("the store could not be read: {e}"),
    )
    .retryable()
}
