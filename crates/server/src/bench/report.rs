//! What the bench prints: throughput, latency percentiles, lateness, resident memory.

use super::*;

/// Database round trips per completed run, everything the nodes did included (claims, polls,
/// heartbeats).
pub(super) fn report_round_trips(round_trips: u64, runs: f64) {
    println!(
        "db trips     {:.2} round trips per completed run    ({round_trips} in all for {runs:.0} runs, background polls included)",
        round_trips as f64 / runs.max(1.0)
    );
}

/// Waits until every scheduled call has fired, then reports how late they started: the callee
/// run's creation − the call's due time, in ms, for every call.
pub(super) async fn report_schedules(
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
    print_setup(args, backend, measure);
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

pub(super) fn pct(sorted_us: &[u64], p: f64) -> f64 {
    sorted_us[((sorted_us.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

pub(super) fn report_api(
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
pub(super) fn report_runs(
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
pub(super) async fn counter(
    client: &reqwest::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<f64> {
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
pub(super) async fn first_step_delays(
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

pub(super) fn peak_rss_kib() -> u64 {
    status_kib("/proc/self/status", "VmHWM")
}

/// A size field (`VmRSS`, `VmHWM`) of a `/proc/…/status` file, in KiB.
pub(super) fn status_kib(path: &str, field: &str) -> u64 {
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

/// Where completed runs are counted, and from which count on.
pub(super) struct Completed<'a> {
    pub client: &'a reqwest::Client,
    pub base: &'a str,
    pub before: f64,
    pub load_elapsed: Duration,
}

/// Lets the last runs finish (up to a minute), reports runs/s and latency; gives the runs
/// completed.
pub(super) async fn drain_and_report(
    args: &BenchArgs,
    backend: &str,
    measure: Duration,
    load: Load,
    c: Completed<'_>,
    store: &std::sync::Arc<dyn switchboard_store::Store>,
) -> anyhow::Result<f64> {
    let completed = || counter(c.client, c.base, "switchboard_runs_completed_total");
    let completed_during = completed().await? - c.before;
    let accepted = load.latencies_us.len() as f64;
    let drain_started = Instant::now();
    let mut done = completed_during;
    while done < accepted && drain_started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        done = completed().await? - c.before;
    }
    let failed = counter(c.client, c.base, "switchboard_runs_failed_total").await?;
    let first_step = first_step_delays(store, c.load_elapsed).await?;
    report_runs(
        args,
        backend,
        measure,
        load,
        completed_during,
        done,
        failed,
        drain_started.elapsed(),
        first_step,
    );
    Ok(done)
}

/// The line that says how the load ran: backend, clients, rate, duration.
pub(super) fn print_setup(args: &BenchArgs, backend: &str, measure: Duration) {
    println!(
        "backend      {backend}    clients {}    rate {}    measured {}s after 1s warm-up",
        args.concurrency,
        args.rate.map_or("max".to_owned(), |r| format!("{r}/s")),
        measure.as_secs()
    );
}
