//! Scheduled calls and cron ticks (migration 0004), written once for both backends.

use serde_json::Value;

use crate::db::{Db, Row, Sql, args, sql, sql_skip_locked};
use crate::dispatch::on_both_backends;
use crate::model::*;
use crate::{Result, StoreError};

macro_rules! columns {
    () => {
        "id, store_id, workflow_id, kind, status, due_at, inputs, origin_run_id, origin_step_id, \
         run_id, fired_at, error, created_at, updated_at"
    };
}

const REMOVE_TICK: Sql =
    sql!("DELETE FROM schedules WHERE workflow_id = $1 AND kind = 'cron' AND status = 'pending'");
/// A workflow's one pending tick, moved to the new time unless it is due already.
const UPSERT_TICK: Sql = sql!(
    "INSERT INTO schedules (id, store_id, workflow_id, kind, status, due_at, created_at, updated_at) \
     VALUES ($1, $2, $3, 'cron', 'pending', $4, $5, $5) \
     ON CONFLICT (workflow_id) WHERE kind = 'cron' AND status = 'pending' \
     DO UPDATE SET due_at = excluded.due_at, updated_at = excluded.updated_at \
     WHERE schedules.due_at > excluded.updated_at"
);
const CANCEL_CALLS: Sql = sql!(
    "UPDATE schedules SET status = 'cancelled', error = $2, updated_at = $3 \
     WHERE workflow_id = $1 AND status = 'pending'"
);
const INSERT_CALL: Sql = sql!(
    "INSERT INTO schedules (id, store_id, workflow_id, kind, status, due_at, inputs, origin_key, \
     origin_run_id, origin_step_id, created_at, updated_at) \
     VALUES ($1, $2, $3, 'call', 'pending', $4, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (origin_key) DO NOTHING"
);
const CALL_BY_ORIGIN: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM schedules WHERE origin_key = $1"
));
/// `$5`: steal leases of other owners (a lone node restarting on SQLite).
const CLAIM: Sql = sql_skip_locked!(
    "UPDATE schedules SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM schedules \
     WHERE status = 'pending' AND due_at <= $3 AND ($5 OR lease_until IS NULL OR lease_until < $3) \
     ORDER BY due_at LIMIT $4",
    concat!(") RETURNING ", columns!())
);
/// Applies only while the schedule is pending at the due time seen: exactly one settles it.
const SETTLE: Sql = sql!(
    "UPDATE schedules SET status = CASE WHEN CAST($3 AS BIGINT) IS NULL THEN $4 ELSE 'pending' END, \
     due_at = COALESCE($3, due_at), run_id = COALESCE($5, run_id), \
     fired_at = CASE WHEN CAST($5 AS TEXT) IS NULL THEN fired_at ELSE $7 END, error = $6, \
     updated_at = $7, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND status = 'pending' AND due_at = $2"
);
const GET: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM schedules WHERE store_id = $1 AND id = $2"
));
const LIST: Sql = sql!(concat!(
    "SELECT ",
    columns!(),
    " FROM schedules WHERE store_id = $1 AND status = $2 \
     AND (CAST($3 AS TEXT) IS NULL OR workflow_id = $3) AND id > $4 ORDER BY id LIMIT $5"
));

fn record(r: &impl Row) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: r.col(0)?,
        store_id: r.col(1)?,
        workflow_id: r.col(2)?,
        kind: r.status(3)?,
        status: r.status(4)?,
        due_at: r.col(5)?,
        inputs: r.opt_json(6)?,
        origin_run_id: r.col(7)?,
        origin_step_id: r.col(8)?,
        run_id: r.col(9)?,
        fired_at: r.col(10)?,
        error: r.opt_json(11)?,
        created_at: r.col(12)?,
        updated_at: r.col(13)?,
    })
}

/// Makes a workflow's pending cron tick due at `next` (keeping one that is due already), or
/// removes it when `next` is `None`.
pub(crate) async fn sync_cron(
    db: &mut impl Db,
    store_id: &str,
    workflow_id: &str,
    next: Option<i64>,
    now: i64,
) -> Result<()> {
    match next {
        None => db.execute(&REMOVE_TICK, args![workflow_id]).await?,
        Some(due) => {
            let id = ScheduleRecord::new_id();
            let tick = args![id.as_str(), store_id, workflow_id, due, now];
            db.execute(&UPSERT_TICK, tick).await?
        }
    };
    Ok(())
}

/// A deleted workflow's tick goes, and its pending calls are cancelled.
pub(crate) async fn cancel_for_workflow(
    db: &mut impl Db,
    workflow_id: &str,
    now: i64,
) -> Result<()> {
    sync_cron(db, "", workflow_id, None, now).await?;
    let why = crate::error::cancelled("the workflow was deleted");
    db.execute(&CANCEL_CALLS, args![workflow_id, why.as_str(), now])
        .await?;
    Ok(())
}

async fn schedule_call(db: &mut impl Db, call: &NewCall) -> Result<ScheduleRecord> {
    let inputs = call.inputs.to_string();
    let row = args![
        &call.id,
        &call.store_id,
        &call.workflow_id,
        call.due_at,
        inputs.as_str(),
        &call.origin_key,
        &call.origin_run_id,
        &call.origin_step_id,
        call.now
    ];
    db.execute(&INSERT_CALL, row).await?;
    let made = db
        .fetch_one(&CALL_BY_ORIGIN, args![&call.origin_key], |r| record(r))
        .await?;
    made.ok_or_else(|| StoreError::Backend("the scheduled call vanished".into()))
}

async fn claim(
    db: &mut impl Db,
    lease: &Lease,
    limit: u32,
    steal: bool,
) -> Result<Vec<ScheduleRecord>> {
    let claim = args![&lease.owner, lease.until, lease.now, limit, steal];
    let mut claimed = db.fetch(&CLAIM, claim, |r| record(r)).await?;
    claimed.sort_by_key(|s| s.due_at);
    Ok(claimed)
}

/// Applies `s` if the schedule is still pending at that due time; gives whether it did.
pub(crate) async fn settle(db: &mut impl Db, s: &ScheduleSettle) -> Result<bool> {
    let error = s.error.as_ref().map(Value::to_string);
    let row = args![
        &s.id,
        s.due_at,
        s.next,
        s.status.as_str(),
        &s.run_id,
        &error,
        s.now
    ];
    Ok(db.execute(&SETTLE, row).await? > 0)
}

async fn get(db: &mut impl Db, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>> {
    db.fetch_one(&GET, args![store_id, id], |r| record(r)).await
}

async fn list(
    db: &mut impl Db,
    store_id: &str,
    f: &ScheduleFilter,
    page: &PageRequest,
) -> Result<Page<ScheduleRecord>> {
    let status = f.status.unwrap_or(ScheduleStatus::Pending).as_str();
    let after = page.after_key();
    let filter = args![
        store_id,
        status,
        &f.workflow_id,
        after.as_str(),
        page.limit + 1
    ];
    let rows = db.fetch(&LIST, filter, |r| record(r)).await?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

on_both_backends!(crate::Schedules {
    write fn schedule_call(call: NewCall) -> ScheduleRecord => |db| schedule_call(db, &call);
    write fn claim_schedules(lease: Lease, limit: u32, steal: bool) -> Vec<ScheduleRecord>
        => |db| claim(db, &lease, limit, steal);
    write fn settle_schedule(s: ScheduleSettle) -> bool => |db| settle(db, &s);
    read fn get_schedule(store_id: &str, id: &str) -> Option<ScheduleRecord> => |db| get(db, &store_id, &id);
    read fn list_schedules(store_id: &str, filter: &ScheduleFilter, page: &PageRequest) -> Page<ScheduleRecord>
        => |db| list(db, &store_id, &filter, &page);
});
