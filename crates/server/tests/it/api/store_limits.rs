//! A store's own limits (`PATCH /api/stores/{id}`): set by the admin, shown beside those in
//! force, enforced in place of the server's settings and named in errors, cleared with `null`;
//! and the ceiling of runs a node executes at once for a store.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

both_backends!(
    the_admin_sets_a_store_s_own_limits,
    a_store_has_at_most_its_runs_in_flight
);

/// A new store: its id and token.
pub async fn new_store(s: &TestServer, name: &str) -> (String, String) {
    let (status, body) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": name})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

pub async fn patch(s: &TestServer, id: &str, body: Value) -> (u16, Value) {
    send(
        s.as_token(ADMIN, Method::PATCH, &format!("/api/stores/{id}"))
            .json(&body),
    )
    .await
}

async fn the_admin_sets_a_store_s_own_limits(s: TestServer) {
    let (id, token) = new_store(&s, "limited").await;
    let (_, shown) = send(s.as_token(ADMIN, Method::GET, &format!("/api/stores/{id}"))).await;
    assert_eq!(shown["limits"], json!({}), "{shown}");
    assert_eq!(shown["effectiveLimits"]["eventRate"], 50000, "{shown}");

    let (status, body) = patch(
        &s,
        &id,
        json!({"limits": {"eventRate": 3, "maxWorkflows": 7}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"], json!({"eventRate": 3, "maxWorkflows": 7}));
    assert_eq!(body["effectiveLimits"]["eventRate"], 3);
    assert_eq!(body["effectiveLimits"]["apiRate"], 5000);

    // The store's own rate holds at once, and the error names it.
    let event = json!({"eventType": "nobody.listens"});
    let mut refused = None;
    for _ in 0..6 {
        let (status, body) =
            send(s.as_token(&token, Method::POST, "/api/events").json(&event)).await;
        if status == 429 {
            refused = Some(body);
        }
    }
    let refused = refused.expect("the fourth event of a second is refused");
    assert_eq!(
        refused["error"]["details"],
        json!({"name": "event_rate", "value": 3, "setting": "limits.eventRate"})
    );

    // A merge patch: a field left out is kept, `null` gives back the server's setting.
    let (status, body) = patch(&s, &id, json!({"limits": {"eventRate": null}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"], json!({"maxWorkflows": 7}));
    let (status, _) = send(s.as_token(&token, Method::POST, "/api/events").json(&event)).await;
    assert_eq!(status, 202);

    // Bad values are refused at their field, and nothing changes.
    let (status, body) = patch(
        &s,
        &id,
        json!({"limits": {"apiRate": 0, "maxWorkflows": 9}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["/limits/apiRate"], "{body}");
    let (status, body) = patch(&s, &id, json!({"limits": {"eventRates": 9}})).await;
    assert_eq!(status, 400, "{body}");
    let (_, shown) = send(s.as_token(ADMIN, Method::GET, &format!("/api/stores/{id}"))).await;
    assert_eq!(shown["limits"], json!({"maxWorkflows": 7}), "{shown}");

    // Only the admin changes limits; an unknown store is 404.
    let (status, _) = send(
        s.as_token(&token, Method::PATCH, &format!("/api/stores/{id}"))
            .json(&json!({"limits": {"eventRate": 100000}})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = patch(&s, "st_nope", json!({"limits": {}})).await;
    assert_eq!(status, 404);
}

async fn a_store_has_at_most_its_runs_in_flight(s: TestServer) {
    let (id, token) = new_store(&s, "busy").await;
    let (status, body) = patch(&s, &id, json!({"limits": {"maxRunsInFlight": 2}})).await;
    assert_eq!(status, 200, "{body}");
    let slow = json!({"name": "slow", "trigger": {"type": "webhook", "eventType": "slow"},
        "steps": [{"id": "spin", "type": "custom_code", "config": {"timeoutMs": 5000,
            "code": "const t = Date.now(); while (Date.now() - t < 1500) {} return 1;"}}]});
    let (status, body) = send(
        s.as_token(&token, Method::POST, "/api/workflows")
            .json(&slow),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let post = || async {
        send(
            s.as_token(&token, Method::POST, "/api/events")
                .json(&json!({"eventType": "slow"})),
        )
        .await
    };
    let keyed = |n: u32| {
        let token = &token;
        let s = &s;
        async move {
            send(
                s.as_token(token, Method::POST, "/api/events")
                    .header("Idempotency-Key", "second")
                    .json(&json!({"eventType": "slow", "n": n})),
            )
            .await
        }
    };
    let mut runs = Vec::new();
    let (status, first) = post().await;
    assert_eq!(status, 202, "{first}");
    runs.push(first["runIds"][0].as_str().unwrap().to_owned());
    let (status, second) = keyed(1).await;
    assert_eq!(status, 202, "{second}");
    runs.push(second["runIds"][0].as_str().unwrap().to_owned());
    let (status, body) = post().await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["details"],
        json!({"name": "max_runs_in_flight", "value": 2, "setting": "limits.maxRunsInFlight"})
    );
    // A repeat of an accepted event still gets its first answer at the ceiling; another request
    // under the same key is still refused.
    let (status, body) = keyed(1).await;
    assert_eq!((status, &body), (200, &second));
    let (status, body) = keyed(2).await;
    assert_eq!(status, 409, "{body}");
    assert_ne!(
        body["error"]["details"]["name"], "max_runs_in_flight",
        "{body}"
    );
    // Another store is not held back.
    let (status, body) = send(
        s.admin(Method::POST, "/api/events")
            .json(&json!({"eventType": "slow"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    // Once its runs ended, the store starts runs again.
    for run in &runs {
        let mut tries = 0;
        loop {
            let (_, r) = send(s.as_token(&token, Method::GET, &format!("/api/runs/{run}"))).await;
            if r["status"] == "completed" {
                break;
            }
            tries += 1;
            assert!(tries < 300, "run {run} did not complete: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (status, body) = post().await;
    assert_eq!(status, 202, "{body}");
}
