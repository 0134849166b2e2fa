//! The PostgreSQL backend (sqlx): a pool for reads, one dedicated connection for the batching
//! writer. Runs will be claimed with `FOR UPDATE SKIP LOCKED` on the lease columns.

pub(crate) mod outbox;
pub(crate) mod writer;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::Result;
use writer::Writer;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../../migrations/postgres/0002_resources.sql"),
    ),
    (
        3,
        include_str!("../../../../migrations/postgres/0003_messages.sql"),
    ),
    (
        4,
        include_str!("../../../../migrations/postgres/0004_schedules.sql"),
    ),
    (
        5,
        include_str!("../../../../migrations/postgres/0005_subscriptions.sql"),
    ),
    (
        6,
        include_str!("../../../../migrations/postgres/0006_cluster.sql"),
    ),
    (
        7,
        include_str!("../../../../migrations/postgres/0007_store_limits.sql"),
    ),
    (
        8,
        include_str!("../../../../migrations/postgres/0008_runs_waiting.sql"),
    ),
    (
        9,
        include_str!("../../../../migrations/postgres/0009_run_history.sql"),
    ),
];
/// Connections of the batching writer: batches commit on them in turn (see [`writer`]). Four
/// tripled a node's runs/s, but batches on different connections can deadlock on each other's
/// uncommitted unique keys (two workflows given the same name in two batches), and a batch that
/// loses fails whole: one until batches are retried (docs/scaling.md).
const WRITER_CONNECTIONS: usize = 1;
/// Serialises migrations when several nodes start at once.
const MIGRATION_LOCK: i64 = 0x5357_4254_4348;

pub struct PgStore {
    /// Whether the last writes went through.
    pub(crate) health: std::sync::Arc<crate::Health>,
    pub(crate) pool: PgPool,
    pub(crate) writer: Writer,
    pub(crate) signal: writer::Signal,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        migrate(&pool).await?;
        let mut connections = Vec::with_capacity(WRITER_CONNECTIONS);
        for _ in 0..WRITER_CONNECTIONS {
            connections.push(PgConnection::connect(url).await?);
        }
        let signal = writer::Signal::default();
        let health = std::sync::Arc::new(crate::Health::default());
        Ok(PgStore {
            pool,
            writer: Writer::start(url.to_owned(), connections, signal.clone(), health.clone()),
            health,
            signal,
        })
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .execute(&mut *tx)
        .await?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = $1)")
                .bind(version)
                .fetch_one(&mut *tx)
                .await?;
        if !applied {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
