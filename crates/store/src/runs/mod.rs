//! Events, runs, their step records and per-contact conversations, written once for both
//! backends: statements and reads here, writes in [`write`], the trait impls in [`store`].

mod conversations;
mod store;
mod write;

pub(crate) use write::cancel_workflow_runs;

use crate::Result;
use crate::db::{Arg, Db, Row, Sql, args, sql, sql_skip_locked};
use crate::model::*;

macro_rules! run_columns {
    () => {
        "id, store_id, workflow_id, workflow_version, event_id, status, trigger, contact, \
         next_node, visits, wake_at, error, created_at, updated_at, finished_at, email, \
         trigger_type, error_code, failed_step, replay_of, actions"
    };
}

macro_rules! step_columns {
    () => {
        "seq, step_id, node, visit, status, attempts, input, output, error, http, logs, \
         started_at, finished_at, workflow_version, superseded_at"
    };
}

/// Runs that may still change: queued, running or waiting.
macro_rules! live {
    () => {
        "status IN ('queued', 'running', 'waiting')"
    };
}
use {live, step_columns};

const GET: Sql = sql!(concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE store_id = $1 AND id = $2"
));
/// The run list's filters: `$1` the store, `$2`–`$5` and `$8`–`$12` as [`list_runs`] binds them.
macro_rules! run_filter {
    () => {
        "store_id = $1 AND (CAST($2 AS TEXT) IS NULL OR workflow_id = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR status = $3) \
         AND (CAST($4 AS BIGINT) IS NULL OR created_at >= $4) \
         AND (CAST($5 AS BIGINT) IS NULL OR created_at < $5) \
         AND (CAST($8 AS TEXT) IS NULL OR contact = $8) AND (CAST($9 AS TEXT) IS NULL OR email = $9) \
         AND (CAST($10 AS TEXT) IS NULL OR event_id = $10) \
         AND (CAST($11 AS TEXT) IS NULL OR error_code = $11) \
         AND (CAST($12 AS TEXT) IS NULL OR trigger_type = $12)"
    };
}

const LIST: Sql = sql!(concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE ",
    run_filter!(),
    " AND (CAST($6 AS TEXT) IS NULL OR id < $6) ORDER BY id DESC LIMIT $7"
));
/// Runs changed after the cursor `($13, $6)` (updated at, id), oldest change first.
const CHANGED: Sql = sql!(concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE ",
    run_filter!(),
    " AND (updated_at > $13 OR (updated_at = $13 AND id > $6)) ORDER BY updated_at, id LIMIT $7"
));
const STEPS: Sql = sql!(concat!(
    "SELECT ",
    step_columns!(),
    " FROM step_records WHERE run_id = $1 ORDER BY seq"
));
const EVENTS: Sql = sql!(
    "SELECT id, store_id, event_type, payload, idempotency_key, created_at FROM events \
     WHERE store_id = $1 AND (CAST($2 AS TEXT) IS NULL OR event_type = $2) \
     AND (CAST($3 AS BIGINT) IS NULL OR created_at >= $3) \
     AND (CAST($4 AS BIGINT) IS NULL OR created_at < $4) \
     AND (CAST($5 AS TEXT) IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
);
/// The runs of a page of events at once; the ids are an array on PostgreSQL, JSON on SQLite.
const EVENT_RUNS: Sql = Sql::each(
    "SELECT event_id, id FROM runs WHERE event_id = ANY($1) ORDER BY id",
    "SELECT event_id, id FROM runs WHERE event_id IN (SELECT value FROM json_each(?1)) ORDER BY id",
);
const STATS_RUNS: Sql = sql!(
    "SELECT status, COUNT(*) FROM runs WHERE store_id = $1 AND workflow_id = $2 \
     AND created_at >= $3 GROUP BY status ORDER BY status"
);
/// Superseded visits (replaced by a rerun) do not count.
const STATS_STEPS: Sql = sql!(
    "SELECT s.step_id, COUNT(DISTINCT s.run_id), \
     COUNT(DISTINCT CASE WHEN s.status = 'failed' THEN s.run_id END) \
     FROM step_records s JOIN runs r ON r.id = s.run_id \
     WHERE r.store_id = $1 AND r.workflow_id = $2 AND r.created_at >= $3 \
     AND s.superseded_at IS NULL GROUP BY s.step_id ORDER BY s.step_id"
);
const COUNT_WAITING: Sql = sql!("SELECT count(*) FROM runs WHERE status = 'waiting'");
/// Due and orphaned runs; `$5`: steal leases of other owners (a lone node restarting on SQLite).
const CLAIM: Sql = sql_skip_locked!(
    concat!(
        "UPDATE runs SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM runs WHERE ",
        live!(),
        " AND wake_at <= $3 AND ($5 OR lease_until IS NULL OR lease_until < $3) \
         ORDER BY wake_at LIMIT $4"
    ),
    concat!(") RETURNING ", run_columns!())
);

/// The stores with waiting runs due at `$1` and not leased: a skip from each store to the next
/// along `runs_waiting`, so the cost follows the number of stores, not of due runs.
const STORES_WAKING: Sql = sql!(
    "WITH RECURSIVE waiting(store_id) AS ( \
       SELECT (SELECT store_id FROM runs WHERE status = 'waiting' ORDER BY store_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT r.store_id FROM runs r WHERE r.status = 'waiting' AND r.store_id > w.store_id \
               ORDER BY r.store_id LIMIT 1) \
       FROM waiting w WHERE w.store_id IS NOT NULL) \
     SELECT store_id FROM waiting w WHERE store_id IS NOT NULL AND EXISTS ( \
       SELECT 1 FROM runs r WHERE r.status = 'waiting' AND r.store_id = w.store_id \
       AND r.wake_at <= $1 AND (r.lease_until IS NULL OR r.lease_until < $1))"
);
/// One store's due waiting runs, oldest first: `$4` the store, `$5` how many. They are running
/// from now on, so they leave `runs_waiting` and the next look along it does not step over them.
const CLAIM_WAKING: Sql = sql_skip_locked!(
    concat!(
        "UPDATE runs SET status = 'running', lease_owner = $1, lease_until = $2 \
         WHERE id IN (SELECT id FROM runs \
         WHERE status = 'waiting' AND store_id = $4 AND wake_at <= $3 \
         AND (lease_until IS NULL OR lease_until < $3) ORDER BY wake_at LIMIT $5"
    ),
    concat!(") RETURNING ", run_columns!())
);

fn run(r: &impl Row) -> Result<RunRecord> {
    Ok(RunRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        workflow_id: r.col(2)?,
        workflow_version: r.col(3)?,
        event_id: r.col(4)?,
        status: r.status(5)?,
        trigger: r.json(6)?,
        contact: r.col(7)?,
        next_node: r.col(8)?,
        visits: r.col(9)?,
        wake_at: r.col(10)?,
        error: r.opt_json(11)?,
        created_at: r.col(12)?,
        updated_at: r.col(13)?,
        finished_at: r.col(14)?,
        email: r.col(15)?,
        trigger_type: r.col(16)?,
        error_code: r.col(17)?,
        failed_step: r.col(18)?,
        replay_of: r.col(19)?,
        actions: match r.opt_json(20)? {
            Some(serde_json::Value::Array(actions)) => actions,
            _ => Vec::new(),
        },
    })
}

fn step(r: &impl Row) -> Result<StepRecord> {
    Ok(StepRecord {
        seq: r.col(0)?,
        step_id: r.col(1)?,
        node: r.col(2)?,
        visit: r.col(3)?,
        status: r.status(4)?,
        attempts: r.col(5)?,
        input: r.opt_json(6)?,
        output: r.opt_json(7)?,
        error: r.opt_json(8)?,
        http: r.opt_json(9)?,
        logs: r.opt_json(10)?,
        started_at: r.col(11)?,
        finished_at: r.col(12)?,
        workflow_version: r.col(13)?,
        superseded_at: r.col(14)?,
    })
}

async fn get_run(db: &mut impl Db, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
    db.fetch_one(&GET, args![store_id, id], |r| run(r)).await
}

/// The parameters of [`LIST`] (the first twelve) and [`CHANGED`] (all thirteen).
fn filter_args<'a>(
    store_id: &'a str,
    f: &'a RunFilter,
    after_id: Option<&'a str>,
    limit: u32,
    changed_after: i64,
) -> [Arg<'a>; 13] {
    [
        store_id.into(),
        (&f.workflow_id).into(),
        f.status.map(RunStatus::as_str).into(),
        f.since.into(),
        f.until.into(),
        after_id.into(),
        limit.into(),
        (&f.contact).into(),
        (&f.email).into(),
        (&f.event_id).into(),
        (&f.error_code).into(),
        (&f.trigger_type).into(),
        changed_after.into(),
    ]
}

async fn list_runs(
    db: &mut impl Db,
    store_id: &str,
    f: &RunFilter,
    page: &PageRequest,
) -> Result<Page<RunRecord>> {
    let filter = filter_args(store_id, f, page.after.as_deref(), page.limit + 1, 0);
    let rows = db.fetch(&LIST, &filter[..12], |r| run(r)).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id.clone()))
}

async fn changed_runs(
    db: &mut impl Db,
    store_id: &str,
    f: &RunFilter,
    after: &(i64, String),
    limit: u32,
) -> Result<Vec<RunRecord>> {
    let filter = filter_args(store_id, f, Some(&after.1), limit, after.0);
    db.fetch(&CHANGED, &filter, |r| run(r)).await
}

async fn run_steps(db: &mut impl Db, run_id: &str) -> Result<Vec<StepRecord>> {
    db.fetch(&STEPS, args![run_id], |r| step(r)).await
}

async fn count_waiting(db: &mut impl Db) -> Result<i64> {
    let count = db.fetch_one(&COUNT_WAITING, &[], |r| r.col(0)).await?;
    Ok(count.unwrap_or(0))
}

async fn claim(db: &mut impl Db, lease: &Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
    let claim = args![&lease.owner, lease.until, lease.now, limit, steal];
    db.fetch(&CLAIM, claim, |r| run(r)).await
}

async fn stores_waking(db: &mut impl Db, now: i64) -> Result<Vec<String>> {
    db.fetch(&STORES_WAKING, args![now], |r| r.col(0)).await
}

async fn claim_waking(
    db: &mut impl Db,
    lease: &Lease,
    quotas: &[(String, u32)],
) -> Result<Vec<RunRecord>> {
    let mut claimed = Vec::new();
    for (store_id, limit) in quotas {
        let claim = args![&lease.owner, lease.until, lease.now, store_id, *limit];
        claimed.extend(db.fetch(&CLAIM_WAKING, claim, |r| run(r)).await?);
    }
    Ok(claimed)
}

async fn list_events(
    db: &mut impl Db,
    store_id: &str,
    f: &EventFilter,
    page: &PageRequest,
) -> Result<Page<EventRecord>> {
    let filter = args![
        store_id,
        &f.event_type,
        f.since,
        f.until,
        &page.after,
        page.limit + 1
    ];
    let rows = db
        .fetch(&EVENTS, filter, |r| {
            Ok(EventRecord {
                id: r.col(0)?,
                store_id: r.col(1)?,
                event_type: r.col(2)?,
                payload: r.json(3)?,
                idempotency_key: r.col(4)?,
                created_at: r.col(5)?,
            })
        })
        .await?;
    Ok(Page::from_rows(rows, page.limit, |e| e.id.clone()))
}

async fn event_runs(db: &mut impl Db, event_ids: &[String]) -> Result<Vec<(String, String)>> {
    db.fetch(&EVENT_RUNS, args![event_ids], |r| {
        Ok((r.col(0)?, r.col(1)?))
    })
    .await
}

async fn workflow_stats(
    db: &mut impl Db,
    store_id: &str,
    workflow_id: &str,
    since: i64,
) -> Result<WorkflowStats> {
    let window = args![store_id, workflow_id, since];
    let runs = db
        .fetch(&STATS_RUNS, window, |r| Ok((r.col(0)?, r.col(1)?)))
        .await?;
    let steps = db
        .fetch(&STATS_STEPS, window, |r| {
            Ok((r.col(0)?, r.col(1)?, r.col(2)?))
        })
        .await?;
    Ok(WorkflowStats { runs, steps })
}
