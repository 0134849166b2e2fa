//! Kill -9 in the middle of a stream of events, restart: every acknowledged event has its runs,
//! every run reaches its end once, and no step state is committed twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::api::events::{create, settled, trail};
use crate::harness::*;

const ENV: &[(&str, &str)] = &[
    ("SWITCHBOARD_LEASE_MS", "1000"),
    ("SWITCHBOARD_POLL_MS", "50"),
];

both_backends_with!(ENV; acknowledged_events_survive_kill_9);

async fn acknowledged_events_survive_kill_9(mut s: TestServer) {
    let def = json!({"name": "crash", "trigger": {"type": "webhook", "eventType": "tick"}, "steps": [
        {"id": "a", "type": "store_context_data", "config": {"data": {"n": "{{trigger.n}}"}}},
        {"id": "b", "type": "custom_code", "config": {"code": "let x = 0; for (let i = 0; i < 20000; i++) x += i; return context.state.n;"}, "outputVar": "b"},
        {"id": "c", "type": "store_context_data", "config": {"data": {"doubled": "{{ variables.b * 2 }}"}}}]});
    create(&s, &def).await;
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (client, base, acked) = (s.client.clone(), s.base.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0..100_000u64 {
                    let n = t * 1_000_000 + i;
                    let res = client
                        .post(format!("{base}/api/events"))
                        .header("Authorization", format!("Bearer {ADMIN}"))
                        .header("StoreId", "st_default")
                        .json(&json!({"eventType": "tick", "n": n}))
                        .send()
                        .await;
                    let Ok(res) = res else { return };
                    if res.status() != 202 {
                        return;
                    }
                    let body: serde_json::Value = res.json().await.unwrap();
                    acked
                        .lock()
                        .unwrap()
                        .push((n, body["runIds"][0].as_str().unwrap().to_owned()));
                }
            })
        })
        .collect();
    // Let the stream run, then kill the server mid-stream.
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.restart();
    for t in senders {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    for (n, run_id) in &acked {
        let run = settled(&s, run_id).await;
        assert_eq!(run["status"], "completed", "{run}");
        let steps = trail(&run);
        assert_eq!(
            steps,
            [
                ("a", 1, "completed"),
                ("b", 1, "completed"),
                ("c", 1, "completed")
            ],
            "each step once: {run}"
        );
        assert_eq!(run["context"]["state"], json!({"n": n, "doubled": n * 2}));
    }
    for status in ["queued", "running", "waiting"] {
        let (_, runs) =
            send(s.admin(Method::GET, &format!("/api/runs?limit=500&status={status}"))).await;
        assert_eq!(runs["data"], json!([]), "nothing left {status}");
    }
    // Nothing created twice: besides the acknowledged runs, at most the one request in flight of
    // each sender at the kill may have committed without its answer.
    let total = count_runs(&s).await;
    assert!(
        (acked.len()..=acked.len() + 4).contains(&total),
        "{total} runs for {} acknowledged events",
        acked.len()
    );
}

/// Every run of the store, however many pages.
async fn count_runs(s: &TestServer) -> usize {
    let mut total = 0;
    let mut cursor = String::new();
    loop {
        let (_, page) = send(s.admin(Method::GET, &format!("/api/runs?limit=500{cursor}"))).await;
        total += page["data"].as_array().unwrap().len();
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return total,
        }
    }
}
