//! The API keeps its published contract: Schemathesis generates requests from `/openapi.json` —
//! its examples, the boundaries of every schema, then random data — against a live server seeded
//! with one of everything, and checks that no answer is a server error and that every status,
//! content type and body is one the document declares. And the document generates a working
//! client: openapi-python-client's, which runs the README's lead scenario.

use std::collections::BTreeMap;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::events::create;
use crate::harness::*;
use crate::providers::Meta;
use crate::receiver::Receiver;

/// Loopback endpoints over plain HTTP for the seeded subscription.
const SETTINGS: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ("SWITCHBOARD_POLL_MS", "20"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_contract_violation() {
    let s = TestServer::start_with(Backend::Sqlite, SETTINGS).await;
    let receiver = Receiver::start().await;
    let ids = seed(&s, &receiver).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    let (_, doc) = send(s.client.get(s.url("/openapi.json"))).await;
    std::fs::write(&config, config_toml(&doc, &ids)).unwrap();
    let python = testkit::python::with("schemathesis", "schemathesis>=4.3,<5");
    let out = Command::new(&python)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args([
            "run",
            &s.url("/openapi.json"),
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261129",
            "--exclude-path",
            "/api/runs/stream",
            "--no-color",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_client_runs_the_readme_lead_scenario() {
    let s = TestServer::start_with(Backend::Sqlite, SETTINGS).await;
    let meta = Meta::start().await;
    let (_, doc) = send(s.client.get(s.url("/openapi.json"))).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, doc.to_string()).unwrap();
    // No formatting hooks: the generated code is used as it comes.
    let config = dir.path().join("generator.yaml");
    std::fs::write(&config, "post_hooks: []\n").unwrap();
    let python =
        testkit::python::with("openapi_python_client", "openapi-python-client>=0.29,<0.30");
    let generated = Command::new(&python)
        .args([
            "-m",
            "openapi_python_client",
            "generate",
            "--meta",
            "none",
            "--path",
        ])
        .arg(&spec)
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(dir.path().join("switchboard_client"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&generated.stdout),
        String::from_utf8_lossy(&generated.stderr)
    );
    assert!(generated.status.success(), "the generator failed:\n{said}");
    assert!(
        !said.contains("WARNING") && !said.contains("Unable to"),
        "the generator skipped parts of the document:\n{said}"
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/lead_scenario.py");
    let fixtures = fixture_path("lead_follow_up.json");
    let scenario = Command::new(&python)
        .arg(script)
        .arg(dir.path())
        .arg(&s.base)
        .arg(ADMIN)
        .arg(fixtures.parent().unwrap())
        .arg(meta.channel().to_string())
        .output()
        .unwrap();
    assert!(
        scenario.status.success(),
        "the generated client's scenario failed:\n{}{}",
        String::from_utf8_lossy(&scenario.stdout),
        String::from_utf8_lossy(&scenario.stderr)
    );
}

/// Operations whose path names an id, with the seeded resource to use: one for reads and
/// changes, another for `DELETE`, so removals do not leave every other case a 404.
type Ids = BTreeMap<&'static str, (Value, Value)>;

async fn seed(s: &TestServer, receiver: &Receiver) -> Ids {
    let mut ids = Ids::new();
    let post = |path: &'static str, body: Value| async move {
        let (status, created) = send(s.admin(Method::POST, path).json(&body)).await;
        assert!(status == 201 || status == 200, "{path}: {created}");
        created
    };
    let twice = |make: fn(u32) -> Value, path: &'static str| async move {
        let a = post(path, make(1)).await["id"].clone();
        let b = post(path, make(2)).await["id"].clone();
        (a, b)
    };

    // A manual workflow that stores data, emits an event and schedules a callable workflow.
    let callee = create(
        s,
        &json!({"name": "callee", "trigger": {"type": "callable"},
            "steps": [{"id": "keep", "type": "store_context_data", "config": {"data": {"x": "{{trigger.x}}"}}}]}),
    )
    .await;
    let workflow = |name: &str| {
        json!({"name": name, "trigger": {"type": "manual"}, "steps": [
        {"id": "note", "type": "store_context_data", "config": {"data": {"phoneNumber": "{{trigger.phoneNumber}}"}}},
        {"id": "later", "type": "schedule_workflow", "config": {
            "workflowId": callee, "runAt": {"type": "relative", "value": 3600}, "inputs": {"x": 1}}}]})
    };
    let wf = create(s, &workflow("seeded")).await;
    let spare_wf = create(s, &workflow("spare")).await;
    ids.insert("/api/workflows/{id}", (json!(wf), json!(spare_wf)));

    let secret = post(
        "/api/subscriptions",
        json!({"url": receiver.url, "events": ["run.*"]}),
    )
    .await;
    receiver.trust(secret["secret"].as_str().unwrap());
    let spare = post(
        "/api/subscriptions",
        json!({"url": receiver.url, "events": ["run.completed"]}),
    )
    .await;
    ids.insert(
        "/api/subscriptions/{id}",
        (secret["id"].clone(), spare["id"].clone()),
    );

    let (status, run) = send(
        s.admin(
            Method::POST,
            &format!("/api/workflows/{wf}/execute?wait=10"),
        )
        .json(&json!({"phoneNumber": "+5511988887777"})),
    )
    .await;
    assert_eq!(
        (status, &run["status"]),
        (200, &json!("completed")),
        "{run}"
    );
    let schedule = run["steps"][1]["output"]["scheduleId"].clone();
    ids.insert("/api/runs/{id}", (run["id"].clone(), run["id"].clone()));
    ids.insert("/api/schedules/{id}", (schedule.clone(), schedule));

    receiver
        .wait_for("a delivery of the seeded run", |d| !d.is_empty())
        .await;
    let sub = secret["id"].as_str().unwrap();
    let (_, deliveries) =
        send(s.admin(Method::GET, &format!("/api/subscriptions/{sub}/deliveries"))).await;
    let delivery = deliveries["data"][0]["id"].clone();
    assert!(delivery.is_string(), "{deliveries}");
    ids.insert("/api/deliveries/{id}", (delivery.clone(), delivery));

    let (status, conversation) = send(
        s.admin(Method::PATCH, "/api/conversations/+5511988887777")
            .json(&json!({"state": {"plan": "gold"}})),
    )
    .await;
    assert_eq!(status, 200, "{conversation}");
    ids.insert(
        "/api/conversations/{phoneNumber}",
        (json!("+5511988887777"), json!("+5511988887777")),
    );

    ids.insert(
        "/api/connectors/{id}",
        twice(
            |n| json!({"name": format!("crm {n}"), "type": "bearer", "token": "t0ken"}),
            "/api/connectors",
        )
        .await,
    );
    ids.insert(
        "/api/webhooks/{id}",
        twice(
            |n| json!({"name": format!("hook {n}"), "method": "POST", "url": "https://example.com/in"}),
            "/api/webhooks",
        )
        .await,
    );
    ids.insert(
        "/api/email-templates/{id}",
        twice(
            |n| json!({"name": format!("welcome {n}"), "subject": "Hi {{trigger.name}}", "text": "Hello"}),
            "/api/email-templates",
        )
        .await,
    );
    for (channel, settings) in [
        (
            "email",
            json!({"host": "127.0.0.1", "port": 2525, "from": "shop@example.com", "security": "none"}),
        ),
        (
            "voice",
            json!({"accountSid": "AC123", "authToken": "secret", "from": "+15005550006"}),
        ),
    ] {
        let (status, body) = send(
            s.admin(Method::PUT, &format!("/api/channels/{channel}"))
                .json(&settings),
        )
        .await;
        assert_eq!(status, 200, "{channel}: {body}");
    }

    let installed = post("/api/apps", fixture("kustomer_app_003.json")).await;
    let app = installed["app"].clone();
    ids.insert("/api/apps/{app}", (app.clone(), app));

    // The store the fuzzer may change (limits of one request a minute would slow everything
    // after them: its own store's requests wait for its budget, as they should).
    let other = post("/api/stores", json!({"name": "fuzzed"})).await["id"].clone();
    let path = format!("/api/stores/{}/tokens", other.as_str().unwrap());
    let (status, token) = send(s.admin(Method::POST, &path).json(&json!({"name": "spare"}))).await;
    assert_eq!(status, 201, "{token}");
    ids.insert("/api/stores/{id}", (other.clone(), other));
    ids.insert(
        "/api/workflows/{id}/versions/{version}",
        (json!(1), json!(1)),
    );
    ids.insert(
        "/api/stores/{id}/tokens/{token_id}",
        (token["id"].clone(), token["id"].clone()),
    );
    ids
}

/// One `[[operations]]` per documented operation whose path names a seeded resource, with its
/// values; a `DELETE` of the resource itself gets the spare one.
fn config_toml(doc: &Value, ids: &Ids) -> String {
    let mut toml = String::from(
        "headers = { Authorization = \"Bearer sba_test-admin-token\", StoreId = \"st_default\" }\n\
         [parameters]\nstoreId = \"st_default\"\n",
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let mut values = Vec::new();
            for (at, _) in path.match_indices('}') {
                let prefix = &path[..=at];
                let Some((kept, spare)) = ids.get(prefix) else {
                    continue;
                };
                let name = prefix.rsplit('{').next().unwrap().trim_end_matches('}');
                let own = prefix.len() == path.len() && method == "delete";
                let value = if own { spare } else { kept };
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                values.push(format!("\"{name}\" = \"{value}\""));
            }
            if !values.is_empty() {
                toml.push_str(&format!(
                    "\n[[operations]]\ninclude-name = '{} {path}'\nparameters = {{ {} }}\n",
                    method.to_uppercase(),
                    values.join(", ")
                ));
            }
        }
    }
    toml
}
