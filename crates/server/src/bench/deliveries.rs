//! The `deliveries` scenario: events start the lead workflow with an `emit_event` step at its end;
//! one subscription (`lead.captured`) points at a receiver the bench starts on loopback. Reports
//! deliveries/s and the end-to-end latency event POST → delivery received, p50/p99.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{Load, pct};
use crate::cli::BenchArgs;
use crate::first_start::DEFAULT_STORE_ID;

/// What the receiver saw: event POST → arrival, µs, with the arrival time.
#[derive(Default)]
pub struct Received {
    latencies_us: Vec<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Microseconds since the epoch: the clients stamp their events with it.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The emit step the lead workflow ends with: the client's send time travels in `data`.
pub fn emit_step() -> Value {
    json!({"id": "announce", "type": "emit_event", "config": {"event": "lead.captured",
        "data": {"name": "{{trigger.fullName}}", "phoneNumber": "{{trigger.phoneNumber}}", "sentAtUs": "{{trigger.sentAtUs}}"}}})
}

/// A receiver answering 204 to every delivery, recording its latency.
pub async fn start_receiver() -> anyhow::Result<(String, Arc<Mutex<Received>>)> {
    let seen = Arc::new(Mutex::new(Received::default()));
    let state = seen.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let state = state.clone();
        async move {
            let arrived = now_us();
            if let Ok(v) = serde_json::from_slice::<Value>(&body)
                && let Some(sent) = v["data"]["sentAtUs"].as_u64()
            {
                let mut s = state.lock().expect("receiver state");
                s.latencies_us.push(arrived.saturating_sub(sent));
                let now = Instant::now();
                s.first.get_or_insert(now);
                s.last = Some(now);
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/deliveries", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

/// Subscribes the receiver to `lead.captured`.
pub async fn subscribe(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    url: &str,
) -> anyhow::Result<()> {
    let answer = client
        .post(format!("{base}/api/subscriptions"))
        .header("Authorization", auth)
        .header("StoreId", DEFAULT_STORE_ID)
        .json(&json!({"url": url, "events": ["lead.captured"]}))
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!(
            "the bench subscription was not created: {}",
            answer.text().await?
        );
    }
    Ok(())
}

/// Waits for a delivery of every accepted event (at most 120 s), then reports.
pub async fn report(
    args: &BenchArgs,
    backend: &str,
    measure: Duration,
    load: Load,
    seen: &Mutex<Received>,
) -> anyhow::Result<()> {
    let accepted = load.latencies_us.len();
    let waited = Instant::now();
    loop {
        let got = seen.lock().expect("receiver state").latencies_us.len();
        // Events of the warm-up second are delivered too.
        if got >= accepted || waited.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = seen.lock().expect("receiver state");
    let mut latencies = s.latencies_us.clone();
    latencies.sort_unstable();
    if latencies.is_empty() {
        bail!("no delivery arrived");
    }
    let span = s
        .last
        .zip(s.first)
        .map(|(l, f)| l - f)
        .context("deliveries arrived")?;
    let l = &load.latencies_us;
    println!(
        "scenario     POST /api/events → workflow (a) + emit_event → signed delivery to a local receiver"
    );
    super::report::print_setup(args, backend, measure);
    println!(
        "events       {accepted} accepted (measured part)    {} errors    ack p99 {:.2} ms",
        load.errors,
        pct(l, 0.99)
    );
    println!(
        "deliveries   {} received in {:.1}s    {:.0} deliveries/s",
        latencies.len(),
        span.as_secs_f64(),
        latencies.len() as f64 / span.as_secs_f64().max(0.001)
    );
    println!(
        "event → delivered ms   p50 {:.1}    p90 {:.1}    p99 {:.1}    max {:.1}",
        pct(&latencies, 0.5),
        pct(&latencies, 0.9),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0)
    );
    Ok(())
}
