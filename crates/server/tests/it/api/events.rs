use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

both_backends!(
    fan_out_to_every_listening_workflow,
    idempotency_keys_repeat_the_first_answer,
    bad_events_are_refused,
    computing_steps_are_committed_with_the_event,
    slow_leading_steps_share_one_acknowledgement_budget
);

pub async fn create(s: &TestServer, def: &Value) -> String {
    let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(def)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub fn simple(name: &str, event_type: &str) -> Value {
    json!({"name": name, "trigger": {"type": "webhook", "eventType": event_type},
        "steps": [{"id": "s1", "type": "store_context_data", "config": {"data": {"who": "{{trigger.fullName}}"}}, "outputVar": "out"}]})
}

/// Sends an event and waits for the one run it starts.
pub async fn run_of(s: &TestServer, event: Value) -> Value {
    let (status, body) = send(s.admin(Method::POST, "/api/events").json(&event)).await;
    assert_eq!(status, 202, "{body}");
    settled(s, body["runIds"][0].as_str().unwrap()).await
}

/// The last record of step `id` in a run.
pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s["stepId"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {run}"))
}

/// A run's step records as `(stepId, visit, status)`, in order.
pub fn trail(run: &Value) -> Vec<(&str, i64, &str)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            (
                st["stepId"].as_str().unwrap(),
                st["visit"].as_i64().unwrap(),
                st["status"].as_str().unwrap(),
            )
        })
        .collect()
}

/// Polls a run until it settles, for up to 30 s: a whole suite on two cores can hold a takeover
/// up for several seconds.
pub async fn settled(s: &TestServer, run_id: &str) -> Value {
    for _ in 0..600 {
        let (status, run) = send(s.admin(Method::GET, &format!("/api/runs/{run_id}"))).await;
        assert_eq!(status, 200, "{run}");
        if matches!(
            run["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not settle");
}

async fn fan_out_to_every_listening_workflow(s: TestServer) {
    let a = create(&s, &simple("a", "lead.created")).await;
    let b = create(&s, &simple("b", "lead.created")).await;
    let off = create(&s, &simple("off", "lead.created")).await;
    create(&s, &simple("other", "lead.lost")).await;
    let (status, _) = send(
        s.admin(Method::PATCH, &format!("/api/workflows/{off}"))
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200);

    let (status, body) = send(
        s.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "lead.created", "fullName": "Ana"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["eventId"].as_str().unwrap().starts_with("evt_"));
    let runs = body["runIds"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        2,
        "one run per active listening workflow: {body}"
    );
    let mut workflows = Vec::new();
    for r in runs {
        let run = settled(&s, r.as_str().unwrap()).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["context"]["variables"]["out"], json!({"who": "Ana"}));
        assert!(
            run["trigger"]["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "timestamp set on arrival"
        );
        workflows.push(run["workflowId"].as_str().unwrap().to_owned());
    }
    workflows.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(workflows, expected);

    // The path form; a timestamp the sender gives is kept.
    let (status, body) = send(
        s.admin(Method::POST, "/api/events/lead.created")
            .json(&json!({"fullName": "Bo", "timestamp": "2026-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let run = settled(&s, body["runIds"][0].as_str().unwrap()).await;
    assert_eq!(run["trigger"]["eventType"], "lead.created");
    assert_eq!(run["trigger"]["timestamp"], "2026-01-01T00:00:00Z");

    let (status, body) = send(
        s.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "nobody.listens"})),
    )
    .await;
    assert_eq!((status, body["runIds"].clone()), (202, json!([])));

    let (status, list) = send(s.admin(Method::GET, "/api/runs?status=completed&limit=2")).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(list["nextCursor"].is_string());
}

async fn idempotency_keys_repeat_the_first_answer(s: TestServer) {
    create(&s, &simple("a", "order.paid")).await;
    let event = json!({"eventType": "order.paid", "fullName": "Ana"});
    let post = |body: &Value| {
        s.admin(Method::POST, "/api/events")
            .header("Idempotency-Key", "k-1")
            .json(body)
    };
    let (status, first) = send(post(&event)).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = send(post(&event)).await;
    assert_eq!(
        (status, &again),
        (200, &first),
        "a repeat answers as the first time"
    );
    let (status, body) = send(post(
        &json!({"eventType": "order.paid", "fullName": "Other"}),
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (_, runs) = send(s.admin(Method::GET, "/api/runs")).await;
    assert_eq!(
        runs["data"].as_array().unwrap().len(),
        1,
        "repeats created nothing"
    );
}

async fn bad_events_are_refused(s: TestServer) {
    for (body, pointer) in [
        (json!({"fullName": "x"}), "/eventType"),
        (json!({"eventType": 5}), "/eventType"),
        (json!([1]), ""),
    ] {
        let (status, err) = send(s.admin(Method::POST, "/api/events").json(&body)).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("validation_failed")),
            "{body}"
        );
        assert_eq!(err["error"]["details"][0]["pointer"], pointer);
    }
    let (status, err) = send(
        s.admin(Method::POST, "/api/events/a.b")
            .json(&json!({"eventType": "c.d"})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/eventType"))
    );
    let (status, err) = send(
        s.admin(Method::POST, "/api/events")
            .header("Content-Type", "application/json")
            .body("{\"eventType\": "),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, _) = send(
        s.client
            .post(s.url("/api/events"))
            .json(&json!({"eventType": "x"})),
    )
    .await;
    assert_eq!(status, 401);
}

/// Leading steps that only compute run before the acknowledgement and are committed with the
/// event: the run is already settled when the 202 arrives, up to its first other step.
async fn computing_steps_are_committed_with_the_event(s: TestServer) {
    create(&s, &simple("done", "quick")).await;
    let waits = json!({"name": "waits", "trigger": {"type": "webhook", "eventType": "quick"}, "steps": [
        {"id": "a", "type": "store_context_data", "config": {"data": {"x": 1}}},
        {"id": "b", "type": "delay", "config": {"delayMinutes": 5}}]});
    create(&s, &waits).await;
    let (status, body) = send(
        s.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "quick", "fullName": "Ana"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let mut statuses = Vec::new();
    for id in body["runIds"].as_array().unwrap() {
        let (_, run) =
            send(s.admin(Method::GET, &format!("/api/runs/{}", id.as_str().unwrap()))).await;
        let steps: Vec<&str> = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|st| st["status"].as_str().unwrap())
            .collect();
        statuses.push((run["status"].as_str().unwrap().to_owned(), steps.join(",")));
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            ("completed".to_owned(), "completed".to_owned()),
            ("waiting".to_owned(), "completed,waiting".to_owned())
        ]
    );
}

/// Forty workflows on one event, each starting with a legal 20 ms template: run ahead one after
/// another they would hold the acknowledgement for 800 ms; the event's budget (5 ms) lets the
/// first one through and leaves the rest to the engine, which completes them all.
async fn slow_leading_steps_share_one_acknowledgement_budget(s: TestServer) {
    let slow =
        "{{ (() => { const t = Date.now(); while (Date.now() - t < 20) {} return 'done' })() }}";
    for n in 0..40 {
        let def = json!({"name": format!("slow {n}"), "trigger": {"type": "webhook", "eventType": "slow"},
            "steps": [{"id": "s", "type": "store_context_data", "config": {"data": {"v": slow}}, "outputVar": "out"}]});
        create(&s, &def).await;
    }
    let clock = std::time::Instant::now();
    let (status, body) = send(
        s.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "slow"})),
    )
    .await;
    let ack = clock.elapsed();
    assert_eq!(status, 202, "{body}");
    assert!(
        ack < std::time::Duration::from_millis(400),
        "acknowledged after {ack:?}"
    );
    let ids = body["runIds"].as_array().unwrap();
    assert_eq!(ids.len(), 40);
    for id in ids {
        let run = settled(&s, id.as_str().unwrap()).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(step(&run, "s")["output"]["v"], "done", "{run}");
    }
}
