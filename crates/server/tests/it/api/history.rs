//! Run history to act on: a customer's runs found by phone or email with why they failed; the
//! seed lead workflow fixed and retried on the latest version from the failed step; reruns,
//! replays, bulk actions and cancels recorded on the runs; times with milliseconds; a deleted
//! workflow's versions still readable; received events listed, a misspelt event type answered
//! with suggestions, and mistakes that would fail every run refused when a workflow is saved.

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, settled};
use crate::harness::*;
use crate::providers::Meta;

/// The fake Meta over loopback HTTP.
const HISTORY: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ("SWITCHBOARD_POLL_MS", "20"),
];

both_backends_with!(HISTORY;
    a_failed_lead_is_found_by_phone_fixed_and_retried_from_its_step,
    reruns_replays_and_bulk_actions_are_recorded,
    cancelled_runs_close_their_steps_and_deleted_workflows_stay_readable,
    events_are_listed_and_mistakes_are_caught_on_save
);

/// Reads a run stream until a `run` event says `run_id` is `status` (at most 20 s); the events'
/// data, in order.
async fn streamed(mut stream: reqwest::Response, run_id: &str, status: &str) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut text = String::new();
    loop {
        let events: Vec<Value> = text
            .split("\n\n")
            .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect();
        if events
            .iter()
            .any(|e| e["id"] == run_id && e["status"] == status)
        {
            return events;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no '{status}' event for {run_id} ({other:?}); got:\n{text}"),
        }
    }
}

async fn open_stream(s: &TestServer, query: &str) -> reqwest::Response {
    let stream = s
        .admin(Method::GET, &format!("/api/runs/stream?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    stream
}

/// A change made on one node of a cluster streams from another; a workflow's stats count its
/// runs and where they failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_stream_across_a_cluster_and_stats_count_them() {
    let nodes = TestServer::cluster(2, HISTORY);
    let (a, b) = (&nodes[0], &nodes[1]);
    let workflow = create(
        a,
        &json!({"name": "checks", "trigger": {"type": "webhook", "eventType": "check"}, "steps": [
            {"id": "first", "type": "store_context_data", "config": {"data": {"n": "{{trigger.n}}"}}},
            {"id": "second", "type": "custom_code", "config": {"code": "if (trigger.n < 0) throw new Error('negative'); return {}"}}]}),
    )
    .await;
    let (status, _) = send(a.admin(Method::GET, "/api/runs/stream?color=red")).await;
    assert_eq!(status, 400, "an unknown filter");
    let stream = open_stream(a, &format!("workflowId={workflow}")).await;
    let (status, accepted) = post(b, "/api/events", json!({"eventType": "check", "n": -1})).await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["runIds"][0].as_str().unwrap();
    let events = streamed(stream, run_id, "failed").await;
    let last = events.iter().rev().find(|e| e["id"] == run_id).unwrap();
    assert_eq!(
        (&last["errorCode"], &last["failedStep"]),
        (&json!("script_error"), &json!("second")),
        "{last}"
    );

    post(b, "/api/events", json!({"eventType": "check", "n": 1})).await;
    let stats = loop {
        let stats = get(a, &format!("/api/workflows/{workflow}/stats")).await;
        if stats["runs"] == 2 && stats["byStatus"]["completed"] == 1 {
            break stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(stats["failed"], 1, "{stats}");
    assert_eq!(
        stats["steps"],
        json!([{"stepId": "first", "reached": 2, "failed": 0}, {"stepId": "second", "reached": 2, "failed": 1}]),
        "{stats}"
    );
}

async fn get(s: &TestServer, path: &str) -> Value {
    let (status, body) = send(s.admin(Method::GET, path)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn post(s: &TestServer, path: &str, body: Value) -> (u16, Value) {
    send(s.admin(Method::POST, path).json(&body)).await
}

/// `2026-11-21T13:05:00.123Z`: UTC with exactly three fractional digits.
fn is_millis(t: &Value) -> bool {
    let t = t.as_str().unwrap_or_default();
    t.len() == 24 && t.ends_with('Z') && t.as_bytes()[19] == b'.'
}

async fn a_failed_lead_is_found_by_phone_fixed_and_retried_from_its_step(s: TestServer) {
    let lead = fixture("lead_follow_up.json");
    let workflow = create(&s, &lead).await;
    let (status, accepted) = post(
        &s,
        "/api/events",
        json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Ana Souza",
               "phoneNumber": "+55 11 98888-7777", "email": "Ana@Example.com"}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["runIds"][0].as_str().unwrap().to_owned();
    let failed = settled(&s, &run_id).await;
    assert_eq!(failed["status"], "failed", "no WhatsApp channel yet");

    // Found by the customer's phone in another spelling, or email in another case, with why.
    for query in [
        "phoneNumber=%2B5511988887777",
        "phoneNumber=5511988887777&status=failed",
        "email=ana%40example.com&errorCode=channel_not_configured",
        "triggerType=webhook",
    ] {
        let listed = get(&s, &format!("/api/runs?{query}")).await;
        assert_eq!(
            listed["data"].as_array().unwrap().len(),
            1,
            "{query}: {listed}"
        );
        let item = &listed["data"][0];
        assert_eq!(
            (
                &item["id"],
                &item["workflowName"],
                &item["errorCode"],
                &item["failedStep"]
            ),
            (
                &json!(run_id),
                &lead["name"],
                &json!("channel_not_configured"),
                &json!("step2")
            ),
            "{item}"
        );
    }
    for query in [
        "phoneNumber=5511000000000",
        "errorCode=http_status",
        "triggerType=manual",
    ] {
        let listed = get(&s, &format!("/api/runs?{query}")).await;
        assert!(
            listed["data"].as_array().unwrap().is_empty(),
            "{query}: {listed}"
        );
    }
    let (status, body) = send(s.admin(Method::GET, "/api/runs?phone=5511988887777")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{body}"
    );

    // Every time has milliseconds; visits carry their duration and version.
    for t in [
        &failed["createdAt"],
        &failed["finishedAt"],
        &failed["steps"][0]["startedAt"],
    ] {
        assert!(is_millis(t), "{t} in {failed}");
    }
    assert!(failed["steps"][0]["durationMs"].is_i64(), "{failed}");

    // The fix: a WhatsApp channel and a new version; the retry moves the run to it and goes on
    // from the failed step, keeping step1's output.
    let meta = Meta::configured(&s).await;
    let mut fixed = lead.clone();
    fixed["steps"][1]["config"]["languageCode"] = json!("pt_BR");
    fixed["description"] = json!("fixed");
    let (status, v2) = send(
        s.admin(Method::PUT, &format!("/api/workflows/{workflow}"))
            .json(&fixed),
    )
    .await;
    assert_eq!((status, &v2["version"]), (200, &json!(2)), "{v2}");
    let (status, retried) = post(
        &s,
        &format!("/api/runs/{run_id}/retry"),
        json!({"version": "latest", "fromStep": "step2"}),
    )
    .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(
        (&retried["id"], &retried["workflowVersion"]),
        (&json!(run_id), &json!(2))
    );
    let run = settled(&s, &run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    let visits: Vec<(&str, i64, bool)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["stepId"].as_str().unwrap(),
                v["workflowVersion"].as_i64().unwrap(),
                v["supersededAt"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        visits,
        [
            ("step1", 1, false),
            ("step2", 1, true),
            ("step2", 2, false),
            ("step3", 2, false)
        ],
        "{run}"
    );
    assert_eq!(
        run["context"]["variables"]["leadData"]["leadSource"],
        "Lead_Workflow_phase_1"
    );
    assert_eq!(meta.received().len(), 1, "one template sent");
    let action = &run["actions"][0];
    assert_eq!(
        (
            &action["action"],
            &action["version"],
            &action["fromStep"],
            &action["by"]
        ),
        (
            &json!("retry"),
            &json!("latest"),
            &json!("step2"),
            &json!("admin")
        ),
        "{run}"
    );
    assert!(is_millis(&action["at"]), "{action}");
    let found = get(&s, "/api/runs?phoneNumber=5511988887777&status=completed").await;
    assert_eq!(found["data"][0]["errorCode"], Value::Null, "{found}");
}

async fn reruns_replays_and_bulk_actions_are_recorded(s: TestServer) {
    let workflow = create(
        &s,
        &json!({"name": "counter", "trigger": {"type": "manual"}, "steps": [
            {"id": "a", "type": "store_context_data", "config": {"data": {"n": "{{trigger.n}}"}}, "outputVar": "first"},
            {"id": "b", "type": "custom_code", "config": {"code": "if (trigger.n < 0) throw new Error('negative'); return {double: trigger.n * 2}"}}]}),
    )
    .await;
    let execute = |n: i64| {
        let path = format!("/api/workflows/{workflow}/execute?wait=10");
        let s = &s;
        async move { post(s, &path, json!({"n": n})).await.1 }
    };
    let done = execute(2).await;
    assert_eq!(done["status"], "completed", "{done}");
    let id = done["id"].as_str().unwrap().to_owned();

    // Only failed runs retry where they stopped; a completed one reruns from a named step.
    let (status, body) = post(&s, &format!("/api/runs/{id}/retry"), json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (status, body) = post(
        &s,
        &format!("/api/runs/{id}/retry"),
        json!({"fromStep": "zz"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["/fromStep"]);
    let (status, body) = post(
        &s,
        &format!("/api/runs/{id}/retry"),
        json!({"fromStep": "b", "version": "newest"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(
        &s,
        &format!("/api/runs/{id}/retry"),
        json!({"fromStep": "b"}),
    )
    .await;
    assert_eq!(status, 200);
    let rerun = settled(&s, &id).await;
    let statuses: Vec<(&str, bool)> = rerun["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["stepId"].as_str().unwrap(), v["supersededAt"].is_string()))
        .collect();
    assert_eq!(
        statuses,
        [("a", false), ("b", true), ("b", false)],
        "{rerun}"
    );
    assert_eq!(rerun["status"], "completed");

    // A replay with an edited trigger is a new run that names this one.
    let (status, replay) = post(
        &s,
        &format!("/api/runs/{id}/replay"),
        json!({"trigger": {"n": 5}}),
    )
    .await;
    assert_eq!(status, 201, "{replay}");
    assert_eq!(
        (&replay["replayOf"], &replay["triggerType"]),
        (&json!(id), &json!("manual"))
    );
    let replayed = settled(&s, replay["id"].as_str().unwrap()).await;
    assert_eq!(replayed["steps"][1]["output"]["double"], 10, "{replayed}");
    let original = get(&s, &format!("/api/runs/{id}")).await;
    let actions: Vec<&str> = original["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["retry", "replay"], "{original}");

    // Bulk: every failed run of the workflow retried; an empty filter is refused.
    for n in [-1, -2] {
        assert_eq!(execute(n).await["status"], "failed");
    }
    let (status, body) = post(
        &s,
        "/api/runs/bulk",
        json!({"action": "retry", "filter": {}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["/filter"]);
    let (status, body) = post(
        &s,
        "/api/runs/bulk",
        json!({"action": "retry", "filter": {"state": "failed"}}),
    )
    .await;
    assert_eq!(
        (status, pointers(&body)),
        (400, vec!["/filter/state"]),
        "{body}"
    );
    let (status, bulk) = post(
        &s,
        "/api/runs/bulk",
        json!({"action": "retry", "filter": {"workflowId": workflow, "status": "failed"}}),
    )
    .await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(
        (&bulk["matched"], &bulk["succeeded"], &bulk["failed"]),
        (&json!(2), &json!(2), &json!(0)),
        "{bulk}"
    );
    let runs = get(&s, &format!("/api/runs?workflowId={workflow}")).await;
    for run in runs["data"].as_array().unwrap() {
        settled(&s, run["id"].as_str().unwrap()).await;
    }
    let (_, bulk) = post(
        &s,
        "/api/runs/bulk",
        json!({"action": "cancel", "filter": {"workflowId": workflow}}),
    )
    .await;
    assert_eq!(bulk["succeeded"], 0, "nothing live to cancel: {bulk}");
    assert_eq!(bulk["failed"], bulk["matched"], "{bulk}");
}

async fn cancelled_runs_close_their_steps_and_deleted_workflows_stay_readable(s: TestServer) {
    let workflow = create(
        &s,
        &json!({"name": "patient", "trigger": {"type": "manual"}, "steps": [
            {"id": "wait", "type": "delay", "config": {"delaySeconds": 3600}},
            {"id": "after", "type": "store_context_data", "config": {"data": {"x": 1}}}]}),
    )
    .await;
    let (status, started) = post(
        &s,
        &format!("/api/workflows/{workflow}/execute?wait=10"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &started["status"]),
        (200, &json!("waiting")),
        "{started}"
    );
    let id = started["id"].as_str().unwrap();
    assert!(
        is_millis(&started["resumeAt"]),
        "a waiting run says when it goes on: {started}"
    );
    assert_eq!(started["steps"][0]["resumeAt"], started["resumeAt"]);

    let (status, cancelled) = post(&s, &format!("/api/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(
        (
            &cancelled["status"],
            &cancelled["steps"][0]["status"],
            &cancelled["errorCode"]
        ),
        (
            &json!("cancelled"),
            &json!("cancelled"),
            &json!("cancelled")
        ),
        "{cancelled}"
    );
    assert_eq!(cancelled["actions"][0]["action"], "cancel");
    assert_eq!(cancelled["resumeAt"], Value::Null);

    let (status, _) = send(s.admin(Method::DELETE, &format!("/api/workflows/{workflow}"))).await;
    assert_eq!(status, 200);
    let (status, _) = send(s.admin(Method::GET, &format!("/api/workflows/{workflow}"))).await;
    assert_eq!(status, 404);
    let version = get(&s, &format!("/api/workflows/{workflow}/versions/1")).await;
    assert_eq!(version["definition"]["name"], "patient");
    assert_eq!(
        get(&s, &format!("/api/workflows/{workflow}/versions")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let old = get(&s, &format!("/api/runs/{id}")).await;
    assert_eq!(
        (&old["workflowName"], &old["steps"][0]["type"]),
        (&json!("patient"), &json!("delay")),
        "{old}"
    );
    let (status, body) = post(
        &s,
        &format!("/api/runs/{id}/retry"),
        json!({"fromStep": "wait"}),
    )
    .await;
    assert_eq!(
        status, 409,
        "a deleted workflow's runs stay as they are: {body}"
    );
}

async fn events_are_listed_and_mistakes_are_caught_on_save(s: TestServer) {
    create(&s, &fixture("lead_follow_up.json")).await;
    let (status, missed) = post(
        &s,
        "/api/events",
        json!({"eventType": "Lead_Workflow_phase1"}),
    )
    .await;
    assert_eq!(status, 202, "{missed}");
    assert_eq!(missed["runIds"], json!([]));
    let warning = &missed["warnings"][0];
    assert_eq!(
        (&warning["pointer"], &warning["suggestions"]),
        (&json!("/eventType"), &json!(["Lead_Workflow_phase_1"])),
        "{missed}"
    );
    let (_, heard) = post(
        &s,
        "/api/events",
        json!({"eventType": "Lead_Workflow_phase_1"}),
    )
    .await;
    assert!(heard.get("warnings").is_none(), "{heard}");

    let events = get(&s, "/api/events").await;
    let listed: Vec<(&str, usize)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eventType"].as_str().unwrap(),
                e["runIds"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("Lead_Workflow_phase_1", 1), ("Lead_Workflow_phase1", 0)],
        "newest first"
    );
    assert!(is_millis(&events["data"][0]["receivedAt"]));
    let one = get(&s, "/api/events?eventType=Lead_Workflow_phase1").await;
    assert_eq!(one["data"][0]["id"], missed["eventId"]);
    let (status, _) = send(s.admin(Method::GET, "/api/events?type=x")).await;
    assert_eq!(status, 400);

    // Saved or validated definitions: an unknown root, a missing email template, a literal
    // time that is not one, a key named twice.
    let step = |config: Value, kind: &str| json!({"name": "strict", "trigger": {"type": "manual"}, "steps": [{"id": "s", "type": kind, "config": config}]});
    let (status, checked) = post(
        &s,
        "/api/workflows/validate",
        step(
            json!({"data": {"who": "{{triger.name}}"}}),
            "store_context_data",
        ),
    )
    .await;
    assert_eq!(
        (status, &checked["valid"]),
        (200, &json!(false)),
        "{checked}"
    );
    assert_eq!(checked["errors"][0]["pointer"], "/steps/0/config/data/who");
    assert!(
        checked["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'trigger'"),
        "{checked}"
    );
    for (def, pointer) in [
        (
            step(
                json!({"to": "a@example.com", "template": "nope"}),
                "send_email",
            ),
            "/steps/0/config/template",
        ),
        (
            step(json!({"until": "tomorrow"}), "delay"),
            "/steps/0/config/until",
        ),
    ] {
        let (status, body) = post(&s, "/api/workflows", def).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(pointers(&body), [pointer], "{body}");
    }
    let twice = r#"{"name": "a", "name": "b", "trigger": {"type": "manual"}, "steps": []}"#;
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .header("content-type", "application/json")
            .body(twice),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{body}"
    );
    assert_eq!(pointers(&body), ["/name"]);
    let (status, _) = post(
        &s,
        "/api/workflows",
        step(json!({"until": "{{trigger.at}}"}), "delay"),
    )
    .await;
    assert_eq!(
        status, 201,
        "a templated time is checked when the step runs"
    );
}
