//! Signed ingest: `POST /hooks/{storeId}/{eventType}` with Standard Webhooks headers, checked
//! against the store's inbound secret. The test signs as a third-party sender would.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use super::events::{create, settled, simple};
use crate::harness::*;

both_backends!(
    signed_events_start_runs_once,
    forged_or_stale_signatures_are_refused,
    rotation_keeps_the_previous_secret_for_a_day
);

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">` under the decoded `whsec_` secret.
fn signature(secret: &str, id: &str, ts: i64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

async fn hook(
    s: &TestServer,
    path: &str,
    id: &str,
    ts: i64,
    sig: &str,
    body: &str,
) -> (u16, Value) {
    send(
        s.client
            .post(s.url(path))
            .header("Content-Type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_owned()),
    )
    .await
}

async fn new_secret(s: &TestServer) -> Value {
    let (status, body) = send(s.admin(Method::POST, "/api/inbound-secret")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn run_count(s: &TestServer) -> usize {
    let (_, runs) = send(s.admin(Method::GET, "/api/runs")).await;
    runs["data"].as_array().unwrap().len()
}

async fn signed_events_start_runs_once(s: TestServer) {
    create(&s, &simple("a", "form.submitted")).await;
    let shown = new_secret(&s).await;
    let secret = shown["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{shown}");
    assert!(
        shown.get("previousValidUntil").is_none(),
        "a first secret replaces nothing"
    );

    let body = r#"{"fullName":"Ana Souza"}"#;
    let ts = now_s();
    let sig = signature(secret, "msg_1", ts, body);
    let (status, first) = hook(
        &s,
        "/hooks/st_default/form.submitted",
        "msg_1",
        ts,
        &sig,
        body,
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let run = settled(&s, first["runIds"][0].as_str().unwrap()).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["trigger"]["eventType"], "form.submitted");
    assert_eq!(
        run["context"]["variables"]["out"],
        json!({"who": "Ana Souza"})
    );

    // A redelivery (same webhook-id, signed anew) repeats the first answer and starts nothing.
    let ts = now_s() + 1;
    let sig = signature(secret, "msg_1", ts, body);
    let (status, again) = hook(
        &s,
        "/hooks/st_default/form.submitted",
        "msg_1",
        ts,
        &sig,
        body,
    )
    .await;
    assert_eq!((status, &again), (200, &first));
    assert_eq!(run_count(&s).await, 1);
}

async fn forged_or_stale_signatures_are_refused(s: TestServer) {
    create(&s, &simple("a", "form.submitted")).await;
    let path = "/hooks/st_default/form.submitted";
    let body = r#"{"fullName":"Ana"}"#;
    let ts = now_s();

    // No secret yet: nothing verifies.
    let (status, err) = hook(&s, path, "m", ts, "v1,AAAA", body).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{err}"
    );

    let secret = new_secret(&s).await["secret"].as_str().unwrap().to_owned();
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let cases = [
        (
            "forged",
            signature(other, "m", ts, body),
            ts,
            body,
            "no webhook-signature matches",
        ),
        (
            "body changed",
            signature(&secret, "m", ts, body),
            ts,
            r#"{"fullName":"Eve"}"#,
            "no webhook-signature matches",
        ),
        (
            "stale",
            signature(&secret, "m", ts - 600, body),
            ts - 600,
            body,
            "more than 5 minutes old",
        ),
        (
            "future",
            signature(&secret, "m", ts + 600, body),
            ts + 600,
            body,
            "in the future",
        ),
    ];
    for (what, sig, ts, body, why) in cases {
        let (status, err) = hook(&s, path, "m", ts, &sig, body).await;
        assert_eq!(status, 401, "{what}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(why),
            "{what}: {err}"
        );
    }
    let (status, err) = send(
        s.client
            .post(s.url(path))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webhook-id"),
        "{err}"
    );

    // The right secret on another store's path: that store has none, so the answer is the same 401.
    let (_, store) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "other"})),
    )
    .await;
    let other_path = format!("/hooks/{}/form.submitted", store["id"].as_str().unwrap());
    let sig = signature(&secret, "m", ts, body);
    let (status, _) = hook(&s, &other_path, "m", ts, &sig, body).await;
    assert_eq!(status, 401);
    let (status, _) = hook(&s, "/hooks/st_nope/form.submitted", "m", ts, &sig, body).await;
    assert_eq!(status, 401);
    assert_eq!(run_count(&s).await, 0, "nothing refused was recorded");

    // Signed but malformed: the usual 400.
    let bad = r#"{"eventType":"other"}"#;
    let sig = signature(&secret, "m2", ts, bad);
    let (status, err) = hook(&s, path, "m2", ts, &sig, bad).await;
    assert_eq!(
        (status, err["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/eventType"))
    );
}

async fn rotation_keeps_the_previous_secret_for_a_day(s: TestServer) {
    create(&s, &simple("a", "form.submitted")).await;
    let path = "/hooks/st_default/form.submitted";
    let body = r#"{"fullName":"Ana"}"#;
    let old = new_secret(&s).await["secret"].as_str().unwrap().to_owned();
    let shown = new_secret(&s).await;
    let new = shown["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(shown["previousValidUntil"].is_string(), "{shown}");
    let ts = now_s();
    for (id, secret) in [("m1", old.as_str()), ("m2", new)] {
        let (status, body) = hook(&s, path, id, ts, &signature(secret, id, ts, body), body).await;
        assert_eq!(status, 202, "{id}: {body}");
    }
    // A second rotation retires the first secret at once.
    new_secret(&s).await;
    let (status, _) = hook(&s, path, "m3", ts, &signature(&old, "m3", ts, body), body).await;
    assert_eq!(status, 401);
    let (status, _) = hook(&s, path, "m4", ts, &signature(new, "m4", ts, body), body).await;
    assert_eq!(status, 202);
}
