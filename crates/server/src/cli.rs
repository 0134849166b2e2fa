//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A durable, event-driven workflow engine for customer-engagement automation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (SQLite in ./switchboard-data by default).
    Serve(ServeFlags),
    /// Check workflow definition files offline; exits 1 when any is invalid.
    Validate(ValidateArgs),
    /// Run a workflow file in memory, offline, sending nothing; prints what each step did and
    /// would have sent. Exits 1 when the dry run failed.
    DryRun(crate::dry_run::DryRunArgs),
    /// Copy the live SQLite database to FILE, consistently (same settings as `serve`).
    Backup(BackupArgs),
    /// Print the version.
    Version,
    /// Measure the server: starts one on a temporary data dir and loads it over loopback.
    Bench(BenchArgs),
    /// Make a server's workflows what these files say (created or updated by name).
    Apply(crate::remote::apply::ApplyArgs),
    /// Run history on a server: list, show, tail, retry, replay, cancel.
    Runs(crate::remote::runs::RunsArgs),
    /// Send events to a server.
    Events(crate::remote::runs::EventsArgs),
}

/// Flags override the environment (`SWITCHBOARD_*`), which overrides the config file.
#[derive(Args, Default, Clone)]
pub struct ServeFlags {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory for the SQLite file, the master key and the admin token.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` (default: in the data dir) or `postgres://…`.
    #[arg(long)]
    pub database_url: Option<String>,
    /// A TOML file with settings (same names as the environment variables, lower-case, without the prefix).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct BackupArgs {
    /// Where the copy goes; an earlier copy there is replaced once the new one is whole.
    pub file: PathBuf,
    #[command(flatten)]
    pub settings: ServeFlags,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Definition files: a workflow, or a Kustomer app with `workflows`. JSON with comments and
    /// trailing commas is accepted.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Permit literal http:// URLs, as SWITCHBOARD_OUTBOUND_ALLOW_HTTP=true does.
    #[arg(long)]
    pub allow_http: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value = "api")]
    pub scenario: BenchScenario,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds of load after a one-second warm-up.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Run against this database instead of a temporary SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Send this many requests per second in all (spread over the clients) instead of as many as
    /// possible: latency at a given load.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Park this many runs on a delay (e.g. 1000000), restart the server, and let them fire:
    /// reports the server's RSS, restart-to-ready time and fire lateness. `--rate` is then the
    /// event rate while parking (default 1000 events/s, 10 runs each).
    #[arg(long)]
    pub waiting: Option<u64>,
    /// Nodes serving the load, each with its own engine, pool and writer on the same
    /// `--database-url` (PostgreSQL); the clients are spread over them.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Put a counting proxy between the nodes and PostgreSQL and report database round trips
    /// (protocol Sync and simple Query messages) per completed run. The extra hop costs speed:
    /// measure throughput without it.
    #[arg(long)]
    pub count_round_trips: bool,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum BenchScenario {
    /// `GET /api/workflows/{id}`: requests/s and latency percentiles.
    Api,
    /// Events starting workflow (a), the lead workflow: store_context_data → conditional →
    /// store_context_data, contextVariables. Events/s, completed runs/s, ack latency.
    Lead,
    /// Workflow (b): the lead workflow plus a custom_code step.
    Code,
    /// The lead workflow plus a webhook step POSTing JSON to a local sink the bench starts, whose
    /// answer a last step reads.
    Webhook,
    /// Events whose run schedules a call of a callable workflow 5 s ahead (`schedule_workflow`):
    /// how late the calls start (run created − due), p50/p99/max, once all have fired.
    Schedule,
    /// Workflow (a) ending with an `emit_event` step, one subscription at a local receiver:
    /// deliveries/s and event POST → delivery received, p50/p99.
    Deliveries,
    /// Parks runs on a `delay` until one instant (as many as `--seconds` of events make), then
    /// measures how fast the nodes claim and finish them once due: the claim rate.
    Claim,
    /// One store against another: how long hostile scripts run past their limits, another
    /// store's ack and `/healthz` latency beside four hostile runs, and its runs' latency beside a
    /// flood of 30 ms scripts.
    Hostile,
}
