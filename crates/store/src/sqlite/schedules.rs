//! Scheduled calls and cron ticks on SQLite (see migration 0004).

use super::*;

use super::rows::get_status;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::Result;
use crate::error::parse_opt;
use crate::model::*;

const COLUMNS: &str = "id, store_id, workflow_id, kind, status, due_at, inputs, origin_run_id, origin_step_id, run_id, fired_at, error, created_at, updated_at";

type Raw = (ScheduleRecord, Option<String>, Option<String>);

fn row(r: &Row) -> rusqlite::Result<Raw> {
    Ok((
        ScheduleRecord {
            id: r.get(0)?,
            store_id: r.get(1)?,
            workflow_id: r.get(2)?,
            kind: get_status(r, 3)?,
            status: get_status(r, 4)?,
            due_at: r.get(5)?,
            inputs: None,
            origin_run_id: r.get(7)?,
            origin_step_id: r.get(8)?,
            run_id: r.get(9)?,
            fired_at: r.get(10)?,
            error: None,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
        },
        r.get(6)?,
        r.get(11)?,
    ))
}

fn record((mut s, inputs, error): Raw) -> Result<ScheduleRecord> {
    s.inputs = parse_opt(inputs)?;
    s.error = parse_opt(error)?;
    Ok(s)
}

fn many(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<ScheduleRecord>> {
    c.prepare_cached(sql)?
        .query_map(params, row)?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(record)
        .collect()
}

/// Makes a workflow's pending cron tick due at `next` (keeping one that is due already), or
/// removes it when `next` is `None`.
pub fn sync_cron(
    c: &Connection,
    store_id: &str,
    workflow_id: &str,
    next: Option<i64>,
    now: i64,
) -> Result<()> {
    match next {
        None => {
            c.prepare_cached("DELETE FROM schedules WHERE workflow_id = ?1 AND kind = 'cron' AND status = 'pending'")?
                .execute([workflow_id])?;
        }
        Some(due) => {
            c.prepare_cached(
                "INSERT INTO schedules (id, store_id, workflow_id, kind, status, due_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'cron', 'pending', ?4, ?5, ?5)
                 ON CONFLICT (workflow_id) WHERE kind = 'cron' AND status = 'pending'
                 DO UPDATE SET due_at = excluded.due_at, updated_at = excluded.updated_at WHERE schedules.due_at > excluded.updated_at",
            )?
            .execute(params![ScheduleRecord::new_id(), store_id, workflow_id, due, now])?;
        }
    }
    Ok(())
}

/// A deleted workflow's tick goes, and its pending calls are cancelled.
pub fn cancel_for_workflow(c: &Connection, workflow_id: &str, now: i64) -> Result<()> {
    sync_cron(c, "", workflow_id, None, now)?;
    c.prepare_cached("UPDATE schedules SET status = 'cancelled', error = ?2, updated_at = ?3 WHERE workflow_id = ?1 AND status = 'pending'")?
        .execute(params![workflow_id, crate::error::cancelled("the workflow was deleted"), now])?;
    Ok(())
}

pub fn schedule_call(c: &Connection, call: &NewCall) -> Result<ScheduleRecord> {
    c.prepare_cached(
        "INSERT INTO schedules (id, store_id, workflow_id, kind, status, due_at, inputs, origin_key, origin_run_id, origin_step_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'call', 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?9) ON CONFLICT (origin_key) DO NOTHING",
    )?
    .execute(params![call.id, call.store_id, call.workflow_id, call.due_at, call.inputs.to_string(), call.origin_key, call.origin_run_id, call.origin_step_id, call.now])?;
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE origin_key = ?1");
    many(c, &sql, [&call.origin_key])?
        .pop()
        .ok_or_else(|| crate::StoreError::Backend("the scheduled call vanished".into()))
}

pub fn claim(
    c: &Connection,
    lease: &Lease,
    limit: u32,
    steal: bool,
) -> Result<Vec<ScheduleRecord>> {
    let guard = if steal {
        ""
    } else {
        "AND (lease_until IS NULL OR lease_until < ?3)"
    };
    let sql = format!(
        "UPDATE schedules SET lease_owner = ?1, lease_until = ?2 WHERE id IN (SELECT id FROM schedules WHERE status = 'pending' AND due_at <= ?3 {guard} ORDER BY due_at LIMIT ?4) RETURNING {COLUMNS}"
    );
    let mut claimed = many(c, &sql, params![lease.owner, lease.until, lease.now, limit])?;
    claimed.sort_by_key(|s| s.due_at);
    Ok(claimed)
}

pub fn settle(c: &Connection, s: &ScheduleSettle) -> Result<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE schedules SET status = CASE WHEN ?3 IS NULL THEN ?4 ELSE 'pending' END, due_at = COALESCE(?3, due_at),
               run_id = COALESCE(?5, run_id), fired_at = CASE WHEN ?5 IS NULL THEN fired_at ELSE ?7 END, error = ?6, updated_at = ?7, lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND status = 'pending' AND due_at = ?2",
        )?
        .execute(params![s.id, s.due_at, s.next, s.status.as_str(), s.run_id, s.error.as_ref().map(Value::to_string), s.now])?;
    Ok(changed > 0)
}

pub fn get(c: &Connection, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE store_id = ?1 AND id = ?2");
    c.prepare_cached(&sql)?
        .query_row([store_id, id], row)
        .optional()?
        .map(record)
        .transpose()
}

pub fn list(
    c: &Connection,
    store_id: &str,
    f: &ScheduleFilter,
    page: &PageRequest,
) -> Result<Page<ScheduleRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM schedules WHERE store_id = ?1 AND status = ?2 AND (?3 IS NULL OR workflow_id = ?3) AND id > ?4 ORDER BY id LIMIT ?5"
    );
    let status = f.status.unwrap_or(ScheduleStatus::Pending).as_str();
    let rows = many(
        c,
        &sql,
        params![
            store_id,
            status,
            f.workflow_id,
            page.after_key(),
            page.limit + 1
        ],
    )?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

#[async_trait::async_trait]
impl crate::Schedules for SqliteStore {
    async fn schedule_call(&self, call: NewCall) -> Result<ScheduleRecord> {
        self.writer
            .write(move |c| schedules::schedule_call(c, &call))
            .await
    }

    async fn claim_schedules(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<ScheduleRecord>> {
        self.writer
            .write(move |c| schedules::claim(c, &lease, limit, steal))
            .await
    }

    async fn settle_schedule(&self, settle: ScheduleSettle) -> Result<bool> {
        self.writer
            .write(move |c| schedules::settle(c, &settle))
            .await
    }

    async fn get_schedule(&self, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| schedules::get(c, &store_id, &id)).await
    }

    async fn list_schedules(
        &self,
        store_id: &str,
        filter: &ScheduleFilter,
        page: &PageRequest,
    ) -> Result<Page<ScheduleRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| schedules::list(c, &store_id, &filter, &page))
            .await
    }
}
