//! `switchboard`: the server and its command-line tools.

mod api;
mod app;
mod backup;
mod bench;
mod caches;
mod cli;
mod config;
mod console;
mod dry_run;
mod first_start;
mod observe;
mod remote;
mod server;
mod validate;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the engine allocates many small JSON values per run; glibc's malloc cost ~17 % of the
/// CPU on the lead bench.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    switchboard_outbound::install_tls();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(flags) => server::serve(flags).await.map(|()| ExitCode::SUCCESS),
        cli::Command::Validate(args) => validate::run(&args),
        cli::Command::DryRun(args) => dry_run::run(&args).await,
        cli::Command::Backup(args) => backup::run(&args),
        cli::Command::Version => {
            println!("switchboard {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Bench(args) => bench::run(args).await.map(|()| ExitCode::SUCCESS),
        cli::Command::Apply(args) => remote::apply::run(&args).await,
        cli::Command::Runs(args) => remote::runs::run(&args).await,
        cli::Command::Events(args) => remote::runs::events(&args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        // A request the server refused is the command's failure (1); anything else is 2.
        match e.downcast_ref::<remote::Refused>() {
            Some(_) => ExitCode::from(1),
            None => ExitCode::from(2),
        }
    })
}
