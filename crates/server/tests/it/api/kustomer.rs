//! Kustomer graphs end to end (docs/workflows.md): trigger transitions that start a run or not,
//! `/#steps.<id>.<path>` references (`steps.1` is the trigger), step transitions tried in order,
//! and `errorCases` that recover from a failed step with a condition on `error`.

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, run_of, step};
use crate::harness::*;
use crate::target::Target;

const LOOPBACK: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
];

both_backends_with!(LOOPBACK; graphs_branch_refer_and_recover);

fn action(id: &str, params: Value, transitions: Value, error_cases: Value) -> Value {
    json!({"id": id, "action": "kustomer.rest-api.json", "params": params,
        "transitions": transitions, "errorCases": error_cases, "appVersion": "kustomer-^1.4.8"})
}

async fn graphs_branch_refer_and_recover(s: TestServer) {
    let t = Target::start().await;
    let always = json!({"op": "true", "values": [true]});
    let graph = json!({
        "name": "kustomer graph",
        "trigger": {"eventName": "kustomer.conversation.create", "id": "1", "transitions": [
            {"target": "lookup", "condition": {"op": "and", "values": [
                {"op": "exists", "values": ["/#steps.1.customer.email"]},
                {"op": "not_contains", "values": ["/#steps.1.tags", "spam"]}]}}]},
        "steps": [
            action("lookup",
                json!({"uri": t.url("/promo"), "method": "POST", "json": true,
                    "body": {"email": "/#steps.1.customer.email", "first": "/#steps.1.items.0.sku"}}),
                json!([
                    {"target": "big", "condition": {"op": "gte", "values": ["/#steps.lookup.body.percent", 15]}},
                    {"target": "small", "condition": always}]),
                json!([])),
            action("big", json!({"uri": t.url("/status/404"), "method": "GET"}), json!([]),
                json!([{"target": "recovered", "condition": {"op": "eq", "values": ["{{error.status}}", 404]}}])),
            action("small", json!({"uri": t.url("/echo/small"), "method": "POST"}), json!([]), json!([])),
            action("recovered",
                json!({"uri": t.url("/echo/recovered"), "method": "POST", "json": true,
                    "body": {"code": "/#steps.lookup.body.promocode", "note": "code /#steps.lookup.body.promocode for /#steps.1.customer.email"}}),
                json!([]), json!([])),
        ]
    });
    let id = create(&s, &graph).await;
    let stored: Value = send(s.admin(Method::GET, &format!("/api/workflows/{id}")))
        .await
        .1;
    assert_eq!(stored["format"], "kustomer");

    let event = json!({"eventType": "kustomer.conversation.create", "customer": {"email": "ana@example.com"},
        "tags": ["vip"], "items": [{"sku": "A-1"}, {"sku": "B-2"}]});
    let run = run_of(&s, event).await;
    assert_eq!(run["status"], "completed", "{run}");
    let visited: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stepId"].as_str().unwrap())
        .collect();
    assert_eq!(
        visited,
        ["lookup", "big", "recovered"],
        "percent 15 ≥ 15 → big; its 404 → recovered"
    );
    assert_eq!(step(&run, "big")["error"]["status"], 404);
    let sent: Value = serde_json::from_str(&t.received("/promo")[0].body).unwrap();
    assert_eq!(sent, json!({"email": "ana@example.com", "first": "A-1"}));
    let sent: Value = serde_json::from_str(&t.received("/echo/recovered")[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"code": "X1", "note": "code X1 for ana@example.com"})
    );
    assert!(t.received("/echo/small").is_empty());

    // The trigger's transition does not hold: the event is recorded, no run is created.
    let (status, body) = send(s.admin(Method::POST, "/api/events").json(&json!({
        "eventType": "kustomer.conversation.create", "customer": {"email": "x@example.com"}, "tags": ["spam"]
    })))
    .await;
    assert_eq!((status, &body["runIds"]), (202, &json!([])), "{body}");
}
