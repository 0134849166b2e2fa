//! Dry runs: workflows run without sending anything. The seed lead workflow shows the Graph API
//! request it would send (placeholders where no channel is configured, masked secrets where one
//! is) while the fake Meta and SMTP server receive nothing; mocks feed later steps and can fail a
//! step; delays and backoffs are skipped; scheduled calls and emitted events are only recorded;
//! nothing is kept (no runs, messages or schedules).

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, step};
use crate::harness::*;
use crate::providers::Meta;

const DRY: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
];

both_backends_with!(DRY;
    dry_runs_send_nothing_and_show_what_would_go,
    mocks_waits_and_records_of_a_dry_run
);

async fn dry(s: &TestServer, path: &str, body: Value) -> Value {
    let (status, run) = send(s.admin(Method::POST, path).json(&body)).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["dryRun"], true);
    run
}

async fn nothing_kept(s: &TestServer) {
    for path in [
        "/api/runs",
        "/api/messages",
        "/api/schedules?status=pending",
        "/api/events",
    ] {
        let (_, listed) = send(s.admin(Method::GET, path)).await;
        assert_eq!(listed["data"], json!([]), "{path}: {listed}");
    }
}

async fn dry_runs_send_nothing_and_show_what_would_go(s: TestServer) {
    let lead = json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Ana Souza",
        "phoneNumber": "+55 11 98888-7777", "companies": [{"id": 1}]});
    // An unsaved definition, no WhatsApp channel: placeholder settings, the request shown.
    let run = dry(
        &s,
        "/api/workflows/test",
        json!({"workflow": fixture("lead_follow_up.json"), "trigger": lead}),
    )
    .await;
    assert_eq!(
        (&run["status"], &run["error"]),
        (&json!("completed"), &Value::Null),
        "{run}"
    );
    let template = step(&run, "step2");
    assert_eq!(template["output"]["status"], "simulated", "{template}");
    assert!(
        template["output"]["messageId"]
            .as_str()
            .unwrap()
            .starts_with("dry_")
    );
    let request = &template["simulated"]["request"];
    assert_eq!(template["simulated"]["kind"], "http");
    assert!(
        request["url"]
            .as_str()
            .unwrap()
            .starts_with("https://graph.facebook.com/"),
        "{request}"
    );
    let body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&body["to"], &body["template"]["name"]),
        (
            &json!("5511988887777"),
            &json!("first_contact_charge_workflow")
        )
    );
    assert_eq!(
        run["context"]["variables"]["companiesData"]["companies"],
        json!([{"id": 1}])
    );

    // A saved workflow with the channel configured: its settings, the token masked, and the
    // provider never called.
    let meta = Meta::configured(&s).await;
    let id = create(&s, &fixture("lead_follow_up.json")).await;
    let run = dry(
        &s,
        &format!("/api/workflows/{id}/test"),
        json!({"trigger": lead}),
    )
    .await;
    let request = &step(&run, "step2")["simulated"]["request"];
    assert!(
        request["url"].as_str().unwrap().starts_with(&meta.base),
        "{request}"
    );
    assert_eq!(request["headers"]["authorization"], "***");
    assert!(meta.received().is_empty(), "nothing reaches the provider");

    // Email: the message as it would go out; the SMTP server gets nothing.
    let smtp = testkit::SmtpServer::start();
    let (status, _) = send(s.admin(Method::PUT, "/api/channels/email").json(&json!(
        {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "loja@example.com"})))
    .await;
    assert_eq!(status, 200);
    let mail = json!({"name": "mail", "trigger": {"type": "manual"}, "steps": [{"id": "m", "type": "send_email",
        "config": {"to": "{{trigger.email}}", "subject": "Oi {{trigger.name}}", "body": "Volte sempre"}}]});
    let run = dry(
        &s,
        "/api/workflows/test",
        json!({"workflow": mail, "trigger": {"email": "ana@example.com", "name": "Ana"}}),
    )
    .await;
    let sent = &step(&run, "m")["simulated"];
    assert_eq!(sent["kind"], "email", "{run}");
    let message = sent["request"]["message"].as_str().unwrap();
    assert!(
        message.contains("Subject: Oi Ana") && message.contains("To: ana@example.com"),
        "{message}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(smtp.messages().is_empty());

    // A definition that would not save is refused at its pointer under /workflow.
    let (status, body) = send(s.admin(Method::POST, "/api/workflows/test").json(&json!(
        {"workflow": {"name": "x", "trigger": {"type": "manual"}, "steps": [{"id": "a", "type": "nope", "config": {}}]}}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["/workflow/steps/0/type"]);
    nothing_kept(&s).await;
}

async fn mocks_waits_and_records_of_a_dry_run(s: TestServer) {
    let callee = create(
        &s,
        &json!({"name": "callee", "trigger": {"type": "callable"},
        "steps": [{"id": "k", "type": "store_context_data", "config": {"data": {"x": 1}}}]}),
    )
    .await;
    let workflow = json!({"name": "flow", "trigger": {"type": "manual"}, "steps": [
        {"id": "call", "type": "webhook", "config": {"method": "POST", "url": "https://crm.example.com/lookup",
            "headers": {"X-Api-Key": "k"}, "body": {"format": "json", "content": {"who": "{{trigger.who}}"}}}, "outputVar": "crm"},
        {"id": "wait", "type": "delay", "config": {"delayMinutes": 60}},
        {"id": "later", "type": "schedule_workflow", "config": {"workflowId": callee, "runAt": {"type": "relative", "value": 60}, "inputs": {"code": "{{variables.crm.body.code}}"}}},
        {"id": "tell", "type": "emit_event", "config": {"event": "crm.checked", "data": {"code": "{{variables.crm.body.code}}"}}},
        {"id": "keep", "type": "store_context_data", "config": {"data": {"code": "{{variables.crm.body.code}}"}}}]});

    // Without a mock: 200 and no body; with one, later steps read it.
    let plain = dry(
        &s,
        "/api/workflows/test",
        json!({"workflow": workflow, "trigger": {"who": "ana"}}),
    )
    .await;
    assert_eq!(
        step(&plain, "call")["output"],
        json!({"status": 200, "headers": {}, "body": null}),
        "{plain}"
    );
    let run = dry(
        &s,
        "/api/workflows/test",
        json!({"workflow": workflow, "trigger": {"who": "ana"},
        "mocks": {"call": {"status": 200, "body": {"code": "XY"}}}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["context"]["state"]["code"], "XY");
    let wait = step(&run, "wait");
    assert!(
        wait["skippedWaitUntil"].is_string(),
        "the delay is skipped and recorded: {wait}"
    );
    assert_eq!(
        step(&run, "later")["simulated"],
        json!({"kind": "schedule_workflow", "request": {
        "workflowId": callee, "runAt": step(&run, "later")["simulated"]["request"]["runAt"], "inputs": {"code": "XY"}}})
    );
    assert_eq!(
        step(&run, "tell")["simulated"],
        json!({"kind": "emit_event", "request": {"event": "crm.checked", "data": {"code": "XY"}}})
    );

    // A failing mock fails the dry run (200 all the same), after the retries, their waits skipped.
    let failed = dry(
        &s,
        "/api/workflows/test",
        json!({"workflow": workflow, "mocks": {"call": {"status": 503}}}),
    )
    .await;
    assert_eq!(
        (
            &failed["status"],
            &failed["error"]["code"],
            &failed["error"]["stepId"]
        ),
        (&json!("failed"), &json!("http_status"), &json!("call")),
        "{failed}"
    );
    assert_eq!(step(&failed, "call")["attempts"], 3);
    let (status, body) = send(s.admin(Method::POST, "/api/workflows/test").json(&json!(
        {"workflow": workflow, "mocks": {"call": {"status": 99}}})))
    .await;
    assert_eq!(
        (status, pointers(&body)),
        (400, vec!["/mocks/call"]),
        "{body}"
    );
    let (_, scheduled) = send(s.admin(Method::GET, "/api/schedules?status=pending")).await;
    assert_eq!(
        scheduled["data"],
        json!([]),
        "nothing scheduled: {scheduled}"
    );
    let (_, runs) = send(s.admin(Method::GET, "/api/runs")).await;
    assert_eq!(runs["data"], json!([]), "no runs: {runs}");
}
