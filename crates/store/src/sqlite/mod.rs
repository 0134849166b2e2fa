//! The embedded backend: SQLite through rusqlite, WAL mode, one writer thread ([`writer`]) and a
//! pool of read-only connections used from the blocking thread pool.

pub(crate) mod outbox;
pub(crate) mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};

use crate::{Result, StoreError};
use writer::Writer;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../../migrations/sqlite/0002_resources.sql"),
    ),
    (
        3,
        include_str!("../../../../migrations/sqlite/0003_messages.sql"),
    ),
    (
        4,
        include_str!("../../../../migrations/sqlite/0004_schedules.sql"),
    ),
    (
        5,
        include_str!("../../../../migrations/sqlite/0005_subscriptions.sql"),
    ),
    (
        6,
        include_str!("../../../../migrations/sqlite/0006_cluster.sql"),
    ),
    (
        7,
        include_str!("../../../../migrations/sqlite/0007_store_limits.sql"),
    ),
    (
        8,
        include_str!("../../../../migrations/sqlite/0008_runs_waiting.sql"),
    ),
    (
        9,
        include_str!("../../../../migrations/sqlite/0009_run_history.sql"),
    ),
];

pub struct SqliteStore {
    /// Whether the last writes went through.
    pub(crate) health: Arc<crate::Health>,
    pub(crate) writer: Writer,
    pub(crate) signal: writer::Signal,
    readers: Arc<ReaderPool>,
}

/// Read-only connections, opened on demand and reused. At most [`READERS`] exist: each holds a
/// page cache, and without a bound a burst (thousands of runs waking at once) would open one per
/// blocking thread.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

const READERS: usize = 8;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
            }
            let conn = Connection::open(&path)?;
            // FULL: an acknowledged write survives power loss, not only a crash; with group commit
            // it costs little (docs/architecture.md). temp_store MEMORY keeps the sub-journals of the
            // writer's per-request savepoints off disk: they are only needed to roll back one
            // request of a batch, and on disk they cost ~600 writes per commit.
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;",
            )?;
            migrate(&conn)?;
            let signal = writer::Signal::default();
            let health = Arc::new(crate::Health::default());
            Ok(SqliteStore {
                writer: Writer::start(conn, signal.clone(), health.clone()),
                health,
                signal,
                readers: Arc::new(ReaderPool { path, idle: Mutex::new(Vec::new()), permits: tokio::sync::Semaphore::new(READERS) }),
            })
        })
        .await
        .map_err(StoreError::backend)?
    }

    pub(crate) async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let pool = self.readers.clone();
        let _permit = pool.permits.acquire().await.map_err(StoreError::backend)?;
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match pool.idle.lock().expect("reader pool").pop() {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &pool.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.execute_batch("PRAGMA busy_timeout = 5000;")?;
                    c
                }
            };
            let result = f(&conn);
            pool.idle.lock().expect("reader pool").push(conn);
            result
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, now_ms()],
            )?;
            tx.commit()?;
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Copies the SQLite database at `source` to `dest` while it is in use: SQLite's online backup
/// takes a consistent snapshot. The copy is written beside `dest` and renamed into place, so an
/// earlier copy stays whole until the new one is.
pub fn backup(source: &Path, dest: &Path) -> Result<()> {
    if !source.exists() {
        return Err(StoreError::Config(format!(
            "no database at {}",
            source.display()
        )));
    }
    let from = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    from.execute_batch("PRAGMA busy_timeout = 5000;")?;
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut to = Connection::open(&partial)?;
    rusqlite::backup::Backup::new(&from, &mut to)?.run_to_completion(
        1024,
        std::time::Duration::ZERO,
        None,
    )?;
    drop(to);
    std::fs::rename(&partial, dest)
        .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", dest.display())))
}
