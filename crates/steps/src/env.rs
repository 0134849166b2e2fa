//! What a running step sees: the scope of its templates, the clock, its idempotency key, and the
//! services it may call. Steps never sleep; they return an [`Outcome`] or a [`StepError`].

use serde_json::Value;
use switchboard_channels as channels;
use switchboard_core::run::{Outcome, StepError};
use switchboard_core::template::{Scope, Template};
use switchboard_core::workflow::TValue;
use switchboard_script::{Computed, EvalError, Evaluator, Scripts, eval};

/// Services outside the run that steps use. Implemented by the engine over the store.
#[async_trait::async_trait]
pub trait Services: Send + Sync {
    /// Merges `patch` (RFC 7396) into the conversation of `phone` (digits); returns the new state.
    async fn merge_conversation(&self, phone: &str, patch: &Value) -> Result<Value, StepError>;
    /// The store's saved webhook, compiled.
    async fn saved_webhook(
        &self,
        by: &crate::webhook::SavedRef,
    ) -> Result<crate::webhook::Request, StepError>;
    /// The credentials of the store's connector `id`, opened.
    async fn connector(&self, id: &str) -> Result<crate::webhook::Auth, StepError>;
    /// The guarded client every outbound request goes through.
    fn http(&self) -> &switchboard_outbound::Client;

    /// The store's WhatsApp channel; `channel_not_configured` when it has none.
    async fn whatsapp(&self) -> Result<channels::whatsapp::Config, StepError>;
    /// The store's email channel; `channel_not_configured` when it has none.
    async fn email(&self) -> Result<channels::email::Config, StepError>;
    /// The store's voice channel; `channel_not_configured` when it has none.
    async fn voice(&self) -> Result<channels::voice::Config, StepError>;
    /// Where Twilio reports a call's progress (needs the server's public URL).
    fn voice_status_callback(&self) -> Option<String>;
    /// The store's email template of that name, compiled.
    async fn email_template(
        &self,
        name: &str,
    ) -> Result<crate::send_email::StoredTemplate, StepError>;
    /// Records a message a step sent. A failure to record is logged, not returned: the message
    /// went out, and failing the step would send it again.
    async fn record_message(&self, message: SentMessage);
    /// Schedules a call of the store's callable workflow, its inputs checked against the
    /// callee's schema first (`schema_mismatch`, nothing scheduled). The same `origin_key` gives
    /// back the call made before.
    async fn schedule_call(&self, call: CallRequest) -> Result<ScheduledCall, StepError>;
    /// Publishes an event to the store's matching subscriptions; gives its id. The same
    /// `origin_key` gives back the event published before.
    async fn emit_event(&self, event: EmitRequest) -> Result<String, StepError>;
}

/// An event an `emit_event` step publishes.
#[derive(Debug, Clone)]
pub struct EmitRequest {
    pub event: String,
    pub data: Value,
    /// Phone digits: ordered subscriptions keep this contact's deliveries in order.
    pub contact: Option<String>,
    /// The step visit's idempotency key.
    pub origin_key: String,
}

/// A call a `schedule_workflow` step asks for.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub workflow_id: String,
    /// When it is due, ms since the epoch.
    pub due_ms: i64,
    /// The callee's trigger data.
    pub inputs: Value,
    /// The step visit's idempotency key.
    pub origin_key: String,
    pub run_id: String,
    pub step_id: String,
}

#[derive(Debug, Clone)]
pub struct ScheduledCall {
    pub id: String,
    pub due_ms: i64,
}

/// A message a step sent, for the store's message history.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// `whatsapp`, `email` or `voice`.
    pub channel: &'static str,
    /// Phone digits or email address.
    pub contact: String,
    pub provider_id: String,
    pub status: switchboard_channels::MessageStatus,
    /// What was sent (text, template and variables, subject, TwiML…).
    pub content: Value,
    pub run_id: String,
    pub step_id: String,
}

pub struct StepEnv<'a> {
    pub scope: Scope<'a>,
    /// The JavaScript of the step's config over `scope`, computed ahead on the JS threads.
    pub computed: Computed,
    pub store_id: &'a str,
    pub services: &'a dyn Services,
    pub run_id: &'a str,
    pub step_id: &'a str,
    /// `{runId}:{stepId}:{visit}`: the same on every attempt of this visit.
    pub idempotency_key: String,
    pub now_ms: i64,
    /// When this visit started (a delay counts from here, so re-running it is harmless).
    pub started_ms: i64,
    /// Durations are divided by it (`SWITCHBOARD_TIME_SCALE`).
    pub time_scale: f64,
}

/// A step's resolved input (its config after templates, as run history shows it) and its result.
pub struct StepRun {
    pub input: Value,
    pub result: Result<Outcome, StepError>,
    /// What a script logged (bounded), kept in the step record.
    pub logs: Vec<String>,
    /// An HTTP exchange `{request, response, durationMs}`, kept in the step record.
    pub http: Option<Value>,
}

impl StepRun {
    pub fn done(input: Value, output: Value) -> StepRun {
        StepRun {
            input,
            result: Ok(Outcome::Next(output)),
            logs: Vec::new(),
            http: None,
        }
    }

    pub fn failed(input: Value, error: StepError) -> StepRun {
        StepRun {
            input,
            result: Err(error),
            logs: Vec::new(),
            http: None,
        }
    }
}

pub fn expression_error(e: EvalError) -> StepError {
    StepError::new(e.code(), e.to_string())
}

impl StepEnv<'_> {
    /// Evaluates the step's own config templates (their JavaScript was computed ahead).
    pub fn evaluator(&self) -> Evaluator<'_> {
        Evaluator::with(self.scope, &self.computed)
    }

    pub fn value(&self, v: &TValue) -> Result<Value, StepError> {
        self.evaluator().value(v).map_err(expression_error)
    }

    pub fn text(&self, t: &Template) -> Result<String, StepError> {
        self.evaluator().text(t).map_err(expression_error)
    }

    pub fn template(&self, t: &Template) -> Result<Value, StepError> {
        self.evaluator().template(t).map_err(expression_error)
    }

    /// Computes the JavaScript of templates that are not the step's config (a saved webhook, a
    /// stored email template) over `scope`, in one hop to the JS threads.
    pub async fn compute(&self, scope: &Scope<'_>, items: &[&dyn Scripts]) -> Computed {
        Computed::of(self.store_id, scope, &eval::scripts_of(items)).await
    }

    /// Ends a channel step with the provider's answer: a sent message is recorded and gives
    /// `output`; the HTTP exchange (if any) goes into the step record either way.
    pub async fn delivered(
        &self,
        input: Value,
        channel: &'static str,
        contact: String,
        content: Value,
        attempt: channels::Attempt,
        output: impl FnOnce(&channels::Sent) -> Value,
    ) -> StepRun {
        let channels::Attempt { result, http } = attempt;
        let result = match result {
            Ok(sent) => {
                let out = output(&sent);
                self.services
                    .record_message(SentMessage {
                        channel,
                        contact,
                        provider_id: sent.provider_id,
                        status: sent.status,
                        content,
                        run_id: self.run_id.to_owned(),
                        step_id: self.step_id.to_owned(),
                    })
                    .await;
                Ok(Outcome::Next(out))
            }
            Err(e) => Err(e),
        };
        StepRun {
            input,
            result,
            logs: Vec::new(),
            http,
        }
    }
}
