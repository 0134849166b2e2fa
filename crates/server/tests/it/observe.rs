//! What an operator sees: a failed run's log line names its store, workflow, run, step and error
//! code; each request has a line at `debug` (JSON logs keep the fields); `/metrics` describes
//! every series and counts failures by code, request durations and timer lateness.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api::events::{create, run_of};
use crate::harness::*;

/// The fields of a JSON log line whose message starts with `message`, waiting a little for it to
/// be written.
async fn logged(s: &TestServer, message: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let lines = s.logs.lock().unwrap().clone();
        let found = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| {
                let text = l["fields"]["message"].as_str().unwrap_or("");
                text.starts_with(message) && wanted(&l["fields"])
            });
        if let Some(line) = found {
            return line["fields"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no '{message}' line as wanted in:\n{:#?}",
        s.logs.lock().unwrap()
    );
}

#[tokio::test]
async fn failures_and_requests_are_logged_and_counted() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("SWITCHBOARD_LOG", "warn,switchboard=debug"),
            ("SWITCHBOARD_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let breaks = json!({"name": "breaks", "trigger": {"type": "webhook", "eventType": "break"},
        "steps": [{"id": "boom", "type": "custom_code", "config": {"code": "throw new Error('no stock')"}}]});
    let workflow_id = create(&s, &breaks).await;
    let naps = json!({"name": "naps", "trigger": {"type": "webhook", "eventType": "nap"},
        "steps": [{"id": "nap", "type": "delay", "config": {"delaySeconds": 0.2}}]});
    create(&s, &naps).await;
    let failed = run_of(&s, json!({"eventType": "break"})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let code = failed["error"]["code"].as_str().unwrap().to_owned();
    let napped = run_of(&s, json!({"eventType": "nap"})).await;
    assert_eq!(napped["status"], "completed", "{napped}");
    let unauthorized = s.client.get(s.url("/api/workflows")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);

    let line = logged(&s, "run failed", |f| f["run_id"] == failed["id"]).await;
    assert_eq!(
        (
            &line["store_id"],
            &line["workflow_id"],
            &line["workflow_name"],
            &line["step_id"],
            &line["code"]
        ),
        (
            &json!("st_default"),
            &json!(workflow_id),
            &json!("breaks"),
            &json!("boom"),
            &json!(code)
        ),
        "{line}"
    );
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("run failed: Error: no stock"),
        "{line}"
    );
    let refused = logged(&s, "request", |f| f["status"] == 401).await;
    assert_eq!(
        (&refused["route"], &refused["error_code"]),
        (&json!("/api/workflows"), &json!("unauthorized")),
        "{refused}"
    );
    let accepted = logged(&s, "request", |f| f["status"] == 202).await;
    assert_eq!(
        (&accepted["route"], &accepted["store_id"]),
        (&json!("/api/events"), &json!("st_default")),
        "{accepted}"
    );

    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for wanted in [
        "# HELP switchboard_runs_failed_total ",
        "# TYPE switchboard_http_request_duration_seconds histogram",
        "# TYPE switchboard_timer_lateness_seconds histogram",
        &format!("switchboard_run_failures_total{{code=\"{code}\"}} 1"),
        "switchboard_timer_lateness_seconds_count 1",
    ] {
        assert!(text.contains(wanted), "{wanted} missing from:\n{text}");
    }
    let events = text
        .lines()
        .find(|l| {
            l.starts_with("switchboard_http_request_duration_seconds_count")
                && l.contains("route=\"/api/events\"")
        })
        .unwrap_or_else(|| panic!("no duration of /api/events in:\n{text}"));
    assert!(
        events.contains("method=\"POST\"") && events.contains("status=\"202\""),
        "{events}"
    );
}
