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
//! - `--waiting N`: see [`waiting`].
//! - `--nodes N`: N nodes in this process on one PostgreSQL, the clients spread over them.
//! - `--count-round-trips`: database round trips per run, through a counting proxy ([`pgwire`]).

mod claim;
mod deliveries;
mod pgwire;
mod waiting;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{BenchArgs, BenchScenario};
use crate::config::Settings;
use crate::first_start::DEFAULT_STORE_ID;
use crate::server::Server;
use switchboard_engine::secrets::new_token;

const API_WORKFLOW: &str = include_str!("../../../../fixtures/seeds/lead_follow_up.json");

/// Workflow (a): the lead workflow of issue 3; with `extra`, more steps at its end.
fn lead_workflow(name: &str, extra: Vec<Value>) -> Value {
    let mut steps = vec![
        json!({"id": "capture", "type": "store_context_data", "outputVar": "leadData", "config": {"data": {
            "leadSource": "{{trigger.eventType}}", "customerName": "{{trigger.fullName}}",
            "firstName": "{{trigger.fullName.split(' ')[0]}}"}}}),
        json!({"id": "has_companies", "type": "conditional", "config": {
            "condition": "context.trigger.companies && context.trigger.companies.length > 0",
            "then": {"id": "companies", "type": "store_context_data", "config": {"data": {"companies": "{{trigger.companies}}"}}}}}),
    ];
    steps.extend(extra);
    json!({"name": name,
        "trigger": {"type": "webhook", "eventType": "Lead_Workflow_phase_1"},
        "steps": steps, "contextVariables": ["leadData"]})
}

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
        data_dir: dir.path().to_owned(),
        database_url,
        admin_token: Some(admin.clone()),
        master_key: args
            .database_url
            .as_ref()
            .map(|_| std::env::var("SWITCHBOARD_MASTER_KEY"))
            .transpose()
            .context("SWITCHBOARD_MASTER_KEY is needed with --database-url")?,
        log: "warn".into(),
        ..Settings::default()
    };
    // The webhook scenario calls a sink on loopback: exempt it from the guard, allow plain HTTP.
    let (settings, sink) = match args.scenario {
        BenchScenario::Deliveries => (
            Settings {
                outbound_allow: "127.0.0.0/8".into(),
                outbound_allow_http: true,
                ..settings
            },
            None,
        ),
        BenchScenario::Webhook => (
            Settings {
                outbound_allow: "127.0.0.0/8".into(),
                outbound_allow_http: true,
                ..settings
            },
            Some(start_sink().await?),
        ),
        _ => (settings, None),
    };
    let nodes = Nodes::start(&settings, args.nodes).await?;
    let (store, backend) = (nodes.store.clone(), nodes.store.backend());
    let bases = &nodes.bases;
    let base = bases[0].clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let auth = format!("Bearer {admin}");
    let definition = match args.scenario {
        BenchScenario::Schedule => {
            let callee = create(&client, &base, &auth, &json!({"name": "bench callee", "trigger": {"type": "callable"},
                "steps": [{"id": "got", "type": "store_context_data", "config": {"data": {"name": "{{trigger.name}}"}}}]}).to_string()).await?;
            json!({"name": "bench scheduler", "trigger": {"type": "webhook", "eventType": "Lead_Workflow_phase_1"},
                "steps": [{"id": "later", "type": "schedule_workflow", "config": {"workflowId": callee,
                    "runAt": {"type": "relative", "value": CALL_AHEAD_S}, "inputs": {"name": "{{trigger.fullName}}"}}}]}).to_string()
        }
        BenchScenario::Api => API_WORKFLOW.to_owned(),
        BenchScenario::Lead => lead_workflow("bench lead", vec![]).to_string(),
        BenchScenario::Claim => claim::workflow().to_string(),
        BenchScenario::Deliveries => lead_workflow("bench lead announced", vec![deliveries::emit_step()]).to_string(),
        BenchScenario::Code => lead_workflow("bench lead with code", vec![json!({"id": "score", "type": "custom_code", "outputVar": "score", "config": {
            "code": "const c = context.trigger.companies || []; return { score: c.length * 10 + context.state.firstName.length };"}})]).to_string(),
        BenchScenario::Webhook => lead_workflow("bench lead with webhook", vec![
            json!({"id": "crm", "type": "webhook", "outputVar": "crm", "config": {
                "method": "POST", "url": sink.as_deref().context("the sink is running")?,
                "params": {"source": "{{trigger.eventType}}"},
                "body": {"format": "json", "content": {"name": "{{state.customerName}}", "companies": "{{trigger.companies}}"}}}}),
            json!({"id": "promo", "type": "store_context_data", "config": {"data": {"promo": "{{variables.crm.body.promocode}}"}}}),
        ]).to_string(),
    };
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
        let completed_during =
            counter(&client, &base, "switchboard_runs_completed_total").await? - completed_before;
        // Let the last runs finish, then count them all.
        let accepted = load.latencies_us.len() as f64;
        let drain_started = Instant::now();
        let mut done = completed_during;
        while done < accepted && drain_started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            done = counter(&client, &base, "switchboard_runs_completed_total").await?
                - completed_before;
        }
        let failed = counter(&client, &base, "switchboard_runs_failed_total").await?;
        let first_step = first_step_delays(&store, load_elapsed).await?;
        report_runs(
            &args,
            backend,
            measure,
            load,
            completed_during,
            done,
            failed,
            drain_started.elapsed(),
            first_step,
        );
        if let (Some(count), Some(before)) = (&round_trips, trips_before) {
            report_round_trips(count.load(Ordering::Relaxed) - before, done);
        }
    }
    nodes.stop().await
}

/// Database round trips per completed run, everything the nodes did included (claims, polls,
/// heartbeats).
fn report_round_trips(round_trips: u64, runs: f64) {
    println!(
        "db trips     {:.2} round trips per completed run    ({round_trips} in all for {runs:.0} runs, background polls included)",
        round_trips as f64 / runs.max(1.0)
    );
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
            let boot = crate::first_start::prepare(settings).await?;
            if count > 1 && boot.store.backend() == "sqlite" {
                bail!("--nodes needs --database-url postgres://…: a SQLite file serves one node");
            }
            store.get_or_insert_with(|| boot.store.clone());
            let server = Server::bind(settings, boot).await?;
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

/// How far ahead the `schedule` scenario schedules its calls, seconds.
const CALL_AHEAD_S: u64 = 5;

/// Creates a workflow; gives its id.
async fn create(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    definition: &str,
) -> anyhow::Result<String> {
    let created: Value = client
        .post(format!("{base}/api/workflows"))
        .header("Authorization", auth)
        .header("StoreId", DEFAULT_STORE_ID)
        .header("Content-Type", "application/json")
        .body(definition.to_owned())
        .send()
        .await?
        .json()
        .await?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the bench workflow was not created: {created}"))
}

/// Waits until every scheduled call has fired, then reports how late they started: the callee
/// run's creation − the call's due time, in ms, for every call.
async fn report_schedules(
    args: &BenchArgs,
    backend: &str,
    measure: Duration,
    load: Load,
    store: &std::sync::Arc<dyn switchboard_store::Store>,
) -> anyhow::Result<()> {
    use switchboard_store::{PageRequest, ScheduleFilter};
    let pending = ScheduleFilter::default();
    let waited = Instant::now();
    loop {
        let left = store
            .list_schedules(
                DEFAULT_STORE_ID,
                &pending,
                &PageRequest {
                    limit: 1,
                    after: None,
                },
            )
            .await?;
        if left.items.is_empty() {
            break;
        }
        if waited.elapsed() > Duration::from_secs(120) {
            bail!("scheduled calls still pending after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fired = ScheduleFilter {
        status: Some(switchboard_store::ScheduleStatus::Fired),
        workflow_id: None,
    };
    let mut late_ms = Vec::new();
    let mut page = PageRequest {
        limit: 500,
        after: None,
    };
    loop {
        let batch = store
            .list_schedules(DEFAULT_STORE_ID, &fired, &page)
            .await?;
        for s in &batch.items {
            if let Some(run) = match &s.run_id {
                Some(id) => store.get_run(DEFAULT_STORE_ID, id).await?,
                None => None,
            } {
                late_ms.push((run.created_at - s.due_at).max(0) as u64 * 1000);
            }
        }
        match batch.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    if late_ms.is_empty() {
        bail!("no scheduled call fired");
    }
    late_ms.sort_unstable();
    let l = &load.latencies_us;
    println!(
        "scenario     POST /api/events → schedule_workflow {CALL_AHEAD_S} s ahead → callable workflow"
    );
    println!(
        "backend      {backend}    clients {}    rate {}    measured {}s after 1s warm-up",
        args.concurrency,
        args.rate.map_or("max".to_owned(), |r| format!("{r}/s")),
        measure.as_secs()
    );
    println!(
        "events       {} accepted    {} errors    ack p99 {:.2} ms",
        l.len(),
        load.errors,
        pct(l, 0.99)
    );
    println!(
        "calls        {} fired    start − due ms   p50 {:.0}    p90 {:.0}    p99 {:.0}    max {:.0}",
        late_ms.len(),
        pct(&late_ms, 0.5),
        pct(&late_ms, 0.9),
        pct(&late_ms, 0.99),
        pct(&late_ms, 1.0)
    );
    Ok(())
}

/// A local HTTP sink answering every POST with a small JSON body, as a CRM lookup would.
async fn start_sink() -> anyhow::Result<String> {
    let app = axum::Router::new()
        .fallback(|| async { axum::Json(json!({"promocode": "B1", "customerId": 42})) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/sink", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
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
                        BenchScenario::Lead | BenchScenario::Code | BenchScenario::Webhook | BenchScenario::Schedule | BenchScenario::Deliveries | BenchScenario::Claim => {
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

fn pct(sorted_us: &[u64], p: f64) -> f64 {
    sorted_us[((sorted_us.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn report_api(
    args: &BenchArgs,
    backend: &str,
    measure: Duration,
    load: Load,
) -> anyhow::Result<()> {
    let l = &load.latencies_us;
    println!("scenario     GET /api/workflows/{{id}} (auth + store lookup + workflow read)");
    println!(
        "backend      {backend}    concurrency {}    measured {}s after 1s warm-up",
        args.concurrency,
        measure.as_secs()
    );
    println!("requests     {}    errors {}", l.len(), load.errors);
    println!(
        "throughput   {:.0} requests/s",
        l.len() as f64 / measure.as_secs_f64()
    );
    println!(
        "latency ms   p50 {:.2}    p90 {:.2}    p99 {:.2}    max {:.2}",
        pct(l, 0.5),
        pct(l, 0.9),
        pct(l, 0.99),
        pct(l, 1.0)
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report_runs(
    args: &BenchArgs,
    backend: &str,
    measure: Duration,
    load: Load,
    completed_during: f64,
    completed: f64,
    failed: f64,
    drain: Duration,
    first_step: Vec<i64>,
) {
    let l = &load.latencies_us;
    let name = match args.scenario {
        BenchScenario::Code => "(b) lead + custom_code",
        BenchScenario::Webhook => {
            "(a) lead + webhook POST to a local sink (same process) + store_context_data of its answer"
        }
        _ => "(a) lead: store_context_data → conditional → store_context_data, contextVariables",
    };
    println!("scenario     POST /api/events → workflow {name}");
    println!(
        "backend      {backend}    nodes {}    clients {}    rate {}    measured {}s after 1s warm-up",
        args.nodes,
        args.concurrency,
        args.rate.map_or("max".to_owned(), |r| format!("{r}/s")),
        measure.as_secs()
    );
    println!(
        "events       {} accepted    {} errors    {:.0} events/s",
        l.len(),
        load.errors,
        l.len() as f64 / measure.as_secs_f64()
    );
    println!(
        "runs         {:.0} completed during the load ({:.0} runs/s incl. warm-up second)    {:.0} in all after {:.1}s drain    {:.0} failed",
        completed_during,
        completed_during / (measure.as_secs_f64() + 1.0),
        completed,
        drain.as_secs_f64(),
        failed
    );
    println!(
        "ack ms       p50 {:.2}    p90 {:.2}    p99 {:.2}    max {:.2}",
        pct(l, 0.5),
        pct(l, 0.9),
        pct(l, 0.99),
        pct(l, 1.0)
    );
    if !first_step.is_empty() {
        let p = |q: f64| first_step[((first_step.len() - 1) as f64 * q).round() as usize];
        println!(
            "trigger→first step ms (ms resolution, {} runs sampled)   p50 {}    p99 {}",
            first_step.len(),
            p(0.5),
            p(0.99)
        );
    }
    println!(
        "peak RSS     {} MiB (whole process: server + load generator)",
        peak_rss_kib() / 1024
    );
}

/// Reads a counter from `/metrics`.
async fn counter(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0))
}

/// Creation → first step start of recent runs (sampled), in ms.
async fn first_step_delays(
    store: &std::sync::Arc<dyn switchboard_store::Store>,
    _: Duration,
) -> anyhow::Result<Vec<i64>> {
    let page = switchboard_store::PageRequest {
        limit: 500,
        after: None,
    };
    let runs = store
        .list_runs(DEFAULT_STORE_ID, &Default::default(), &page)
        .await?;
    let mut delays = Vec::new();
    for run in runs.items {
        if let Some(first) = store.run_steps(&run.id).await?.first() {
            delays.push(first.started_at - run.created_at);
        }
    }
    delays.sort_unstable();
    Ok(delays)
}

fn peak_rss_kib() -> u64 {
    status_kib("/proc/self/status", "VmHWM")
}

/// A size field (`VmRSS`, `VmHWM`) of a `/proc/…/status` file, in KiB.
fn status_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)
                    .and_then(|v| v.strip_prefix(':'))
                    .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}
