//! A full disk loses nothing: the data dir on a small tmpfs, filled up under a stream of events.
//! Every answer is 202 or 503 (`unavailable`, `disk_full`, with `Retry-After`), never a 500;
//! `/healthz` stays up while `/readyz` says why it is not ready; once space returns the server takes
//! events again without a restart, and every acknowledged event has its run.
//!
//! Mounting needs root (as CI runs); elsewhere the test says so and does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::events::{create, settled, simple};
use crate::harness::*;

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes still free.
    fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system but for `leave` bytes.
fn fill(fs: &Tmpfs, leave: u64) -> PathBuf {
    let filler = fs.path().join("filler");
    let size = fs.available().saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
    filler
}

/// Posts a `lead.created` event; its status, body and `Retry-After`.
pub async fn post_event(s: &TestServer, name: &str, n: usize) -> (u16, Value, Option<String>) {
    let res = s
        .admin(Method::POST, "/api/events")
        .json(&json!({"eventType": "lead.created", "fullName": name, "n": n}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, res.json().await.unwrap(), retry_after)
}

/// Once the fault is gone, posts events until one is taken again (within 30 s, with no
/// restart), adding its run to `acked`; `/readyz` turns 200; every acknowledged run completes.
pub async fn recovers_and_loses_nothing(s: &TestServer, mut acked: Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body, _) = post_event(s, "after", 9999).await;
        if status == 202 {
            acked.push(body["runIds"][0].as_str().unwrap().to_owned());
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "no recovery: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(s).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "still not ready: {}",
            ready(s).await.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for run_id in &acked {
        let run = settled(s, run_id).await;
        assert_eq!(run["status"], "completed", "{run}");
    }
}

async fn ready(s: &TestServer) -> (u16, Value) {
    send(s.client.get(s.url("/readyz"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_and_recovers() {
    let Some(fs) = Tmpfs::mount("24m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; run the suite as root (as CI does)");
        return;
    };
    let data = tempfile::tempdir_in(fs.path()).unwrap();
    let s = TestServer::start_in(data);
    create(&s, &simple("lead", "lead.created")).await;
    let filler = fill(&fs, 2 << 20);

    // Four senders at once, so that batches fill the disk with several requests in them.
    let s = std::sync::Arc::new(s);
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                let (mut acked, mut refused) = (Vec::new(), 0);
                for n in 0..2000 {
                    let (status, body, retry_after) =
                        post_event(&s, &"x".repeat(4000), t * 10_000 + n).await;
                    match status {
                        202 => acked.push(body["runIds"][0].as_str().unwrap().to_owned()),
                        503 => {
                            assert_eq!(body["error"]["code"], "unavailable", "{body}");
                            assert_eq!(body["error"]["details"]["reason"], "disk_full", "{body}");
                            assert_eq!(retry_after.as_deref(), Some("5"));
                            refused += 1;
                            if refused == 3 {
                                break;
                            }
                        }
                        other => panic!("event answered {other}: {body}"),
                    }
                }
                assert_eq!(refused, 3, "the disk never filled up");
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.unwrap());
    }
    assert!(
        acked.len() > 10,
        "only {} events before the disk filled",
        acked.len()
    );
    let (status, health) = send(s.client.get(s.url("/healthz"))).await;
    assert_eq!(status, 200, "{health}");
    let (status, readiness) = ready(&s).await;
    assert_eq!(
        (status, &readiness["reason"]),
        (503, &json!("disk_full")),
        "{readiness}"
    );

    // Space returns: events are taken again, without a restart, and nothing was lost.
    std::fs::remove_file(filler).unwrap();
    recovers_and_loses_nothing(&s, acked).await;
}

/// Runs whose checkpoint cannot be written pause: they neither fail nor lose a step, and go on
/// from their last checkpoint once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_whose_checkpoint_fails_pause_and_go_on() {
    let Some(fs) = Tmpfs::mount("24m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; run the suite as root (as CI does)");
        return;
    };
    let data = tempfile::tempdir_in(fs.path()).unwrap();
    // A short lease: a run that stopped at a failed checkpoint is taken up again soon after; a
    // generous expression limit, for a debug build on a busy machine.
    let fast = [
        ("SWITCHBOARD_LEASE_MS", "1500"),
        ("SWITCHBOARD_POLL_MS", "50"),
        ("SWITCHBOARD_SCRIPT_TIMEOUT_MS", "5000"),
    ];
    let s = TestServer::start_at(data, None, &fast);
    create(&s, &json!({"name": "later", "trigger": {"type": "webhook", "eventType": "later"},
        "steps": [{"id": "wait", "type": "delay", "config": {"delaySeconds": 2}},
                  {"id": "big", "type": "store_context_data", "config": {"data": {"v": "{{ 'x'.repeat(100000) + trigger.n }}"}}}]})).await;
    let mut runs = Vec::new();
    for n in 0..20 {
        let (status, body) = send(
            s.admin(Method::POST, "/api/events")
                .json(&json!({"eventType": "later", "n": n})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        runs.push(body["runIds"][0].as_str().unwrap().to_owned());
    }
    // The disk fills while the runs wait; they wake into checkpoints that cannot be written.
    let filler = fill(&fs, 64 << 10);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&s).await.0 == 200 {
        assert!(Instant::now() < deadline, "no checkpoint ever failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for run in &runs {
        let (_, r) = send(s.admin(Method::GET, &format!("/api/runs/{run}"))).await;
        assert_ne!(r["status"], "failed", "{r}");
    }
    std::fs::remove_file(filler).unwrap();
    for run in &runs {
        let r = settled(&s, run).await;
        assert_eq!(r["status"], "completed", "{}", r["error"]);
        let v = r["steps"][1]["output"]["v"].as_str().unwrap_or_default();
        assert_eq!(
            v.len(),
            100_000 + r["trigger"]["n"].to_string().len(),
            "{run}"
        );
    }
}
