use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

both_backends!(
    lifecycle_with_versions,
    definitions_are_validated_with_pointers,
    malformed_and_oversized_bodies,
    names_are_unique_and_failed_requests_change_nothing,
    kustomer_definitions_import,
    patch_changes_only_active,
    validate_stores_nothing,
    lists_are_paginated,
);

/// The email template seed 000's onboarding workflow names.
async fn product_guide(s: &TestServer) {
    let template = json!({"name": "product_guide", "subject": "Your guide", "text": "Hello"});
    let (status, body) = send(
        s.admin(Method::POST, "/api/email-templates")
            .json(&template),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn create(s: &TestServer, def: &Value) -> Value {
    let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(def)).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn lifecycle_with_versions(s: TestServer) {
    let def = fixture("lead_follow_up.json");
    let created = create(&s, &def).await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("wf_"));
    assert_eq!(
        (
            created["format"].as_str(),
            created["version"].as_i64(),
            created["active"].as_bool()
        ),
        (Some("native"), Some(1), Some(true))
    );
    assert_eq!(
        created["steps"], def["steps"],
        "the definition is kept as posted"
    );
    let warned: Vec<_> = created["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        warned,
        ["/steps/1/config/fullName", "/steps/1/config/email"]
    );

    let path = format!("/api/workflows/{id}");
    let (_, got) = send(s.admin(Method::GET, &path)).await;
    assert_eq!(got, created);
    let (_, list) = send(s.admin(Method::GET, "/api/workflows")).await;
    assert_eq!(list["data"][0]["id"], id);
    assert_eq!(list["data"][0]["trigger"], def["trigger"]);

    // A GET → PUT round trip is accepted: server fields in the body are ignored.
    let mut changed = got.clone();
    changed["description"] = json!("second version");
    let (status, v2) = send(s.admin(Method::PUT, &path).json(&changed)).await;
    assert_eq!(
        (status, v2["version"].as_i64(), v2["description"].as_str()),
        (200, Some(2), Some("second version"))
    );
    assert_eq!(v2["createdAt"], created["createdAt"]);

    let (_, versions) = send(s.admin(Method::GET, &format!("{path}/versions"))).await;
    let numbers: Vec<_> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    let (status, first) = send(s.admin(Method::GET, &format!("{path}/versions/1"))).await;
    assert_eq!(
        (status, first["definition"]["description"].clone()),
        (200, def["description"].clone())
    );
    assert!(
        first["definition"].get("id").is_none(),
        "server fields are not part of a stored definition"
    );
    assert_eq!(
        send(s.admin(Method::GET, &format!("{path}/versions/3")))
            .await
            .0,
        404
    );
    assert_eq!(
        send(s.admin(Method::GET, &format!("{path}/versions/x")))
            .await
            .0,
        404
    );

    let (status, deleted) = send(s.admin(Method::DELETE, &path)).await;
    assert_eq!((status, deleted), (200, json!({"id": id, "deleted": true})));
    assert_eq!(send(s.admin(Method::GET, &path)).await.0, 404);
    assert_eq!(send(s.admin(Method::DELETE, &path)).await.0, 404);
    let (_, list) = send(s.admin(Method::GET, "/api/workflows")).await;
    assert_eq!(list["data"], json!([]));
    create(&s, &def).await; // the name is free again
}

async fn definitions_are_validated_with_pointers(s: TestServer) {
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .json(&fixture("doban_first_contact.jsonc")),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(
        body["error"]["details"],
        json!([{"pointer": "/steps/3/id", "message": "duplicate step id 'step4' (first used at /steps/2/id)"}])
    );

    let bad = json!({
        "name": "x".repeat(129),
        "trigger": {"type": "webhook", "eventType": 7},
        "steps": [
            {"id": "a", "type": "teleport", "config": {}},
            {"id": "b", "type": "delay", "config": {"delayMinutes": "soon"}},
            {"id": "c", "type": "webhook", "config": {"url": "http://example.com/hook"}},
            {"id": "d", "type": "send_whatsapp_message", "config": {"phoneNumber": "{{trigger.phone", "message": "{{ }}"}}
        ]
    });
    let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(&bad)).await;
    assert_eq!(status, 400);
    let pointers: Vec<_> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/name",
            "/trigger/eventType",
            "/steps/0/type",
            "/steps/1/config/delayMinutes",
            "/steps/2/config/url",
            "/steps/3/config/phoneNumber",
            "/steps/3/config/message"
        ]
    );
}

async fn malformed_and_oversized_bodies(s: TestServer) {
    let text = std::fs::read_to_string(fixture_path("doban_first_contact.jsonc")).unwrap();
    let res = s
        .admin(Method::POST, "/api/workflows")
        .header("Content-Type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    let (status, body): (u16, Value) = (res.status().as_u16(), res.json().await.unwrap());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    assert_eq!(
        (
            body["error"]["details"][0]["line"].as_u64(),
            body["error"]["details"][0]["column"].as_u64()
        ),
        (Some(34), Some(1))
    );

    let trailing =
        std::fs::read_to_string(fixture_path("kustomer_app_003_trailing_comma.txt")).unwrap();
    let res = s
        .admin(Method::POST, "/api/workflows")
        .header("Content-Type", "application/json")
        .body(trailing)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(body["error"]["details"][0]["line"].as_u64().unwrap() > 60);

    let res = s
        .admin(Method::POST, "/api/workflows")
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "unsupported_media_type"
    );

    let mut big = fixture("abandoned_cart.json");
    // Just over the 1 MiB default: small enough to be fully sent before the server answers.
    big["description"] = json!("x".repeat(1024 * 1024 + 1));
    let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(&big)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    for not_object in [json!([1]), json!("x"), json!(null)] {
        let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(&not_object)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("validation_failed"))
        );
    }
    let (_, list) = send(s.admin(Method::GET, "/api/workflows")).await;
    assert_eq!(list["data"], json!([]), "nothing was stored");
}

async fn names_are_unique_and_failed_requests_change_nothing(s: TestServer) {
    product_guide(&s).await;
    let cart = create(&s, &fixture("abandoned_cart.json")).await;
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .json(&fixture("abandoned_cart.json")),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["details"][0]["pointer"].as_str()
        ),
        (409, Some("conflict"), Some("/name"))
    );

    let onboarding = create(&s, &fixture("onboarding.json")).await;
    let path = format!("/api/workflows/{}", onboarding["id"].as_str().unwrap());
    let (status, _) = send(
        s.admin(Method::PUT, &path)
            .json(&fixture("abandoned_cart.json")),
    )
    .await;
    assert_eq!(status, 409);
    let mut invalid = fixture("onboarding.json");
    invalid["steps"][1]["config"] = json!({});
    assert_eq!(
        send(s.admin(Method::PUT, &path).json(&invalid)).await.0,
        400
    );
    let (_, after) = send(s.admin(Method::GET, &path)).await;
    assert_eq!(after, onboarding, "failed updates change nothing");
    let (_, versions) = send(s.admin(Method::GET, &format!("{path}/versions"))).await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        send(
            s.admin(Method::PUT, "/api/workflows/wf_missing")
                .json(&fixture("onboarding.json"))
        )
        .await
        .0,
        404
    );
    assert_ne!(cart["id"], onboarding["id"]);
}

async fn kustomer_definitions_import(s: TestServer) {
    // Seed 003: the callable workflow imports; the scheduling one refers to it by id.
    let app = fixture("kustomer_app_003.json");
    let scheduled = create(&s, &app["workflows"][1]).await;
    assert_eq!(scheduled["format"], "kustomer");
    assert_eq!(scheduled["trigger"], app["workflows"][1]["trigger"]);
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .json(&app["workflows"][0]),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/steps/0/params/workflowId"))
    );
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no workflow with id '5f8e148232731d0015c14657'")
    );

    let mut scheduling = app["workflows"][0].clone();
    scheduling["steps"][0]["params"]["workflowId"] = scheduled["id"].clone();
    let created = create(&s, &scheduling).await;
    assert_eq!(created["format"], "kustomer");

    // A non-callable target is refused.
    let cart = create(&s, &fixture("abandoned_cart.json")).await;
    scheduling["name"] = json!("second");
    scheduling["steps"][0]["params"]["workflowId"] = cart["id"].clone();
    let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(&scheduling)).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not 'callable'")
    );

    // Seed 001: its action names a saved webhook; there is none, so the action is unknown.
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows")
            .json(&fixture("kustomer_app_001.json")["workflows"][0]),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/steps/0/action"))
    );
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown action")
    );
}

async fn patch_changes_only_active(s: TestServer) {
    product_guide(&s).await;
    let created = create(&s, &fixture("onboarding.json")).await;
    let path = format!("/api/workflows/{}", created["id"].as_str().unwrap());
    let (status, off) = send(
        s.admin(Method::PATCH, &path)
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(
        (status, off["active"].as_bool(), off["version"].as_i64()),
        (200, Some(false), Some(1))
    );
    let (status, body) = send(
        s.admin(Method::PATCH, &path)
            .json(&json!({"active": true, "name": "x"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/name"))
    );
    let (status, body) = send(
        s.admin(Method::PATCH, &path)
            .json(&json!({"active": "yes"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["details"][0]["pointer"].as_str()),
        (400, Some("/active"))
    );
    let (_, still) = send(s.admin(Method::GET, &path).json(&json!({}))).await;
    assert_eq!(still["active"], false);
    // PUT without `active` keeps the setting; with it, sets it.
    let (_, put) = send(
        s.admin(Method::PUT, &path)
            .json(&fixture("onboarding.json")),
    )
    .await;
    assert_eq!(
        (put["active"].as_bool(), put["version"].as_i64()),
        (Some(false), Some(2))
    );
    let mut on = fixture("onboarding.json");
    on["active"] = json!(true);
    let (_, put) = send(s.admin(Method::PUT, &path).json(&on)).await;
    assert_eq!(put["active"], true);
    // Created inactive.
    let mut inactive = fixture("abandoned_cart.json");
    inactive["active"] = json!(false);
    assert_eq!(create(&s, &inactive).await["active"], false);
}

async fn validate_stores_nothing(s: TestServer) {
    let (status, body) = send(
        s.admin(Method::POST, "/api/workflows/validate")
            .json(&fixture("doban_first_contact.jsonc")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    assert_eq!(body["errors"][0]["pointer"], "/steps/3/id");
    let (_, ok) = send(
        s.admin(Method::POST, "/api/workflows/validate")
            .json(&fixture("lead_follow_up.json")),
    )
    .await;
    assert_eq!(
        (
            ok["valid"].as_bool(),
            ok["errors"].as_array().unwrap().len(),
            ok["warnings"].as_array().unwrap().len()
        ),
        (Some(true), 0, 2)
    );
    let res = s
        .admin(Method::POST, "/api/workflows/validate")
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (_, list) = send(s.admin(Method::GET, "/api/workflows")).await;
    assert_eq!(list["data"], json!([]));
}

async fn lists_are_paginated(s: TestServer) {
    for i in 0..5 {
        let mut def = fixture("abandoned_cart.json");
        def["name"] = json!(format!("Cart {i}"));
        create(&s, &def).await;
    }
    let mut names = Vec::new();
    let mut next = Some(String::new());
    while let Some(cursor) = next {
        let (status, page) = send(s.admin(
            Method::GET,
            &format!("/api/workflows?limit=2&cursor={cursor}"),
        ))
        .await;
        assert_eq!(status, 200);
        assert!(page["data"].as_array().unwrap().len() <= 2);
        names.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["name"].as_str().unwrap().to_owned()),
        );
        next = page["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(names, ["Cart 0", "Cart 1", "Cart 2", "Cart 3", "Cart 4"]);
    let (status, body) = send(s.admin(Method::GET, "/api/workflows?limit=0")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );
}
