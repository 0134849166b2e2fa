//! What an operator sees: the metrics catalogue (every series `/metrics` shows, with its help
//! text; docs/api.md, "Operations") and one log line per request.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

enum Kind {
    /// Without labels: shown (at 0) from the start.
    Counter,
    /// With labels: shown once a labelled value is counted.
    Counters,
    Gauge,
    Histogram,
    /// Kept as quantiles, as these series always were.
    Summary,
}

/// Every series: name, kind, help.
const CATALOGUE: &[(&str, Kind, &str)] = &[
    (
        "switchboard_events_accepted_total",
        Kind::Counter,
        "Events accepted (answered 202), through any route.",
    ),
    (
        "switchboard_runs_started_total",
        Kind::Counter,
        "Runs started.",
    ),
    (
        "switchboard_runs_completed_total",
        Kind::Counter,
        "Runs that completed.",
    ),
    (
        "switchboard_runs_failed_total",
        Kind::Counter,
        "Runs that failed.",
    ),
    (
        "switchboard_run_failures_total",
        Kind::Counters,
        "Runs that failed, by the error code that failed them (code).",
    ),
    (
        "switchboard_deliveries_total",
        Kind::Counters,
        "Delivery attempts of outgoing events, by outcome: succeeded, retrying, failed.",
    ),
    (
        "switchboard_schedules_fired_total",
        Kind::Counters,
        "Scheduled calls and cron ticks fired, by kind.",
    ),
    (
        "switchboard_runs_waiting",
        Kind::Gauge,
        "Runs waiting on a timer (a delay or a retry backoff).",
    ),
    (
        "switchboard_step_duration_seconds",
        Kind::Summary,
        "How long one attempt of a step took, by step type.",
    ),
    (
        "switchboard_event_ack_seconds",
        Kind::Summary,
        "From an event's arrival to its acknowledgement.",
    ),
    (
        "switchboard_http_request_duration_seconds",
        Kind::Histogram,
        "HTTP requests by method, route (its template) and status: how long they took to answer.",
    ),
    (
        "switchboard_timer_lateness_seconds",
        Kind::Histogram,
        "How late a waiting run was claimed after its due time.",
    ),
    (
        "switchboard_schedule_lateness_seconds",
        Kind::Histogram,
        "How late a scheduled call or cron tick fired after its due time, by kind.",
    ),
];

/// Seconds: 1 ms to 1 min.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide Prometheus recorder, every series described.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let mut builder = PrometheusBuilder::new();
    for (name, kind, _) in CATALOGUE {
        if matches!(kind, Kind::Histogram) {
            builder = builder
                .set_buckets_for_metric(Matcher::Full((*name).into()), BUCKETS)
                .expect("buckets are not empty");
        }
    }
    let handle = builder
        .install_recorder()
        .expect("install the metrics recorder");
    for (name, kind, help) in CATALOGUE {
        match kind {
            Kind::Counter => {
                metrics::describe_counter!(*name, *help);
                metrics::counter!(*name).absolute(0);
            }
            Kind::Counters => metrics::describe_counter!(*name, *help),
            Kind::Gauge => {
                metrics::describe_gauge!(*name, *help);
                metrics::gauge!(*name).set(0.0);
            }
            Kind::Histogram | Kind::Summary => metrics::describe_histogram!(*name, *help),
        }
    }
    for outcome in ["succeeded", "retrying", "failed"] {
        metrics::counter!("switchboard_deliveries_total", "outcome" => outcome).absolute(0);
    }
    handle
}

/// What is learnt inside the router of a request that its log line names: the route it matched
/// and the store it acted on.
#[derive(Clone, Default)]
pub struct Noted(Arc<Mutex<Note>>);

#[derive(Default)]
struct Note {
    route: Option<String>,
    store_id: Option<String>,
}

impl Noted {
    /// The request acts on this store (called where the caller's store is resolved).
    pub fn store(parts: &axum::http::request::Parts, store_id: &str) {
        if let Some(noted) = parts.extensions.get::<Noted>() {
            noted.0.lock().expect("noted").store_id = Some(store_id.to_owned());
        }
    }
}

/// Notes the route template the request matched, for [`requests`].
pub async fn matched(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        request.extensions().get::<Noted>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        slot.0.lock().expect("noted").route = Some(path.as_str().to_owned());
    }
    next.run(request).await
}

/// One line per request at `debug` (method, route, status, duration, store, the error code of a
/// refusal) and the duration histogram by method, route and status.
pub async fn requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let noted = Noted::default();
    request.extensions_mut().insert(noted.clone());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let Note { route, store_id } = std::mem::take(&mut *noted.0.lock().expect("noted"));
    let route = route.as_deref().unwrap_or("unmatched");
    metrics::histogram!("switchboard_http_request_duration_seconds",
        "method" => method.to_string(), "route" => route.to_owned(), "status" => status.to_string())
    .record(elapsed.as_secs_f64());
    let code = response.extensions().get::<crate::api::error::Code>();
    tracing::debug!(
        method = %method,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        store_id = store_id.as_deref().unwrap_or(""),
        error_code = code.map_or("", |c| c.0),
        "request"
    );
    response
}
