//! Per-store rates: past its allowance a store is answered `429 rate_limited` with
//! `Retry-After` and which limit it hit, while another store goes on unhindered; events and other
//! API requests have separate allowances. Past its ceiling of workflows a store is answered
//! `409 limit_reached` and nothing is created.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

const RATES: &[(&str, &str)] = &[
    ("SWITCHBOARD_STORE_EVENT_RATE", "5"),
    ("SWITCHBOARD_STORE_API_RATE", "8"),
    ("SWITCHBOARD_STORE_MAX_WORKFLOWS", "2"),
];

both_backends_with!(RATES;
    a_flooding_store_is_limited_and_the_others_are_not,
    a_store_has_at_most_its_ceiling_of_workflows
);

/// Sends `n` requests at once; how many were answered `ok`, how many 429, and one refusal
/// with its `Retry-After`.
async fn burst(
    n: usize,
    ok: u16,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> (usize, usize, Option<(Value, String)>) {
    let sent: Vec<_> = (0..n).map(|_| tokio::spawn(request().send())).collect();
    let mut statuses = Vec::new();
    let mut refusal = None;
    for answer in sent {
        let answer = answer.await.unwrap().unwrap();
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 {
            let retry = answer.headers()["retry-after"].to_str().unwrap().to_owned();
            refusal = Some((answer.json().await.unwrap(), retry));
        }
    }
    let passed = statuses.iter().filter(|s| **s == ok).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(passed + refused, n, "{statuses:?}");
    (passed, refused, refusal)
}

async fn a_flooding_store_is_limited_and_the_others_are_not(s: TestServer) {
    let (status, other) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "other"})),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let other_token = other["token"].as_str().unwrap().to_owned();
    let event = json!({"eventType": "nobody.listens"});

    // Events: five a second are allowed (a second's worth at once); of ten sent at once, the
    // rest are refused but for one that time may have earned meanwhile.
    let (passed, refused, refusal) = burst(10, 202, || {
        s.admin(Method::POST, "/api/events").json(&event)
    })
    .await;
    assert!((5..=6).contains(&passed) && refused >= 4, "{passed} passed");
    let (body, retry_after) = refusal.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(
        body["error"]["details"],
        json!({"name": "event_rate", "value": 5, "setting": "SWITCHBOARD_STORE_EVENT_RATE"})
    );
    assert!(retry_after.parse::<u16>().unwrap() >= 1);

    // The other store's events and the flooding store's other requests are not held back.
    let (passed, _, _) = burst(5, 202, || {
        s.as_token(&other_token, Method::POST, "/api/events")
            .json(&event)
    })
    .await;
    assert_eq!(passed, 5);
    let (passed, refused, refusal) =
        burst(12, 200, || s.admin(Method::GET, "/api/workflows")).await;
    assert!((8..=9).contains(&passed) && refused >= 3, "{passed} passed");
    assert_eq!(refusal.unwrap().0["error"]["details"]["name"], "api_rate");

    // The allowance comes back with time.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = send(s.admin(Method::POST, "/api/events").json(&event)).await;
    assert_eq!(status, 202, "{body}");
}

async fn a_store_has_at_most_its_ceiling_of_workflows(s: TestServer) {
    let a = crate::api::events::create(&s, &crate::api::events::simple("a", "x")).await;
    crate::api::events::create(&s, &crate::api::events::simple("b", "x")).await;
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .json(&crate::api::events::simple("c", "x")),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached");
    assert_eq!(
        body["error"]["details"],
        json!({"name": "max_workflows", "value": 2, "setting": "SWITCHBOARD_STORE_MAX_WORKFLOWS"})
    );
    let (_, list) = send(s.admin(Method::GET, "/api/workflows")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    // A deleted workflow frees its place.
    let (status, _) = send(s.admin(Method::DELETE, &format!("/api/workflows/{a}"))).await;
    assert_eq!(status, 200);
    crate::api::events::create(&s, &crate::api::events::simple("c", "x")).await;
}
