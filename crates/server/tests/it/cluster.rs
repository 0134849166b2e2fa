//! Cluster mode (docs/scaling.md): three nodes on one PostgreSQL. A change made on one node is seen
//! by the others at once; under load through all three, one is killed with SIGKILL, and every
//! acknowledged event still produces its run, every run finishes once with no step committed
//! twice, the dead node's waiting timers fire on the others, and its in-flight runs and
//! deliveries are taken over when their leases lapse.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::events::{settled, trail};
use crate::harness::*;
use crate::receiver::Receiver;
use crate::target::Target;

const ENV: &[(&str, &str)] = &[
    ("SWITCHBOARD_LEASE_MS", "1500"),
    ("SWITCHBOARD_POLL_MS", "50"),
    // `delayMinutes: 2` takes 2 s.
    ("SWITCHBOARD_TIME_SCALE", "60"),
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
];

/// How long the workflow's delay lasts, scaled.
const DELAY: Duration = Duration::from_secs(2);
/// How long the workflow's call takes: the killed node dies with calls in flight.
const CALL: Duration = Duration::from_millis(300);

/// One acknowledged event: the node that took it, when, and its run.
#[derive(Clone)]
struct Acked {
    node: usize,
    at: Instant,
    run_id: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_the_work_and_survive_a_kill() {
    let mut nodes = TestServer::cluster(3, ENV);
    let target = Target::start().await;
    let sent = |node: &TestServer, n: u64| {
        node.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "cluster.tick", "n": n}))
    };

    // Nodes 1 and 2 learn that nothing listens to `cluster.tick`...
    for node in &nodes[1..] {
        let (status, body) = send(sent(node, 0)).await;
        assert_eq!((status, &body["runIds"]), (202, &json!([])), "{body}");
    }
    // ...then a workflow created on node 0 triggers on both at once.
    let def = json!({"name": "cluster", "trigger": {"type": "webhook", "eventType": "cluster.tick"}, "steps": [
        {"id": "capture", "type": "store_context_data", "config": {"data": {"n": "{{trigger.n}}"}}},
        {"id": "pause", "type": "delay", "config": {"delayMinutes": 2}},
        {"id": "call", "type": "webhook", "config": {"method": "POST", "url": target.url(&format!("/pause/{}/{{{{trigger.n}}}}", CALL.as_millis())),
            "body": {"format": "json", "content": {"n": "{{state.n}}"}}}},
        {"id": "done", "type": "store_context_data", "config": {"data": {"called": true}}}]});
    let (status, body) = send(nodes[0].admin(Method::POST, "/api/workflows").json(&def)).await;
    assert_eq!(status, 201, "{body}");
    let mut acked: Vec<Acked> = Vec::new();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let (status, body) = send(sent(node, i as u64)).await;
        assert_eq!(status, 202, "{body}");
        let runs = body["runIds"].as_array().unwrap();
        assert_eq!(
            runs.len(),
            1,
            "node {i} saw the new workflow at once: {body}"
        );
        acked.push(Acked {
            node: i,
            at: Instant::now(),
            run_id: runs[0].as_str().unwrap().to_owned(),
        });
    }
    tokens_revoked_on_one_node_stop_working_on_all(&nodes).await;
    // A cron ticking every second, which all three nodes watch.
    let cron = json!({"name": "every second", "trigger": {"type": "schedule", "cron": "* * * * * *"},
        "steps": [{"id": "tick", "type": "store_context_data", "config": {"data": {"at": "{{trigger.scheduledAt}}"}}}]});
    let (status, body) = send(nodes[1].admin(Method::POST, "/api/workflows").json(&cron)).await;
    assert_eq!(status, 201, "{body}");
    let cron_id = body["id"].as_str().unwrap().to_owned();

    // Every node lists the three, with its own address.
    let (status, cluster) = send(nodes[1].admin(Method::GET, "/api/cluster")).await;
    assert_eq!(status, 200, "{cluster}");
    let addresses = |c: &Value| -> HashSet<String> {
        c["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| format!("http://{}", n["address"].as_str().unwrap()))
            .collect()
    };
    let bases: HashSet<String> = nodes.iter().map(|n| n.base.clone()).collect();
    assert_eq!(addresses(&cluster), bases, "{cluster}");
    let node = &cluster["data"][0];
    assert!(node["id"].as_str().unwrap().starts_with("node_"), "{node}");
    assert!(
        node["startedAt"].is_string()
            && node["lastSeenAt"].is_string()
            && node["runsInFlight"].is_i64(),
        "{node}"
    );
    let (status, _) = send(nodes[1].as_token("sbs_nobody", Method::GET, "/api/cluster")).await;
    assert_eq!(status, 401);

    // Every completed run is announced to a subscriber, whichever node delivers it.
    let mut receiver = Receiver::start().await;
    let (status, sub) = send(
        nodes[0]
            .admin(Method::POST, "/api/subscriptions")
            .json(&json!({"url": receiver.url, "events": ["run.completed"]})),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    receiver.trust(sub["secret"].as_str().unwrap());

    // Load through all three nodes, two senders each.
    let acked = Arc::new(Mutex::new(acked));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..6u64)
        .map(|t| {
            let node = (t % 3) as usize;
            let (request, acked, stop) = (
                nodes[node].admin(Method::POST, "/api/events"),
                acked.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                for i in 0..100_000u64 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    // Paced (40 events/s per sender), so a busy test machine drains the runs in time.
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    let n = 1_000 + t * 100_000 + i;
                    let res = request
                        .try_clone()
                        .unwrap()
                        .json(&json!({"eventType": "cluster.tick", "n": n}))
                        .send()
                        .await;
                    // The killed node answers nothing more: its senders stop.
                    let Ok(res) = res else { return };
                    if res.status() != 202 {
                        return;
                    }
                    let body: Value = res.json().await.unwrap();
                    acked.lock().unwrap().push(Acked {
                        node,
                        at: Instant::now(),
                        run_id: body["runIds"][0].as_str().unwrap().to_owned(),
                    });
                }
            })
        })
        .collect();
    let count_on = |node: usize| {
        acked
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.node == node)
            .count()
    };
    // Long enough for the first runs to come out of their delay and call.
    let load_started = Instant::now();
    while count_on(2) < 60 || load_started.elapsed() < DELAY + CALL {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed while it executes runs (most of them in their call): claims go to whichever node
    // polls first, so wait (a while at most) until node 2's last heartbeat says it has some.
    let node_2 = nodes[2].base.trim_start_matches("http://").to_owned();
    for _ in 0..200 {
        let (_, cluster) = send(nodes[0].admin(Method::GET, "/api/cluster")).await;
        let busy = cluster["data"].as_array().unwrap().iter().any(|n| {
            n["address"].as_str() == Some(node_2.as_str()) && n["runsInFlight"].as_i64() > Some(0)
        });
        if busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let in_flight_at_kill = runs_in_flight(&nodes[0]).await;
    nodes[2].kill();
    let killed_at = Instant::now();
    // The survivors go on taking events for a while.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let waiting_on_dead: Vec<&Acked> = acked
        .iter()
        .filter(|a| a.node == 2 && killed_at.duration_since(a.at) < DELAY)
        .collect();
    assert!(
        !waiting_on_dead.is_empty(),
        "the dead node had runs waiting on their delay"
    );

    // Every acknowledged event's run finished once: each step committed once, in order.
    let survivor = &nodes[0];
    for a in &acked {
        let run = settled(survivor, &a.run_id).await;
        assert_eq!(run["status"], "completed", "{run}");
        let steps = trail(&run);
        assert_eq!(
            steps,
            [
                ("capture", 1, "completed"),
                ("pause", 1, "completed"),
                ("call", 1, "completed"),
                ("done", 1, "completed")
            ],
            "run {} (node {})",
            a.run_id,
            a.node
        );
    }
    // The call went out for every run (at least once: a node may die during it), always with
    // the visit's idempotency key.
    let keys: HashMap<String, usize> =
        target
            .received("/pause/")
            .iter()
            .fold(HashMap::new(), |mut m, r| {
                *m.entry(r.header("idempotency-key").unwrap().to_owned())
                    .or_default() += 1;
                m
            });
    let key = |a: &Acked| format!("{}:call:1", a.run_id);
    for a in &acked {
        assert!(keys.contains_key(&key(a)), "run {} called", a.run_id);
    }
    // Runs that were in their call on the dead node (wherever they were created: a timer that
    // comes due is claimed by any node) are taken over when their leases lapse and call again,
    // with the same key. (Effects are at least once: on a starved machine a live node's lease
    // may lapse too, so a call may repeat elsewhere; its state is still committed once, above.)
    let taken_over = keys.values().filter(|n| **n > 1).count();
    assert!(taken_over > 0, "the killed node had calls in flight");
    // Every completion was delivered, whichever node had it leased.
    let runs: HashSet<&str> = acked.iter().map(|a| a.run_id.as_str()).collect();
    let delivered = receiver
        .wait_for("every run.completed", |d| {
            let seen: HashSet<&str> = d
                .iter()
                .filter(|d| d.status < 300)
                .filter_map(|d| d.body["data"]["id"].as_str())
                .collect();
            runs.iter().all(|r| seen.contains(r))
        })
        .await;
    assert!(delivered.iter().all(|d| d.body["event"] == "run.completed"));

    // Each cron tick fired once, before and after the kill.
    let (status, body) = send(
        survivor
            .admin(Method::PATCH, &format!("/api/workflows/{cron_id}"))
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, ticks) = send(survivor.admin(
        Method::GET,
        &format!("/api/runs?workflowId={cron_id}&limit=100"),
    ))
    .await;
    let mut fired = Vec::new();
    for t in ticks["data"].as_array().unwrap() {
        let run = settled(survivor, t["id"].as_str().unwrap()).await;
        fired.push(run["trigger"]["scheduledAt"].as_str().unwrap().to_owned());
    }
    let distinct: HashSet<&String> = fired.iter().collect();
    assert_eq!(distinct.len(), fired.len(), "a tick fired twice: {fired:?}");
    assert!(
        fired.len() >= 4,
        "the cron ticked through the test: {fired:?}"
    );

    // The dead node drops out of the list after one lease.
    let survivors: HashSet<String> = nodes[..2].iter().map(|n| n.base.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, cluster) = send(nodes[1].admin(Method::GET, "/api/cluster")).await;
        if addresses(&cluster) == survivors {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead node is still listed: {cluster}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.down().await;
    eprintln!(
        "cluster: {} events acknowledged ({} by the killed node: {} waiting at the kill, {} calling and taken over); {} runs in flight in the cluster just before",
        acked.len(),
        acked.iter().filter(|a| a.node == 2).count(),
        waiting_on_dead.len(),
        taken_over,
        in_flight_at_kill
    );
}

/// The summed `runsInFlight` the cluster reports.
async fn runs_in_flight(node: &TestServer) -> i64 {
    let (_, cluster) = send(node.admin(Method::GET, "/api/cluster")).await;
    cluster["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["runsInFlight"].as_i64().unwrap())
        .sum()
}

/// A token deleted through node 0 is refused by node 1 at once, though node 1 had just used it.
async fn tokens_revoked_on_one_node_stop_working_on_all(nodes: &[TestServer]) {
    let (status, store) = send(
        nodes[0]
            .as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "cluster-tenant"})),
    )
    .await;
    assert_eq!(status, 201, "{store}");
    let store_id = store["id"].as_str().unwrap();
    let (status, token) = send(
        nodes[0]
            .as_token(
                ADMIN,
                Method::POST,
                &format!("/api/stores/{store_id}/tokens"),
            )
            .json(&json!({"name": "temp"})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let secret = token["token"].as_str().unwrap();
    let (status, _) = send(nodes[1].as_token(secret, Method::GET, "/api/workflows")).await;
    assert_eq!(status, 200);
    let (status, body) = send(nodes[0].as_token(
        ADMIN,
        Method::DELETE,
        &format!(
            "/api/stores/{store_id}/tokens/{}",
            token["id"].as_str().unwrap()
        ),
    ))
    .await;
    assert!(status < 300, "{body}");
    let (status, body) = send(nodes[1].as_token(secret, Method::GET, "/api/workflows")).await;
    assert_eq!(status, 401, "{body}");
}
