//! `switchboard bench claim`: how fast the nodes claim and finish runs that come due together.
//!
//! `--seconds` of events (as fast as the clients go) park one run each on a `delay` until the same
//! instant, a little after parking ends. From that instant every run is due, so the timer loops
//! of all nodes claim them (`FOR UPDATE SKIP LOCKED` on PostgreSQL) in batches, run the step after
//! the delay and commit. Claim rate = runs ÷ (last completion − due instant).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use super::{counter, load, report_round_trips};
use crate::cli::BenchArgs;
use switchboard_engine::clock::{now_ms, rfc3339};

/// Time between the end of parking and the due instant: the last acknowledgements land.
const MARGIN: Duration = Duration::from_secs(3);

pub fn workflow() -> Value {
    json!({"name": "bench parked", "trigger": {"type": "webhook", "eventType": "Lead_Workflow_phase_1"},
        "steps": [{"id": "pause", "type": "delay", "config": {"until": "{{trigger.dueAt}}"}},
                  {"id": "after", "type": "store_context_data", "config": {"data": {"woke": "{{trigger.fullName}}"}}}]})
}

pub async fn run(
    client: &reqwest::Client,
    args: &BenchArgs,
    bases: &[String],
    auth: &str,
    workflow_id: &str,
    measure: Duration,
    round_trips: Option<&AtomicU64>,
) -> anyhow::Result<()> {
    // Parking takes the 1 s warm-up plus `measure`.
    let park_for = measure + Duration::from_secs(1);
    let due_ms = now_ms() + (park_for + MARGIN).as_millis() as i64;
    let due = rfc3339(due_ms);
    let base = &bases[0];
    let completed_before = counter(client, base, "switchboard_runs_completed_total").await?;
    let parked_at = Instant::now();
    let extra = json!({ "dueAt": due });
    let parked = load(client, args, bases, auth, workflow_id, measure, extra).await?;
    // The warm-up second's runs are parked too (only their latencies are left out).
    let waiting = counter(client, base, "switchboard_runs_waiting").await?;
    let parked_in = parked_at.elapsed();
    let until_due = Duration::from_millis((due_ms - now_ms()).max(0) as u64);
    if until_due.is_zero() {
        bail!("parking outlasted the due instant; use fewer --seconds");
    }
    tokio::time::sleep(until_due).await;
    let trips_at_due = round_trips.map(|c| c.load(Ordering::Relaxed));
    let fired_at = Instant::now();
    let mut done = 0.0;
    while done < waiting && fired_at.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        done = counter(client, base, "switchboard_runs_completed_total").await? - completed_before;
    }
    let took = fired_at.elapsed();
    println!(
        "scenario     runs parked on a delay until one instant, then claimed and finished by the nodes' timer loops"
    );
    println!(
        "backend      {}    nodes {}    clients {}",
        if args.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        bases.len(),
        args.concurrency
    );
    println!(
        "parked       {waiting:.0} runs in {:.1} s ({} acknowledged in the measured part, ack p99 {:.2} ms)",
        parked_in.as_secs_f64(),
        parked.latencies_us.len(),
        super::pct(&parked.latencies_us, 0.99)
    );
    println!(
        "claimed      {done:.0} of {waiting:.0} finished {:.2} s after the due instant: {:.0} runs/s claimed, run and committed",
        took.as_secs_f64(),
        done / took.as_secs_f64()
    );
    if let (Some(count), Some(before)) = (round_trips, trips_at_due) {
        report_round_trips(count.load(Ordering::Relaxed) - before, done);
    }
    Ok(())
}
