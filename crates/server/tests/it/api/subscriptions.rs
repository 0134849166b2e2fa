//! Outgoing events end to end: subscriptions receive signed deliveries (checked by a Standard
//! Webhooks receiver), of Switchboard's events and of seed 004's emitted ones; retries follow a
//! millisecond schedule; a receiver that is down gets everything once it is back; ordered
//! subscriptions hold a contact's later deliveries behind a failing one; failing endpoints are
//! disabled; deliveries can be retried and recovered; bad input is refused at its pointer.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::events::create;
use crate::harness::*;
use crate::receiver::{Answer, Receiver};

/// Loopback receivers over plain HTTP; three retries 100, 200, 300 ms apart; 1 s timeouts.
const FAST: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ("SWITCHBOARD_DELIVERY_RETRY_SCHEDULE", "100ms,200ms,300ms"),
    ("SWITCHBOARD_DELIVERY_TIMEOUT_MS", "1000"),
    ("SWITCHBOARD_DELIVERY_DISABLE_AFTER", "1d"),
    ("SWITCHBOARD_POLL_MS", "20"),
];

/// As [`FAST`], with subscriptions disabled after 700 ms of failures.
const DISABLING: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    (
        "SWITCHBOARD_DELIVERY_RETRY_SCHEDULE",
        "100ms,200ms,300ms,400ms",
    ),
    ("SWITCHBOARD_DELIVERY_DISABLE_AFTER", "500ms"),
    ("SWITCHBOARD_POLL_MS", "20"),
];

mod fast {
    use super::*;
    both_backends_with!(FAST;
        signed_envelopes_of_run_and_emitted_events,
        a_receiver_down_then_back_gets_everything_once,
        retries_exhaust_then_retry_and_recover,
        ordered_deliveries_wait_for_a_failing_one,
        redirects_and_hangs_are_failures,
        bad_input_is_refused_with_pointers
    );
}

mod disabling {
    use super::*;
    both_backends_with!(DISABLING; failing_endpoints_are_disabled);
}

async fn subscribe(s: &TestServer, r: &Receiver, body: Value) -> Value {
    let mut body = body;
    body["url"] = json!(r.url);
    let (status, sub) = send(s.admin(Method::POST, "/api/subscriptions").json(&body)).await;
    assert_eq!(status, 201, "{sub}");
    let secret = sub["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{sub}");
    r.trust(secret);
    sub
}

/// Seed 004's three events, emitted by one callable workflow from its inputs.
fn flowforge() -> Value {
    json!({"name": "flowforge", "trigger": {"type": "callable"}, "steps": [
        {"id": "form", "type": "emit_event", "config": {"event": "captured_form.created", "data": {
            "form_id": "018eaff3-67cb-7d86-bb5e-65c952c8dc2a", "form_name": "Algoscale Leads",
            "widget_id": "018cd9c9-a864-7de1-98c0-6478c74b9c2b", "assistant_id": "018cd9c8-e317-7079-accd-17be51784256",
            "field_values": {"name": "{{trigger.name}}", "email": "smith@gmail.com", "query": "flask developer"},
            "conversation_id": "018eb05d-cf6c-7631-8992-fd8377db4145", "captured_form_id": "018eb05e-7177-7374-af12-66132614cb9f"}},
         "outputVar": "form"},
        {"id": "intent", "type": "emit_event", "config": {"event": "captured_intent.created", "data": {
            "intent_id": "023eca5e-a584-1002-960d-4857d7d28c67", "chat_count": 2, "intent_name": "SALES", "device_type": "mobile",
            "widget_id": "018eb656-5692-7a92-836b-80e2cd1eca56", "assistant_id": "018eb657-5027-7a36-ad61-77e2bd4ec683",
            "conversation_id": "019ec453-1017-2567-904d-ff39862b334"}}},
        {"id": "closed", "type": "emit_event", "config": {"event": "conversation.closed", "data": {
            "widget_id": "018eb657-e189-7219-960d-4535d7d24d99", "chat_count": 2, "contact_id": "None", "device_type": "desktop",
            "assistant_id": "018eb657-5027-7a36-836b-77e2cd1ec683", "first_message": "User: hi may i know how much is flu jab",
            "conversation_id": "018ec933-3037-7469-80d8-ff393043b889"}}}
    ]})
}

/// A callable workflow emitting `event` about `phoneNumber` (its input).
fn emitter(event: &str) -> Value {
    json!({"name": format!("emit {event}"), "trigger": {"type": "callable"}, "steps": [
        {"id": "e", "type": "emit_event", "config": {"event": event, "data": {"phoneNumber": "{{trigger.phoneNumber}}", "n": "{{trigger.n}}"}}}]})
}

async fn execute(s: &TestServer, workflow_id: &str, inputs: Value) -> Value {
    let (status, run) = send(
        s.admin(
            Method::POST,
            &format!("/api/workflows/{workflow_id}/execute?wait=10"),
        )
        .json(&inputs),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed", "{run}");
    run
}

async fn get(s: &TestServer, path: &str) -> Value {
    let (status, body) = send(s.admin(Method::GET, path)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Polls `path` until `done` holds for its body.
async fn until(s: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let body = get(s, path).await;
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never got there: {}", get(s, path).await);
}

fn events(got: &[crate::receiver::Delivery]) -> Vec<&str> {
    got.iter()
        .map(|d| d.body["event"].as_str().unwrap())
        .collect()
}

async fn signed_envelopes_of_run_and_emitted_events(s: TestServer) {
    let r = Receiver::start().await;
    let sub = subscribe(&s, &r, json!({"events": ["run.completed", "captured_form.created", "captured_intent.created", "conversation.closed"],
        "description": "Flowforge"})).await;
    assert_eq!(sub["active"], true);
    assert_eq!(sub["ordered"], false);
    let id = create(&s, &flowforge()).await;
    let run = execute(&s, &id, json!({"name": "Smith Stevens"})).await;
    let got = r.wait_for("4 deliveries", |d| d.len() == 4).await;
    let mut names = events(&got);
    names.sort();
    assert_eq!(
        names,
        [
            "captured_form.created",
            "captured_intent.created",
            "conversation.closed",
            "run.completed"
        ]
    );
    for d in &got {
        // Exactly the envelope, in this order; webhook-id is the envelope's UUIDv7.
        assert!(d.raw.starts_with(r#"{"id":""#), "{}", d.raw);
        let keys: Vec<&String> = d.body.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{}", d.body);
        assert_eq!(d.body["object"], "event");
        assert_eq!(d.body["id"], d.id.as_str());
        let uuid = d.id.as_str();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(&uuid[14..15], "7", "a UUIDv7: {uuid}");
        assert!(d.body["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(d.signatures.len(), 1);
    }
    let form = got
        .iter()
        .find(|d| d.body["event"] == "captured_form.created")
        .unwrap();
    assert_eq!(form.body["data"]["form_name"], "Algoscale Leads");
    assert_eq!(form.body["data"]["field_values"]["name"], "Smith Stevens");
    // The step's output is the event's id.
    let output = &run["steps"][0]["output"];
    assert_eq!(output["eventId"], form.id.as_str(), "{run}");
    let done = got
        .iter()
        .find(|d| d.body["event"] == "run.completed")
        .unwrap();
    assert_eq!(done.body["data"]["id"], run["id"]);
    assert_eq!(done.body["data"]["workflowId"], id.as_str());
    assert_eq!(done.body["data"]["status"], "completed");
    assert_eq!(done.body["data"]["workflowVersion"], 1);

    // The deliveries and their log.
    let sub_id = sub["id"].as_str().unwrap();
    // The receiver has answered; the worker records the attempt a moment later.
    let mut list = Vec::new();
    for _ in 0..100 {
        let all = get(&s, &format!("/api/subscriptions/{sub_id}/deliveries")).await;
        list = all["data"].as_array().unwrap().clone();
        if list.iter().all(|d| d["status"] == "succeeded") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(list.len(), 4);
    assert!(
        list.iter()
            .all(|d| d["status"] == "succeeded" && d["attempts"] == 1),
        "{list:?}"
    );
    let one = get(
        &s,
        &format!("/api/deliveries/{}", list[0]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one["log"][0]["status"], 200);
    assert_eq!(one["log"][0]["response"], "ok");
    assert!(one["log"][0]["durationMs"].is_i64());

    // A rotation: the old secret keeps signing alongside the new one for 24 h.
    let (status, rotated) = send(s.admin(
        Method::POST,
        &format!("/api/subscriptions/{sub_id}/rotate-secret"),
    ))
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, sub["secret"].as_str().unwrap());
    assert!(rotated["previousSecretExpiresAt"].is_string());
    execute(&s, &id, json!({"name": "Ana"})).await;
    let got = r.wait_for("4 more deliveries", |d| d.len() == 8).await;
    for d in &got[4..] {
        assert_eq!(
            d.signatures.len(),
            2,
            "both secrets sign: {:?}",
            d.signatures
        );
        assert!(d.signatures.contains(&crate::receiver::sign(
            &new_secret,
            &d.id,
            &d.timestamp,
            d.raw.as_bytes()
        )));
        assert!(d.signatures.contains(&crate::receiver::sign(
            sub["secret"].as_str().unwrap(),
            &d.id,
            &d.timestamp,
            d.raw.as_bytes()
        )));
    }
    let view = get(&s, &format!("/api/subscriptions/{sub_id}")).await;
    assert_eq!(view["secret"], "***");
    assert!(r.rejected().is_empty(), "{:?}", r.rejected());

    // Other events of Switchboard: workflow.* and conversation.updated.
    let r2 = Receiver::start().await;
    subscribe(
        &s,
        &r2,
        json!({"events": ["workflow.*", "conversation.updated"]}),
    )
    .await;
    let created = create(&s, &emitter("lead.qualified")).await;
    let (status, _) = send(
        s.admin(Method::PATCH, "/api/conversations/5511999990001")
            .json(&json!({"state": {"stage": "won"}})),
    )
    .await;
    assert_eq!(status, 200);
    let got = r2
        .wait_for("workflow.created and conversation.updated", |d| {
            d.len() == 2
        })
        .await;
    let wf = got
        .iter()
        .find(|d| d.body["event"] == "workflow.created")
        .unwrap();
    assert_eq!(wf.body["data"]["id"], created.as_str());
    assert_eq!(wf.body["data"]["name"], "emit lead.qualified");
    let conv = got
        .iter()
        .find(|d| d.body["event"] == "conversation.updated")
        .unwrap();
    assert_eq!(conv.body["data"]["phoneNumber"], "5511999990001");
    assert_eq!(conv.body["data"]["state"]["stage"], "won");

    // The catalogue has Switchboard's events and the store's emitted ones.
    let catalogue = get(&s, "/api/event-types").await;
    let names: Vec<&str> = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in [
        "run.started",
        "run.completed",
        "run.failed",
        "workflow.created",
        "workflow.updated",
        "workflow.deleted",
        "message.sent",
        "message.delivered",
        "message.read",
        "message.failed",
        "message.received",
        "conversation.updated",
        "subscription.disabled",
        "captured_form.created",
        "lead.qualified",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let lead = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "lead.qualified")
        .unwrap();
    assert_eq!(lead["source"], "workflow");
    assert_eq!(lead["workflowIds"], json!([created]));

    // Another store sees none of it.
    let (_, store) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "other"})),
    )
    .await;
    let token = store["token"].as_str().unwrap();
    let (status, _) =
        send(s.as_token(token, Method::GET, &format!("/api/subscriptions/{sub_id}"))).await;
    assert_eq!(status, 404);
    let (status, _) = send(s.as_token(
        token,
        Method::GET,
        &format!("/api/deliveries/{}", list[0]["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(status, 404);
    let (_, theirs) = send(s.as_token(token, Method::GET, "/api/subscriptions")).await;
    assert_eq!(theirs["data"], json!([]));
}

async fn a_receiver_down_then_back_gets_everything_once(s: TestServer) {
    let mut r = Receiver::start().await;
    let sub = subscribe(&s, &r, json!({"events": ["lead.*"]})).await;
    let id = create(&s, &emitter("lead.created")).await;
    r.down().await;
    for n in 0..5 {
        execute(
            &s,
            &id,
            json!({"phoneNumber": format!("55119999900{n}"), "n": n}),
        )
        .await;
    }
    let sub_id = sub["id"].as_str().unwrap();
    // Every delivery fails at least twice while the receiver is down.
    let failing = until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries"),
        |b| {
            let d = b["data"].as_array().unwrap();
            d.len() == 5
                && d.iter()
                    .all(|d| d["attempts"].as_i64() >= Some(2) && d["status"] == "pending")
        },
    )
    .await;
    let first = failing["data"][0]["id"].as_str().unwrap();
    let log = get(&s, &format!("/api/deliveries/{first}")).await;
    assert!(log["log"][0]["status"].is_null(), "{log}");
    assert!(
        log["log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("connection"),
        "{log}"
    );
    r.up().await;
    let got = r.wait_for("all 5", |d| d.len() >= 5).await;
    until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries"),
        |b| {
            b["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "succeeded")
        },
    )
    .await;
    steady(
        5,
        Duration::from_secs(1),
        "deliveries acknowledged: none twice",
        || async { r.acknowledged().len() },
    )
    .await;
    let acked = r.acknowledged();
    let mut ids: Vec<&str> = acked.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "{got:?}");
}

async fn retries_exhaust_then_retry_and_recover(s: TestServer) {
    let r = Receiver::start().await;
    let sub = subscribe(&s, &r, json!({"events": ["lead.created"]})).await;
    let sub_id = sub["id"].as_str().unwrap();
    let id = create(&s, &emitter("lead.created")).await;
    r.script((0..4).map(|_| Answer::Status(500)));
    execute(&s, &id, json!({"phoneNumber": "5511999990001"})).await;
    // 4 attempts (the schedule's 3 waits + 1), then failed.
    let list = until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries"),
        |b| b["data"][0]["status"] == "failed",
    )
    .await;
    let delivery = list["data"][0]["id"].as_str().unwrap().to_owned();
    let got = r.deliveries();
    assert_eq!(got.len(), 4);
    assert!(
        got.iter().all(|d| d.id == got[0].id),
        "the same webhook-id on every attempt"
    );
    // Each wait is the schedule's (100, 200, 300 ms) ± 20 %.
    for (i, planned) in [100u64, 200, 300].iter().enumerate() {
        let gap = got[i + 1].at - got[i].at;
        assert!(
            gap >= Duration::from_millis(planned * 8 / 10),
            "wait {i} was {gap:?}"
        );
    }
    let one = get(&s, &format!("/api/deliveries/{delivery}")).await;
    assert_eq!(one["attempts"], 4);
    assert_eq!(one["lastStatus"], 500);
    let log = one["log"].as_array().unwrap();
    assert_eq!(log.len(), 4);
    assert!(
        log.iter().all(|a| a["status"] == 500
            && a["response"] == "status 500"
            && a["error"] == "HTTP 500"),
        "{log:?}"
    );

    // A manual retry: one attempt, which now succeeds.
    let (status, retried) =
        send(s.admin(Method::POST, &format!("/api/deliveries/{delivery}/retry"))).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["status"], "pending");
    until(&s, &format!("/api/deliveries/{delivery}"), |d| {
        d["status"] == "succeeded"
    })
    .await;
    assert_eq!(r.acknowledged().len(), 1);

    // Recover: failed deliveries since a time get one more attempt each; succeeded ones none.
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    r.script((0..8).map(|_| Answer::Status(503)));
    execute(&s, &id, json!({"phoneNumber": "5511999990002"})).await;
    execute(&s, &id, json!({"phoneNumber": "5511999990003"})).await;
    until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries?status=failed"),
        |b| b["data"].as_array().unwrap().len() == 2,
    )
    .await;
    let before = r.deliveries().len();
    let (status, body) = send(
        s.admin(
            Method::POST,
            &format!("/api/subscriptions/{sub_id}/recover"),
        )
        .json(&json!({"since": since})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recovered"], 2);
    until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries?status=succeeded"),
        |b| b["data"].as_array().unwrap().len() == 3,
    )
    .await;
    assert_eq!(
        r.deliveries().len(),
        before + 2,
        "one attempt each, none for the delivery that succeeded"
    );
    let recovered = get(&s, &format!("/api/subscriptions/{sub_id}/deliveries")).await;
    let newest = recovered["data"][0]["id"].as_str().unwrap();
    let log = get(&s, &format!("/api/deliveries/{newest}")).await;
    assert_eq!(
        log["log"].as_array().unwrap().last().unwrap()["manual"],
        true
    );
}

async fn ordered_deliveries_wait_for_a_failing_one(s: TestServer) {
    let r = Receiver::start().await;
    let sub = subscribe(&s, &r, json!({"events": ["lead.step"], "ordered": true})).await;
    let sub_id = sub["id"].as_str().unwrap();
    let id = create(&s, &emitter("lead.step")).await;
    // The first delivery about Ana fails twice; Bia's go straight through.
    let ana = "5511900000001";
    let bia = "5511900000002";
    r.script_for(ana, [Answer::Status(500), Answer::Status(500)]);
    for n in 0..3 {
        execute(&s, &id, json!({"phoneNumber": ana, "n": n})).await;
    }
    execute(&s, &id, json!({"phoneNumber": bia, "n": 0})).await;
    let got = r
        .wait_for("Ana's three and Bia's one acknowledged", |d| {
            d.iter().filter(|d| d.status == 200).count() == 4
        })
        .await;
    let acked: Vec<(String, String)> = got
        .iter()
        .filter(|d| d.status == 200)
        .map(|d| {
            (
                d.body["data"]["phoneNumber"].as_str().unwrap().to_owned(),
                d.body["data"]["n"].to_string(),
            )
        })
        .collect();
    let ana_order: Vec<&str> = acked
        .iter()
        .filter(|(p, _)| p == ana)
        .map(|(_, n)| n.as_str())
        .collect();
    assert_eq!(ana_order, ["0", "1", "2"], "in order: {acked:?}");
    // Nothing of Ana's later events arrived while the first was failing.
    let first_ok = got
        .iter()
        .position(|d| d.body["data"]["phoneNumber"] == ana && d.status == 200)
        .unwrap();
    assert!(
        got[..first_ok]
            .iter()
            .all(|d| d.body["data"]["phoneNumber"] != ana || d.body["data"]["n"] == 0),
        "{acked:?}"
    );
    // Bia was not held behind Ana.
    let bia_at = got
        .iter()
        .position(|d| d.body["data"]["phoneNumber"] == bia)
        .unwrap();
    assert!(
        bia_at < first_ok,
        "Bia's delivery waited for Ana's: {acked:?}"
    );
    until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries?status=succeeded"),
        |b| b["data"].as_array().unwrap().len() == 4,
    )
    .await;
}

async fn redirects_and_hangs_are_failures(s: TestServer) {
    let r = Receiver::start().await;
    let sub = subscribe(&s, &r, json!({"events": ["lead.created"]})).await;
    let sub_id = sub["id"].as_str().unwrap();
    let id = create(&s, &emitter("lead.created")).await;
    r.script([
        Answer::Redirect,
        Answer::Hang(Duration::from_millis(1500)),
        Answer::RetryAfter(429, 1),
    ]);
    execute(&s, &id, json!({"phoneNumber": "5511999990001"})).await;
    let list = until(
        &s,
        &format!("/api/subscriptions/{sub_id}/deliveries"),
        |b| b["data"][0]["status"] == "succeeded",
    )
    .await;
    let one = get(
        &s,
        &format!(
            "/api/deliveries/{}",
            list["data"][0]["id"].as_str().unwrap()
        ),
    )
    .await;
    let log = one["log"].as_array().unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0]["status"], 302);
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{log:?}"
    );
    assert!(log[1]["status"].is_null());
    assert!(
        log[1]["error"]
            .as_str()
            .unwrap()
            .contains("no response within 1000 ms"),
        "{log:?}"
    );
    assert_eq!(log[2]["status"], 429);
    assert_eq!(log[3]["status"], 200);
    // Retry-After: 1 s lengthened the 300 ms wait (capped at the longest wait, 300 ms here).
    assert_eq!(r.landed(), 0, "a redirect is never followed");
}

async fn failing_endpoints_are_disabled(s: TestServer) {
    let watcher = Receiver::start().await;
    subscribe(&s, &watcher, json!({"events": ["subscription.disabled"]})).await;
    let r = Receiver::start().await;
    let sub = subscribe(&s, &r, json!({"events": ["lead.created"]})).await;
    let sub_id = sub["id"].as_str().unwrap();
    let id = create(&s, &emitter("lead.created")).await;
    r.script((0..20).map(|_| Answer::Status(500)));
    execute(&s, &id, json!({"phoneNumber": "5511999990001"})).await;
    let disabled = watcher
        .wait_for("subscription.disabled", |d| !d.is_empty())
        .await;
    assert_eq!(disabled[0].body["data"]["id"], sub_id);
    assert_eq!(disabled[0].body["data"]["active"], false);
    assert!(
        disabled[0].body["data"]["disabledReason"]
            .as_str()
            .unwrap()
            .contains("every attempt has failed since")
    );
    let view = get(&s, &format!("/api/subscriptions/{sub_id}")).await;
    assert_eq!(view["active"], false);
    assert!(view["disabledAt"].is_string());
    // Nothing goes to a disabled subscription; retrying is refused until it is on again.
    let list = get(&s, &format!("/api/subscriptions/{sub_id}/deliveries")).await;
    let delivery = list["data"][0]["id"].as_str().unwrap();
    let (status, body) =
        send(s.admin(Method::POST, &format!("/api/deliveries/{delivery}/retry"))).await;
    assert_eq!(status, 409, "{body}");
    let (status, on) = send(
        s.admin(Method::PATCH, &format!("/api/subscriptions/{sub_id}"))
            .json(&json!({"active": true})),
    )
    .await;
    assert_eq!(status, 200, "{on}");
    assert!(
        on["disabledAt"].is_null() && on["failingSince"].is_null(),
        "{on}"
    );

    // 410 Gone disables at once.
    let gone = Receiver::start().await;
    let sub = subscribe(&s, &gone, json!({"events": ["lead.created"]})).await;
    gone.script([Answer::Status(410)]);
    execute(&s, &id, json!({"phoneNumber": "5511999990002"})).await;
    let disabled = watcher
        .wait_for("the second subscription.disabled", |d| d.len() >= 2)
        .await;
    let last = disabled
        .iter()
        .find(|d| d.body["data"]["id"] == sub["id"])
        .expect("disabled after 410");
    assert_eq!(
        last.body["data"]["disabledReason"],
        "the endpoint answered 410 Gone"
    );
    assert_eq!(gone.deliveries().len(), 1, "no retry after 410");
}

async fn bad_input_is_refused_with_pointers(s: TestServer) {
    let post = |body: Value| send(s.admin(Method::POST, "/api/subscriptions").json(&body));
    let (status, body) = post(json!({"url": "not a url", "events": ["*"]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["details"][0]["pointer"], "/url");
    let (status, body) = post(json!({"url": "http://10.1.2.3/hook", "events": ["*"]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["pointer"], "/url");
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("blocked"),
        "{body}"
    );
    let (status, body) = post(json!({"url": "ftp://127.0.0.1/x", "events": ["*"]})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        json!({"url": "http://127.0.0.1:9/hook", "events": "run.completed", "ordered": "yes"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["/events", "/ordered"], "{body}");
    let (status, body) = post(json!({"url": "http://127.0.0.1:9/hook", "events": ["run.completed", "bad name!", 3], "secret": "whsec_short"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        pointers(&body),
        ["/events/1", "/events/2", "/secret"],
        "{body}"
    );
    let (status, body) = post(json!({"events": ["*"]})).await;
    assert_eq!(status, 400, "{body}");
    // Unknown names are kept, with a warning listing the catalogue.
    let (status, body) = post(json!({"url": "http://127.0.0.1:9/hook", "events": ["run.complete", "run.*"], "colour": "red"})).await;
    assert_eq!(status, 201, "{body}");
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{body}");
    let unknown = warnings
        .iter()
        .find(|w| w["pointer"] == "/events/0")
        .unwrap();
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("run.completed"),
        "{unknown}"
    );
    assert!(warnings.iter().any(|w| w["pointer"] == "/colour"));
    let sub_id = body["id"].as_str().unwrap();
    // A GET → PUT round trip changes nothing (the secret stays).
    let view = get(&s, &format!("/api/subscriptions/{sub_id}")).await;
    let (status, put) = send(
        s.admin(Method::PUT, &format!("/api/subscriptions/{sub_id}"))
            .json(&view),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["events"], view["events"]);
    let (status, body) = send(
        s.admin(
            Method::POST,
            &format!("/api/subscriptions/{sub_id}/recover"),
        )
        .json(&json!({"until": "yesterday"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["", "/until"], "{body}");
    let (status, _) = send(s.admin(
        Method::GET,
        &format!("/api/subscriptions/{sub_id}/deliveries?status=lost"),
    ))
    .await;
    assert_eq!(status, 400);
    let (status, body) =
        send(s.admin(Method::DELETE, &format!("/api/subscriptions/{sub_id}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], true);
    let (status, _) = send(s.admin(Method::GET, &format!("/api/subscriptions/{sub_id}"))).await;
    assert_eq!(status, 404);
    // An emit_event step with a bad event name is refused when saved.
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .json(&emitter("no spaces allowed")),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["details"][0]["pointer"],
        "/steps/0/config/event"
    );
}
