//! `switchboard bench --waiting N`: parks N runs on a delay, restarts the server, and lets them
//! fire. The server runs as a child process, so the RSS shown is the server's alone.
//!
//! Events go out at a fixed rate, each starting [`FAN_OUT`] workflows whose first step is a
//! `delay` of the same length, so the runs wake in the order and at the rate they were parked.
//! The delay outlasts parking and the restart, so all N are waiting when the RSS is read and when
//! the server restarts. Lateness = when the delay step completed − when it was due, in ms, for a
//! random sample of runs read from the database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use switchboard_store::Store;

use super::{counter, pct};
use crate::cli::BenchArgs;
use crate::first_start::DEFAULT_STORE_ID;
use switchboard_engine::secrets::new_token;

/// Workflows listening to the parking event: runs per event.
const FAN_OUT: u64 = 10;
/// Runs whose lateness is read back.
const SAMPLE: usize = 2000;

pub async fn run(args: &BenchArgs, count: u64) -> anyhow::Result<()> {
    let events = count.div_ceil(FAN_OUT);
    let rate = args.rate.unwrap_or(1000).max(1);
    let parking = Duration::from_secs_f64(events as f64 / rate as f64);
    // Parking, then the restart, must end before the first run is due.
    let delay_s = parking.as_secs() + 30;
    let dir = tempfile::tempdir()?;
    let admin = new_token("sba");
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("switchboard.db").display()));

    let server = ChildServer::start(dir.path(), &admin, &database_url)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let auth = format!("Bearer {admin}");
    let idle_kib = server.rss_kib("VmRSS");
    create_parked(&client, &server.base, &auth, delay_s).await?;

    println!(
        "scenario     park {count} runs ({events} events × {FAN_OUT} workflows) on a {delay_s} s delay at {rate} events/s, restart, let them fire"
    );
    let parked_at = Instant::now();
    let run_ids = park(&client, &server.base, &auth, events, rate, args.concurrency).await?;
    let parked_in = parked_at.elapsed();
    let waiting = counter(&client, &server.base, "switchboard_runs_waiting").await?;
    println!(
        "parked       {} runs in {:.1} s ({:.0} runs/s)    waiting now {waiting:.0}",
        run_ids.len(),
        parked_in.as_secs_f64(),
        run_ids.len() as f64 / parked_in.as_secs_f64()
    );
    println!(
        "server RSS   idle {} MiB    with the runs parked {} MiB    peak while parking {} MiB",
        idle_kib / 1024,
        server.rss_kib("VmRSS") / 1024,
        server.rss_kib("VmHWM") / 1024
    );

    let (mut server, waiting) = restart(server, &client, dir.path(), &admin, &database_url).await?;

    // Every run fires `delay_s` after it was parked; wait for the last plus a margin.
    let expected = waiting;
    let deadline = parked_at + parking + Duration::from_secs(delay_s + 120);
    let mut completed = 0.0;
    while completed < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        completed = counter(&client, &server.base, "switchboard_runs_completed_total").await?;
    }
    println!(
        "fired        {completed:.0} of {expected:.0} completed    server peak RSS {} MiB (since the restart)",
        server.rss_kib("VmHWM") / 1024
    );
    let lateness = lateness(&database_url, &run_ids).await?;
    if lateness.is_empty() {
        bail!("no sampled run fired");
    }
    println!(
        "lateness ms  p50 {:.0}    p99 {:.0}    max {:.0}    ({} runs sampled)",
        pct(&lateness, 0.5),
        pct(&lateness, 0.99),
        pct(&lateness, 1.0),
        lateness.len()
    );
    server.stop()?;
    Ok(())
}

/// The workflows each parking event starts: a delay of `delay_s`, then one step.
async fn create_parked(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    delay_s: u64,
) -> anyhow::Result<()> {
    for n in 0..FAN_OUT {
        let def = json!({"name": format!("parked {n}"), "trigger": {"type": "webhook", "eventType": "bench.park"},
            "steps": [{"id": "pause", "type": "delay", "config": {"delaySeconds": delay_s}},
                      {"id": "after", "type": "store_context_data", "config": {"data": {"woke": true}}}]});
        let res = client
            .post(format!("{base}/api/workflows"))
            .header("Authorization", auth)
            .header("StoreId", DEFAULT_STORE_ID)
            .json(&def)
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("cannot create the bench workflow: {}", res.text().await?);
        }
    }
    Ok(())
}

/// Stops the server and starts it again on the same data; reports how long each part took.
/// Gives the new server and how many runs it says wait.
async fn restart(
    mut server: ChildServer,
    client: &reqwest::Client,
    dir: &std::path::Path,
    admin: &str,
    database_url: &str,
) -> anyhow::Result<(ChildServer, f64)> {
    let restarted_at = Instant::now();
    server.stop()?;
    let stopped_in = restarted_at.elapsed();
    let restarted_at = Instant::now();
    let server = ChildServer::start(dir, admin, database_url)?;
    let listening_in = restarted_at.elapsed();
    loop {
        let ready = client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready_in = restarted_at.elapsed();
    let waiting = counter(client, &server.base, "switchboard_runs_waiting").await?;
    println!(
        "restart      stop {:.2} s    start → listening {:.2} s    → ready {:.2} s    waiting after restart {waiting:.0}    RSS {} MiB",
        stopped_in.as_secs_f64(),
        listening_in.as_secs_f64(),
        ready_in.as_secs_f64(),
        server.rss_kib("VmRSS") / 1024
    );
    Ok((server, waiting))
}

/// Sends `events` parking events at `rate` per second from `concurrency` clients; returns the ids
/// of the runs they started.
async fn park(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    events: u64,
    rate: u64,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let clients = concurrency.max(1) as u64;
    let interval = Duration::from_secs_f64(clients as f64 / rate as f64);
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let (client, url, auth) = (
                client.clone(),
                format!("{base}/api/events"),
                auth.to_owned(),
            );
            let mine = events / clients + u64::from(n < events % clients);
            tokio::spawn(async move {
                let offset = interval.mul_f64(n as f64 / clients as f64);
                let mut ticker =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut ids = Vec::with_capacity((mine * FAN_OUT) as usize);
                for _ in 0..mine {
                    ticker.tick().await;
                    let body: serde_json::Value = client
                        .post(&url)
                        .header("Authorization", &auth)
                        .header("StoreId", DEFAULT_STORE_ID)
                        .json(&json!({"eventType": "bench.park"}))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    for id in body["runIds"].as_array().into_iter().flatten() {
                        ids.extend(id.as_str().map(str::to_owned));
                    }
                }
                anyhow::Ok(ids)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// How late each sampled run's delay completed after it was due, in µs (ms resolution), sorted.
async fn lateness(database_url: &str, run_ids: &[String]) -> anyhow::Result<Vec<u64>> {
    let store: Arc<dyn Store> = switchboard_store::open(database_url).await?;
    let step = (run_ids.len() / SAMPLE).max(1);
    let mut late = Vec::new();
    for id in run_ids.iter().step_by(step) {
        let steps = store.run_steps(id).await?;
        let Some(pause) = steps.iter().find(|s| s.step_id == "pause") else {
            continue;
        };
        let (Some(finished), Some(config)) = (pause.finished_at, pause.input.as_ref()) else {
            continue;
        };
        let seconds = config["delaySeconds"].as_f64().unwrap_or_default();
        let due = pause.started_at + (seconds * 1000.0) as i64;
        late.push((finished - due).max(0) as u64 * 1000);
    }
    late.sort_unstable();
    Ok(late)
}

/// `switchboard serve` as a child process on a free loopback port.
struct ChildServer {
    child: Child,
    base: String,
}

impl ChildServer {
    fn start(
        dir: &std::path::Path,
        admin: &str,
        database_url: &str,
    ) -> anyhow::Result<ChildServer> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(["--database-url", database_url])
            .env("SWITCHBOARD_ADMIN_TOKEN", admin)
            .env("SWITCHBOARD_LOG", "warn")
            .env("SWITCHBOARD_STORE_EVENT_RATE", u32::MAX.to_string())
            .env("SWITCHBOARD_STORE_API_RATE", u32::MAX.to_string())
            .env("SWITCHBOARD_STORE_JS_MS_PER_MINUTE", u64::MAX.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .context("the server exited before listening")??;
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(ChildServer { child, base })
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS` now, `VmHWM` peak).
    fn rss_kib(&self, field: &str) -> u64 {
        super::status_kib(&format!("/proc/{}/status", self.child.id()), field)
    }

    /// SIGTERM, then waits for the graceful exit.
    fn stop(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("cannot signal the server");
        }
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
