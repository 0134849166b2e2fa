//! Outbound HTTP end to end: connectors, saved webhooks, the webhook step against a local target
//! that records what arrives, and the guard.

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, run_of, step};
use crate::harness::*;
use crate::target::{Target, flaky};

/// Loopback is the only network tests use: exempt it from the guard and allow plain HTTP.
const LOOPBACK: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ("SWITCHBOARD_TIME_SCALE", "1000"),
];

mod both {
    use super::*;
    both_backends_with!(LOOPBACK;
        connectors_keep_secrets_write_only,
        webhook_steps_send_what_their_templates_say
    );
}

mod sqlite_only {
    use super::*;

    async fn sqlite() -> TestServer {
        TestServer::start_with(Backend::Sqlite, LOOPBACK).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_webhooks_soft_delete_restore_and_test_send() {
        super::saved_webhooks_soft_delete_restore_and_test_send(sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_time_out_retry_and_are_cut() {
        super::failures_time_out_retry_and_are_cut(sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kustomer_rest_api_action_calls_out() {
        super::kustomer_rest_api_action_calls_out(sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_guard_refuses_loopback_without_the_allow_list() {
        let s = TestServer::start_with(
            Backend::Sqlite,
            &[("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true")],
        )
        .await;
        super::the_guard_refuses_loopback_without_the_allow_list(s).await;
    }
}

async fn post(s: &TestServer, path: &str, body: Value) -> Value {
    let (status, out) = send(s.admin(Method::POST, path).json(&body)).await;
    assert_eq!(status, 201, "{path}: {out}");
    out
}

fn pointers(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|d| d["pointer"].as_str().unwrap().to_owned())
        .collect()
}

async fn connectors_keep_secrets_write_only(s: TestServer) {
    let created = post(
        &s,
        "/api/connectors",
        json!({"name": "crm", "type": "basic", "username": "ana", "password": "s3cret"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("con_"));
    assert_eq!(created["password"], "***");
    let (_, shown) = send(s.admin(Method::GET, &format!("/api/connectors/{id}"))).await;
    assert_eq!(shown["password"], "***");
    assert_eq!(shown["username"], "ana");
    assert!(!shown.to_string().contains("s3cret"));

    // GET → PUT changes nothing; PATCH merges.
    let (status, put) = send(
        s.admin(Method::PUT, &format!("/api/connectors/{id}"))
            .json(&shown),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    let (status, patched) = send(
        s.admin(Method::PATCH, &format!("/api/connectors/{id}"))
            .json(&json!({"username": "bia"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["username"].as_str(), patched["password"].as_str()),
        (Some("bia"), Some("***"))
    );

    // Every problem at its pointer; a duplicate name is a conflict.
    let (status, bad) = send(
        s.admin(Method::POST, "/api/connectors")
            .json(&json!({"name": "k", "type": "api_key", "key": {"in": "cookie"}})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(pointers(&bad), ["/key", "/key/in", "/key"]);
    let (status, dup) = send(
        s.admin(Method::POST, "/api/connectors")
            .json(&json!({"name": "crm", "type": "bearer", "token": "t"})),
    )
    .await;
    assert_eq!(status, 409, "{dup}");

    // A connector in use cannot be deleted; once unused it can, for good.
    let hook = post(
        &s,
        "/api/webhooks",
        json!({"name": "uses crm", "url": "https://example.com/x", "connectorId": id}),
    )
    .await;
    let (status, refused) = send(s.admin(Method::DELETE, &format!("/api/connectors/{id}"))).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uses crm")
    );
    let (status, _) = send(s.admin(
        Method::DELETE,
        &format!("/api/webhooks/{}", hook["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(s.admin(Method::DELETE, &format!("/api/connectors/{id}"))).await;
    assert_eq!(status, 200);
    let (status, _) = send(s.admin(Method::GET, &format!("/api/connectors/{id}"))).await;
    assert_eq!(status, 404);

    // Another store never sees it.
    let other = post(
        &s,
        "/api/connectors",
        json!({"name": "mine", "type": "bearer", "token": "t"}),
    )
    .await;
    let (status, store) = send(
        s.admin(Method::POST, "/api/stores")
            .json(&json!({"name": "other"})),
    )
    .await;
    assert_eq!(status, 201, "{store}");
    let (status, _) = send(
        s.as_token(
            ADMIN,
            Method::GET,
            &format!("/api/connectors/{}", other["id"].as_str().unwrap()),
        )
        .header("StoreId", store["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 404);
}

async fn webhook_steps_send_what_their_templates_say(s: TestServer) {
    let t = Target::start().await;
    let basic = post(
        &s,
        "/api/connectors",
        json!({"name": "basic", "type": "basic", "username": "ana", "password": "p4ss"}),
    )
    .await;
    let bearer = post(
        &s,
        "/api/connectors",
        json!({"name": "bearer", "type": "bearer", "token": "tok-123"}),
    )
    .await;
    let query_key = post(&s, "/api/connectors", json!({"name": "qkey", "type": "api_key", "key": {"name": "api_key", "value": "k-999", "in": "query"}})).await;
    let header_key = post(
        &s,
        "/api/connectors",
        json!({"name": "hkey", "type": "api_key", "key": {"name": "X-Api-Key", "value": "h-777"}}),
    )
    .await;
    let saved = post(
        &s,
        "/api/webhooks",
        json!({
            "name": "crm.lookup", "method": "GET", "url": t.url("/echo/saved"),
            "headers": {"x-store": "{{store.id}}", "x-who": "{{params.who}}"},
            "connectorId": header_key["id"]
        }),
    )
    .await;
    let wf = json!({
        "name": "outbound", "trigger": {"type": "webhook", "eventType": "lead"},
        "steps": [
            {"id": "json", "type": "webhook", "outputVar": "promo", "config": {
                "method": "POST", "url": t.base.clone() + "/{{trigger.path}}",
                "params": {"email": "{{trigger.email}}", "n": "{{trigger.n}}"},
                "connectorId": basic["id"],
                "body": {"format": "json", "content": {"email": "{{trigger.email}}", "items": "{{trigger.items}}"}}}},
            {"id": "use", "type": "store_context_data", "config": {"data": {"code": "{{variables.promo.body.promocode}}", "status": "{{variables.promo.status}}"}}},
            {"id": "xml", "type": "webhook", "outputVar": "x", "config": {
                "method": "PUT", "url": t.url("/xml"), "paramsInHeaders": true, "params": {"X-Lead": "{{trigger.email}}"},
                "connectorId": bearer["id"],
                "body": {"format": "xml", "content": "<lead><name>{{trigger.name}}</name></lead>"}}},
            {"id": "form", "type": "webhook", "config": {
                "method": "PATCH", "url": t.url("/echo/form"), "connectorId": query_key["id"],
                "body": {"format": "form", "content": {"name": "{{trigger.name}}", "n": "{{trigger.n}}"}}}},
            {"id": "text", "type": "webhook", "config": {
                "method": "DELETE", "url": t.url("/echo/text"), "body": {"format": "text", "content": "bye {{trigger.name}}"}}},
            {"id": "byname", "type": "webhook", "config": {"webhook": "crm.lookup", "params": {"who": "{{trigger.name}}", "page": 2}}},
            {"id": "byid", "type": "webhook", "config": {"webhookId": saved["id"]}}
        ]
    });
    create(&s, &wf).await;
    let run = run_of(&s, json!({"eventType": "lead", "path": "promo", "email": "a@b.co", "n": 3, "name": "Ana & <Bo>", "items": [1, 2]})).await;
    assert_eq!(run["status"], "completed", "{run}");
    let run_id = run["id"].as_str().unwrap();

    // JSON body, templated URL, params in the query, Basic auth, idempotency key.
    let got = &t.received("/promo")[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.uri, "/promo?email=a%40b.co&n=3");
    assert_eq!(got.header("authorization"), Some("Basic YW5hOnA0c3M="));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&got.body).unwrap(),
        json!({"email": "a@b.co", "items": [1, 2]})
    );
    assert_eq!(
        got.header("idempotency-key"),
        Some(format!("{run_id}:json:1").as_str())
    );
    // The response is reused by a later step.
    assert_eq!(
        step(&run, "use")["output"],
        json!({"code": "X1", "status": 200})
    );

    // XML body (values escaped), params as headers, Bearer auth; XML response mapped to JSON.
    let got = &t.received("/xml")[0];
    assert_eq!(got.method, "PUT");
    assert_eq!(got.body, "<lead><name>Ana &amp; &lt;Bo&gt;</name></lead>");
    assert_eq!(
        got.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    assert_eq!(got.header("x-lead"), Some("a@b.co"));
    assert_eq!(got.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(
        step(&run, "xml")["output"]["body"],
        json!({"r": {"code": "XY", "item": ["a", "b"]}})
    );

    // Form body with an API key in the query; a text body.
    let got = &t.received("/echo/form")[0];
    assert_eq!(
        (got.method.as_str(), got.uri.as_str()),
        ("PATCH", "/echo/form?api_key=k-999")
    );
    assert_eq!(got.body, "name=Ana+%26+%3CBo%3E&n=3");
    assert_eq!(
        got.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let got = &t.received("/echo/text")[0];
    assert_eq!(
        (got.method.as_str(), got.body.as_str()),
        ("DELETE", "bye Ana & <Bo>")
    );
    assert_eq!(
        got.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // Saved webhooks by name (caller params in scope and, for GET, in the query) and by id.
    let saved_calls = t.received("/echo/saved");
    assert_eq!(saved_calls.len(), 2);
    assert_eq!(
        saved_calls[0].uri,
        "/echo/saved?who=Ana+%26+%3CBo%3E&page=2"
    );
    assert_eq!(saved_calls[0].header("x-who"), Some("Ana & <Bo>"));
    assert_eq!(saved_calls[0].header("x-api-key"), Some("h-777"));
    assert_eq!(saved_calls[1].uri, "/echo/saved");
    assert!(saved_calls[1].header("x-store").unwrap().starts_with("st_"));

    // History keeps the exchange, with every secret masked.
    let http = &step(&run, "json")["http"];
    assert_eq!(http["request"]["headers"]["authorization"], "***");
    assert_eq!(http["response"]["status"], 200);
    assert_eq!(
        step(&run, "form")["http"]["request"]["url"],
        t.url("/echo/form?api_key=***")
    );
    assert_eq!(
        step(&run, "byname")["http"]["request"]["headers"]["x-api-key"],
        "***"
    );
    let history = run.to_string();
    for secret in ["p4ss", "YW5hOnA0c3M", "tok-123", "k-999", "h-777"] {
        assert!(!history.contains(secret), "{secret} leaked into {history}");
    }

    // Saving refuses an invalid URL, an unknown connector and an unknown saved webhook in one
    // pass, each at its pointer.
    let (status, bad) = send(s.admin(Method::POST, "/api/workflows").json(&json!({
        "name": "bad", "trigger": {"type": "webhook", "eventType": "x"},
        "steps": [
            {"id": "a", "type": "webhook", "config": {"url": "not a url"}},
            {"id": "b", "type": "webhook", "config": {"url": "https://example.com", "connectorId": "con_nope"}},
            {"id": "c", "type": "webhook", "config": {"webhook": "no.such.hook"}}
        ]}))).await;
    assert_eq!(status, 400, "{bad}");
    let expected = [
        "/steps/0/config/url",
        "/steps/1/config/connectorId",
        "/steps/2/config/webhook",
    ];
    assert_eq!(pointers(&bad), expected);
}

async fn saved_webhooks_soft_delete_restore_and_test_send(s: TestServer) {
    let t = Target::start().await;
    let key = post(
        &s,
        "/api/connectors",
        json!({"name": "k", "type": "bearer", "token": "tok-secret"}),
    )
    .await;
    let hook = post(&s, "/api/webhooks", json!({
        "name": "promo", "description": "fetches a promo code", "method": "POST", "url": t.url("/promo"),
        "connectorId": key["id"], "body": {"format": "json", "content": {"email": "{{trigger.email}}", "vip": "{{state.vip}}"}},
        "extra": 1
    })).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"));
    assert_eq!(hook["warnings"][0]["pointer"], "/extra");

    // Bad input, each problem at its pointer.
    let (status, bad) = send(s.admin(Method::POST, "/api/webhooks").json(&json!({
        "name": "bad", "method": "TRACE", "url": "ftp://x", "connectorId": "con_missing", "body": {"format": "yaml"}
    }))).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(pointers(&bad), ["/method", "/url", "/body/format"], "{bad}");
    let (status, bad) =
        send(s.admin(Method::POST, "/api/webhooks").json(
            &json!({"name": "bad", "url": "https://x.example", "connectorId": "con_missing"}),
        ))
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(pointers(&bad), ["/connectorId"]);
    // JavaScript is checked when saved (on a JS thread), at its pointer.
    let (status, bad) = send(s.admin(Method::POST, "/api/webhooks").json(&json!(
        {"name": "bad", "url": "https://x.example", "headers": {"X-Sum": "{{ trigger.a + }}"}}
    )))
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(pointers(&bad), ["/headers/X-Sum"], "{bad}");

    // Test-send: the real request from sample data, secrets masked in the echo.
    send(
        s.admin(Method::PATCH, "/api/conversations/+55 11 99999-0000")
            .json(&json!({"state": {"vip": true}})),
    )
    .await;
    let (status, test) = send(
        s.admin(Method::POST, &format!("/api/webhooks/{id}/test"))
            .json(&json!({
                "trigger": {"email": "t@e.st"}, "phoneNumber": "+55 11 99999-0000"
            })),
    )
    .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["request"]["headers"]["authorization"], "***");
    assert_eq!(test["response"]["status"], 200);
    assert_eq!(test["output"]["body"]["promocode"], "X1");
    assert!(test["durationMs"].is_u64());
    let got = &t.received("/promo")[0];
    assert_eq!(got.header("authorization"), Some("Bearer tok-secret"));
    assert_eq!(
        serde_json::from_str::<Value>(&got.body).unwrap(),
        json!({"email": "t@e.st", "vip": true})
    );
    assert!(!test.to_string().contains("tok-secret"));

    // Soft delete: gone from the list and from steps, listed as deleted, restorable.
    let (status, _) = send(s.admin(Method::DELETE, &format!("/api/webhooks/{id}"))).await;
    assert_eq!(status, 200);
    let (_, live) = send(s.admin(Method::GET, "/api/webhooks")).await;
    assert_eq!(live["data"].as_array().unwrap().len(), 0);
    let (_, deleted) = send(s.admin(Method::GET, "/api/webhooks?deleted=true")).await;
    assert_eq!(deleted["data"][0]["id"], id.as_str());
    assert!(deleted["data"][0]["deletedAt"].is_string());
    let (status, _) = send(s.admin(Method::POST, &format!("/api/webhooks/{id}/test"))).await;
    assert_eq!(status, 404);
    let (status, restored) =
        send(s.admin(Method::POST, &format!("/api/webhooks/{id}/restore"))).await;
    assert_eq!(status, 200, "{restored}");
    assert!(restored.get("deletedAt").is_none());
    let (_, live) = send(s.admin(Method::GET, "/api/webhooks")).await;
    assert_eq!(live["data"][0]["description"], "fetches a promo code");
}

async fn failures_time_out_retry_and_are_cut(s: TestServer) {
    let t = Target::start().await;
    let (flaky_base, connections) = flaky(1).await;
    let wf = |name: &str, event: &str, config: Value, extra: Value| {
        let mut step = json!({"id": "call", "type": "webhook", "config": config});
        if let (Value::Object(step), Value::Object(extra)) = (&mut step, extra) {
            step.extend(extra);
        }
        json!({"name": name, "trigger": {"type": "webhook", "eventType": event}, "steps": [step]})
    };
    create(
        &s,
        &wf(
            "slow",
            "slow",
            json!({"url": t.url("/slow"), "timeoutMs": 200}),
            json!({"retry": {"maxAttempts": 2, "initialMs": 10}}),
        ),
    )
    .await;
    create(
        &s,
        &wf(
            "flaky",
            "flaky",
            json!({"url": flaky_base + "/x"}),
            json!({}),
        ),
    )
    .await;
    create(
        &s,
        &wf(
            "notfound",
            "notfound",
            json!({"url": t.url("/status/404")}),
            json!({}),
        ),
    )
    .await;
    create(
        &s,
        &wf(
            "accepted",
            "accepted",
            json!({"url": t.url("/status/404"), "acceptStatuses": [404]}),
            json!({}),
        ),
    )
    .await;
    create(
        &s,
        &wf(
            "busy",
            "busy",
            json!({"url": t.url("/status/503")}),
            json!({}),
        ),
    )
    .await;
    create(
        &s,
        &wf("big", "big", json!({"url": t.url("/big")}), json!({})),
    )
    .await;

    // A target that hangs: a timeout, retried, then a failed step; never a stuck run.
    let run = run_of(&s, json!({"eventType": "slow"})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["code"], "timeout");
    assert_eq!(step(&run, "call")["attempts"], 2);
    assert_eq!(t.received("/slow").len(), 2);

    // A reset connection is retried (default policy: 3 attempts) and then succeeds.
    let run = run_of(&s, json!({"eventType": "flaky"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step(&run, "call")["output"]["body"],
        json!({"recovered": true})
    );
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);

    // A status outside acceptStatuses is an http_status error with status and body; 4xx is final.
    let run = run_of(&s, json!({"eventType": "notfound"})).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["code"], "http_status");
    assert_eq!(run["error"]["status"], 404);
    assert_eq!(run["error"]["body"], "status 404");
    assert_eq!(step(&run, "call")["attempts"], 1);
    let run = run_of(&s, json!({"eventType": "accepted"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    // 5xx is retried up to the default 3 attempts.
    let run = run_of(&s, json!({"eventType": "busy"})).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(step(&run, "call")["attempts"], 3);
    assert_eq!(t.received("/status/503").len(), 3);

    // A 50 MB response: read up to the limit, kept cut with a marker.
    let run = run_of(&s, json!({"eventType": "big"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    let body = step(&run, "call")["output"]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.ends_with("…[cut: more than 1048576 bytes in all]"),
        "{}",
        &body[body.len() - 50..]
    );
    let recorded = step(&run, "call")["http"]["response"]["body"]
        .as_str()
        .unwrap();
    assert_eq!(
        recorded.len(),
        (16 << 10) + "…[cut: more than 1048576 bytes in all]".len()
    );
}

async fn kustomer_rest_api_action_calls_out(s: TestServer) {
    let t = Target::start().await;
    let graph = json!({
        "name": "kustomer rest",
        "trigger": {"eventName": "kustomer.conversation.create", "id": "1",
            "transitions": [{"target": "call", "condition": {"op": "true", "values": [true]}}]},
        "steps": [{"id": "call", "action": "kustomer.rest-api.json", "transitions": [],
            "params": {"uri": t.url("/echo/kustomer"), "method": "POST", "json": true,
                "headers": {"x-conv": "/#steps.1.id"}, "body": {"conversation": "/#steps.1.id"}}}]
    });
    create(&s, &graph).await;
    let run = run_of(
        &s,
        json!({"eventType": "kustomer.conversation.create", "id": "conv-1"}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let got = &t.received("/echo/kustomer")[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.header("x-conv"), Some("conv-1"));
    assert_eq!(
        serde_json::from_str::<Value>(&got.body).unwrap(),
        json!({"conversation": "conv-1"})
    );
    assert_eq!(step(&run, "call")["output"]["body"], json!({"ok": true}));
}

async fn the_guard_refuses_loopback_without_the_allow_list(s: TestServer) {
    let t = Target::start().await;
    create(
        &s,
        &json!({"name": "guarded", "trigger": {"type": "webhook", "eventType": "g"},
        "steps": [{"id": "call", "type": "webhook", "config": {"url": t.url("/echo/guarded")}}]}),
    )
    .await;
    let run = run_of(&s, json!({"eventType": "g"})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["code"], "destination_blocked");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{run}"
    );
    assert_eq!(
        step(&run, "call")["attempts"],
        1,
        "a refusal is not retried"
    );
    let hook = post(
        &s,
        "/api/webhooks",
        json!({"name": "local", "url": "http://localhost:1/x"}),
    )
    .await;
    let (status, test) = send(s.admin(
        Method::POST,
        &format!("/api/webhooks/{}/test", hook["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["error"]["code"], "destination_blocked");
    assert!(t.received("/").is_empty(), "nothing reached the target");
}
