use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, settled};
use crate::harness::*;

/// A minute takes a second; leases expire fast so PostgreSQL restarts resume quickly.
const FAST: &[(&str, &str)] = &[
    ("SWITCHBOARD_TIME_SCALE", "60"),
    ("SWITCHBOARD_LEASE_MS", "1000"),
    ("SWITCHBOARD_POLL_MS", "50"),
];

both_backends_with!(FAST;
    execute_waits_and_history_shows_every_step,
    a_broken_expression_fails_only_its_run,
    scripts_are_stopped_at_their_limits,
    delays_survive_a_restart,
    cancel_and_retry,
    on_error_continue_goto_and_max_steps,
);

async fn execute(s: &TestServer, id: &str, trigger: &Value) -> (u16, Value) {
    send(
        s.admin(
            Method::POST,
            &format!("/api/workflows/{id}/execute?wait=10"),
        )
        .json(trigger),
    )
    .await
}

fn lead() -> Value {
    json!({"name": "lead", "trigger": {"type": "webhook", "eventType": "Lead_Workflow_phase_1"},
        "steps": [
            {"id": "capture", "name": "Capture", "type": "store_context_data", "outputVar": "leadData", "config": {"data": {
                "leadSource": "{{trigger.eventType}}", "customerName": "{{trigger.fullName}}", "firstName": "{{trigger.fullName.split(' ')[0]}}"}}},
            {"id": "has_companies", "type": "conditional", "config": {
                "condition": "context.trigger.companies && context.trigger.companies.length > 0",
                "then": {"id": "companies", "type": "store_context_data", "config": {"data": {"companies": "{{trigger.companies}}"}}}}},
            {"id": "score", "type": "custom_code", "outputVar": "score", "config": {
                "code": "console.log('scoring', context.state.firstName); return (context.trigger.companies || []).length * 10;"}}],
        "contextVariables": ["leadData", "never_set"]})
}

async fn execute_waits_and_history_shows_every_step(s: TestServer) {
    let id = create(&s, &lead()).await;
    let trigger = json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Ana Souza", "phoneNumber": "+55 11 98888-7777", "companies": ["Acme"]});
    let (status, run) = execute(&s, &id, &trigger).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["workflowVersion"], 1);
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stepId"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("capture", "completed"),
            ("has_companies", "completed"),
            ("companies", "completed"),
            ("score", "completed")
        ]
    );
    let capture = &run["steps"][0];
    assert_eq!(
        (
            capture["name"].as_str(),
            capture["type"].as_str(),
            capture["attempts"].as_i64()
        ),
        (Some("Capture"), Some("store_context_data"), Some(1))
    );
    assert_eq!(
        capture["input"]["data"]["firstName"], "Ana",
        "input = the config with templates resolved"
    );
    assert_eq!(run["steps"][1]["output"], json!({"result": true}));
    assert_eq!(run["steps"][3]["output"], json!(10));
    assert_eq!(run["steps"][3]["logs"], json!(["scoring Ana"]));
    assert_eq!(
        run["context"]["state"],
        json!({"leadSource": "Lead_Workflow_phase_1", "customerName": "Ana Souza", "firstName": "Ana", "companies": ["Acme"]})
    );
    assert_eq!(run["context"]["variables"]["score"], json!(10));

    // contextVariables went into the contact's conversation (set ones only), keyed by digits.
    let (status, conv) = send(s.admin(Method::GET, "/api/conversations/5511988887777")).await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(
        conv["state"],
        json!({"leadData": {"leadSource": "Lead_Workflow_phase_1", "customerName": "Ana Souza", "firstName": "Ana"}})
    );

    // Without companies the branch is skipped and leaves no record.
    let (_, run) = execute(&s, &id, &json!({"fullName": "Bo"})).await;
    let ids: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stepId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["capture", "has_companies", "score"]);
    assert_eq!(run["steps"][1]["output"], json!({"result": false}));

    // Without wait: 202 at once.
    let (status, body) = send(
        s.admin(Method::POST, &format!("/api/workflows/{id}/execute"))
            .json(&trigger),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")));
    let (status, _) = send(
        s.admin(
            Method::POST,
            &format!("/api/workflows/{id}/execute?wait=61"),
        )
        .json(&trigger),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        s.admin(Method::POST, "/api/workflows/wf_missing/execute")
            .json(&trigger),
    )
    .await;
    assert_eq!(status, 404);
}

async fn a_broken_expression_fails_only_its_run(s: TestServer) {
    let id = create(&s, &lead()).await;
    let (_, broken) = execute(&s, &id, &json!({"companies": []})).await;
    assert_eq!(broken["status"], "failed", "{broken}");
    assert_eq!(broken["error"]["code"], "expression_error");
    assert_eq!(broken["error"]["stepId"], "capture");
    let message = broken["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("trigger.fullName.split(' ')[0]"),
        "names the expression: {message}"
    );
    assert_eq!(broken["steps"][0]["status"], "failed");
    let (_, fine) = execute(&s, &id, &json!({"fullName": "Ana"})).await;
    assert_eq!(fine["status"], "completed");
}

async fn scripts_are_stopped_at_their_limits(s: TestServer) {
    let def = json!({"name": "bombs", "trigger": {"type": "manual"}, "steps": [
        {"id": "pick", "type": "conditional", "config": {"condition": "trigger.kind === 'loop'",
            "then": {"id": "loop", "type": "custom_code", "config": {"code": "while (true) {}", "timeoutMs": 100}},
            "else": {"id": "bomb", "type": "custom_code", "config": {"code": "const a = []; while (true) a.push(new Array(10000).fill(1));", "timeoutMs": 10000}}}}]});
    let id = create(&s, &def).await;
    let (_, run) = execute(&s, &id, &json!({"kind": "loop"})).await;
    assert_eq!(
        (run["status"].as_str(), run["error"]["code"].as_str()),
        (Some("failed"), Some("script_timeout")),
        "{run}"
    );
    let (_, run) = execute(&s, &id, &json!({"kind": "bomb"})).await;
    assert_eq!(
        (run["status"].as_str(), run["error"]["code"].as_str()),
        (Some("failed"), Some("script_memory")),
        "{run}"
    );
    let (status, body) = send(s.admin(Method::POST, "/api/workflows/validate").json(&json!({"name": "x", "trigger": {"type": "manual"},
        "steps": [{"id": "a", "type": "custom_code", "config": {"code": "return {"}}, {"id": "b", "type": "store_context_data", "config": {"data": {"x": "{{ trigger.a + }}"}}}]}))).await;
    assert_eq!(status, 200);
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/steps/0/config/code", "/steps/1/config/data/x"],
        "{body}"
    );
}

async fn delays_survive_a_restart(mut s: TestServer) {
    // 3 minutes at time scale 60 = 3 s.
    let def = json!({"name": "wait", "trigger": {"type": "manual"}, "steps": [
        {"id": "mark", "type": "store_context_data", "config": {"data": {"at": "start"}}},
        {"id": "pause", "type": "delay", "config": {"delayMinutes": 3}},
        {"id": "after", "type": "store_context_data", "config": {"data": {"done": true}}}]});
    let id = create(&s, &def).await;
    let (status, run) = execute(&s, &id, &json!({})).await;
    assert_eq!(
        (status, run["status"].as_str()),
        (200, Some("waiting")),
        "{run}"
    );
    assert_eq!(run["steps"][1]["status"], "waiting");
    let run_id = run["id"].as_str().unwrap().to_owned();
    s.restart();
    let run = settled(&s, &run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(steps[1]["output"]["resumedAt"].is_string());
    assert_eq!(
        run["context"]["state"],
        json!({"at": "start", "done": true})
    );
}

async fn cancel_and_retry(s: TestServer) {
    let def = json!({"name": "long", "trigger": {"type": "manual"}, "steps": [{"id": "pause", "type": "delay", "config": {"delayMinutes": 600}}]});
    let id = create(&s, &def).await;
    let (_, run) = execute(&s, &id, &json!({})).await;
    let path = format!("/api/runs/{}", run["id"].as_str().unwrap());
    let (status, body) = send(s.admin(Method::POST, &format!("{path}/cancel"))).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    let (status, body) = send(s.admin(Method::POST, &format!("{path}/cancel"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, _) = send(s.admin(Method::POST, &format!("{path}/retry"))).await;
    assert_eq!(status, 409, "only failed runs can be retried");

    // A run that fails until the conversation says otherwise; retried, it resumes at its failed step.
    let def = json!({"name": "flaky", "trigger": {"type": "manual"}, "steps": [
        {"id": "first", "type": "store_context_data", "config": {"data": {"n": 1}}},
        {"id": "check", "type": "custom_code", "config": {"code": "if (!context.trigger.ok) throw new Error('not yet'); return 1;"}}]});
    let id = create(&s, &def).await;
    let (_, run) = execute(&s, &id, &json!({})).await;
    assert_eq!(
        (run["status"].as_str(), run["error"]["code"].as_str()),
        (Some("failed"), Some("script_error"))
    );
    assert_eq!(run["error"]["message"], "Error: not yet");
    let path = format!("/api/runs/{}", run["id"].as_str().unwrap());
    let (status, body) = send(s.admin(Method::POST, &format!("{path}/retry"))).await;
    assert_eq!(status, 200, "{body}");
    let run = settled(&s, run["id"].as_str().unwrap()).await;
    let ids: Vec<(&str, i64)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stepId"].as_str().unwrap(), s["visit"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [("first", 1), ("check", 1), ("check", 2)],
        "resumed at the failed step, not from the start"
    );
    let (status, _) = send(s.admin(Method::POST, "/api/runs/run_nope/cancel")).await;
    assert_eq!(status, 404);
}

async fn on_error_continue_goto_and_max_steps(s: TestServer) {
    let def = json!({"name": "errors", "trigger": {"type": "manual"}, "maxSteps": 7, "steps": [
        {"id": "soft", "type": "custom_code", "onError": "continue", "outputVar": "soft", "config": {"code": "throw new Error('x')"}},
        {"id": "loop", "type": "custom_code", "onError": {"goto": "loop"}, "config": {"code": "throw new Error('again')"}}]});
    let id = create(&s, &def).await;
    let (_, run) = execute(&s, &id, &json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["code"], "step_limit_exceeded");
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "maxSteps visits, then stop");
    assert_eq!(
        (steps[0]["status"].as_str(), &steps[0]["output"]),
        (Some("failed"), &Value::Null)
    );
    assert_eq!(
        run["context"]["variables"],
        json!({"soft": null}),
        "continue: the output is null"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
