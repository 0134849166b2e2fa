use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::api::events::{create, run_of, simple};
use crate::harness::{BIN, Backend, TestServer, fixture_path, send};

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn version_prints_the_version() {
    let (code, out) = run(&["version"]);
    assert_eq!(
        (code, out.trim()),
        (0, concat!("switchboard ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn validate_reports_the_seed_duplicate_id_and_accepts_comments() {
    let doban = fixture_path("doban_first_contact.jsonc");
    let (code, out) = run(&["validate", doban.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("invalid (1 errors"), "{out}");
    assert!(
        out.contains("error   /steps/3/id: duplicate step id 'step4' (first used at /steps/2/id)"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("doban_fixed.jsonc");
    let text = std::fs::read_to_string(&doban).unwrap();
    let second = text.rfind("\"id\": \"step4\"").unwrap();
    std::fs::write(
        &fixed,
        format!(
            "{}\"id\": \"step5\"{}",
            &text[..second],
            &text[second + 13..]
        ),
    )
    .unwrap();
    let (code, out) = run(&["validate", fixed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid (0 errors, 0 warnings)"), "{out}");
}

#[test]
fn validate_checks_apps_and_says_what_it_skipped() {
    let app = fixture_path("kustomer_app_003_trailing_comma.txt");
    let (code, out) = run(&["validate", app.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "skipped /workflows/0/steps/0/params/workflowId: workflow id '5f8e148232731d0015c14657'"
        ),
        "{out}"
    );
    let app = fixture_path("kustomer_app_001.json");
    let (code, out) = run(&["validate", app.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "skipped /workflows/0/steps/0/action: saved webhook 'kustomer.company.create'"
        ),
        "{out}"
    );
}

#[test]
fn validate_fails_on_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"name\": \"x\",\n  \"steps\": [\n}").unwrap();
    let (code, out) = run(&["validate", broken.to_str().unwrap(), "/nonexistent.json"]);
    assert_eq!(code, 1);
    assert!(out.contains("invalid JSON at line 4, column 1"), "{out}");
    assert!(out.contains("/nonexistent.json: cannot read"), "{out}");
}

/// A backup taken while the server runs restores to the same workflows and runs; on PostgreSQL the
/// command says to use pg_dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_live_database_that_restores() {
    let s = TestServer::start(Backend::Sqlite).await;
    let id = create(&s, &simple("kept", "lead.created")).await;
    let first = run_of(&s, json!({"eventType": "lead.created", "fullName": "Ana"})).await;
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("copy.db");
    let data_dir = s.data_dir().to_str().unwrap().to_owned();
    let (code, text) = run(&["backup", copy.to_str().unwrap(), "--data-dir", &data_dir]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("backed up"), "{text}");
    // A second backup replaces the first once it is whole.
    let (code, text) = run(&["backup", copy.to_str().unwrap(), "--data-dir", &data_dir]);
    assert_eq!(code, 0, "{text}");
    assert!(!out.path().join("copy.partial").exists());

    // Restore: the copy in place of the database file, with the same master key.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("switchboard.db")).unwrap();
    std::fs::copy(
        s.data_dir().join("master.key"),
        restored.path().join("master.key"),
    )
    .unwrap();
    let r = TestServer::start_in(restored);
    let (status, workflow) = send(r.admin(Method::GET, &format!("/api/workflows/{id}"))).await;
    assert_eq!(
        (status, workflow["name"].as_str()),
        (200, Some("kept")),
        "{workflow}"
    );
    let run_id = first["id"].as_str().unwrap();
    let (status, again) = send(r.admin(Method::GET, &format!("/api/runs/{run_id}"))).await;
    assert_eq!(
        (status, &again["status"]),
        (200, &first["status"]),
        "{again}"
    );

    let (code, text) = run(&[
        "backup",
        "x.db",
        "--database-url",
        "postgres://127.0.0.1:9/none",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("pg_dump"), "{text}");
    let (code, text) = run(&["backup", "x.db", "--data-dir", out.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no database at"), "{text}");
}

/// `dry-run` works offline on a `.jsonc` file: the seed lead workflow shows the WhatsApp request
/// it would send; a mocked refusal from Meta fails it (exit 1).
#[test]
fn dry_run_shows_what_a_workflow_file_would_send_offline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lead.jsonc");
    let lead = std::fs::read_to_string(fixture_path("lead_follow_up.json")).unwrap();
    std::fs::write(&file, format!("// kept as a file\n{lead}")).unwrap();
    let trigger = r#"{"eventType": "Lead_Workflow_phase_1", "fullName": "Ana Souza", "phoneNumber": "+55 11 98888-7777"}"#;
    let (code, out) = run(&["dry-run", file.to_str().unwrap(), "--trigger", trigger]);
    assert_eq!(code, 0, "{out}");
    let dry: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&dry["dryRun"], &dry["status"]),
        (&json!(true), &json!("completed")),
        "{dry}"
    );
    let sent = &dry["steps"][1]["simulated"]["request"];
    assert!(
        sent["url"]
            .as_str()
            .unwrap()
            .starts_with("https://graph.facebook.com/"),
        "{sent}"
    );
    assert_eq!(sent["headers"]["authorization"], "***");
    assert!(
        sent["body"]
            .as_str()
            .unwrap()
            .contains("first_contact_charge_workflow")
    );

    let refused = r#"step2={"status": 400, "body": {"error": {"code": 132001, "message": "Template name does not exist"}}}"#;
    let (code, out) = run(&[
        "dry-run",
        file.to_str().unwrap(),
        "--trigger",
        trigger,
        "--mock",
        refused,
    ]);
    assert_eq!(code, 1, "{out}");
    let dry: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&dry["status"], &dry["error"]["stepId"]),
        (&json!("failed"), &json!("step2")),
        "{dry}"
    );
}
