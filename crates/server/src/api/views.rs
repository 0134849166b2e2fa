//! The shapes of the answers whose handlers assemble JSON from stored bodies (settings resources,
//! deliveries, schedules, messages, apps, the providers' callbacks): documentation for
//! `/openapi.json`, held to the server's real answers by the contract test (Schemathesis checks
//! every body against them) and the generated client's test.
#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

/// A remark at a JSON pointer of what was posted.
#[derive(serde::Serialize, ToSchema)]
pub struct ProblemView {
    pub pointer: String,
    pub message: String,
}

/// An error a step, delivery or schedule ended with.
#[derive(ToSchema)]
pub struct Failure {
    /// Stable, e.g. `http_status`, `provider_error`, `cancelled`.
    code: String,
    message: String,
}

/// A connector; secrets read back as `***`. Fields a connector's type does not use are absent.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorView {
    id: String,
    name: String,
    /// `basic`, `bearer` or `api_key`.
    r#type: String,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    /// `{name, value: "***", in: "header" | "query"}`
    #[schema(value_type = Option<Object>)]
    key: Option<Value>,
    created_at: String,
    updated_at: String,
    /// Unknown fields kept but unused, and other remarks (on a change).
    warnings: Option<Vec<ProblemView>>,
}

/// A saved webhook (an HTTP request steps and Kustomer actions call by name).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    id: String,
    name: String,
    description: Option<String>,
    method: Option<String>,
    url: String,
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
    params_in_headers: Option<bool>,
    #[schema(value_type = Option<Object>)]
    headers: Option<Value>,
    connector_id: Option<String>,
    /// `{format, content}`
    #[schema(value_type = Option<Object>)]
    body: Option<Value>,
    timeout_ms: Option<u64>,
    accept_statuses: Option<Vec<u16>>,
    response_format: Option<String>,
    created_at: String,
    updated_at: String,
    /// Set while the webhook is deleted (it can be restored).
    deleted_at: Option<String>,
    warnings: Option<Vec<ProblemView>>,
}

/// What a test send sent and got (secrets as `***`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTestResult {
    /// `{method, url, headers, body}` as sent.
    #[schema(value_type = Object)]
    request: Value,
    /// `{status, headers, body}`, or `null` when no answer came.
    #[schema(value_type = Option<Object>)]
    response: Option<Value>,
    duration_ms: u64,
    /// What a step calling the webhook would output.
    output: Option<Value>,
    error: Option<Failure>,
}

/// An email template.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailTemplateView {
    id: String,
    name: String,
    description: Option<String>,
    subject: String,
    text: Option<String>,
    html: Option<String>,
    created_at: String,
    updated_at: String,
    warnings: Option<Vec<ProblemView>>,
}

/// A channel's settings (secrets as `***`), with the URLs to give the provider.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    /// `whatsapp`, `email` or `voice`.
    channel: String,
    /// The URL to give Meta as the app's webhook (WhatsApp).
    webhook_url: Option<String>,
    /// The URL to give Twilio as the status callback (voice).
    status_callback_url: Option<String>,
    created_at: String,
    updated_at: String,
    /// WhatsApp: the sending number's id.
    phone_number_id: Option<String>,
    access_token: Option<String>,
    app_secret: Option<String>,
    verify_token: Option<String>,
    api_version: Option<String>,
    /// The provider's base URL (WhatsApp, voice).
    base_url: Option<String>,
    /// Email: the SMTP server.
    host: Option<String>,
    port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// The sender: an address (email) or a phone number (voice).
    from: Option<String>,
    /// Voice: the Twilio account.
    account_sid: Option<String>,
    auth_token: Option<String>,
}

/// A subscription; the secret reads back as `***` except in the answer that created it.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    id: String,
    url: String,
    description: Option<String>,
    events: Vec<String>,
    ordered: bool,
    active: bool,
    /// Since when every delivery failed (cleared by a success).
    failing_since: Option<String>,
    disabled_at: Option<String>,
    disabled_reason: Option<String>,
    secret: String,
    /// Until when the secret before a rotation still signs.
    previous_secret_expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    warnings: Option<Vec<ProblemView>>,
}

/// A new signing secret; the previous one keeps signing until `previousSecretExpiresAt`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    id: String,
    secret: String,
    previous_secret_expires_at: Option<String>,
}

/// One delivery of an event to a subscription.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    id: String,
    subscription_id: String,
    event_id: String,
    event: String,
    /// `pending`, `succeeded`, `failed` or `cancelled`.
    status: String,
    attempts: u32,
    next_attempt_at: Option<String>,
    last_status: Option<u16>,
    last_error: Option<String>,
    delivered_at: Option<String>,
    created_at: String,
    updated_at: String,
    /// Every attempt (on `GET /api/deliveries/{id}`).
    log: Option<Vec<AttemptView>>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    attempt: u32,
    at: String,
    duration_ms: u64,
    status: Option<u16>,
    /// The start of the receiver's answer.
    response: Option<String>,
    error: Option<String>,
    /// Sent by a retry or recovery through the API.
    manual: bool,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recovered {
    subscription_id: String,
    /// How many failed deliveries are sent again.
    recovered: u64,
}

/// A scheduled call of a callable workflow, or a cron workflow's next tick.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    id: String,
    /// `call` or `cron`.
    kind: String,
    workflow_id: String,
    /// `pending`, `fired`, `cancelled` or `failed`.
    status: String,
    run_at: String,
    #[schema(value_type = Option<Object>)]
    inputs: Option<Value>,
    scheduled_by: Option<ScheduledBy>,
    /// A pending cron tick: the expression and the ticks after this one.
    cron: Option<CronView>,
    /// The run the schedule started.
    run_id: Option<String>,
    fired_at: Option<String>,
    error: Option<Failure>,
    created_at: String,
    updated_at: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBy {
    run_id: String,
    step_id: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronView {
    expression: String,
    timezone: String,
    catch_up: String,
    after: Vec<String>,
}

/// A message sent or received on a channel, with its latest delivery status.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    id: String,
    /// `whatsapp`, `email` or `voice`.
    channel: String,
    /// `outbound` or `inbound`.
    direction: String,
    /// The contact (WhatsApp, voice).
    phone_number: Option<String>,
    /// The contact (email).
    email: Option<String>,
    provider_message_id: Option<String>,
    status: String,
    /// What was sent or received.
    content: Value,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    run_id: Option<String>,
    step_id: Option<String>,
    created_at: String,
    updated_at: String,
}

/// An installed Kustomer app.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    app: String,
    version: String,
    title: Option<String>,
    workflows: Vec<AppWorkflow>,
    created_at: String,
    updated_at: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppWorkflow {
    /// The workflow's name in the app definition.
    local_id: String,
    id: String,
    name: String,
}

#[derive(ToSchema)]
pub struct AppRemoved {
    app: String,
    deleted: bool,
    /// The ids of the workflows deleted with it.
    workflows: Vec<String>,
}

/// What the store's events are: Switchboard's own and those its workflows emit.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeView {
    name: String,
    description: Option<String>,
    /// `system` or `workflow`.
    source: String,
    /// The workflows that emit it.
    workflow_ids: Vec<String>,
}

/// What a WhatsApp webhook carried: each message received, and how many statuses.
#[derive(ToSchema)]
pub struct WhatsAppReceived {
    messages: Vec<MessageReceived>,
    statuses: u64,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageReceived {
    message_id: String,
    event_id: String,
    run_ids: Vec<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallStatus {
    call_sid: String,
    status: String,
}
