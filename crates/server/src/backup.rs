//! `switchboard backup FILE`: a consistent copy of the live SQLite database, found with the same
//! settings as `serve` (SQLite's online backup: the server keeps running). Restoring: stop the
//! server, put the copy in place of the database file, keep the same master key. A PostgreSQL
//! database is backed up with PostgreSQL's own tools.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::BackupArgs;
use crate::config::Settings;

pub fn run(args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&args.settings)?;
    let url = settings.database_url();
    let Some(path) = url.strip_prefix("sqlite://") else {
        eprintln!(
            "error: the database is PostgreSQL; back it up with pg_dump (e.g. `pg_dump --format=custom`)"
        );
        return Ok(ExitCode::from(2));
    };
    switchboard_store::backup_sqlite(Path::new(path), &args.file)
        .with_context(|| format!("cannot back up {path}"))?;
    println!("backed up {path} to {}", args.file.display());
    Ok(ExitCode::SUCCESS)
}
