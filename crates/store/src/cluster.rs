//! Nodes, leases and the config generation (migration 0006), written once for both backends. One
//! node serves a SQLite file; it lists itself and renews its leases like a PostgreSQL node, so the
//! API and the engine are the same on both.

use crate::Result;
use crate::db::{Db, Row, Sql, args, sql};
use crate::dispatch::on_both_backends;
use crate::model::*;

macro_rules! node_columns {
    () => {
        "id, address, started_at, last_seen_at, runs_in_flight"
    };
}

const UPSERT_NODE: Sql = sql!(concat!(
    "INSERT INTO nodes (",
    node_columns!(),
    ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
     last_seen_at = excluded.last_seen_at, runs_in_flight = excluded.runs_in_flight"
));
const FORGET_NODES: Sql = sql!("DELETE FROM nodes WHERE last_seen_at < $1");
const LIST_NODES: Sql = sql!(concat!(
    "SELECT ",
    node_columns!(),
    " FROM nodes WHERE last_seen_at >= $1 ORDER BY started_at, id"
));
const REMOVE_NODE: Sql = sql!("DELETE FROM nodes WHERE id = $1");
const GENERATION: Sql = sql!("SELECT value FROM config_generation");
/// Per leased table; the ids are an array on PostgreSQL, JSON text on SQLite.
const RENEW_RUNS: Sql = Sql::each(
    "UPDATE runs SET lease_until = $1 WHERE lease_owner = $2 AND id = ANY($3)",
    "UPDATE runs SET lease_until = ?1 WHERE lease_owner = ?2 AND id IN (SELECT value FROM json_each(?3))",
);
const RENEW_DELIVERIES: Sql = Sql::each(
    "UPDATE deliveries SET lease_until = $1 WHERE lease_owner = $2 AND id = ANY($3)",
    "UPDATE deliveries SET lease_until = ?1 WHERE lease_owner = ?2 AND id IN (SELECT value FROM json_each(?3))",
);

fn node(r: &impl Row) -> Result<NodeRecord> {
    Ok(NodeRecord {
        id: r.col(0)?,
        address: r.col(1)?,
        started_at: r.col(2)?,
        last_seen_at: r.col(3)?,
        runs_in_flight: r.col(4)?,
    })
}

async fn heartbeat(db: &mut impl Db, n: &NodeRecord, forget_before: i64) -> Result<()> {
    let node = args![
        &n.id,
        &n.address,
        n.started_at,
        n.last_seen_at,
        n.runs_in_flight
    ];
    db.execute(&UPSERT_NODE, node).await?;
    db.execute(&FORGET_NODES, args![forget_before]).await?;
    Ok(())
}

async fn list_nodes(db: &mut impl Db, since: i64) -> Result<Vec<NodeRecord>> {
    db.fetch(&LIST_NODES, args![since], |r| node(r)).await
}

async fn remove_node(db: &mut impl Db, id: &str) -> Result<()> {
    db.execute(&REMOVE_NODE, args![id]).await?;
    Ok(())
}

async fn renew_leases(
    db: &mut impl Db,
    leased: Leased,
    lease: &Lease,
    ids: &[String],
) -> Result<u64> {
    let sql = match leased {
        Leased::Runs => &RENEW_RUNS,
        Leased::Deliveries => &RENEW_DELIVERIES,
    };
    db.execute(sql, args![lease.until, &lease.owner, ids]).await
}

// Heartbeats and renewals go around PostgreSQL's writer: a node whose writer is backed up is still
// alive, and a backlog of writes must not let the leases of live work lapse (another node would
// take it over and repeat its effects).
on_both_backends! {
    crate::Cluster {
        direct fn renew_leases(leased: Leased, lease: Lease, ids: Vec<String>) -> u64
            => |db| renew_leases(db, leased, &lease, &ids);
        direct fn heartbeat(node: NodeRecord, forget_before: i64) -> () => |db| heartbeat(db, &node, forget_before);
        read fn list_nodes(since: i64) -> Vec<NodeRecord> => |db| list_nodes(db, since);
        direct fn remove_node(id: &str) -> () => |db| remove_node(db, &id);
    }
    sqlite {
        /// One node writes a SQLite file: it clears its caches as it writes.
        async fn config_generation(&self) -> Result<Option<i64>> {
            Ok(None)
        }
    }
    postgres {
        async fn config_generation(&self) -> Result<Option<i64>> {
            let mut c = self.pool.acquire().await?;
            Ok(c.fetch_one(&GENERATION, &[], |r| r.col(0)).await?)
        }
    }
}
