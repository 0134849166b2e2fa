//! A hostile store cannot stall another: while four runs of one store evaluate an expression that
//! would take seconds unchecked (two before their event's acknowledgement, two after an
//! `emit_event`), another store's events are acknowledged and its runs' JavaScript gets its turn,
//! and `/healthz` answers at once. The bounds are loose (debug build, busy machine); the figures
//! come from `switchboard bench hostile`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::events::{create, step};
use crate::harness::*;

const HOSTILE: &str = "{{ new Array(1e9).join('x') }}";

/// Each hostile expression holds a thread this long before its limit stops it.
const LIMIT_MS: &str = "400";

/// What another store's requests may take at most here: well under one hostile expression, which
/// held the API's threads that long while JavaScript ran on them.
const LOOSE: Duration = Duration::from_millis(200);

#[tokio::test]
async fn a_hostile_store_does_not_stall_another() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[("SWITCHBOARD_SCRIPT_TIMEOUT_MS", LIMIT_MS)],
    )
    .await;
    let burn = |name: &str, event: &str, first: Vec<Value>| {
        let mut steps = first;
        steps.push(
            json!({"id": "burn", "type": "store_context_data", "config": {"data": {"v": HOSTILE}}}),
        );
        json!({"name": name, "trigger": {"type": "webhook", "eventType": event}, "steps": steps})
    };
    create(&s, &burn("burn before", "burn.before", vec![])).await;
    let announce = json!({"id": "announce", "type": "emit_event", "config": {"event": "burning"}});
    create(&s, &burn("burn after", "burn.after", vec![announce])).await;

    let calm_flow = json!({"name": "calm", "trigger": {"type": "webhook", "eventType": "calm.ping"},
        "steps": [{"id": "double", "type": "store_context_data", "config": {"data": {"doubled": "{{ trigger.n * 2 }}"}}}]});
    let calm_token = store_with(&s, "calm", &calm_flow).await;

    // Four hostile runs in flight at all times: each sender starts the next once its run ended.
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for event in ["burn.before", "burn.before", "burn.after", "burn.after"] {
        let (stop, client, base) = (stop.clone(), s.client.clone(), s.base.clone());
        senders.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = send(
                    client
                        .post(format!("{base}/api/events"))
                        .bearer_auth(ADMIN)
                        .header("StoreId", "st_default")
                        .json(&json!({"eventType": event})),
                )
                .await;
                assert_eq!(status, 202, "{body}");
                let run_id = body["runIds"][0].as_str().unwrap().to_owned();
                loop {
                    let (_, run) = send(
                        client
                            .get(format!("{base}/api/runs/{run_id}"))
                            .bearer_auth(ADMIN)
                            .header("StoreId", "st_default"),
                    )
                    .await;
                    if matches!(run["status"].as_str(), Some("completed" | "failed")) {
                        failures.push(run);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The other store posts an event every 20 ms, and asks for /healthz as often.
    let mut acks = Vec::new();
    let mut health = Vec::new();
    let mut calm_runs = Vec::new();
    for n in 0..100 {
        let started = Instant::now();
        let (status, body) = send(
            s.as_token(&calm_token, Method::POST, "/api/events")
                .json(&json!({"eventType": "calm.ping", "n": n})),
        )
        .await;
        acks.push(started.elapsed());
        assert_eq!(status, 202, "{body}");
        calm_runs.push((n, body["runIds"][0].as_str().unwrap().to_owned()));
        let started = Instant::now();
        let answer = s.client.get(s.url("/healthz")).send().await.unwrap();
        health.push(started.elapsed());
        assert_eq!(answer.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut hostile_runs = Vec::new();
    for sender in senders {
        hostile_runs.extend(sender.await.unwrap());
    }

    let worst = |d: &[Duration]| d.iter().max().copied().unwrap();
    eprintln!(
        "slowest ack {:?}, slowest /healthz {:?}",
        worst(&acks),
        worst(&health)
    );
    assert!(
        worst(&acks) < LOOSE,
        "the calm store's slowest ack: {:?}",
        worst(&acks)
    );
    assert!(
        worst(&health) < LOOSE,
        "the slowest /healthz: {:?}",
        worst(&health)
    );

    // The hostile runs hit their limit; the calm store's runs computed their JavaScript.
    assert!(
        hostile_runs.len() >= 4,
        "{} hostile runs",
        hostile_runs.len()
    );
    for run in &hostile_runs {
        assert_eq!(run["status"], "failed", "{run}");
        let code = &step(run, "burn")["error"]["code"];
        assert!(code == "script_memory" || code == "script_timeout", "{run}");
    }
    for (n, run_id) in calm_runs {
        let run = settled_in(&s, &calm_token, &run_id).await;
        let doubled = &step(&run, "double")["output"]["doubled"];
        assert_eq!(doubled, &json!(n * 2), "{run}");
    }
}

/// A new store with one workflow; the store's token.
async fn store_with(s: &TestServer, name: &str, workflow: &Value) -> String {
    let (_, token) = crate::api::store_limits::new_store(s, name).await;
    let (status, body) = send(
        s.as_token(&token, Method::POST, "/api/workflows")
            .json(workflow),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    token
}

/// Waits for a run of the store `token` acts on to settle.
async fn settled_in(s: &TestServer, token: &str, run_id: &str) -> Value {
    for _ in 0..600 {
        let (status, run) =
            send(s.as_token(token, Method::GET, &format!("/api/runs/{run_id}"))).await;
        assert_eq!(status, 200, "{run}");
        if matches!(run["status"].as_str(), Some("completed" | "failed")) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not settle");
}

/// Timers that fell due together in one store do not hold back another store's: while one store's
/// pile of woken runs (each calling a slow endpoint) is worked through a few slots at a time, the
/// other store's run, due after all of them, is claimed at the next poll.
#[tokio::test]
async fn a_store_whose_timers_pile_up_takes_turns_with_another() {
    const PILE: usize = 48;
    let target = crate::target::Target::start().await;
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("SWITCHBOARD_MAX_CLAIMED_RUNS", "8"),
            ("SWITCHBOARD_POLL_MS", "50"),
            // `delayMinutes: 1` takes 1 s.
            ("SWITCHBOARD_TIME_SCALE", "60"),
            ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
            ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
        ],
    )
    .await;
    let pile = json!({"name": "pile", "trigger": {"type": "webhook", "eventType": "pile"}, "steps": [
        {"id": "wait", "type": "delay", "config": {"delayMinutes": 1}},
        {"id": "call", "type": "webhook", "config": {"method": "POST", "url": target.url("/pause/300/pile")}}]});
    create(&s, &pile).await;
    let calm_flow = json!({"name": "calm", "trigger": {"type": "webhook", "eventType": "calm"}, "steps": [
        {"id": "wait", "type": "delay", "config": {"delayMinutes": 1}},
        {"id": "done", "type": "store_context_data", "config": {"data": {"done": true}}}]});
    let calm_token = store_with(&s, "calm", &calm_flow).await;

    for _ in 0..PILE {
        let (status, body) = send(
            s.admin(Method::POST, "/api/events")
                .json(&json!({"eventType": "pile"})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, body) = send(
        s.as_token(&calm_token, Method::POST, "/api/events")
            .json(&json!({"eventType": "calm"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let calm_run = settled_in(&s, &calm_token, body["runIds"][0].as_str().unwrap()).await;
    assert_eq!(calm_run["status"], "completed", "{calm_run}");
    // Claimed oldest first, the calm run would have waited for nearly the whole pile.
    let called = target.received("/pause/300/pile").len();
    eprintln!("{called} of the pile called first");
    assert!(
        called < PILE / 2,
        "{called} of the pile's {PILE} runs went first"
    );

    // The pile is worked through all the same.
    for _ in 0..600 {
        let (_, runs) = send(s.admin(Method::GET, "/api/runs?status=completed&limit=100")).await;
        if runs["data"].as_array().unwrap().len() == PILE {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the pile's runs did not all complete");
}
