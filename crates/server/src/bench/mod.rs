//! `switchboard bench`: starts a server in this process on a temporary data dir (or a given
//! database), loads it over loopback with concurrent clients, and prints throughput and latency.
//!
//! - `api`: `GET /api/workflows/{id}` (auth + store lookup + workflow read).
//! - `lead` / `code`: `POST /api/events` starting workflow (a) or (b) of issue 3; reports events/s
//!   accepted, runs/s completed, ack latency, trigger → first step, peak RSS.
//! - `webhook`: workflow (a) plus a webhook step calling a local sink the bench starts.
//! - `schedule`: events scheduling a call 5 s ahead; reports how late the calls start.
//! - `deliveries`: workflow (a) emitting an event to a subscribed local receiver; deliveries/s
//!   and event → delivered latency.
//! - `claim`: runs parked until one instant, then claimed by the nodes: the claim rate.
//! - `hostile`: one store against another: see [`hostile`].
//! - `--waiting N`: see [`waiting`].
//! - `--nodes N`: N nodes in this process on one PostgreSQL, the clients spread over them.
//! - `--count-round-trips`: database round trips per run, through a counting proxy ([`pgwire`]).

mod claim;
mod deliveries;
mod hostile;
mod pgwire;
mod report;
mod scenarios;
mod waiting;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{BenchArgs, BenchScenario};
use crate::config::Settings;
use crate::first_start::DEFAULT_STORE_ID;
use crate::server::Server;
use report::*;
use scenarios::*;
use switchboard_engine::secrets::new_token;

struct Load {
    latencies_us: Vec<u64>,
    errors: u64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(count) = args.waiting {
        return waiting::run(&args, count).await;
    }
    let dir = tempfile::tempdir()?;
    let admin = new_token("sba");
    let (settings, sink, round_trips) = settings(&args, dir.path(), &admin).await?;
    let nodes = Nodes::start(&settings, args.nodes).await?;
    let (store, backend) = (nodes.store.clone(), nodes.store.backend());
    let bases = &nodes.bases;
    let base = bases[0].clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let auth = format!("Bearer {admin}");
    if matches!(args.scenario, BenchScenario::Hostile) {
        println!(
            "backend      {backend}    each part measured for {} s",
            args.seconds.max(1)
        );
        hostile::run(&client, &base, &auth, args.seconds).await?;
        return nodes.stop().await;
    }
    let definition = definition(args.scenario, &client, &base, &auth, sink.as_deref()).await?;
    let id = create(&client, &base, &auth, &definition).await?;
    let receiver = match args.scenario {
        BenchScenario::Deliveries => {
            let (url, seen) = deliveries::start_receiver().await?;
            deliveries::subscribe(&client, &base, &auth, &url).await?;
            Some(seen)
        }
        _ => None,
    };

    let measure = Duration::from_secs(args.seconds.max(1));
    if matches!(args.scenario, BenchScenario::Claim) {
        let trips = round_trips.as_deref();
        claim::run(&client, &args, bases, &auth, &id, measure, trips).await?;
        return nodes.stop().await;
    }
    let completed_before = counter(&client, &base, "switchboard_runs_completed_total").await?;
    let trips_before = round_trips.as_ref().map(|c| c.load(Ordering::Relaxed));
    let load_started = Instant::now();
    let load = load(&client, &args, bases, &auth, &id, measure, json!({})).await?;
    let load_elapsed = load_started.elapsed();
    if matches!(args.scenario, BenchScenario::Api) {
        report_api(&args, backend, measure, load)?;
    } else if let Some(seen) = &receiver {
        deliveries::report(&args, backend, measure, load, seen).await?;
    } else if matches!(args.scenario, BenchScenario::Schedule) {
        report_schedules(&args, backend, measure, load, &store).await?;
    } else {
        let done = Completed {
            client: &client,
            base: &base,
            before: completed_before,
            load_elapsed,
        };
        let runs = drain_and_report(&args, backend, measure, load, done, &store).await?;
        if let (Some(count), Some(before)) = (&round_trips, trips_before) {
            report_round_trips(count.load(Ordering::Relaxed) - before, runs);
        }
    }
    nodes.stop().await
}

/// The server's settings for the scenario (a loopback sink exempt from the guard where it calls
/// out), the sink's URL, and the round-trip counter when asked for.
async fn settings(
    args: &BenchArgs,
    dir: &std::path::Path,
    admin: &str,
) -> anyhow::Result<(
    Settings,
    Option<String>,
    Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
)> {
    let (database_url, round_trips) = match (&args.database_url, args.count_round_trips) {
        (Some(url), true) if !url.starts_with("sqlite:") => {
            let (url, count) = pgwire::start(url).await?;
            (Some(url), Some(count))
        }
        (_, true) => bail!("--count-round-trips needs --database-url postgres://…"),
        (url, false) => (url.clone(), None),
    };
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_owned(),
        database_url,
        admin_token: Some(admin.to_owned()),
        master_key: args
            .database_url
            .as_ref()
            .map(|_| std::env::var("SWITCHBOARD_MASTER_KEY"))
            .transpose()
            .context("SWITCHBOARD_MASTER_KEY is needed with --database-url")?,
        log: "warn".into(),
        // One store takes all the load here: its rates are checked but never reached, so the
        // figures are the server's, not the per-store allowance's (`bench api` passes 5000/s).
        store_event_rate: u32::MAX,
        store_api_rate: u32::MAX,
        store_js_ms_per_minute: u64::MAX,
        ..Settings::default()
    };
    let calls_out = matches!(
        args.scenario,
        BenchScenario::Deliveries | BenchScenario::Webhook
    );
    let settings = if calls_out {
        Settings {
            outbound_allow: "127.0.0.0/8".into(),
            outbound_allow_http: true,
            ..settings
        }
    } else {
        settings
    };
    let sink = match args.scenario {
        BenchScenario::Webhook => Some(start_sink().await?),
        _ => None,
    };
    Ok((settings, sink, round_trips))
}

/// The nodes serving a bench: servers in this process, each with its own store connection,
/// engine and workers, as separate processes would have.
struct Nodes {
    bases: Vec<String>,
    store: std::sync::Arc<dyn switchboard_store::Store>,
    running: Vec<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
}

impl Nodes {
    async fn start(settings: &Settings, count: usize) -> anyhow::Result<Nodes> {
        let mut bases = Vec::new();
        let mut running = Vec::new();
        let mut store = None;
        for _ in 0..count.max(1) {
            let listener = crate::server::listen(settings).await?;
            let boot = crate::first_start::prepare(settings, listener.local_addr()?).await?;
            if count > 1 && boot.store.backend() == "sqlite" {
                bail!("--nodes needs --database-url postgres://…: a SQLite file serves one node");
            }
            store.get_or_insert_with(|| boot.store.clone());
            let server = Server::bind(settings, boot, listener).await?;
            bases.push(format!("http://{}", server.addr));
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(server.run(async move {
                let _ = stop_rx.await;
            }));
            running.push((stop_tx, handle));
        }
        Ok(Nodes {
            bases,
            store: store.context("one node at least")?,
            running,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        for (stop, handle) in self.running {
            let _ = stop.send(());
            handle.await??;
        }
        Ok(())
    }
}

/// Drives requests from `concurrency` clients for 1 s of warm-up plus `measure`; latencies are
/// kept for the measured part only.
/// Client `n` talks to node `n % nodes`; `extra` is merged into every event.
async fn load(
    client: &reqwest::Client,
    args: &BenchArgs,
    bases: &[String],
    auth: &str,
    workflow_id: &str,
    measure: Duration,
    extra: Value,
) -> anyhow::Result<Load> {
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let clients = args.concurrency.max(1);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(clients as f64 / r.max(1) as f64));
    let scenario = args.scenario;
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let (client, base, auth, id) = (client.clone(), bases[n % bases.len()].clone(), auth.to_owned(), workflow_id.to_owned());
            let extra = extra.clone();
            tokio::spawn(async move {
                let mut ticker = interval.map(|i| {
                    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + i.mul_f64(n as f64 / clients as f64), i);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    t
                });
                let mut load = Load { latencies_us: Vec::new(), errors: 0 };
                let mut seq = 0u64;
                loop {
                    if let Some(t) = ticker.as_mut() {
                        t.tick().await;
                    }
                    let sent = Instant::now();
                    if sent.duration_since(start) >= warmup + measure {
                        break;
                    }
                    seq += 1;
                    let request = match scenario {
                        BenchScenario::Api => client.get(format!("{base}/api/workflows/{id}")),
                        BenchScenario::Lead | BenchScenario::Code | BenchScenario::Webhook | BenchScenario::Schedule | BenchScenario::Deliveries | BenchScenario::Claim | BenchScenario::Hostile => {
                            let companies = if seq.is_multiple_of(2) { json!(["Acme", "Globex"]) } else { json!([]) };
                            let mut body = json!({"eventType": "Lead_Workflow_phase_1", "fullName": format!("Ana Souza {n}-{seq}"),
                                "phoneNumber": format!("+55 11 9{n:03}{seq:05}"), "companies": companies, "sentAtUs": deliveries::now_us()});
                            if let (Value::Object(body), Value::Object(extra)) = (&mut body, &extra) {
                                body.extend(extra.clone());
                            }
                            client.post(format!("{base}/api/events")).header("Content-Type", "application/json").body(body.to_string())
                        }
                    };
                    let ok = match request.header("Authorization", &auth).header("StoreId", DEFAULT_STORE_ID).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if sent.duration_since(start) >= warmup {
                        if ok {
                            load.latencies_us.push(sent.elapsed().as_micros() as u64);
                        } else {
                            load.errors += 1;
                        }
                    }
                }
                load
            })
        })
        .collect();
    let mut all = Load {
        latencies_us: Vec::new(),
        errors: 0,
    };
    for t in tasks {
        let l = t.await?;
        all.latencies_us.extend(l.latencies_us);
        all.errors += l.errors;
    }
    if all.latencies_us.is_empty() {
        bail!("no request succeeded ({} errors)", all.errors);
    }
    all.latencies_us.sort_unstable();
    Ok(all)
}
