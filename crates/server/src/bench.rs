//! `switchboard bench`: starts a server in this process on a temporary data dir (or a given
//! database), loads it over loopback with concurrent clients, and prints throughput and latency.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::cli::{BenchArgs, BenchScenario};
use crate::config::Settings;
use crate::first_start::DEFAULT_STORE_ID;
use crate::secrets::new_token;

const WORKFLOW: &str = include_str!("../../../fixtures/seeds/lead_follow_up.json");

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let admin = new_token("sba");
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_owned(),
        database_url: args.database_url.clone(),
        admin_token: Some(admin.clone()),
        master_key: args
            .database_url
            .as_ref()
            .map(|_| std::env::var("SWITCHBOARD_MASTER_KEY"))
            .transpose()
            .context("SWITCHBOARD_MASTER_KEY is needed with --database-url")?,
        ..Settings::default()
    };
    let boot = crate::first_start::prepare(&settings).await?;
    let backend = boot.store.backend();
    let server = crate::server::Server::bind(&settings, boot).await?;
    let base = format!("http://{}", server.addr);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stop_rx.await;
    }));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let auth = format!("Bearer {admin}");
    let created: Value = client
        .post(format!("{base}/api/workflows"))
        .header("Authorization", &auth)
        .header("StoreId", DEFAULT_STORE_ID)
        .header("Content-Type", "application/json")
        .body(WORKFLOW)
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"]
        .as_str()
        .context("the bench workflow was not created")?
        .to_owned();
    let url = format!("{base}/api/workflows/{id}");

    let BenchScenario::Api = args.scenario;
    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                loop {
                    let sent = Instant::now();
                    if sent.duration_since(start) >= warmup + measure {
                        break;
                    }
                    let ok = match client
                        .get(&url)
                        .header("Authorization", &auth)
                        .header("StoreId", DEFAULT_STORE_ID)
                        .send()
                        .await
                    {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if sent.duration_since(start) >= warmup {
                        if ok {
                            latencies.push(sent.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        latencies.extend(l);
        errors += e;
    }
    let _ = stop_tx.send(());
    running.await??;
    if latencies.is_empty() {
        bail!("no request succeeded ({errors} errors)");
    }
    latencies.sort_unstable();
    let pct =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    println!("scenario     GET /api/workflows/{{id}} (auth + store lookup + workflow read)");
    println!(
        "backend      {backend}    concurrency {}    measured {}s after 1s warm-up",
        args.concurrency,
        measure.as_secs()
    );
    println!("requests     {}    errors {errors}", latencies.len());
    println!(
        "throughput   {:.0} requests/s",
        latencies.len() as f64 / measure.as_secs_f64()
    );
    println!(
        "latency ms   p50 {:.2}    p90 {:.2}    p99 {:.2}    max {:.2}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
