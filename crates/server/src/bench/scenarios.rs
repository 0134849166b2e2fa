//! The workflows the scenarios load, and the local sink the webhook scenario calls.

use super::*;

pub(super) const API_WORKFLOW: &str =
    include_str!("../../../../fixtures/seeds/lead_follow_up.json");

/// Workflow (a): the lead workflow of issue 3; with `extra`, more steps at its end.
pub(super) fn lead_workflow(name: &str, extra: Vec<Value>) -> Value {
    let mut steps = vec![
        json!({"id": "capture", "type": "store_context_data", "outputVar": "leadData", "config": {"data": {
            "leadSource": "{{trigger.eventType}}", "customerName": "{{trigger.fullName}}",
            "firstName": "{{trigger.fullName.split(' ')[0]}}"}}}),
        json!({"id": "has_companies", "type": "conditional", "config": {
            "condition": "context.trigger.companies && context.trigger.companies.length > 0",
            "then": {"id": "companies", "type": "store_context_data", "config": {"data": {"companies": "{{trigger.companies}}"}}}}}),
    ];
    steps.extend(extra);
    json!({"name": name,
        "trigger": {"type": "webhook", "eventType": "Lead_Workflow_phase_1"},
        "steps": steps, "contextVariables": ["leadData"]})
}

/// How far ahead the `schedule` scenario schedules its calls, seconds.
pub(super) const CALL_AHEAD_S: u64 = 5;

/// Creates a workflow; gives its id.
pub(super) async fn create(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    definition: &str,
) -> anyhow::Result<String> {
    create_in(client, base, auth, DEFAULT_STORE_ID, definition).await
}

/// Creates a workflow in `store`; its id.
pub(super) async fn create_in(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    store: &str,
    definition: &str,
) -> anyhow::Result<String> {
    let created: Value = client
        .post(format!("{base}/api/workflows"))
        .header("Authorization", auth)
        .header("StoreId", store)
        .header("Content-Type", "application/json")
        .body(definition.to_owned())
        .send()
        .await?
        .json()
        .await?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the bench workflow was not created: {created}"))
}

/// A local HTTP sink answering every POST with a small JSON body, as a CRM lookup would.
pub(super) async fn start_sink() -> anyhow::Result<String> {
    let app = axum::Router::new()
        .fallback(|| async { axum::Json(json!({"promocode": "B1", "customerId": 42})) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/sink", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// The workflow a scenario loads, as JSON text.
pub(super) async fn definition(
    scenario: BenchScenario,
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    sink: Option<&str>,
) -> anyhow::Result<String> {
    Ok(match scenario {
        BenchScenario::Schedule => {
            let callee = create(client, base, auth, &json!({"name": "bench callee", "trigger": {"type": "callable"},
                "steps": [{"id": "got", "type": "store_context_data", "config": {"data": {"name": "{{trigger.name}}"}}}]}).to_string()).await?;
            json!({"name": "bench scheduler", "trigger": {"type": "webhook", "eventType": "Lead_Workflow_phase_1"},
                "steps": [{"id": "later", "type": "schedule_workflow", "config": {"workflowId": callee,
                    "runAt": {"type": "relative", "value": CALL_AHEAD_S}, "inputs": {"name": "{{trigger.fullName}}"}}}]}).to_string()
        }
        BenchScenario::Api | BenchScenario::Hostile => API_WORKFLOW.to_owned(),
        BenchScenario::Lead => lead_workflow("bench lead", vec![]).to_string(),
        BenchScenario::Claim => claim::workflow().to_string(),
        BenchScenario::Deliveries => lead_workflow("bench lead announced", vec![deliveries::emit_step()]).to_string(),
        BenchScenario::Code => lead_workflow("bench lead with code", vec![json!({"id": "score", "type": "custom_code", "outputVar": "score", "config": {
            "code": "const c = context.trigger.companies || []; return { score: c.length * 10 + context.state.firstName.length };"}})]).to_string(),
        BenchScenario::Webhook => lead_workflow("bench lead with webhook", vec![
            json!({"id": "crm", "type": "webhook", "outputVar": "crm", "config": {
                "method": "POST", "url": sink.context("the sink is running")?,
                "params": {"source": "{{trigger.eventType}}"},
                "body": {"format": "json", "content": {"name": "{{state.customerName}}", "companies": "{{trigger.companies}}"}}}}),
            json!({"id": "promo", "type": "store_context_data", "config": {"data": {"promo": "{{variables.crm.body.promocode}}"}}}),
        ]).to_string(),
    })
}
