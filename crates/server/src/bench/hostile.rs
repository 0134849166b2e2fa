//! `bench hostile`: what one store can do to another (docs/architecture.md "JavaScript").
//!
//! 1. Each expression of the hostile corpus, as a template expression and as `custom_code`, run
//!    through the JS threads: how long until its limit stopped it.
//! 2. Four hostile runs in flight at all times (two whose hostile step comes before the event's
//!    acknowledgement, two after an `emit_event`), while a second store posts an event every
//!    20 ms and `/healthz` is asked as often: both latencies.
//! 3. Eight senders flooding the first store with runs burning 30 ms of `custom_code` each, while
//!    the second store calls `POST /api/workflows/{id}/execute?wait=5` ten times a second: how long
//!    each of those runs takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use switchboard_core::template::Scope;

use super::report::pct;
use super::scenarios::create_in;
use crate::first_start::DEFAULT_STORE_ID;

use switchboard_script::HOSTILE_CORPUS as CORPUS;

const BURN: &str = "{{ new Array(1e9).join('x') }}";

/// A client acting on one store with one token.
#[derive(Clone)]
struct Caller {
    client: reqwest::Client,
    base: String,
    auth: String,
    store: String,
}

impl Caller {
    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .header("StoreId", &self.store)
            .json(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.client.get(format!("{}{path}", self.base));
        let r = r
            .header("Authorization", &self.auth)
            .header("StoreId", &self.store);
        Ok(r.send().await?.json().await?)
    }

    async fn workflow(&self, definition: Value) -> anyhow::Result<String> {
        let (client, base, auth) = (&self.client, &self.base, &self.auth);
        create_in(client, base, auth, &self.store, &definition.to_string()).await
    }
}

pub(super) async fn run(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    seconds: u64,
) -> anyhow::Result<()> {
    limits().await;
    let hostile = Caller {
        client: client.clone(),
        base: base.to_owned(),
        auth: auth.to_owned(),
        store: DEFAULT_STORE_ID.to_owned(),
    };
    let calm_store: Value = hostile
        .post("/api/stores", &json!({"name": "calm"}))
        .send()
        .await?
        .json()
        .await?;
    let calm = Caller {
        auth: format!(
            "Bearer {}",
            calm_store["token"]
                .as_str()
                .context("the calm store's token")?
        ),
        store: calm_store["id"]
            .as_str()
            .context("the calm store's id")?
            .to_owned(),
        ..hostile.clone()
    };
    let measure = Duration::from_secs(seconds.max(1));
    slow_expressions(&hostile, &calm, measure).await?;
    flood(&hostile, &calm, measure).await
}

/// Part 1: the corpus through the JS threads, as the engine runs it.
async fn limits() {
    let trigger = json!({});
    let scope = Scope::of_trigger(&trigger);
    let limits = switchboard_script::Limits::current();
    println!(
        "limits       expression {} ms, custom_code {} ms; time until stopped:",
        limits.expression_timeout.as_millis(),
        limits.code_timeout.as_millis()
    );
    let (mut worst_expression, mut worst_code) = (0f64, 0f64);
    for source in CORPUS {
        let started = Instant::now();
        let computed = switchboard_script::Computed::of("bench", &scope, &[source]).await;
        let expression_ms = started.elapsed().as_secs_f64() * 1000.0;
        let expression = computed
            .get(source, false)
            .map(|r| r.err().map(|e| e.code(false)).unwrap_or("completed"));
        let code = format!("return {source};");
        let started = Instant::now();
        let result = switchboard_script::run_code_async("bench", &code, &scope, None).await;
        let code_ms = started.elapsed().as_secs_f64() * 1000.0;
        let code_error = result.err().map(|e| e.code(true)).unwrap_or("completed");
        worst_expression = worst_expression.max(expression_ms);
        worst_code = worst_code.max(code_ms);
        println!(
            "  {expression_ms:>7.1} ms {:<15} {code_ms:>7.1} ms {code_error:<15} {source}",
            expression.unwrap_or("?")
        );
    }
    println!("  slowest: expression {worst_expression:.1} ms, custom_code {worst_code:.1} ms");
}

/// Part 2: four hostile runs in flight; the calm store's acks and /healthz.
async fn slow_expressions(
    hostile: &Caller,
    calm: &Caller,
    measure: Duration,
) -> anyhow::Result<()> {
    let burn = |name: &str, event: &str, first: Vec<Value>| {
        let mut steps = first;
        steps.push(
            json!({"id": "burn", "type": "store_context_data", "config": {"data": {"v": BURN}}}),
        );
        json!({"name": name, "trigger": {"type": "webhook", "eventType": event}, "steps": steps})
    };
    hostile
        .workflow(burn("burn before", "burn.before", vec![]))
        .await?;
    let announce = json!({"id": "announce", "type": "emit_event", "config": {"event": "burning"}});
    hostile
        .workflow(burn("burn after", "burn.after", vec![announce]))
        .await?;
    calm.workflow(json!({"name": "calm", "trigger": {"type": "webhook", "eventType": "calm.ping"},
        "steps": [{"id": "double", "type": "store_context_data", "config": {"data": {"doubled": "{{ trigger.n * 2 }}"}}}]})).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let hostile_runs = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = ["burn.before", "burn.before", "burn.after", "burn.after"]
        .into_iter()
        .map(|event| {
            let (stop, runs, hostile) = (stop.clone(), hostile_runs.clone(), hostile.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let accepted: Value = hostile
                        .post("/api/events", &json!({"eventType": event}))
                        .send()
                        .await?
                        .json()
                        .await?;
                    let run = accepted["runIds"][0]
                        .as_str()
                        .context("a hostile run")?
                        .to_owned();
                    while !matches!(
                        hostile.get(&format!("/api/runs/{run}")).await?["status"].as_str(),
                        Some("completed" | "failed")
                    ) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    runs.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut acks, mut health, mut refused) = (Vec::new(), Vec::new(), 0);
    let until = Instant::now() + measure;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut n = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let sent = Instant::now();
        let answer = calm
            .post("/api/events", &json!({"eventType": "calm.ping", "n": n}))
            .send()
            .await?;
        acks.push(sent.elapsed().as_micros() as u64);
        refused += u64::from(answer.status() != 202);
        let sent = Instant::now();
        let answer = calm
            .client
            .get(format!("{}/healthz", calm.base))
            .send()
            .await?;
        health.push(sent.elapsed().as_micros() as u64);
        refused += u64::from(answer.status() != 200);
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await??;
    }
    acks.sort_unstable();
    health.sort_unstable();
    let show = |v: &[u64]| {
        format!(
            "p50 {:.2}    p99 {:.2}    max {:.2}",
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 1.0)
        )
    };
    println!(
        "hostile      4 runs in flight (2 before the ack, 2 after), {} ended during {} s",
        hostile_runs.load(Ordering::Relaxed),
        measure.as_secs()
    );
    println!(
        "other ack ms {}    ({} events, {refused} not 202/200)",
        show(&acks),
        acks.len()
    );
    println!("/healthz ms  {}", show(&health));
    Ok(())
}

/// Part 3: eight senders flooding the hostile store with 30 ms scripts; the calm store's
/// `execute?wait=5` runs.
async fn flood(hostile: &Caller, calm: &Caller, measure: Duration) -> anyhow::Result<()> {
    hostile.workflow(json!({"name": "burn 30 ms", "trigger": {"type": "webhook", "eventType": "burn.code"},
        "steps": [{"id": "burn", "type": "custom_code", "config": {"code": "const t = Date.now(); while (Date.now() - t < 30) {} return 1;"}}]})).await?;
    let calm_id = calm.workflow(json!({"name": "calm execute", "trigger": {"type": "manual"},
        "steps": [{"id": "next", "type": "store_context_data", "config": {"data": {"next": "{{ trigger.n + 1 }}"}}},
                  {"id": "code", "type": "custom_code", "config": {"code": "return {ok: context.state.next > 0};"}}]})).await?;
    flood_with(
        hostile,
        calm,
        measure,
        "burn.code",
        "runs of 30 ms",
        &calm_id,
    )
    .await?;
    // Runs without scripts, all after the acknowledgement: what the rest of the engine shares.
    let steps: Vec<Value> = std::iter::once(json!({"id": "announce", "type": "emit_event", "config": {"event": "busy"}}))
        .chain((0..8).map(|i| json!({"id": format!("copy{i}"), "type": "store_context_data", "config": {"data": {format!("k{i}"): "{{trigger.eventType}}"}}})))
        .collect();
    hostile.workflow(json!({"name": "busy", "trigger": {"type": "webhook", "eventType": "busy"}, "steps": steps})).await?;
    flood_with(
        hostile,
        calm,
        measure,
        "busy",
        "runs of 9 steps without scripts",
        &calm_id,
    )
    .await
}

async fn flood_with(
    hostile: &Caller,
    calm: &Caller,
    measure: Duration,
    event: &'static str,
    what: &str,
    calm_id: &str,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let (accepted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (stop, accepted, refused, hostile) = (
                stop.clone(),
                accepted.clone(),
                refused.clone(),
                hostile.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer = hostile
                        .post("/api/events", &json!({"eventType": event}))
                        .send()
                        .await;
                    let counter = if answer.is_ok_and(|a| a.status() == 202) {
                        &accepted
                    } else {
                        &refused
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let until = Instant::now() + measure;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (mut took, mut unfinished) = (Vec::new(), 0);
    let mut calls = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let calm = calm.clone();
        let path = format!("/api/workflows/{calm_id}/execute?wait=5");
        calls.push(tokio::spawn(async move {
            let sent = Instant::now();
            let run: Value = calm
                .post(&path, &json!({"n": n}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok((
                sent.elapsed().as_micros() as u64,
                run["status"] == "completed",
            ))
        }));
    }
    for call in calls {
        let (us, completed) = call.await??;
        took.push(us);
        unfinished += u64::from(!completed);
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await?;
    }
    took.sort_unstable();
    let within = took.iter().filter(|us| **us <= 1_000_000).count();
    println!(
        "flood        8 senders: {} {what} accepted, {} refused",
        accepted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "other runs   execute?wait=5 ×{}: p50 {:.1} ms    p99 {:.1} ms    max {:.1} ms    {within} within 1 s, {unfinished} not completed",
        took.len(),
        pct(&took, 0.5),
        pct(&took, 0.99),
        pct(&took, 1.0)
    );
    Ok(())
}
