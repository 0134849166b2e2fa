//! Scheduled calls and cron ticks on PostgreSQL (see migration 0004).

use super::*;

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::writer::BoxFuture;
use crate::Result;
use crate::error::{parse_opt, status};
use crate::model::*;

const COLUMNS: &str = "id, store_id, workflow_id, kind, status, due_at, inputs, origin_run_id, origin_step_id, run_id, fired_at, error, created_at, updated_at";

fn record(r: &PgRow) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        workflow_id: r.try_get(2)?,
        kind: status(r.try_get(3)?)?,
        status: status(r.try_get(4)?)?,
        due_at: r.try_get(5)?,
        inputs: parse_opt(r.try_get(6)?)?,
        origin_run_id: r.try_get(7)?,
        origin_step_id: r.try_get(8)?,
        run_id: r.try_get(9)?,
        fired_at: r.try_get(10)?,
        error: parse_opt(r.try_get(11)?)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

/// Makes a workflow's pending cron tick due at `next` (keeping one that is due already), or
/// removes it when `next` is `None`.
pub async fn sync_cron(
    c: &mut PgConnection,
    store_id: &str,
    workflow_id: &str,
    next: Option<i64>,
    now: i64,
) -> Result<()> {
    match next {
        None => {
            sqlx::query("DELETE FROM schedules WHERE workflow_id = $1 AND kind = 'cron' AND status = 'pending'")
                .bind(workflow_id)
                .execute(c)
                .await?;
        }
        Some(due) => {
            sqlx::query(
                "INSERT INTO schedules (id, store_id, workflow_id, kind, status, due_at, created_at, updated_at) VALUES ($1, $2, $3, 'cron', 'pending', $4, $5, $5)
                 ON CONFLICT (workflow_id) WHERE kind = 'cron' AND status = 'pending'
                 DO UPDATE SET due_at = excluded.due_at, updated_at = excluded.updated_at WHERE schedules.due_at > excluded.updated_at",
            )
            .bind(ScheduleRecord::new_id())
            .bind(store_id)
            .bind(workflow_id)
            .bind(due)
            .bind(now)
            .execute(c)
            .await?;
        }
    }
    Ok(())
}

/// A deleted workflow's tick goes, and its pending calls are cancelled.
pub async fn cancel_for_workflow(c: &mut PgConnection, workflow_id: &str, now: i64) -> Result<()> {
    sync_cron(&mut *c, "", workflow_id, None, now).await?;
    sqlx::query("UPDATE schedules SET status = 'cancelled', error = $2, updated_at = $3 WHERE workflow_id = $1 AND status = 'pending'")
        .bind(workflow_id)
        .bind(crate::error::cancelled("the workflow was deleted"))
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn schedule_call(c: &mut PgConnection, call: &NewCall) -> Result<ScheduleRecord> {
    sqlx::query(
        "INSERT INTO schedules (id, store_id, workflow_id, kind, status, due_at, inputs, origin_key, origin_run_id, origin_step_id, created_at, updated_at)
         VALUES ($1, $2, $3, 'call', 'pending', $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (origin_key) DO NOTHING",
    )
    .bind(&call.id)
    .bind(&call.store_id)
    .bind(&call.workflow_id)
    .bind(call.due_at)
    .bind(call.inputs.to_string())
    .bind(&call.origin_key)
    .bind(&call.origin_run_id)
    .bind(&call.origin_step_id)
    .bind(call.now)
    .execute(&mut *c)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM schedules WHERE origin_key = $1"
    ))
    .bind(&call.origin_key)
    .fetch_one(&mut *c)
    .await?;
    record(&row)
}

pub fn claim(
    c: &mut PgConnection,
    lease: Lease,
    limit: u32,
    steal: bool,
) -> BoxFuture<'_, Result<Vec<ScheduleRecord>>> {
    Box::pin(async move {
        let guard = if steal {
            ""
        } else {
            "AND (lease_until IS NULL OR lease_until < $3)"
        };
        let mut claimed = sqlx::query(&format!("UPDATE schedules SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM schedules WHERE status = 'pending' AND due_at <= $3 {guard} ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"))
            .bind(&lease.owner)
            .bind(lease.until)
            .bind(lease.now)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(record)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|s| s.due_at);
        Ok(claimed)
    })
}

pub async fn settle(c: &mut PgConnection, s: &ScheduleSettle) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE schedules SET status = CASE WHEN $3::BIGINT IS NULL THEN $4 ELSE 'pending' END, due_at = COALESCE($3, due_at),
           run_id = COALESCE($5, run_id), fired_at = CASE WHEN $5::TEXT IS NULL THEN fired_at ELSE $7 END, error = $6, updated_at = $7, lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND status = 'pending' AND due_at = $2",
    )
    .bind(&s.id)
    .bind(s.due_at)
    .bind(s.next)
    .bind(s.status.as_str())
    .bind(&s.run_id)
    .bind(s.error.as_ref().map(Value::to_string))
    .bind(s.now)
    .execute(c)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn get<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    id: &str,
) -> Result<Option<ScheduleRecord>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM schedules WHERE store_id = $1 AND id = $2"
    ))
    .bind(store_id)
    .bind(id)
    .fetch_optional(exec)
    .await?
    .as_ref()
    .map(record)
    .transpose()
}

pub async fn list<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    f: &ScheduleFilter,
    page: &PageRequest,
) -> Result<Page<ScheduleRecord>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM schedules WHERE store_id = $1 AND status = $2 AND ($3::TEXT IS NULL OR workflow_id = $3) AND id > $4 ORDER BY id LIMIT $5"))
        .bind(store_id)
        .bind(f.status.unwrap_or(ScheduleStatus::Pending).as_str())
        .bind(&f.workflow_id)
        .bind(page.after_key())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(exec)
        .await?
        .iter()
        .map(record)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
}

#[async_trait::async_trait]
impl crate::Schedules for PgStore {
    async fn schedule_call(&self, call: NewCall) -> Result<ScheduleRecord> {
        self.writer
            .write(move |c| Box::pin(async move { schedules::schedule_call(c, &call).await }))
            .await
    }

    async fn claim_schedules(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<ScheduleRecord>> {
        self.writer
            .write(move |c| schedules::claim(c, lease, limit, steal))
            .await
    }

    async fn settle_schedule(&self, settle: ScheduleSettle) -> Result<bool> {
        self.writer
            .write(move |c| Box::pin(async move { schedules::settle(c, &settle).await }))
            .await
    }

    async fn get_schedule(&self, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>> {
        schedules::get(&self.pool, store_id, id).await
    }

    async fn list_schedules(
        &self,
        store_id: &str,
        filter: &ScheduleFilter,
        page: &PageRequest,
    ) -> Result<Page<ScheduleRecord>> {
        schedules::list(&self.pool, store_id, filter, page).await
    }
}
