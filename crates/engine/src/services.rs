//! What steps reach beyond their run ([`Services`]): conversations, saved webhooks and
//! connectors, the store's channels and email templates, and the record of sent messages.

use serde_json::Value;
use switchboard_channels::{email, voice, whatsapp};
use switchboard_core::ids;
use switchboard_core::run::StepError;
use switchboard_steps::send_email::StoredTemplate;
use switchboard_steps::webhook::{self, SavedRef};
use switchboard_steps::{CallRequest, EmitRequest, ScheduledCall, SentMessage, Services};
use switchboard_store::outbox::Outgoing;
use switchboard_store::{ConversationPatch, MessageRecord, NewCall, ScheduleRecord, Store};

use crate::channels;
use crate::clock::now_ms;

pub(super) struct EngineServices<'a> {
    pub(super) store: &'a dyn Store,
    pub(super) store_id: &'a str,
    pub(super) outbound: &'a crate::outbound::Outbound,
    pub(super) graphs: &'a crate::Graphs,
}

#[async_trait::async_trait]
impl Services for EngineServices<'_> {
    async fn merge_conversation(&self, phone: &str, patch: &Value) -> Result<Value, StepError> {
        let patch = ConversationPatch {
            store_id: self.store_id.to_owned(),
            phone: phone.to_owned(),
            patch: patch.clone(),
        };
        self.store
            .merge_conversation(patch, now_ms())
            .await
            .map(|c| c.state)
            .map_err(|e| {
                StepError::new(
                    "store_unavailable",
                    format!("the conversation could not be saved: {e}"),
                )
                .retryable()
            })
    }

    async fn saved_webhook(&self, by: &SavedRef) -> Result<webhook::Request, StepError> {
        self.outbound
            .saved_webhook(self.store, self.store_id, by)
            .await
    }

    async fn connector(&self, id: &str) -> Result<webhook::Auth, StepError> {
        self.outbound.connector(self.store, self.store_id, id).await
    }

    fn http(&self) -> &switchboard_outbound::Client {
        &self.outbound.client
    }

    async fn whatsapp(&self) -> Result<whatsapp::Config, StepError> {
        let sealer = &self.outbound.sealer;
        channels::load(
            self.store,
            sealer,
            self.store_id,
            "whatsapp",
            channels::open_whatsapp,
        )
        .await
    }

    async fn email(&self) -> Result<email::Config, StepError> {
        let sealer = &self.outbound.sealer;
        channels::load(
            self.store,
            sealer,
            self.store_id,
            "email",
            channels::open_email,
        )
        .await
    }

    async fn voice(&self) -> Result<voice::Config, StepError> {
        let sealer = &self.outbound.sealer;
        channels::load(
            self.store,
            sealer,
            self.store_id,
            "voice",
            channels::open_voice,
        )
        .await
    }

    fn voice_status_callback(&self) -> Option<String> {
        Some(format!(
            "{}/channels/voice/{}/status",
            self.outbound.public_url, self.store_id
        ))
    }

    async fn email_template(&self, name: &str) -> Result<StoredTemplate, StepError> {
        self.outbound
            .email_template(self.store, self.store_id, name)
            .await
    }

    async fn record_message(&self, sent: SentMessage) {
        let now = now_ms();
        let event = sent.status.event(sent.channel).map(String::from);
        let record = MessageRecord {
            id: ids::new_id("msg"),
            store_id: self.store_id.to_owned(),
            channel: sent.channel.into(),
            direction: "outbound".into(),
            contact: Some(sent.contact),
            provider_id: Some(sent.provider_id),
            status_rank: sent.status.rank(sent.channel),
            status: sent.status,
            content: sent.content,
            error: None,
            run_id: Some(sent.run_id),
            step_id: Some(sent.step_id),
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.store.record_message(record, event).await {
            tracing::error!(store_id = self.store_id, error = %e, "a sent message could not be recorded");
        }
    }

    async fn schedule_call(&self, call: CallRequest) -> Result<ScheduledCall, StepError> {
        let graph =
            crate::scheduler::callee(self.store, self.graphs, self.store_id, &call.workflow_id)
                .await?;
        let problems = graph.trigger.check_inputs(&call.inputs);
        if !problems.is_empty() {
            return Err(crate::scheduler::schema_mismatch(
                &call.workflow_id,
                &problems,
            ));
        }
        let scheduled = self
            .store
            .schedule_call(NewCall {
                id: ScheduleRecord::new_id(),
                store_id: self.store_id.to_owned(),
                workflow_id: call.workflow_id,
                due_at: call.due_ms,
                inputs: call.inputs,
                origin_key: call.origin_key,
                origin_run_id: call.run_id,
                origin_step_id: call.step_id,
                now: now_ms(),
            })
            .await
            .map_err(crate::outbound::unavailable)?;
        Ok(ScheduledCall {
            id: scheduled.id,
            due_ms: scheduled.due_at,
        })
    }

    async fn emit_event(&self, e: EmitRequest) -> Result<String, StepError> {
        let mut event = Outgoing::new(self.store_id, &e.event, e.data, e.contact, now_ms());
        event.origin_key = Some(e.origin_key);
        self.store
            .emit_event(event)
            .await
            .map_err(crate::outbound::unavailable)
    }
}
