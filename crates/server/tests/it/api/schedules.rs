//! Time and composition end to end: scheduled calls of callable workflows (seed 003's pair, as an
//! app, against a local server), calls surviving a restart, cron ticks across a DST change and
//! after downtime (the server's clock set with `SWITCHBOARD_CLOCK_START`, so nothing waits for
//! real hours), and Kustomer apps installed, upgraded and removed.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::events::{create, run_of, settled, step};
use crate::harness::*;
use crate::target::Target;

/// Loopback targets over plain HTTP; relative times divided by 30 (seed 003's 60 s take 2 s).
const SCHEDULES: &[(&str, &str)] = &[
    ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ("SWITCHBOARD_TIME_SCALE", "30"),
];

/// Two seconds before New York's clocks jump from 02:00 EST to 03:00 EDT.
const BEFORE_SPRING_FORWARD: &str = "2026-03-08T06:59:58Z";

const CRON: &[(&str, &str)] = &[("SWITCHBOARD_CLOCK_START", BEFORE_SPRING_FORWARD)];

mod both {
    use super::*;
    both_backends_with!(SCHEDULES;
        seed_003_app_schedules_a_call_that_calls_out,
        pending_calls_survive_a_restart_and_can_be_cancelled,
        seed_001_app_runs_its_saved_webhook_action
    );
}

mod cron {
    use super::*;
    both_backends_with!(CRON; cron_ticks_follow_dst_fire_once_and_catch_up);
}

mod sqlite_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_schedules_are_refused_with_pointers() {
        super::bad_schedules_are_refused_with_pointers(
            TestServer::start_with(Backend::Sqlite, SCHEDULES).await,
        )
        .await;
    }
}

async fn get(s: &TestServer, path: &str) -> Value {
    let (status, body) = send(s.admin(Method::GET, path)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Polls `path` until `done` holds for its body.
async fn until(s: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let body = get(s, path).await;
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never got there: {}", get(s, path).await);
}

/// The global id an installed app gave the workflow of that local id.
fn global_id(installed: &Value, local: &str) -> String {
    installed["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["localId"] == local)
        .unwrap_or_else(|| panic!("no workflow {local} in {installed}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn runs_of(s: &TestServer, workflow_id: &str) -> Vec<Value> {
    get(s, &format!("/api/runs?workflowId={workflow_id}")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn seed_003_app_schedules_a_call_that_calls_out(s: TestServer) {
    let t = Target::start().await;
    let mut app = fixture("kustomer_app_003.json");
    app["workflows"][1]["steps"][0]["params"]["uri"] = json!(t.url("/echo/pipedream"));
    let (status, installed) = send(s.admin(Method::POST, "/api/apps").json(&app)).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(
        (&installed["app"], &installed["version"]),
        (&json!("schedulerdemo"), &json!("0.0.1"))
    );
    let callee = global_id(&installed, "5f8e148232731d0015c14657");
    let caller = global_id(&installed, "appConfiguredSchedulingworkflow");
    assert!(callee.starts_with("wf_") && caller.starts_with("wf_"));

    // The app-local id became the global one wherever the app refers to it.
    let stored = get(&s, &format!("/api/workflows/{caller}")).await;
    assert_eq!(stored["steps"][0]["params"]["workflowId"], json!(callee));
    let stored = get(&s, &format!("/api/workflows/{callee}")).await;
    assert_eq!(
        stored["trigger"]["eventName"],
        json!(format!("kustomer.workflow.{callee}.call"))
    );

    // A customer update schedules the call 60 s (2 s here) ahead, with the trigger's name.
    let run = run_of(
        &s,
        json!({"eventType": "kustomer.customer.update", "name": "Ana"}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let output = &step(&run, "egu-awuO4")["output"];
    let schedule_id = output["scheduleId"].as_str().unwrap().to_owned();
    let pending = get(&s, "/api/schedules").await;
    let call = &pending["data"][0];
    assert_eq!(call["id"], json!(schedule_id), "{pending}");
    assert_eq!(
        (&call["kind"], &call["status"], &call["workflowId"]),
        (&json!("call"), &json!("pending"), &json!(callee))
    );
    assert_eq!(call["inputs"], json!({"foo": "Ana"}));
    assert_eq!(call["runAt"], output["runAt"]);
    assert_eq!(call["scheduledBy"]["runId"], run["id"]);

    // When due, the callee runs with the inputs as its trigger and calls the local server.
    let fired = until(&s, &format!("/api/schedules/{schedule_id}"), |b| {
        b["status"] == "fired"
    })
    .await;
    let callee_run = settled(&s, fired["runId"].as_str().unwrap()).await;
    assert_eq!(callee_run["status"], "completed", "{callee_run}");
    assert_eq!(callee_run["trigger"]["foo"], "Ana");
    let started = callee_run["trigger"]["timestamp"].as_str().unwrap();
    let run_at = call["runAt"].as_str().unwrap();
    assert!(started >= run_at, "started {started}, due {run_at}");
    let got = t.received("/echo/pipedream");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].body, "", "the action has no body");
    assert!(
        get(&s, "/api/schedules").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Inputs that fail the callee's schema fail the step, and nothing is scheduled.
    let run = run_of(
        &s,
        json!({"eventType": "kustomer.customer.update", "name": 7}),
    )
    .await;
    assert_eq!(run["status"], "failed");
    let error = &step(&run, "egu-awuO4")["error"];
    assert_eq!(error["code"], "schema_mismatch", "{error}");
    assert_eq!(error["errors"][0]["pointer"], "/foo");
    assert!(
        get(&s, "/api/schedules").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // `/execute` checks the same schema.
    let (status, body) = send(
        s.admin(Method::POST, &format!("/api/workflows/{callee}/execute"))
            .json(&json!({"foo": ["not", "a", "string"]})),
    )
    .await;
    assert_eq!((status, pointers(&body)), (400, vec!["/foo"]), "{body}");

    // A newer version updates the same workflows in place; an older or equal one is refused.
    app["version"] = json!("0.0.2");
    app["workflows"][1]["description"] = json!("now described");
    let (status, upgraded) = send(s.admin(Method::POST, "/api/apps").json(&app)).await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(
        global_id(&upgraded, "5f8e148232731d0015c14657"),
        callee,
        "ids are kept"
    );
    let stored = get(&s, &format!("/api/workflows/{callee}")).await;
    assert_eq!(
        (stored["version"].as_i64(), &stored["description"]),
        (Some(2), &json!("now described"))
    );
    let (status, body) = send(s.admin(Method::POST, "/api/apps").json(&app)).await;
    assert_eq!((status, pointers(&body)), (409, vec!["/version"]), "{body}");
    let apps = get(&s, "/api/apps").await;
    assert_eq!(apps["data"][0]["version"], "0.0.2");

    // Removing the app deletes its workflows; their history stays.
    let (status, body) = send(s.admin(Method::DELETE, "/api/apps/schedulerdemo")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(s.admin(Method::GET, &format!("/api/workflows/{callee}"))).await;
    assert_eq!(status, 404);
    assert_eq!(
        get(
            &s,
            &format!("/api/runs/{}", callee_run["id"].as_str().unwrap())
        )
        .await["status"],
        "completed"
    );
    assert!(
        get(&s, "/api/apps").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, _) = send(s.admin(Method::DELETE, "/api/apps/schedulerdemo")).await;
    assert_eq!(status, 404);
}

/// A callable workflow and a manual one scheduling it `seconds` (scaled) ahead.
async fn caller_and_callee(s: &TestServer, seconds: u64) -> (String, String) {
    let callee = create(
        s,
        &json!({"name": "callee", "trigger": {"type": "callable", "schema": {"type": "object", "required": ["x"]}},
            "steps": [{"id": "keep", "type": "store_context_data", "config": {"data": {"got": "{{trigger.x}}"}}}]}),
    )
    .await;
    let caller = create(
        s,
        &json!({"name": "caller", "trigger": {"type": "manual"},
            "steps": [{"id": "later", "type": "schedule_workflow", "config": {
                "workflowId": callee, "runAt": {"type": "relative", "value": seconds}, "inputs": {"x": "{{trigger.x}}"}}}]}),
    )
    .await;
    (caller, callee)
}

async fn schedule(s: &TestServer, caller: &str, x: &str) -> String {
    let (status, run) = send(
        s.admin(
            Method::POST,
            &format!("/api/workflows/{caller}/execute?wait=10"),
        )
        .json(&json!({"x": x})),
    )
    .await;
    assert_eq!(
        (status, &run["status"]),
        (200, &json!("completed")),
        "{run}"
    );
    step(&run, "later")["output"]["scheduleId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pending_calls_survive_a_restart_and_can_be_cancelled(mut s: TestServer) {
    let (caller, callee) = caller_and_callee(&s, 90).await;
    let kept = schedule(&s, &caller, "kept").await;
    let cancelled = schedule(&s, &caller, "cancelled").await;

    let (status, body) =
        send(s.admin(Method::DELETE, &format!("/api/schedules/{cancelled}"))).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("cancelled")),
        "{body}"
    );
    let (status, _) = send(s.admin(Method::DELETE, &format!("/api/schedules/{cancelled}"))).await;
    assert_eq!(status, 409, "cancelled already");

    // Killed while the call is pending: the restarted server fires it, once.
    s.restart();
    let fired = until(&s, &format!("/api/schedules/{kept}"), |b| {
        b["status"] == "fired"
    })
    .await;
    let run = settled(&s, fired["runId"].as_str().unwrap()).await;
    assert_eq!(run["trigger"]["x"], "kept");
    steady(
        1,
        Duration::from_secs(1),
        "runs of the callee: one, not one per restart or for the cancelled call",
        || async { runs_of(&s, &callee).await.len() },
    )
    .await;
    let cancelled = get(&s, &format!("/api/schedules/{cancelled}")).await;
    assert_eq!(cancelled["status"], "cancelled");
    let listed = get(&s, "/api/schedules?status=fired").await;
    assert_eq!(listed["data"][0]["id"], json!(kept));

    // Deleting the callee cancels its pending calls.
    let pending = schedule(&s, &caller, "orphan").await;
    let (status, _) = send(s.admin(Method::DELETE, &format!("/api/workflows/{callee}"))).await;
    assert_eq!(status, 200);
    let orphan = get(&s, &format!("/api/schedules/{pending}")).await;
    assert_eq!(orphan["status"], "cancelled", "{orphan}");
}

async fn seed_001_app_runs_its_saved_webhook_action(s: TestServer) {
    let t = Target::start().await;
    let app = fixture("kustomer_app_001.json");
    // Without a saved webhook of the action's name, the action is unknown.
    let (status, body) = send(s.admin(Method::POST, "/api/apps").json(&app)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(pointers(&body), ["/workflows/0/steps/0/action"]);
    assert!(
        get(&s, "/api/apps").await["data"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing installed"
    );

    let (status, hook) = send(s.admin(Method::POST, "/api/webhooks").json(&json!({
        "name": "kustomer.company.create", "method": "POST", "url": t.url("/echo/companies")
    })))
    .await;
    assert_eq!(status, 201, "{hook}");
    let (status, installed) = send(s.admin(Method::POST, "/api/apps").json(&app)).await;
    assert_eq!(status, 201, "{installed}");
    let run = run_of(
        &s,
        json!({"eventType": "kustomer.app.ecommstore.company.create", "companyName": "Acme Ltda"}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let got = t.received("/echo/companies");
    assert_eq!(got.len(), 1);
    // The step's params, with `/#steps.1.companyName` resolved, are the saved webhook's body.
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body, json!({"name": "Acme Ltda"}));
}

async fn cron_ticks_follow_dst_fire_once_and_catch_up(mut s: TestServer) {
    // 02:30 does not exist in New York on 2026-03-08: the tick runs at 03:00 EDT, 2 s from now.
    let nightly = create(
        &s,
        &json!({"name": "nightly", "trigger": {"type": "schedule", "cron": "30 2 * * *", "timezone": "America/New_York"},
            "steps": [{"id": "s", "type": "store_context_data", "config": {"data": {"at": "{{trigger.scheduledAt}}"}}}]}),
    )
    .await;
    let runs = until(&s, &format!("/api/runs?workflowId={nightly}"), |b| {
        !b["data"].as_array().unwrap().is_empty()
    })
    .await;
    let run = settled(&s, runs["data"][0]["id"].as_str().unwrap()).await;
    assert_eq!(
        run["trigger"]["scheduledAt"], "2026-03-08T07:00:00.000Z",
        "{run}"
    );
    let pending = get(&s, &format!("/api/schedules?workflowId={nightly}")).await;
    let tick = &pending["data"][0];
    assert_eq!(
        (&tick["kind"], &tick["status"]),
        (&json!("cron"), &json!("pending"))
    );
    assert_eq!(
        tick["runAt"], "2026-03-09T06:30:00.000Z",
        "02:30 EDT the next day"
    );
    assert_eq!(tick["cron"]["timezone"], "America/New_York");

    // Two hourly workflows; the server is down from before 08:00 until 11:30 UTC.
    let hourly = |name: &str, catch_up: &str| {
        json!({"name": name, "trigger": {"type": "schedule", "cron": "0 * * * *", "catchUp": catch_up},
            "steps": [{"id": "s", "type": "store_context_data", "config": {"data": {"at": "{{trigger.scheduledAt}}"}}}]})
    };
    let latest = create(&s, &hourly("latest", "latest")).await;
    let none = create(&s, &hourly("none", "none")).await;
    s.restart_with(&[("SWITCHBOARD_CLOCK_START", "2026-03-08T11:30:00Z")]);
    let runs = until(&s, &format!("/api/runs?workflowId={latest}"), |b| {
        !b["data"].as_array().unwrap().is_empty()
    })
    .await;
    let run = settled(&s, runs["data"][0]["id"].as_str().unwrap()).await;
    assert_eq!(
        run["trigger"]["scheduledAt"], "2026-03-08T11:00:00.000Z",
        "only the latest missed tick"
    );
    steady(
        1,
        Duration::from_secs(1),
        "runs of the latest tick",
        || async { runs_of(&s, &latest).await.len() },
    )
    .await;
    assert!(
        runs_of(&s, &none).await.is_empty(),
        "catchUp none skips missed ticks"
    );
    for id in [&latest, &none] {
        let pending = get(&s, &format!("/api/schedules?workflowId={id}")).await;
        assert_eq!(pending["data"][0]["runAt"], "2026-03-08T12:00:00.000Z");
    }

    // Restarting again does not fire the 11:00 tick twice.
    s.restart_with(&[("SWITCHBOARD_CLOCK_START", "2026-03-08T11:30:05Z")]);
    steady(
        1,
        Duration::from_secs(1),
        "runs of the 11:00 tick after a restart",
        || async { runs_of(&s, &latest).await.len() },
    )
    .await;

    // Skipping a tick moves it on an hour; deactivating removes it; activating brings it back.
    let tick_id = get(&s, &format!("/api/schedules?workflowId={latest}")).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, skipped) =
        send(s.admin(Method::DELETE, &format!("/api/schedules/{tick_id}"))).await;
    assert_eq!(status, 200, "{skipped}");
    assert_eq!(
        (&skipped["skipped"], &skipped["runAt"], &skipped["status"]),
        (
            &json!("2026-03-08T12:00:00.000Z"),
            &json!("2026-03-08T13:00:00.000Z"),
            &json!("pending")
        )
    );
    let path = format!("/api/workflows/{latest}");
    let (status, _) = send(
        s.admin(Method::PATCH, &path)
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200);
    let pending = get(&s, &format!("/api/schedules?workflowId={latest}")).await;
    assert!(pending["data"].as_array().unwrap().is_empty(), "{pending}");
    let (status, _) = send(s.admin(Method::PATCH, &path).json(&json!({"active": true}))).await;
    assert_eq!(status, 200);
    let pending = get(&s, &format!("/api/schedules?workflowId={latest}")).await;
    assert_eq!(pending["data"][0]["runAt"], "2026-03-08T12:00:00.000Z");
}

async fn bad_schedules_are_refused_with_pointers(s: TestServer) {
    let def = |trigger: Value| {
        json!({"name": "bad", "trigger": trigger,
            "steps": [{"id": "s", "type": "store_context_data", "config": {"data": {}}}]})
    };
    for (trigger, pointer) in [
        (
            json!({"type": "schedule", "cron": "* * * *"}),
            "/trigger/cron",
        ),
        (
            json!({"type": "schedule", "cron": "0 61 * * *"}),
            "/trigger/cron",
        ),
        (
            json!({"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}),
            "/trigger/timezone",
        ),
        (
            json!({"type": "schedule", "cron": "0 9 * * *", "catchUp": "all"}),
            "/trigger/catchUp",
        ),
        (
            json!({"type": "callable", "schema": {"type": "strin"}}),
            "/trigger/schema",
        ),
    ] {
        let (status, body) = send(
            s.admin(Method::POST, "/api/workflows")
                .json(&def(trigger.clone())),
        )
        .await;
        assert_eq!(
            (status, pointers(&body)),
            (400, vec![pointer]),
            "{trigger}: {body}"
        );
    }
    // Scheduling a workflow that does not exist, or is not callable, is refused when saved.
    let manual = create(&s, &def(json!({"type": "manual"}))).await;
    for (target, says) in [
        ("wf_missing", "no workflow"),
        (manual.as_str(), "not 'callable'"),
    ] {
        let (status, body) = send(s.admin(Method::POST, "/api/workflows").json(&json!({
            "name": "scheduler", "trigger": {"type": "manual"},
            "steps": [{"id": "later", "type": "schedule_workflow", "config": {"workflowId": target, "runAt": {"type": "relative", "value": 5}}}]
        }))).await;
        assert_eq!(
            (status, pointers(&body)),
            (400, vec!["/steps/0/config/workflowId"]),
            "{body}"
        );
        assert!(
            body["error"]["details"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}"
        );
    }
    // Apps: each problem at its pointer; nothing installed.
    let (status, body) = send(s.admin(Method::POST, "/api/apps").json(&json!({
        "app": "bad app!", "version": "one", "workflows": []
    })))
    .await;
    assert_eq!(
        (status, pointers(&body)),
        (400, vec!["/app", "/version", "/workflows"]),
        "{body}"
    );
    // Seed 003 as written, with its trailing comma: a clear invalid_json with the position.
    let text =
        std::fs::read_to_string(fixture_path("kustomer_app_003_trailing_comma.txt")).unwrap();
    let res = s
        .admin(Method::POST, "/api/apps")
        .header("Content-Type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json", "{body}");
    assert!(
        body["error"]["details"][0]["line"].as_u64().unwrap() > 60,
        "{body}"
    );
    let (status, _) = send(s.admin(Method::GET, "/api/schedules?status=later")).await;
    assert_eq!(status, 400);
    let (status, _) = send(s.admin(Method::DELETE, "/api/schedules/sch_missing")).await;
    assert_eq!(status, 404);
}
