use reqwest::Method;

use crate::harness::*;

both_backends!(
    health_and_readiness,
    metrics_are_prometheus_text,
    openapi_describes_the_api,
    unknown_routes_and_methods_answer_json
);

async fn health_and_readiness(s: TestServer) {
    assert_eq!(
        send(s.client.get(s.url("/healthz"))).await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        send(s.client.get(s.url("/readyz"))).await,
        (200, serde_json::json!({"status": "ready"}))
    );
}

async fn metrics_are_prometheus_text(s: TestServer) {
    let res = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for name in [
        "switchboard_events_accepted_total",
        "switchboard_runs_started_total",
        "switchboard_runs_waiting",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

async fn openapi_describes_the_api(s: TestServer) {
    let (status, doc) = send(s.client.get(s.url("/openapi.json"))).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/workflows", &["get", "post"][..]),
        ("/api/workflows/{id}", &["get", "put", "patch", "delete"]),
        ("/api/workflows/validate", &["post"]),
        ("/api/workflows/{id}/versions", &["get"]),
        ("/api/workflows/{id}/versions/{version}", &["get"]),
        ("/api/stores", &["get", "post"]),
        ("/api/stores/{id}/tokens", &["post"]),
        ("/api/stores/{id}/tokens/{token_id}", &["delete"]),
        ("/api/connectors", &["get", "post"]),
        ("/api/connectors/{id}", &["get", "put", "patch", "delete"]),
        ("/api/webhooks", &["get", "post"]),
        ("/api/webhooks/{id}", &["get", "put", "patch", "delete"]),
        ("/api/webhooks/{id}/restore", &["post"]),
        ("/api/webhooks/{id}/test", &["post"]),
        ("/api/channels", &["get"]),
        (
            "/api/channels/{channel}",
            &["get", "put", "patch", "delete"],
        ),
        ("/api/email-templates", &["get", "post"]),
        (
            "/api/email-templates/{id}",
            &["get", "put", "patch", "delete"],
        ),
        ("/api/messages", &["get"]),
        ("/channels/whatsapp/{storeId}", &["get", "post"]),
        ("/channels/voice/{storeId}/status", &["post"]),
        ("/healthz", &["get"]),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path} is not documented");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("ErrorBody") && schemas.contains_key("WorkflowDefinition"));
    // Every documented route is served (no 404 from the router for a documented path).
    for path in paths.keys() {
        let concrete = path
            .replace("{id}", "x")
            .replace("{version}", "1")
            .replace("{token_id}", "t")
            .replace("{channel}", "email")
            .replace("{storeId}", "st_default");
        let res = s.admin(Method::GET, &concrete).send().await.unwrap();
        let status = res.status();
        if status == 200 && res.headers()["content-type"] == "text/event-stream" {
            continue; // a stream (routed, and never ends)
        }
        let text = res.text().await.unwrap();
        assert!(
            status != 404 || !text.contains("no such route"),
            "{path} is documented but not routed"
        );
    }
}

async fn unknown_routes_and_methods_answer_json(s: TestServer) {
    let (status, body) = send(s.client.get(s.url("/nope"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = send(s.client.delete(s.url("/healthz"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

/// The document passes an OpenAPI 3.1 validator (openapi-spec-validator), and what every
/// operation shares is in it: unique operationIds, a description on every response, 401 where a
/// token is needed, `StoreId` declared where a store is acted on.
#[tokio::test]
async fn openapi_is_a_valid_3_1_document() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (status, doc) = send(s.client.get(s.url("/openapi.json"))).await;
    assert_eq!(status, 200);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let python = testkit::python::with(
        "openapi_spec_validator",
        "openapi-spec-validator>=0.7.1,<0.8",
    );
    let check = "import json, sys\n\
        from openapi_spec_validator import OpenAPIV31SpecValidator\n\
        errors = list(OpenAPIV31SpecValidator(json.load(open(sys.argv[1]))).iter_errors())\n\
        for e in errors[:20]: print(e.message[:300])\n\
        sys.exit(1 if errors else 0)";
    let out = std::process::Command::new(&python)
        .args(["-c", check])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
            let Some(security) = op["security"].as_array() else {
                continue;
            };
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path}: no 401"
            );
            if path.starts_with("/api/")
                && !path.starts_with("/api/stores")
                && path != "/api/cluster"
            {
                assert!(
                    security.iter().any(|s| s.get("storeId").is_some()),
                    "{method} {path}: StoreId not declared"
                );
            }
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["storeId"]["in"], "header", "{schemes}");
    assert_eq!(schemes["storeId"]["name"], "StoreId", "{schemes}");
}
