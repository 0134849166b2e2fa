//! The console in a real browser, served by the binary under its Content Security Policy: sign
//! in; the workflows and a workflow's graph; a failed run appearing on the runs page without a
//! reload, its error on its page, a retry from the page on the fixed workflow, a replay; the run
//! over its graph; events, schedules, stores and tokens, deliveries; a Kustomer app's graph; each
//! page's first render reported, fitting 1024 px; and no error in the browser's console.

mod browser;

use fantoccini::Locator;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::events::{create, run_of};
use crate::harness::*;
use crate::providers::Meta;
use crate::receiver::Receiver;
use browser::{Browser, edge_label, graph_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_see_workflows_watch_a_run_fail_live_and_retry_it() {
    let loopback = [
        ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.0/8"),
        ("SWITCHBOARD_OUTBOUND_ALLOW_HTTP", "true"),
    ];
    let s = TestServer::start_with(Backend::Sqlite, &loopback).await;
    let receiver = Receiver::start().await;
    let (status, subscription) = send(
        s.admin(Method::POST, "/api/subscriptions")
            .json(&json!({"url": receiver.url, "events": ["run.failed"]})),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    receiver.trust(subscription["secret"].as_str().unwrap());
    let workflow = create(&s, &fixture("lead_follow_up.json")).await;
    let lead = json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Ana", "phoneNumber": "+5511988887777"});
    assert_eq!(
        run_of(&s, lead).await["status"],
        "failed",
        "no WhatsApp channel"
    );
    served_under_a_strict_policy(&s).await;

    let b = Browser::start().await;
    sign_in(&s, &b).await;
    graph_of_the_lead_workflow(&b).await;
    let run_id = a_failed_run_shows_up_and_is_retried(&s, &b, &workflow).await;
    the_other_pages(&b, &run_id, &receiver).await;
    a_kustomer_graph(&s, &b).await;
    each_page_loaded_whole(&s, &b, &workflow, &run_id).await;

    let logged = b.console_log().await;
    let errors: Vec<&Value> = logged.iter().filter(|l| l["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "the browser's console: {errors:?}");
}

/// The page carries the policy and has no inline script or style; API paths keep their JSON 404;
/// a console path answers the page.
async fn served_under_a_strict_policy(s: &TestServer) {
    let page = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    let (status, body) = send(s.client.get(s.url("/api/nothing-here"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let runs = s.admin(Method::GET, "/runs").send().await.unwrap();
    assert_eq!(runs.status(), 200, "a console path answers the page");
    assert!(
        runs.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

/// The admin token in the field labelled Token, Enter, then the store; the workflows list.
async fn sign_in(s: &TestServer, b: &Browser) {
    b.goto(&s.url("/")).await;
    let token = b
        .find(Locator::XPath("//label[contains(., 'Token')]//input"))
        .await;
    token.send_keys(&format!("{ADMIN}\u{E007}")).await.unwrap(); // Enter submits
    b.find(Locator::Css("select"))
        .await
        .select_by_value("st_default")
        .await
        .unwrap();
    b.click(Locator::Css("button[type=submit]")).await;
    let row = b
        .text(Locator::XPath(
            "//tr[td[contains(., 'Lead Follow-up Workflow')]]",
        ))
        .await;
    assert!(
        row.contains("webhook: Lead_Workflow_phase_1") && row.contains("failed"),
        "{row}"
    );
    let stored = b
        .script("return sessionStorage.getItem('switchboard.token')")
        .await;
    assert_eq!(stored, json!(ADMIN), "the token lives in the tab's session");
    let url = b.client.current_url().await.unwrap();
    assert!(!url.as_str().contains(ADMIN), "never in a URL");
}

/// Laid out: the trigger, its steps, the conditional's branch; over it, how many runs reached
/// each step and failed there.
async fn graph_of_the_lead_workflow(b: &Browser) {
    b.click(Locator::LinkText("Lead Follow-up Workflow")).await;
    let failing = b.text(Locator::Css(".svelte-flow__node.failing")).await;
    assert!(
        failing.contains("send_whatsapp_template") && failing.contains("1 runs · 1 failed"),
        "{failing}"
    );
    assert_eq!(
        b.count(Locator::Css(".svelte-flow__node")).await,
        5,
        "trigger, 3 steps, 1 branch"
    );
    assert_eq!(
        b.count(Locator::Css(".svelte-flow__edge")).await,
        4,
        "trigger→1→2→3, 3→then"
    );
    b.find(Locator::XPath(&graph_node(
        "webhook: Lead_Workflow_phase_1",
    )))
    .await;
    b.find(Locator::XPath(&edge_label("then"))).await;
}

/// On the runs page a failed run appears as it happens; its page says why; the workflow is fixed
/// through the API and the run retried from the page, on the latest version from its failed
/// step; a replay with an edited trigger opens the new run. Gives the run's id.
async fn a_failed_run_shows_up_and_is_retried(
    s: &TestServer,
    b: &Browser,
    workflow: &str,
) -> String {
    b.click(Locator::LinkText("Runs")).await;
    b.find(Locator::Css("form.filters")).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the stream is open
    let bia = json!({"eventType": "Lead_Workflow_phase_1", "fullName": "Bia", "phoneNumber": "+5511977776666"});
    let (status, accepted) = send(s.admin(Method::POST, "/api/events").json(&bia)).await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["runIds"][0].as_str().unwrap().to_owned();
    let row = b
        .text(Locator::XPath(&format!("//tr[td/a[text()='{run_id}']]")))
        .await;
    assert!(
        row.contains("failed") && row.contains("channel_not_configured") && row.contains("step2"),
        "{row}"
    );

    b.click(Locator::LinkText(&run_id)).await;
    assert_eq!(
        b.text(Locator::Css("[data-testid=run-error]")).await,
        "channel_not_configured"
    );
    let meta = Meta::configured(s).await;
    let mut fixed = fixture("lead_follow_up.json");
    fixed["description"] = json!("fixed");
    let path = format!("/api/workflows/{workflow}");
    assert_eq!(send(s.admin(Method::PUT, &path).json(&fixed)).await.0, 200);
    let version = b
        .find(Locator::XPath("//label[contains(., 'Version')]//select"))
        .await;
    version.select_by_value("latest").await.unwrap();
    b.click(Locator::XPath("//button[text()='Retry']")).await;
    b.find(Locator::XPath(
        "//span[@data-testid='run-status' and text()='completed']",
    ))
    .await;
    let (_, retried) = send(s.admin(Method::GET, &format!("/api/runs/{run_id}"))).await;
    let how = (
        &retried["workflowVersion"],
        &retried["actions"][0]["fromStep"],
    );
    assert_eq!(how, (&json!(2), &json!("step2")), "{retried}");
    assert_eq!(meta.received().len(), 1);

    let edit = b
        .find(Locator::XPath(
            "//label[contains(., 'Trigger for a replay')]//textarea",
        ))
        .await;
    edit.clear().await.unwrap();
    edit.send_keys(r#"{"fullName": "Bia Lima", "phoneNumber": "+5511977776666"}"#)
        .await
        .unwrap();
    b.click(Locator::XPath("//button[text()='Replay']")).await;
    let other_run = format!("//h2[starts-with(., 'Run') and not(contains(., '{run_id}'))]");
    b.find(Locator::XPath(&other_run)).await;
    let replayed = b.client.current_url().await.unwrap();
    let new_id = replayed.path().trim_start_matches("/runs/").to_owned();
    let (_, replay) = send(s.admin(Method::GET, &format!("/api/runs/{new_id}"))).await;
    let named = (&replay["replayOf"], &replay["trigger"]["fullName"]);
    assert_eq!(named, (&json!(run_id), &json!("Bia Lima")), "{replay}");
    b.client.back().await.unwrap();
    run_id
}

/// The run over its graph; events with the runs they started; schedules; stores and tokens; a
/// subscription's deliveries and one's attempt log.
async fn the_other_pages(b: &Browser, run_id: &str, receiver: &Receiver) {
    b.click(Locator::LinkText("Show on the graph")).await;
    assert!(
        b.text(Locator::Css(".svelte-flow__node.visited-completed"))
            .await
            .contains("completed")
    );
    let visited = b
        .count(Locator::Css(".svelte-flow__node[class*=visited-]"))
        .await;
    assert_eq!(
        visited, 3,
        "step1, step2 (its rerun) and step3: no companies, no branch"
    );

    b.click(Locator::LinkText("Events")).await;
    let event = b
        .text(Locator::XPath(&format!("//tr[td/a[text()='{run_id}']]")))
        .await;
    assert!(event.contains("Lead_Workflow_phase_1"), "{event}");
    b.click(Locator::LinkText("Schedules")).await;
    b.find(Locator::Css("#schedules")).await;
    b.click(Locator::LinkText("Admin")).await;
    assert!(
        b.text(Locator::XPath("//h3[contains(., 'st_default')]"))
            .await
            .contains("default")
    );

    receiver
        .wait_for("the failed runs' deliveries", |d| d.len() >= 2)
        .await;
    b.click(Locator::LinkText("Deliveries")).await;
    b.click(Locator::XPath("//button[text()='Deliveries']"))
        .await;
    b.click(Locator::XPath(
        "//tr[td[text()='run.failed']]//button[text()='Attempts']",
    ))
    .await;
    let log = "//h3[starts-with(., 'Attempts of')]/following-sibling::table//tbody/tr";
    let attempt = b.text(Locator::XPath(log)).await;
    assert!(
        attempt.starts_with("1 ") && attempt.contains("200"),
        "{attempt}"
    );
}

/// A Kustomer app's workflow: its transitions, with their conditions, as edges.
async fn a_kustomer_graph(s: &TestServer, b: &Browser) {
    let hook = json!({"name": "kustomer.company.create", "method": "POST", "url": "https://api.example.com/companies"});
    assert_eq!(
        send(s.admin(Method::POST, "/api/webhooks").json(&hook))
            .await
            .0,
        201
    );
    let (status, app) = send(
        s.admin(Method::POST, "/api/apps")
            .json(&fixture("kustomer_app_001.json")),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    b.goto(&s.url(&format!(
        "/workflows/{}",
        app["workflows"][0]["id"].as_str().unwrap()
    )))
    .await;
    let step = b
        .text(Locator::XPath(&graph_node("kustomer.company.create")))
        .await;
    assert!(step.starts_with("step2"), "{step}");
    b.find(Locator::XPath(&edge_label("true true"))).await;
}

/// Each page loaded whole: its first render (Navigation Timing) reported, and it fits 1024 px.
/// With SWITCHBOARD_SCREENSHOTS=DIR, a screenshot of each goes there (docs/console.md's).
async fn each_page_loaded_whole(s: &TestServer, b: &Browser, workflow: &str, run_id: &str) {
    let shots = std::env::var_os("SWITCHBOARD_SCREENSHOTS").map(std::path::PathBuf::from);
    let one_workflow = format!("/workflows/{workflow}");
    let one_run = format!("/runs/{run_id}");
    for (page, ready) in [
        ("/workflows", "table"),
        (one_workflow.as_str(), ".svelte-flow__node"),
        ("/runs", "table tbody tr"),
        (one_run.as_str(), "[data-testid=run-status]"),
        ("/events", "table tbody tr"),
        ("/deliveries", "table tbody tr"),
        ("/schedules", "#schedules"),
        ("/admin", "h3"),
    ] {
        b.goto(&s.url(page)).await;
        b.find(Locator::Css(ready)).await;
        let timing = b
            .script(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return Math.round(n.domContentLoadedEventEnd - n.startTime);",
            )
            .await;
        eprintln!("console first render: {page} {timing} ms (DOMContentLoaded, loopback)");
        let fits = b
            .script("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await;
        assert_eq!(
            fits,
            json!(true),
            "{page} fits 1024 px without scrolling sideways"
        );
        if let Some(dir) = &shots {
            let name = page
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("page");
            let suffix = if page.matches('/').count() > 1 {
                "-one"
            } else {
                ""
            };
            std::fs::create_dir_all(dir).unwrap();
            let png = b.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}{suffix}.png")), png).unwrap();
        }
    }
}
