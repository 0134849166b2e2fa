//! Events, runs, step records and conversations on SQLite. Each function runs inside one writer
//! job (a savepoint of a group-committed transaction) or on a reader connection.

use super::*;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::Result;
use crate::error::{parse_json, parse_opt, status};
use crate::model::*;
use crate::outbox::{Change, conversation_view, message_view, run_event, run_summary};

const RUN_COLUMNS: &str = "id, store_id, workflow_id, workflow_version, event_id, status, trigger, contact, next_node, visits, wake_at, error, created_at, updated_at, finished_at";
const STEP_COLUMNS: &str = "seq, step_id, node, visit, status, attempts, input, output, error, http, logs, started_at, finished_at";

fn json(v: &Value) -> String {
    v.to_string()
}

fn opt_json(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(json)
}

type RawRun = (
    [String; 4],
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    [i64; 2],
    Option<i64>,
    String,
);

fn run_row(r: &Row) -> rusqlite::Result<RawRun> {
    Ok((
        [r.get(0)?, r.get(1)?, r.get(2)?, r.get(5)?],
        r.get(3)?,
        r.get(4)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        [r.get(12)?, r.get(13)?],
        r.get(14)?,
        r.get(6)?,
    ))
}

fn run(raw: RawRun) -> Result<RunRecord> {
    let (
        [id, store_id, workflow_id, status_text],
        version,
        event_id,
        contact,
        next_node,
        visits,
        wake_at,
        error,
        [created_at, updated_at],
        finished_at,
        trigger,
    ) = raw;
    Ok(RunRecord {
        id,
        store_id,
        workflow_id,
        workflow_version: version,
        event_id,
        status: status(status_text)?,
        trigger: parse_json(trigger)?,
        contact,
        next_node,
        visits,
        wake_at,
        error: parse_opt(error)?,
        created_at,
        updated_at,
        finished_at,
    })
}

fn runs(
    stmt: &mut rusqlite::CachedStatement,
    params: impl rusqlite::Params,
) -> Result<Vec<RunRecord>> {
    stmt.query_map(params, run_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(run)
        .collect()
}

pub(super) fn accept(c: &Connection, event: &NewEvent, new_runs: &[NewRun]) -> Result<Acceptance> {
    if let Some(key) = &event.idempotency {
        let seen: Option<(Option<String>, Option<String>, i64)> = c
            .prepare_cached("SELECT request_hash, response, created_at FROM events WHERE store_id = ?1 AND idempotency_key = ?2")?
            .query_row([&event.store_id, &key.key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        match seen {
            Some((hash, response, at)) if at >= key.since => {
                return Ok(Acceptance::Replayed {
                    request_hash: hash.unwrap_or_default(),
                    response: parse_opt(response)?.unwrap_or(Value::Null),
                });
            }
            Some(_) => {
                c.prepare_cached("UPDATE events SET idempotency_key = NULL WHERE store_id = ?1 AND idempotency_key = ?2")?
                    .execute([&event.store_id, &key.key])?;
            }
            None => {}
        }
    }
    if let Some(settle) = &event.schedule
        && !crate::db::run_now(crate::schedules::settle(&mut crate::db::Sqlite(c), settle))?
    {
        return Err(crate::error::schedule_gone());
    }
    c.prepare_cached("INSERT INTO events (id, store_id, event_type, payload, idempotency_key, request_hash, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?
        .execute(params![
            event.id,
            event.store_id,
            event.event_type,
            json(&event.payload),
            event.idempotency.as_ref().map(|k| &k.key),
            event.idempotency.as_ref().map(|k| &k.request_hash),
            event.idempotency.as_ref().map(|_| json(&event.response)),
            event.now
        ])?;
    if let Some(message) = &event.message
        && let Some(m) = crate::db::run_now(crate::messages::insert_new(
            &mut crate::db::Sqlite(c),
            message,
        ))?
    {
        let contact = crate::outbox::message_contact(&m);
        let received = Change::new(&m.store_id, "message.received", contact, event.now);
        super::outbox::publish(c, received, || message_view(&m))?;
    }
    let mut insert = c.prepare_cached("INSERT INTO runs (id, store_id, workflow_id, workflow_version, event_id, status, trigger, contact, next_node, visits, wake_at, lease_owner, lease_until, error, created_at, updated_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)")?;
    for r in new_runs {
        let cp = &r.state;
        insert.execute(params![
            cp.run_id,
            r.store_id,
            r.workflow_id,
            r.workflow_version,
            r.event_id,
            cp.status.as_str(),
            json(&r.trigger),
            r.contact,
            cp.next_node,
            cp.visits,
            cp.wake_at,
            cp.lease_until.map(|_| &cp.owner),
            cp.lease_until,
            opt_json(&cp.error),
            event.now,
            cp.now,
            cp.finished_at
        ])?;
        write_progress(c, cp)?;
        for name in std::iter::once("run.started").chain(run_event(cp.status)) {
            let e = Change::new(&r.store_id, name, r.contact.as_deref(), event.now);
            super::outbox::publish(c, e, || run_summary(&r.record(event.now)))?;
        }
    }
    Ok(Acceptance::Accepted)
}

pub(super) fn checkpoint(c: &Connection, cp: &Checkpoint) -> Result<bool> {
    let (owner, until) = match cp.lease_until {
        Some(until) => (Some(cp.owner.as_str()), Some(until)),
        None => (None, None),
    };
    let updated: Option<(String, Option<String>)> = c
        .prepare_cached(&format!("UPDATE runs SET status = ?3, next_node = ?4, visits = ?5, wake_at = ?6, error = ?7, finished_at = ?8, lease_owner = ?9, lease_until = ?10, updated_at = ?11 WHERE id = ?1 AND lease_owner = ?2 AND status IN ({LIVE_STATUSES}) RETURNING store_id, contact"))?
        .query_row(params![
            cp.run_id,
            cp.owner,
            cp.status.as_str(),
            cp.next_node,
            cp.visits,
            cp.wake_at,
            opt_json(&cp.error),
            cp.finished_at,
            owner,
            until,
            cp.now
        ], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((store_id, contact)) = updated else {
        return Ok(false);
    };
    write_progress(c, cp)?;
    if let Some(name) = run_event(cp.status) {
        publish_run(c, &store_id, &cp.run_id, name, contact, cp.now)?;
    }
    Ok(true)
}

/// Publishes a run event with the run's summary as it now stands.
fn publish_run(
    c: &Connection,
    store_id: &str,
    run_id: &str,
    name: &str,
    contact: Option<String>,
    now: i64,
) -> Result<()> {
    let run = get_run(c, store_id, run_id)?;
    let e = Change::new(store_id, name, contact.as_deref(), now);
    super::outbox::publish(c, e, || run.as_ref().map(run_summary).unwrap_or_default())
}

/// The step records of a checkpoint and, on completion, the conversation merge.
fn write_progress(c: &Connection, cp: &Checkpoint) -> Result<()> {
    let mut insert = c.prepare_cached(&format!("INSERT OR REPLACE INTO step_records (run_id, {STEP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"))?;
    for r in &cp.records {
        insert.execute(params![
            cp.run_id,
            r.seq,
            r.step_id,
            r.node,
            r.visit,
            r.status.as_str(),
            r.attempts,
            opt_json(&r.input),
            opt_json(&r.output),
            opt_json(&r.error),
            opt_json(&r.http),
            opt_json(&r.logs),
            r.started_at,
            r.finished_at
        ])?;
    }
    if let Some(patch) = &cp.conversation {
        merge_conversation(c, patch, cp.now)?;
    }
    Ok(())
}

pub(super) fn claim(
    c: &Connection,
    lease: &Lease,
    limit: u32,
    steal: bool,
) -> Result<Vec<RunRecord>> {
    let guard = if steal {
        ""
    } else {
        "AND (lease_until IS NULL OR lease_until < ?3)"
    };
    let sql = format!(
        "UPDATE runs SET lease_owner = ?1, lease_until = ?2 WHERE id IN (SELECT id FROM runs WHERE status IN ({LIVE_STATUSES}) AND wake_at <= ?3 {guard} ORDER BY wake_at LIMIT ?4) RETURNING {RUN_COLUMNS}"
    );
    runs(
        &mut c.prepare_cached(&sql)?,
        params![lease.owner, lease.until, lease.now, limit],
    )
}

pub(super) fn get_run(c: &Connection, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
    c.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE store_id = ?1 AND id = ?2"
    ))?
    .query_row([store_id, id], run_row)
    .optional()?
    .map(run)
    .transpose()
}

pub(super) fn list_runs(
    c: &Connection,
    store_id: &str,
    f: &RunFilter,
    page: &PageRequest,
) -> Result<Page<RunRecord>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE store_id = ?1 AND (?2 IS NULL OR workflow_id = ?2) AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at < ?5) AND (?6 IS NULL OR id < ?6) ORDER BY id DESC LIMIT ?7"
    );
    let rows = runs(
        &mut c.prepare_cached(&sql)?,
        params![
            store_id,
            f.workflow_id,
            f.status.map(RunStatus::as_str),
            f.since,
            f.until,
            page.after,
            page.limit + 1
        ],
    )?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id.clone()))
}

pub(super) fn run_steps(c: &Connection, run_id: &str) -> Result<Vec<StepRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {STEP_COLUMNS} FROM step_records WHERE run_id = ?1 ORDER BY seq"
    ))?;
    let raw = stmt
        .query_map([run_id], |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ),
                (r.get::<_, String>(4)?, r.get::<_, i64>(5)?),
                [
                    r.get::<_, Option<String>>(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ],
                (r.get::<_, i64>(11)?, r.get::<_, Option<i64>>(12)?),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raw.into_iter()
        .map(
            |(
                (seq, step_id, node, visit),
                (step_status, attempts),
                [input, output, error, http, logs],
                (started_at, finished_at),
            )| {
                Ok(StepRecord {
                    seq,
                    step_id,
                    node,
                    visit,
                    status: status(step_status)?,
                    attempts,
                    input: parse_opt(input)?,
                    output: parse_opt(output)?,
                    error: parse_opt(error)?,
                    http: parse_opt(http)?,
                    logs: parse_opt(logs)?,
                    started_at,
                    finished_at,
                })
            },
        )
        .collect()
}

pub(super) fn cancel_run(
    c: &Connection,
    store_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<RunRecord>> {
    let Some(current) = get_run(c, store_id, id)? else {
        return Ok(None);
    };
    let error = crate::error::cancelled("the run was cancelled");
    let changed = c
        .prepare_cached(&format!("UPDATE runs SET status = 'cancelled', error = ?3, wake_at = NULL, lease_owner = NULL, lease_until = NULL, finished_at = ?4, updated_at = ?4 WHERE store_id = ?1 AND id = ?2 AND status IN ({LIVE_STATUSES})"))?
        .execute(params![store_id, id, error, now])?;
    if changed == 0 {
        return Err(crate::error::run_conflict(&current, "cancelled"));
    }
    publish_run(c, store_id, id, "run.cancelled", current.contact, now)?;
    get_run(c, store_id, id)
}

pub(super) fn retry_run(
    c: &Connection,
    store_id: &str,
    id: &str,
    lease: &Lease,
) -> Result<Option<RunRecord>> {
    let Some(current) = get_run(c, store_id, id)? else {
        return Ok(None);
    };
    let changed = c
        .prepare_cached("UPDATE runs SET status = 'queued', error = NULL, finished_at = NULL, wake_at = ?3, lease_owner = ?4, lease_until = ?5, updated_at = ?3 WHERE store_id = ?1 AND id = ?2 AND status = 'failed'")?
        .execute(params![store_id, id, lease.now, lease.owner, lease.until])?;
    if changed == 0 {
        return Err(crate::error::run_conflict(
            &current,
            "retried (only failed runs can)",
        ));
    }
    get_run(c, store_id, id)
}

pub(super) fn cancel_workflow_runs(c: &Connection, workflow_id: &str, now: i64) -> Result<()> {
    let error = crate::error::cancelled("the workflow was deleted");
    let cancelled: Vec<(String, String, Option<String>)> = c
        .prepare_cached(&format!("UPDATE runs SET status = 'cancelled', error = ?2, wake_at = NULL, lease_owner = NULL, lease_until = NULL, finished_at = ?3, updated_at = ?3 WHERE workflow_id = ?1 AND status IN ({LIVE_STATUSES}) RETURNING store_id, id, contact"))?
        .query_map(params![workflow_id, error, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (store_id, id, contact) in cancelled {
        publish_run(c, &store_id, &id, "run.cancelled", contact, now)?;
    }
    Ok(())
}

pub(super) fn get_conversation(
    c: &Connection,
    store_id: &str,
    phone: &str,
) -> Result<Option<ConversationRecord>> {
    let row: Option<(String, i64)> = c
        .prepare_cached(
            "SELECT state, updated_at FROM conversations WHERE store_id = ?1 AND phone = ?2",
        )?
        .query_row([store_id, phone], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(state, updated_at)| {
        Ok(ConversationRecord {
            phone: phone.to_owned(),
            state: parse_json(state)?,
            updated_at,
        })
    })
    .transpose()
}

pub(super) fn merge_conversation(
    c: &Connection,
    p: &ConversationPatch,
    now: i64,
) -> Result<ConversationRecord> {
    let mut state = get_conversation(c, &p.store_id, &p.phone)?
        .map_or_else(|| Value::Object(Default::default()), |r| r.state);
    switchboard_core::run::merge_patch(&mut state, &p.patch);
    c.prepare_cached("INSERT INTO conversations (store_id, phone, state, updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (store_id, phone) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at")?
        .execute(params![p.store_id, p.phone, json(&state), now])?;
    let record = ConversationRecord {
        phone: p.phone.clone(),
        state,
        updated_at: now,
    };
    let e = Change::new(&p.store_id, "conversation.updated", Some(&p.phone), now);
    super::outbox::publish(c, e, || conversation_view(&record))?;
    Ok(record)
}

#[async_trait::async_trait]
impl crate::Runs for SqliteStore {
    async fn accept(&self, event: NewEvent, new_runs: Vec<NewRun>) -> Result<Acceptance> {
        self.writer
            .write(move |c| runs::accept(c, &event, &new_runs))
            .await
    }

    async fn checkpoint(&self, checkpoint: Checkpoint) -> Result<bool> {
        self.writer
            .write(move |c| runs::checkpoint(c, &checkpoint))
            .await
    }

    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
        self.writer
            .write(move |c| runs::claim(c, &lease, limit, steal))
            .await
    }

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| runs::get_run(c, &store_id, &id)).await
    }

    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| runs::list_runs(c, &store_id, &filter, &page))
            .await
    }

    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let run_id = run_id.to_owned();
        self.read(move |c| runs::run_steps(c, &run_id)).await
    }

    async fn cancel_run(&self, store_id: &str, id: &str, now: i64) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::cancel_run(c, &store_id, &id, now))
            .await
    }

    async fn retry_run(&self, store_id: &str, id: &str, lease: Lease) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::retry_run(c, &store_id, &id, &lease))
            .await
    }

    async fn count_waiting(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM runs WHERE status = 'waiting'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>> {
        let (store_id, phone) = (store_id.to_owned(), phone.to_owned());
        self.read(move |c| runs::get_conversation(c, &store_id, &phone))
            .await
    }

    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |c| runs::merge_conversation(c, &patch, now))
            .await
    }

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool> {
        let (store_id, phone) = (store_id.to_owned(), phone.to_owned());
        self.writer
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM conversations WHERE store_id = ?1 AND phone = ?2",
                    [store_id, phone],
                )? > 0)
            })
            .await
    }
}
