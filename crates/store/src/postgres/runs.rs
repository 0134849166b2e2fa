//! Events, runs, step records and conversations on PostgreSQL. Writes run as writer jobs (one
//! savepoint of a group-committed transaction); claims use `FOR UPDATE SKIP LOCKED` so several
//! nodes never lease the same run.

use super::*;

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::writer::BoxFuture;
use crate::Result;
use crate::error::{parse_json, parse_opt, status};
use crate::model::*;
use crate::outbox::{Change, conversation_view, message_view, run_event, run_summary};

const RUN_COLUMNS: &str = "id, store_id, workflow_id, workflow_version, event_id, status, trigger, contact, next_node, visits, wake_at, error, created_at, updated_at, finished_at";
const STEP_COLUMNS: &str = "seq, step_id, node, visit, status, attempts, input, output, error, http, logs, started_at, finished_at";

fn opt_json(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

fn run_row(r: &PgRow) -> Result<RunRecord> {
    Ok(RunRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        workflow_id: r.try_get(2)?,
        workflow_version: r.try_get(3)?,
        event_id: r.try_get(4)?,
        status: status(r.try_get(5)?)?,
        trigger: parse_json(r.try_get(6)?)?,
        contact: r.try_get(7)?,
        next_node: r.try_get(8)?,
        visits: r.try_get(9)?,
        wake_at: r.try_get(10)?,
        error: parse_opt(r.try_get(11)?)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
        finished_at: r.try_get(14)?,
    })
}

fn step_row(r: &PgRow) -> Result<StepRecord> {
    Ok(StepRecord {
        seq: r.try_get(0)?,
        step_id: r.try_get(1)?,
        node: r.try_get(2)?,
        visit: r.try_get(3)?,
        status: status(r.try_get(4)?)?,
        attempts: r.try_get(5)?,
        input: parse_opt(r.try_get(6)?)?,
        output: parse_opt(r.try_get(7)?)?,
        error: parse_opt(r.try_get(8)?)?,
        http: parse_opt(r.try_get(9)?)?,
        logs: parse_opt(r.try_get(10)?)?,
        started_at: r.try_get(11)?,
        finished_at: r.try_get(12)?,
    })
}

pub(super) fn accept(
    c: &mut PgConnection,
    event: NewEvent,
    runs: Vec<NewRun>,
) -> BoxFuture<'_, Result<Acceptance>> {
    Box::pin(async move {
        if let Some(settle) = &event.schedule
            && !crate::schedules::settle(&mut *c, settle).await?
        {
            return Err(crate::error::schedule_gone());
        }
        if let Some(key) = &event.idempotency {
            let seen = sqlx::query("SELECT request_hash, response, created_at FROM events WHERE store_id = $1 AND idempotency_key = $2")
                .bind(&event.store_id)
                .bind(&key.key)
                .fetch_optional(&mut *c)
                .await?;
            if let Some(row) = seen {
                let at: i64 = row.try_get(2)?;
                if at >= key.since {
                    let hash: Option<String> = row.try_get(0)?;
                    return Ok(Acceptance::Replayed {
                        request_hash: hash.unwrap_or_default(),
                        response: parse_opt(row.try_get(1)?)?.unwrap_or(Value::Null),
                    });
                }
                sqlx::query("UPDATE events SET idempotency_key = NULL WHERE store_id = $1 AND idempotency_key = $2")
                    .bind(&event.store_id)
                    .bind(&key.key)
                    .execute(&mut *c)
                    .await?;
            }
        }
        sqlx::query("INSERT INTO events (id, store_id, event_type, payload, idempotency_key, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&event.id)
            .bind(&event.store_id)
            .bind(&event.event_type)
            .bind(event.payload.to_string())
            .bind(event.idempotency.as_ref().map(|k| &k.key))
            .bind(event.idempotency.as_ref().map(|k| &k.request_hash))
            .bind(event.idempotency.as_ref().map(|_| event.response.to_string()))
            .bind(event.now)
            .execute(&mut *c)
            .await?;
        if let Some(message) = &event.message
            && let Some(m) = crate::messages::insert_new(&mut *c, message).await?
        {
            let contact = crate::outbox::message_contact(&m);
            let received = Change::new(&m.store_id, "message.received", contact, event.now);
            super::outbox::publish(&mut *c, received, || message_view(&m)).await?;
        }
        for r in &runs {
            let cp = &r.state;
            sqlx::query("INSERT INTO runs (id, store_id, workflow_id, workflow_version, event_id, status, trigger, contact, next_node, visits, wake_at, lease_owner, lease_until, error, created_at, updated_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)")
                .bind(&cp.run_id)
                .bind(&r.store_id)
                .bind(&r.workflow_id)
                .bind(r.workflow_version)
                .bind(&r.event_id)
                .bind(cp.status.as_str())
                .bind(r.trigger.to_string())
                .bind(&r.contact)
                .bind(cp.next_node)
                .bind(cp.visits)
                .bind(cp.wake_at)
                .bind(cp.lease_until.map(|_| &cp.owner))
                .bind(cp.lease_until)
                .bind(opt_json(&cp.error))
                .bind(event.now)
                .bind(cp.now)
                .bind(cp.finished_at)
                .execute(&mut *c)
                .await?;
            write_progress(&mut *c, cp).await?;
            for name in std::iter::once("run.started").chain(run_event(cp.status)) {
                let e = Change::new(&r.store_id, name, r.contact.as_deref(), event.now);
                super::outbox::publish(&mut *c, e, || run_summary(&r.record(event.now))).await?;
            }
        }
        Ok(Acceptance::Accepted)
    })
}

pub(super) fn checkpoint(c: &mut PgConnection, cp: Checkpoint) -> BoxFuture<'_, Result<bool>> {
    Box::pin(async move {
        let owner = cp.lease_until.map(|_| cp.owner.as_str());
        let updated: Option<(String, Option<String>)> = sqlx::query_as(&format!("UPDATE runs SET status = $3, next_node = $4, visits = $5, wake_at = $6, error = $7, finished_at = $8, lease_owner = $9, lease_until = $10, updated_at = $11 WHERE id = $1 AND lease_owner = $2 AND status IN ({LIVE_STATUSES}) RETURNING store_id, contact"))
            .bind(&cp.run_id)
            .bind(&cp.owner)
            .bind(cp.status.as_str())
            .bind(cp.next_node)
            .bind(cp.visits)
            .bind(cp.wake_at)
            .bind(opt_json(&cp.error))
            .bind(cp.finished_at)
            .bind(owner)
            .bind(cp.lease_until)
            .bind(cp.now)
            .fetch_optional(&mut *c)
            .await?;
        let Some((store_id, contact)) = updated else {
            return Ok(false);
        };
        write_progress(&mut *c, &cp).await?;
        if let Some(name) = run_event(cp.status) {
            publish_run(c, &store_id, &cp.run_id, name, contact, cp.now).await?;
        }
        Ok(true)
    })
}

/// Publishes a run event with the run's summary as it now stands.
async fn publish_run(
    c: &mut PgConnection,
    store_id: &str,
    run_id: &str,
    name: &str,
    contact: Option<String>,
    now: i64,
) -> Result<()> {
    let run = get_run(&mut *c, store_id, run_id).await?;
    let e = Change::new(store_id, name, contact.as_deref(), now);
    super::outbox::publish(c, e, || run.as_ref().map(run_summary).unwrap_or_default()).await
}

/// The step records of a checkpoint and, on completion, the conversation merge.
async fn write_progress(c: &mut PgConnection, cp: &Checkpoint) -> Result<()> {
    for r in &cp.records {
        sqlx::query(&format!("INSERT INTO step_records (run_id, {STEP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (run_id, seq) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, input = excluded.input, output = excluded.output, error = excluded.error, http = excluded.http, logs = excluded.logs, finished_at = excluded.finished_at"))
            .bind(&cp.run_id)
            .bind(r.seq)
            .bind(&r.step_id)
            .bind(r.node)
            .bind(r.visit)
            .bind(r.status.as_str())
            .bind(r.attempts)
            .bind(opt_json(&r.input))
            .bind(opt_json(&r.output))
            .bind(opt_json(&r.error))
            .bind(opt_json(&r.http))
            .bind(opt_json(&r.logs))
            .bind(r.started_at)
            .bind(r.finished_at)
            .execute(&mut *c)
            .await?;
    }
    if let Some(patch) = &cp.conversation {
        merge_conversation(c, patch.clone(), cp.now).await?;
    }
    Ok(())
}

pub(super) fn claim(
    c: &mut PgConnection,
    lease: Lease,
    limit: u32,
    steal: bool,
) -> BoxFuture<'_, Result<Vec<RunRecord>>> {
    Box::pin(async move {
        let guard = if steal {
            ""
        } else {
            "AND (lease_until IS NULL OR lease_until < $3)"
        };
        let rows = sqlx::query(&format!(
            "UPDATE runs SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM runs WHERE status IN ({LIVE_STATUSES}) AND wake_at <= $3 {guard} ORDER BY wake_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING {RUN_COLUMNS}"
        ))
        .bind(&lease.owner)
        .bind(lease.until)
        .bind(lease.now)
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(run_row).collect()
    })
}

pub(super) async fn get_run<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    id: &str,
) -> Result<Option<RunRecord>> {
    sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE store_id = $1 AND id = $2"
    ))
    .bind(store_id)
    .bind(id)
    .fetch_optional(exec)
    .await?
    .as_ref()
    .map(run_row)
    .transpose()
}

pub(super) async fn list_runs(
    pool: &PgPool,
    store_id: &str,
    f: &RunFilter,
    page: &PageRequest,
) -> Result<Page<RunRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE store_id = $1 AND ($2::TEXT IS NULL OR workflow_id = $2) AND ($3::TEXT IS NULL OR status = $3) AND ($4::BIGINT IS NULL OR created_at >= $4) AND ($5::BIGINT IS NULL OR created_at < $5) AND ($6::TEXT IS NULL OR id < $6) ORDER BY id DESC LIMIT $7"
    ))
    .bind(store_id)
    .bind(&f.workflow_id)
    .bind(f.status.map(RunStatus::as_str))
    .bind(f.since)
    .bind(f.until)
    .bind(&page.after)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(pool)
    .await?;
    let rows = rows.iter().map(run_row).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id.clone()))
}

pub(super) async fn run_steps(pool: &PgPool, run_id: &str) -> Result<Vec<StepRecord>> {
    sqlx::query(&format!(
        "SELECT {STEP_COLUMNS} FROM step_records WHERE run_id = $1 ORDER BY seq"
    ))
    .bind(run_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(step_row)
    .collect()
}

pub(super) fn cancel_run(
    c: &mut PgConnection,
    store_id: String,
    id: String,
    now: i64,
) -> BoxFuture<'_, Result<Option<RunRecord>>> {
    Box::pin(async move {
        let Some(current) = get_run(&mut *c, &store_id, &id).await? else {
            return Ok(None);
        };
        let error = serde_json::json!({"code": "cancelled", "message": "the run was cancelled"})
            .to_string();
        let done = sqlx::query(&format!("UPDATE runs SET status = 'cancelled', error = $3, wake_at = NULL, lease_owner = NULL, lease_until = NULL, finished_at = $4, updated_at = $4 WHERE store_id = $1 AND id = $2 AND status IN ({LIVE_STATUSES})"))
            .bind(&store_id)
            .bind(&id)
            .bind(error)
            .bind(now)
            .execute(&mut *c)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::error::run_conflict(&current, "cancelled"));
        }
        publish_run(
            &mut *c,
            &store_id,
            &id,
            "run.cancelled",
            current.contact,
            now,
        )
        .await?;
        get_run(&mut *c, &store_id, &id).await
    })
}

pub(super) fn retry_run(
    c: &mut PgConnection,
    store_id: String,
    id: String,
    lease: Lease,
) -> BoxFuture<'_, Result<Option<RunRecord>>> {
    Box::pin(async move {
        let Some(current) = get_run(&mut *c, &store_id, &id).await? else {
            return Ok(None);
        };
        let done = sqlx::query("UPDATE runs SET status = 'queued', error = NULL, finished_at = NULL, wake_at = $3, lease_owner = $4, lease_until = $5, updated_at = $3 WHERE store_id = $1 AND id = $2 AND status = 'failed'")
            .bind(&store_id)
            .bind(&id)
            .bind(lease.now)
            .bind(&lease.owner)
            .bind(lease.until)
            .execute(&mut *c)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::error::run_conflict(
                &current,
                "retried (only failed runs can)",
            ));
        }
        get_run(&mut *c, &store_id, &id).await
    })
}

pub(super) async fn cancel_workflow_runs(
    c: &mut PgConnection,
    workflow_id: &str,
    now: i64,
) -> Result<()> {
    let error = crate::error::cancelled("the workflow was deleted");
    let cancelled: Vec<(String, String, Option<String>)> = sqlx::query_as(&format!("UPDATE runs SET status = 'cancelled', error = $2, wake_at = NULL, lease_owner = NULL, lease_until = NULL, finished_at = $3, updated_at = $3 WHERE workflow_id = $1 AND status IN ({LIVE_STATUSES}) RETURNING store_id, id, contact"))
        .bind(workflow_id)
        .bind(error)
        .bind(now)
        .fetch_all(&mut *c)
        .await?;
    for (store_id, id, contact) in cancelled {
        publish_run(&mut *c, &store_id, &id, "run.cancelled", contact, now).await?;
    }
    Ok(())
}

pub(super) async fn get_conversation<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    phone: &str,
) -> Result<Option<ConversationRecord>> {
    let row = sqlx::query(
        "SELECT state, updated_at FROM conversations WHERE store_id = $1 AND phone = $2",
    )
    .bind(store_id)
    .bind(phone)
    .fetch_optional(exec)
    .await?;
    row.map(|r| {
        Ok(ConversationRecord {
            phone: phone.to_owned(),
            state: parse_json(r.try_get(0)?)?,
            updated_at: r.try_get(1)?,
        })
    })
    .transpose()
}

pub(super) fn merge_conversation(
    c: &mut PgConnection,
    p: ConversationPatch,
    now: i64,
) -> BoxFuture<'_, Result<ConversationRecord>> {
    Box::pin(async move {
        // Locks the row (if any) so concurrent merges on other nodes apply one after the other.
        let current = sqlx::query(
            "SELECT state FROM conversations WHERE store_id = $1 AND phone = $2 FOR UPDATE",
        )
        .bind(&p.store_id)
        .bind(&p.phone)
        .fetch_optional(&mut *c)
        .await?;
        let mut state = match current {
            Some(r) => parse_json(r.try_get(0)?)?,
            None => Value::Object(Default::default()),
        };
        switchboard_core::run::merge_patch(&mut state, &p.patch);
        sqlx::query("INSERT INTO conversations (store_id, phone, state, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (store_id, phone) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at")
            .bind(&p.store_id)
            .bind(&p.phone)
            .bind(state.to_string())
            .bind(now)
            .execute(&mut *c)
            .await?;
        let record = ConversationRecord {
            phone: p.phone,
            state,
            updated_at: now,
        };
        let e = Change::new(
            &p.store_id,
            "conversation.updated",
            Some(&record.phone),
            now,
        );
        super::outbox::publish(c, e, || conversation_view(&record)).await?;
        Ok(record)
    })
}

#[async_trait::async_trait]
impl crate::Runs for PgStore {
    async fn accept(&self, event: NewEvent, new_runs: Vec<NewRun>) -> Result<Acceptance> {
        self.writer
            .write(move |c| runs::accept(c, event, new_runs))
            .await
    }

    async fn checkpoint(&self, checkpoint: Checkpoint) -> Result<bool> {
        self.writer
            .write(move |c| runs::checkpoint(c, checkpoint))
            .await
    }

    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
        self.writer
            .write(move |c| runs::claim(c, lease, limit, steal))
            .await
    }

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
        runs::get_run(&self.pool, store_id, id).await
    }

    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        runs::list_runs(&self.pool, store_id, filter, page).await
    }

    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        runs::run_steps(&self.pool, run_id).await
    }

    async fn cancel_run(&self, store_id: &str, id: &str, now: i64) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::cancel_run(c, store_id, id, now))
            .await
    }

    async fn retry_run(&self, store_id: &str, id: &str, lease: Lease) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::retry_run(c, store_id, id, lease))
            .await
    }

    async fn count_waiting(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM runs WHERE status = 'waiting'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>> {
        runs::get_conversation(&self.pool, store_id, phone).await
    }

    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |c| runs::merge_conversation(c, patch, now))
            .await
    }

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM conversations WHERE store_id = $1 AND phone = $2")
            .bind(store_id)
            .bind(phone)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
