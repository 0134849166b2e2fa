//! Nodes, leases and the configuration generation on PostgreSQL (see migration 0006).

use super::*;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::writer::BoxFuture;
use crate::Result;
use crate::model::*;

const NODE_COLUMNS: &str = "id, address, started_at, last_seen_at, runs_in_flight";

fn node(r: &PgRow) -> Result<NodeRecord> {
    Ok(NodeRecord {
        id: r.try_get(0)?,
        address: r.try_get(1)?,
        started_at: r.try_get(2)?,
        last_seen_at: r.try_get(3)?,
        runs_in_flight: r.try_get(4)?,
    })
}

/// On the pool, not through the writer: a node whose writer is backed up is still alive.
pub(super) async fn heartbeat(pool: &PgPool, n: &NodeRecord, forget_before: i64) -> Result<()> {
    sqlx::query(&format!("INSERT INTO nodes ({NODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET address = excluded.address, last_seen_at = excluded.last_seen_at, runs_in_flight = excluded.runs_in_flight"))
        .bind(&n.id)
        .bind(&n.address)
        .bind(n.started_at)
        .bind(n.last_seen_at)
        .bind(n.runs_in_flight)
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM nodes WHERE last_seen_at < $1")
        .bind(forget_before)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn list_nodes(pool: &PgPool, since: i64) -> Result<Vec<NodeRecord>> {
    sqlx::query(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE last_seen_at >= $1 ORDER BY started_at, id"
    ))
    .bind(since)
    .fetch_all(pool)
    .await?
    .iter()
    .map(node)
    .collect()
}

pub(super) async fn remove_node(pool: &PgPool, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM nodes WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn config_generation(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT value FROM config_generation")
        .fetch_one(pool)
        .await?)
}

pub(super) fn renew_leases(
    c: &mut PgConnection,
    leased: Leased,
    lease: Lease,
    ids: Vec<String>,
) -> BoxFuture<'_, Result<u64>> {
    Box::pin(async move {
        let done = sqlx::query(&format!(
            "UPDATE {} SET lease_until = $1 WHERE lease_owner = $2 AND id = ANY($3)",
            leased.table()
        ))
        .bind(lease.until)
        .bind(&lease.owner)
        .bind(&ids)
        .execute(&mut *c)
        .await?;
        Ok(done.rows_affected())
    })
}

#[async_trait::async_trait]
impl crate::Cluster for PgStore {
    async fn renew_leases(&self, leased: Leased, lease: Lease, ids: Vec<String>) -> Result<u64> {
        // On the pool, not queued behind the writer's batches: a backlog of writes must not let
        // the leases of live work lapse (another node would take it over and repeat its effects).
        let mut c = self.pool.acquire().await?;
        cluster::renew_leases(&mut c, leased, lease, ids).await
    }

    async fn heartbeat(&self, node: NodeRecord, forget_before: i64) -> Result<()> {
        cluster::heartbeat(&self.pool, &node, forget_before).await
    }

    async fn list_nodes(&self, since: i64) -> Result<Vec<NodeRecord>> {
        cluster::list_nodes(&self.pool, since).await
    }

    async fn remove_node(&self, id: &str) -> Result<()> {
        cluster::remove_node(&self.pool, id).await
    }

    async fn config_generation(&self) -> Result<Option<i64>> {
        cluster::config_generation(&self.pool).await.map(Some)
    }
}
