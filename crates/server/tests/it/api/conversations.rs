use reqwest::Method;
use serde_json::json;

use crate::harness::*;

both_backends!(conversations_merge_patch_and_delete);

async fn conversations_merge_patch_and_delete(s: TestServer) {
    let (status, _) = send(s.admin(Method::GET, "/api/conversations/5511999999999")).await;
    assert_eq!(status, 404);
    let (status, c) = send(
        s.admin(Method::PATCH, "/api/conversations/+55 11 99999-9999")
            .json(&json!({"state": {"stage": "new", "cart": {"a": 1, "b": 2}}})),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["phoneNumber"], "5511999999999");
    let (_, c) = send(
        s.admin(Method::PATCH, "/api/conversations/5511999999999")
            .json(&json!({"state": {"cart": {"b": null, "c": 3}}})),
    )
    .await;
    assert_eq!(
        c["state"],
        json!({"stage": "new", "cart": {"a": 1, "c": 3}})
    );
    let (status, c) = send(s.admin(Method::GET, "/api/conversations/(55) 11 99999 9999")).await;
    assert_eq!((status, &c["state"]["stage"]), (200, &json!("new")));
    let (status, e) = send(
        s.admin(Method::PATCH, "/api/conversations/5511999999999")
            .json(&json!({"state": 3})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/state"))
    );
    let (status, _) = send(s.admin(Method::DELETE, "/api/conversations/5511999999999")).await;
    assert_eq!(status, 200);
    let (status, _) = send(s.admin(Method::GET, "/api/conversations/5511999999999")).await;
    assert_eq!(status, 404);
}
