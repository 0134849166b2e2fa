//! The command line against a running server: the seed lead workflow kept as a `.jsonc` file,
//! applied (created, unchanged, updated, pruned; nothing written when a file is invalid),
//! triggered, found by phone, retried on the latest version from its failed step, and tailed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::*;

/// `switchboard ARGS…` against the server, as the admin acting on store `default`.
fn cli(s: &TestServer, args: &[&str]) -> (i32, String) {
    let out = command(s).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn command(s: &TestServer) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")) {
        cmd.env_remove(key);
    }
    cmd.env("SWITCHBOARD_SERVER", &s.base)
        .env("SWITCHBOARD_TOKEN", ADMIN)
        .env("SWITCHBOARD_STORE", "st_default");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_kept_as_files_are_applied_triggered_found_and_retried() {
    let s = TestServer::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let lead = std::fs::read_to_string(fixture_path("lead_follow_up.json")).unwrap();
    let file = dir.path().join("lead.jsonc");
    std::fs::write(&file, format!("// the seed's lead follow-up\n{lead}")).unwrap();
    let folder = dir.path().to_str().unwrap();

    let (code, said) = cli(&s, &["apply", folder]);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.starts_with("created Lead Follow-up Workflow"),
        "{said}"
    );
    let (code, said) = cli(&s, &["apply", folder]);
    assert_eq!((code, said.starts_with("unchanged")), (0, true), "{said}");
    std::fs::write(&file, lead.replace("new leads", "every new lead")).unwrap();
    let (_, said) = cli(&s, &["apply", folder, "--dry-run"]);
    assert!(said.starts_with("would update"), "{said}");
    let (_, said) = cli(&s, &["apply", folder]);
    assert!(
        said.contains("updated") && said.contains("version 2"),
        "{said}"
    );

    // An invalid file stops everything before anything is written.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"name": "later", "trigger": {"type": "manual"}, "steps": [{"id": "a", "type": "delay", "config": {"until": "tomorrow"}}]}"#).unwrap();
    std::fs::write(&file, lead.replace("new leads", "all new leads")).unwrap();
    let (code, said) = cli(&s, &["apply", folder]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("/steps/0/config/until") && said.contains("nothing applied"),
        "{said}"
    );
    let (_, workflows) = send(s.admin(reqwest::Method::GET, "/api/workflows")).await;
    assert_eq!(
        workflows["data"].as_array().unwrap().len(),
        1,
        "{workflows}"
    );
    assert_eq!(
        workflows["data"][0]["version"], 2,
        "the valid file was not applied either"
    );
    std::fs::remove_file(&bad).unwrap();

    // A workflow no file names goes with --prune.
    let other = dir.path().join("elsewhere.json");
    std::fs::write(&other, r#"{"name": "stray", "trigger": {"type": "manual"}, "steps": [{"id": "a", "type": "delay", "config": {"delaySeconds": 1}}]}"#).unwrap();
    let (code, _) = cli(&s, &["apply", other.to_str().unwrap()]);
    assert_eq!(code, 0);
    std::fs::remove_file(&other).unwrap();
    let (_, said) = cli(&s, &["apply", folder, "--prune"]);
    assert!(said.contains("deleted stray"), "{said}");

    // Triggered, found by the customer's phone, seen failing live, retried from its step.
    let mut tail = command(&s)
        .args(["runs", "tail", "--status", "failed"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, said) = cli(
        &s,
        &[
            "events",
            "send",
            "Lead_Workflow_phase_1",
            "--data",
            r#"{"fullName": "Ana", "phoneNumber": "+55 11 98888-7777"}"#,
        ],
    );
    assert_eq!(code, 0, "{said}");
    let accepted: Value = serde_json::from_str(&said).unwrap();
    let run_id = accepted["runIds"][0].as_str().unwrap().to_owned();
    let mut line = String::new();
    BufReader::new(tail.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        line.starts_with(&run_id) && line.contains("channel_not_configured"),
        "{line}"
    );

    let (code, said) = cli(&s, &["runs", "list", "--phone", "+5511988887777"]);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.starts_with(&run_id) && said.contains("step2"),
        "{said}"
    );
    let (code, said) = cli(
        &s,
        &["runs", "retry", &run_id, "--latest", "--from-step", "step2"],
    );
    assert_eq!(code, 0, "{said}");
    let (_, shown) = cli(&s, &["runs", "show", &run_id]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (&shown["workflowVersion"], &shown["actions"][0]["fromStep"]),
        (&serde_json::json!(3), &serde_json::json!("step2")),
        "{shown}"
    );

    let (code, said) = cli(&s, &["runs", "show", "run_nope"]);
    assert_eq!(code, 1, "a refusal is the command's failure");
    assert!(said.contains("404 not_found"), "{said}");
}
