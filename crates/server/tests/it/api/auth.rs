use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

both_backends!(
    tokens_are_required,
    admin_must_name_a_store,
    store_tokens_act_on_their_own_store_only,
    revoked_tokens_stop_working
);

async fn tokens_are_required(s: TestServer) {
    let (status, body) = send(s.client.get(s.url("/api/workflows"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = send(s.as_token("sbs_wrong", Method::GET, "/api/workflows")).await;
    assert_eq!(status, 401);
    let (status, _) = send(
        s.client
            .get(s.url("/api/workflows"))
            .header("Authorization", "Basic abc"),
    )
    .await;
    assert_eq!(status, 401);
}

async fn admin_must_name_a_store(s: TestServer) {
    let (status, body) = send(s.as_token(ADMIN, Method::GET, "/api/workflows")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("store_required"))
    );
    let (status, body) = send(
        s.as_token(ADMIN, Method::GET, "/api/workflows")
            .header("StoreId", "st_missing"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = send(s.admin(Method::GET, "/api/workflows")).await;
    assert_eq!(
        (status, body),
        (200, json!({"data": [], "nextCursor": null}))
    );
}

async fn store_tokens_act_on_their_own_store_only(s: TestServer) {
    let (_, a) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "Alpha"})),
    )
    .await;
    let (_, b) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "Beta"})),
    )
    .await;
    let (ta, tb) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());
    let wf = fixture("abandoned_cart.json");
    let (status, created) = send(s.as_token(ta, Method::POST, "/api/workflows").json(&wf)).await;
    assert_eq!(status, 201);
    let path = format!("/api/workflows/{}", created["id"].as_str().unwrap());

    // Its own store, with or without naming it.
    assert_eq!(send(s.as_token(ta, Method::GET, &path)).await.0, 200);
    assert_eq!(
        send(
            s.as_token(ta, Method::GET, &path)
                .header("StoreId", a["id"].as_str().unwrap())
        )
        .await
        .0,
        200
    );
    // Naming another store: forbidden. Another store's resource: not found, never revealed.
    let (status, body) = send(
        s.as_token(ta, Method::GET, &path)
            .header("StoreId", b["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(send(s.as_token(tb, method, &path)).await.0, 404);
    }
    assert_eq!(
        send(
            s.as_token(tb, Method::PATCH, &path)
                .json(&json!({"active": false}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        send(s.as_token(tb, Method::PUT, &path).json(&wf)).await.0,
        404
    );
    assert_eq!(
        send(s.as_token(tb, Method::GET, &format!("{path}/versions")))
            .await
            .0,
        404
    );
    let (_, list) = send(s.as_token(tb, Method::GET, "/api/workflows")).await;
    assert_eq!(list["data"], json!([]));
    // The admin sees it when naming the store; store tokens cannot manage stores.
    assert_eq!(
        send(
            s.as_token(ADMIN, Method::GET, &path)
                .header("StoreId", a["id"].as_str().unwrap())
        )
        .await
        .0,
        200
    );
    let (status, body) = send(s.as_token(ta, Method::GET, "/api/stores")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
}

async fn revoked_tokens_stop_working(s: TestServer) {
    let (_, store) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "Gamma"})),
    )
    .await;
    let id = store["id"].as_str().unwrap();
    let (status, extra) = send(
        s.as_token(ADMIN, Method::POST, &format!("/api/stores/{id}/tokens"))
            .json(&json!({"name": "ci"})),
    )
    .await;
    assert_eq!((status, extra["name"].as_str()), (201, Some("ci")));
    let token = extra["token"].as_str().unwrap();
    assert_eq!(
        send(s.as_token(token, Method::GET, "/api/workflows"))
            .await
            .0,
        200
    );
    // Listed without their secrets (the first token, made with the store, and this one).
    let (status, listed) =
        send(s.as_token(ADMIN, Method::GET, &format!("/api/stores/{id}/tokens"))).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    assert!(
        names.contains(&&json!("ci")) && names.len() == 2,
        "{listed}"
    );
    assert!(!listed.to_string().contains(token), "no secret in {listed}");
    assert_eq!(
        send(s.as_token(token, Method::GET, &format!("/api/stores/{id}/tokens")))
            .await
            .0,
        403,
        "the admin's"
    );
    let delete = format!("/api/stores/{id}/tokens/{}", extra["id"].as_str().unwrap());
    assert_eq!(
        send(s.as_token(ADMIN, Method::DELETE, &delete)).await,
        (200, json!({"id": extra["id"], "deleted": true}))
    );
    assert_eq!(
        send(s.as_token(token, Method::GET, "/api/workflows"))
            .await
            .0,
        401
    );
    assert_eq!(
        send(s.as_token(ADMIN, Method::DELETE, &delete)).await.0,
        404
    );
    // The store's first token still works.
    assert_eq!(
        send(s.as_token(
            store["token"].as_str().unwrap(),
            Method::GET,
            "/api/workflows"
        ))
        .await
        .0,
        200
    );
}
