//! The running server: startup, the `listening on` line, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchboard_core::workflow::Options;
use tokio::net::TcpListener;

use crate::api::limits::StoreLimits;
use crate::app::AppState;
use crate::caches::Caches;
use crate::cli::ServeFlags;
use crate::config::Settings;
use crate::first_start::{self, Boot};
use switchboard_engine::{Engine, EngineSettings};

pub async fn serve(flags: ServeFlags) -> anyhow::Result<()> {
    let settings = Settings::load(&flags)?;
    init_tracing(&settings);
    if let Some(start) = settings
        .clock_start
        .as_deref()
        .and_then(switchboard_engine::clock::parse_rfc3339)
    {
        switchboard_engine::clock::start_clock_at(start);
        tracing::warn!(clock = %switchboard_engine::clock::rfc3339(start), "the server's clock starts at a set time (clock_start)");
    }
    // The port first: a busy one fails before anything is written or announced.
    let listener = listen(&settings).await?;
    let boot = first_start::prepare(&settings, listener.local_addr()?).await?;
    let server = Server::bind(&settings, boot, listener).await?;
    println!("listening on http://{}", server.addr);
    use std::io::Write;
    std::io::stdout().flush()?;
    tracing::info!(addr = %server.addr, backend = server.backend, "ready");
    server.run(shutdown_signal()).await
}

/// How long a stopping server waits for runs in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound, not yet running server.
pub struct Server {
    pub addr: SocketAddr,
    backend: &'static str,
    listener: TcpListener,
    app: axum::Router,
    engine: Arc<Engine>,
}

/// The listening socket, on the address the settings name.
pub async fn listen(settings: &Settings) -> anyhow::Result<TcpListener> {
    TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))
}

impl Server {
    /// The server on `listener`, its engine started.
    pub async fn bind(
        settings: &Settings,
        boot: Boot,
        listener: TcpListener,
    ) -> anyhow::Result<Server> {
        let addr = listener.local_addr()?;
        let (routes, doc) = crate::api::routes(settings.body_limit);
        let backend = boot.store.backend();
        configure_scripts(settings);
        let validation = Options {
            allow_http: settings.outbound_allow_http,
            strict: false,
        };
        let metrics = crate::observe::metrics_handle();
        let outbound = outbound(settings, &boot, &validation, addr)?;
        let engine = start_engine(settings, &boot, outbound, addr).await?;
        let caches = Caches::new(&engine.generation);
        let state = AppState {
            store: boot.store,
            admin_hash: boot.admin_hash,
            validation,
            metrics,
            openapi: doc,
            engine: engine.clone(),
            caches,
            sealer: boot.sealer,
            limits: StoreLimits::new(settings),
        };
        let state = Arc::new(state);
        let app = routes.with_state(state);
        Ok(Server {
            addr,
            backend,
            listener,
            app,
            engine,
        })
    }

    /// Serves until `stop` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let served = axum::serve(self.listener, self.app)
            .with_graceful_shutdown(stop)
            .await
            .context("server failed");
        // No new requests now; runs in flight commit their current step and hand back their lease.
        self.engine.shutdown(SHUTDOWN_GRACE).await;
        served
    }
}

/// The JavaScript sandbox's limits, from the settings.
fn configure_scripts(settings: &Settings) {
    switchboard_script::configure(switchboard_script::Limits {
        expression_timeout: Duration::from_millis(settings.script_timeout_ms),
        code_timeout: Duration::from_millis(settings.code_timeout_ms),
        memory_bytes: (settings.script_memory_mb as usize) << 20,
        ..Default::default()
    });
    switchboard_script::configure_threads(switchboard_script::ThreadSettings {
        threads: settings.js_threads,
        store_ms_per_minute: settings.store_js_ms_per_minute,
    });
}

/// The guarded client and what outbound calls need, from the settings.
fn outbound(
    settings: &Settings,
    boot: &Boot,
    validation: &Options,
    addr: SocketAddr,
) -> anyhow::Result<switchboard_engine::outbound::Outbound> {
    let policy = switchboard_outbound::Policy {
        allow: switchboard_outbound::Policy::parse_allow(&settings.outbound_allow)
            .map_err(|e| anyhow::anyhow!("outbound_allow: {e}"))?,
        allow_http: settings.outbound_allow_http,
    };
    let limits = switchboard_outbound::Limits {
        response_bytes: settings.http_response_limit,
        record_bytes: settings.http_record_limit,
    };
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    Ok(switchboard_engine::outbound::Outbound {
        client: switchboard_outbound::Client::new(policy, limits),
        sealer: boot.sealer.clone(),
        validation: validation.clone(),
        public_url: public_url.trim_end_matches('/').to_owned(),
    })
}

/// Starts the engine, the delivery worker and the scheduler.
async fn start_engine(
    settings: &Settings,
    boot: &Boot,
    outbound: switchboard_engine::outbound::Outbound,
    addr: SocketAddr,
) -> anyhow::Result<Arc<Engine>> {
    let engine = Engine::new(
        boot.store.clone(),
        outbound,
        EngineSettings {
            time_scale: settings.time_scale,
            lease_ms: settings.lease_ms,
            poll_ms: settings.poll_ms,
            max_claimed_runs: settings.max_claimed_runs,
            steal_at_start: boot.store.backend() == "sqlite",
            address: addr.to_string(),
            ack_budget: Duration::from_millis(settings.ack_budget_ms),
        },
    );
    engine.start().await?;
    switchboard_engine::deliveries::Worker::spawn(
        boot.store.clone(),
        engine.outbound.client.clone(),
        boot.sealer.clone(),
        settings.delivery_policy()?,
        engine.node_id.clone(),
    );
    let poll = Duration::from_millis(settings.poll_ms);
    switchboard_engine::scheduler::spawn(engine.clone(), poll);
    Ok(engine)
}

fn init_tracing(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = if settings.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
