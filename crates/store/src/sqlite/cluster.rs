//! Nodes and leases on SQLite (see migration 0006). One node serves a SQLite file; it lists itself
//! and renews its leases like a PostgreSQL node, so the API and the engine are the same on both.

use super::*;

use rusqlite::{Connection, Row, params};

use crate::Result;
use crate::model::*;

const NODE_COLUMNS: &str = "id, address, started_at, last_seen_at, runs_in_flight";

fn node(r: &Row) -> rusqlite::Result<NodeRecord> {
    Ok(NodeRecord {
        id: r.get(0)?,
        address: r.get(1)?,
        started_at: r.get(2)?,
        last_seen_at: r.get(3)?,
        runs_in_flight: r.get(4)?,
    })
}

pub(super) fn heartbeat(c: &Connection, n: &NodeRecord, forget_before: i64) -> Result<()> {
    c.prepare_cached(&format!("INSERT INTO nodes ({NODE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET address = excluded.address, last_seen_at = excluded.last_seen_at, runs_in_flight = excluded.runs_in_flight"))?
        .execute(params![n.id, n.address, n.started_at, n.last_seen_at, n.runs_in_flight])?;
    c.prepare_cached("DELETE FROM nodes WHERE last_seen_at < ?1")?
        .execute([forget_before])?;
    Ok(())
}

pub(super) fn list_nodes(c: &Connection, since: i64) -> Result<Vec<NodeRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE last_seen_at >= ?1 ORDER BY started_at, id"
    ))?;
    let nodes = stmt
        .query_map([since], node)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(nodes)
}

pub(super) fn remove_node(c: &Connection, id: &str) -> Result<()> {
    c.execute("DELETE FROM nodes WHERE id = ?1", [id])?;
    Ok(())
}

pub(super) fn renew_leases(
    c: &Connection,
    leased: Leased,
    lease: &Lease,
    ids: &[String],
) -> Result<u64> {
    let ids = serde_json::to_string(ids).map_err(crate::StoreError::backend)?;
    let renewed = c
        .prepare_cached(&format!("UPDATE {} SET lease_until = ?1 WHERE lease_owner = ?2 AND id IN (SELECT value FROM json_each(?3))", leased.table()))?
        .execute(params![lease.until, lease.owner, ids])?;
    Ok(renewed as u64)
}

#[async_trait::async_trait]
impl crate::Cluster for SqliteStore {
    async fn renew_leases(&self, leased: Leased, lease: Lease, ids: Vec<String>) -> Result<u64> {
        self.writer
            .write(move |c| cluster::renew_leases(c, leased, &lease, &ids))
            .await
    }

    async fn heartbeat(&self, node: NodeRecord, forget_before: i64) -> Result<()> {
        self.writer
            .write(move |c| cluster::heartbeat(c, &node, forget_before))
            .await
    }

    async fn list_nodes(&self, since: i64) -> Result<Vec<NodeRecord>> {
        self.read(move |c| cluster::list_nodes(c, since)).await
    }

    async fn remove_node(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .write(move |c| cluster::remove_node(c, &id))
            .await
    }

    async fn config_generation(&self) -> Result<Option<i64>> {
        Ok(None)
    }
}
