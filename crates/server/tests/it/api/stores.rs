use reqwest::Method;
use serde_json::json;

use crate::harness::*;

both_backends!(stores_are_created_listed_and_read, store_input_is_checked);

async fn stores_are_created_listed_and_read(s: TestServer) {
    let (status, created) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "Loja Ação"})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(created["id"].as_str().unwrap().starts_with("st_"));
    assert!(created["token"].as_str().unwrap().starts_with("sbs_"));
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));
    let (status, one) = send(s.as_token(
        ADMIN,
        Method::GET,
        &format!("/api/stores/{}", created["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "Loja Ação");
    assert!(one.get("token").is_none(), "a token is shown once");
    let (_, list) = send(s.as_token(ADMIN, Method::GET, "/api/stores?limit=1")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let cursor = list["nextCursor"].as_str().unwrap();
    let (_, rest) = send(s.as_token(
        ADMIN,
        Method::GET,
        &format!("/api/stores?limit=1&cursor={cursor}"),
    ))
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["nextCursor"], serde_json::Value::Null);
    assert_eq!(
        send(s.as_token(ADMIN, Method::GET, "/api/stores/st_nope"))
            .await
            .0,
        404
    );
}

async fn store_input_is_checked(s: TestServer) {
    let (status, body) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": 5})),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["details"][0]["pointer"].as_str()
        ),
        (400, Some("validation_failed"), Some("/name"))
    );
    let (status, body) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "a/b"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/name"))
    );
    let (status, body) = send(
        s.as_token(ADMIN, Method::POST, "/api/stores")
            .json(&json!({"name": "default"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, body) = send(s.as_token(ADMIN, Method::GET, "/api/stores?limit=501")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let (status, _) = send(s.as_token(ADMIN, Method::GET, "/api/stores?cursor=%%%")).await;
    assert_eq!(status, 400);
}
