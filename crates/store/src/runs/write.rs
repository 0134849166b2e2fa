//! What changes runs: accepting an event with its runs, checkpoints, cancel and retry. The flow of
//! a checkpoint (the run's position under its lease → its step records and conversation merge →
//! its event) is written here once for both backends.

use serde_json::Value;

use super::{conversations, get_run, live, step_columns};
use crate::Result;
use crate::db::{Db, Sql, args, sql};
use crate::model::*;
use crate::outbox::{Change, message_contact, message_view, run_event, run_summary};

const SEEN_KEY: Sql = sql!(
    "SELECT request_hash, response, created_at FROM events WHERE store_id = $1 AND idempotency_key = $2"
);
const FORGET_KEY: Sql =
    sql!("UPDATE events SET idempotency_key = NULL WHERE store_id = $1 AND idempotency_key = $2");
const INSERT_EVENT: Sql = sql!(
    "INSERT INTO events (id, store_id, event_type, payload, idempotency_key, request_hash, \
     response, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
const INSERT_RUN: Sql = sql!(
    "INSERT INTO runs (id, store_id, workflow_id, workflow_version, event_id, status, trigger, \
     contact, next_node, visits, wake_at, lease_owner, lease_until, error, created_at, updated_at, \
     finished_at, email, trigger_type, error_code, failed_step, replay_of) VALUES ($1, $2, $3, $4, \
     $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
);
/// Applies only under the writer's lease, to a run that is still live.
const ADVANCE: Sql = sql!(concat!(
    "UPDATE runs SET status = $3, next_node = $4, visits = $5, wake_at = $6, error = $7, \
     finished_at = $8, lease_owner = $9, lease_until = $10, updated_at = $11, error_code = $12, \
     failed_step = $13 \
     WHERE id = $1 AND lease_owner = $2 AND ",
    live!(),
    " RETURNING store_id, contact"
));
/// A record of the same `seq` is a waiting visit that went on.
const UPSERT_STEP: Sql = sql!(concat!(
    "INSERT INTO step_records (run_id, ",
    step_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL) \
     ON CONFLICT (run_id, seq) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, \
     input = excluded.input, output = excluded.output, error = excluded.error, http = excluded.http, \
     logs = excluded.logs, finished_at = excluded.finished_at"
));
const CANCEL: Sql = sql!(concat!(
    "UPDATE runs SET status = 'cancelled', error = $3, error_code = 'cancelled', wake_at = NULL, \
     lease_owner = NULL, lease_until = NULL, finished_at = $4, updated_at = $4, actions = $5 \
     WHERE store_id = $1 AND id = $2 AND ",
    live!()
));
const CANCEL_WORKFLOW_RUNS: Sql = sql!(concat!(
    "UPDATE runs SET status = 'cancelled', error = $2, error_code = 'cancelled', wake_at = NULL, \
     lease_owner = NULL, lease_until = NULL, finished_at = $3, updated_at = $3 \
     WHERE workflow_id = $1 AND ",
    live!(),
    " RETURNING store_id, id, contact"
));
/// A cancelled run's open visits (running, waiting) are closed with it.
const CANCEL_STEPS: Sql = sql!(
    "UPDATE step_records SET status = 'cancelled', finished_at = $2 \
     WHERE run_id = $1 AND status IN ('running', 'waiting')"
);
/// `$6`: the statuses the run may have now, comma-separated.
const RETRY: Sql = sql!(
    "UPDATE runs SET status = 'queued', error = NULL, error_code = NULL, failed_step = NULL, \
     finished_at = NULL, wake_at = $3, lease_owner = $4, lease_until = $5, updated_at = $3, \
     workflow_version = $7, next_node = $8, actions = $9 \
     WHERE store_id = $1 AND id = $2 AND ',' || CAST($6 AS TEXT) || ',' LIKE '%,' || status || ',%'"
);
const RECORD_ACTION: Sql = sql!("UPDATE runs SET actions = $3 WHERE store_id = $1 AND id = $2");
const SUPERSEDE: Sql = sql!(
    "UPDATE step_records SET superseded_at = $3 WHERE run_id = $1 AND seq >= $2 \
     AND superseded_at IS NULL"
);

fn json(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

/// Records an event (and the message it carries) and creates its runs, with their first steps;
/// a repeat of an idempotency key within its window creates nothing and gives the first answer.
pub(super) async fn accept(
    db: &mut impl Db,
    event: &NewEvent,
    runs: &[NewRun],
) -> Result<Acceptance> {
    if let Some(key) = &event.idempotency {
        match seen_key(db, &event.store_id, &key.key).await? {
            Some((at, replayed)) if at >= key.since => return Ok(replayed),
            Some(_) => {
                db.execute(&FORGET_KEY, args![&event.store_id, &key.key])
                    .await?;
            }
            None => {}
        }
    }
    if let Some(settle) = &event.schedule
        && !crate::schedules::settle(db, settle).await?
    {
        return Err(crate::error::schedule_gone());
    }
    insert_event(db, event).await?;
    if let Some(message) = &event.message
        && let Some(m) = crate::messages::insert_new(db, message).await?
    {
        let received = Change::new(
            &m.store_id,
            "message.received",
            message_contact(&m),
            event.now,
        );
        crate::outbox::publish(db, received, || message_view(&m)).await?;
    }
    for r in runs {
        insert_run(db, r, event.now).await?;
        write_progress(db, &r.state).await?;
        for name in std::iter::once("run.started").chain(run_event(r.state.status)) {
            let change = Change::new(&r.store_id, name, r.contact.as_deref(), event.now);
            crate::outbox::publish(db, change, || run_summary(&r.record(event.now))).await?;
        }
    }
    Ok(Acceptance::Accepted)
}

/// When an event with this idempotency key was accepted, and its first answer.
async fn seen_key(
    db: &mut impl Db,
    store_id: &str,
    key: &str,
) -> Result<Option<(i64, Acceptance)>> {
    db.fetch_one(&SEEN_KEY, args![store_id, key], |r| {
        use crate::db::Row;
        let replayed = Acceptance::Replayed {
            request_hash: r.col::<Option<String>>(0)?.unwrap_or_default(),
            response: r.opt_json(1)?.unwrap_or(Value::Null),
        };
        Ok((r.col::<i64>(2)?, replayed))
    })
    .await
}

/// The first answer to an event accepted with this idempotency key since `since`.
pub(super) async fn first_answer(
    db: &mut impl Db,
    store_id: &str,
    key: &str,
    since: i64,
) -> Result<Option<Acceptance>> {
    let seen = seen_key(db, store_id, key).await?;
    Ok(seen.and_then(|(at, replayed)| (at >= since).then_some(replayed)))
}

async fn insert_event(db: &mut impl Db, event: &NewEvent) -> Result<()> {
    let payload = event.payload.to_string();
    let key = event.idempotency.as_ref();
    let response = key.map(|_| event.response.to_string());
    let row = args![
        &event.id,
        &event.store_id,
        &event.event_type,
        payload.as_str(),
        key.map(|k| k.key.as_str()),
        key.map(|k| k.request_hash.as_str()),
        &response,
        event.now
    ];
    db.execute(&INSERT_EVENT, row).await?;
    Ok(())
}

async fn insert_run(db: &mut impl Db, r: &NewRun, now: i64) -> Result<()> {
    let cp = &r.state;
    let trigger = r.trigger.to_string();
    let error = json(&cp.error);
    let (code, step) = failure_of(cp.error.as_ref());
    let row = args![
        &cp.run_id,
        &r.store_id,
        &r.workflow_id,
        r.workflow_version,
        &r.event_id,
        cp.status.as_str(),
        trigger.as_str(),
        &r.contact,
        cp.next_node,
        cp.visits,
        cp.wake_at,
        cp.lease_until.map(|_| cp.owner.as_str()),
        cp.lease_until,
        &error,
        now,
        cp.now,
        cp.finished_at,
        &r.email,
        r.trigger_type.as_str(),
        &code,
        &step,
        &r.replay_of
    ];
    db.execute(&INSERT_RUN, row).await?;
    Ok(())
}

/// Commits step records and the run's new position; `false` when the lease was lost (the run
/// was cancelled or taken over), in which case nothing changed.
pub(super) async fn checkpoint(db: &mut impl Db, cp: &Checkpoint) -> Result<bool> {
    let owner = cp.lease_until.map(|_| cp.owner.as_str());
    let error = json(&cp.error);
    let (code, step) = failure_of(cp.error.as_ref());
    let position = args![
        &cp.run_id,
        &cp.owner,
        cp.status.as_str(),
        cp.next_node,
        cp.visits,
        cp.wake_at,
        &error,
        cp.finished_at,
        owner,
        cp.lease_until,
        cp.now,
        &code,
        &step
    ];
    let advanced = db
        .fetch_one(&ADVANCE, position, |r| {
            use crate::db::Row;
            Ok((r.col::<String>(0)?, r.col::<Option<String>>(1)?))
        })
        .await?;
    let Some((store_id, contact)) = advanced else {
        return Ok(false);
    };
    write_progress(db, cp).await?;
    if let Some(name) = run_event(cp.status) {
        publish_run(db, &store_id, &cp.run_id, name, contact, cp.now).await?;
    }
    Ok(true)
}

/// The step records of a checkpoint and, on completion, the conversation merge.
async fn write_progress(db: &mut impl Db, cp: &Checkpoint) -> Result<()> {
    for r in &cp.records {
        let (input, output, error) = (json(&r.input), json(&r.output), json(&r.error));
        let (http, logs) = (json(&r.http), json(&r.logs));
        let record = args![
            &cp.run_id,
            r.seq,
            &r.step_id,
            r.node,
            r.visit,
            r.status.as_str(),
            r.attempts,
            &input,
            &output,
            &error,
            &http,
            &logs,
            r.started_at,
            r.finished_at,
            r.workflow_version
        ];
        db.execute(&UPSERT_STEP, record).await?;
    }
    if let Some(patch) = &cp.conversation {
        conversations::merge(db, patch, cp.now).await?;
    }
    Ok(())
}

/// Publishes a run event with the run's summary as it now stands.
async fn publish_run(
    db: &mut impl Db,
    store_id: &str,
    run_id: &str,
    name: &str,
    contact: Option<String>,
    now: i64,
) -> Result<()> {
    let run = get_run(db, store_id, run_id).await?;
    let change = Change::new(store_id, name, contact.as_deref(), now);
    crate::outbox::publish(db, change, || {
        run.as_ref().map(run_summary).unwrap_or_default()
    })
    .await
}

/// Cancels a queued, running or waiting run (conflict otherwise).
pub(super) async fn cancel_run(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    action: &Value,
    now: i64,
) -> Result<Option<RunRecord>> {
    let Some(current) = get_run(db, store_id, id).await? else {
        return Ok(None);
    };
    let error = crate::error::cancelled("the run was cancelled");
    let actions = with_action(&current, action);
    let cancel = args![store_id, id, error.as_str(), now, actions.as_str()];
    if db.execute(&CANCEL, cancel).await? == 0 {
        return Err(crate::error::run_conflict(&current, "cancelled"));
    }
    db.execute(&CANCEL_STEPS, args![id, now]).await?;
    publish_run(db, store_id, id, "run.cancelled", current.contact, now).await?;
    get_run(db, store_id, id).await
}

/// The run's actions with one more, as stored.
fn with_action(run: &RunRecord, action: &Value) -> String {
    let mut actions = run.actions.clone();
    actions.push(action.clone());
    Value::Array(actions).to_string()
}

/// Queues a run again at `retry.next_node` of `retry.version`, leased to the caller, superseding
/// the step records a rerun replaces (conflict unless the run's status is one of `retry.from`).
pub(super) async fn retry_run(db: &mut impl Db, retry: &RunRetry) -> Result<Option<RunRecord>> {
    let (store_id, id) = (retry.store_id.as_str(), retry.run_id.as_str());
    let Some(current) = get_run(db, store_id, id).await? else {
        return Ok(None);
    };
    let from: Vec<&str> = retry.from.iter().map(|s| s.as_str()).collect();
    let from = from.join(",");
    let lease = &retry.lease;
    let actions = with_action(&current, &retry.action);
    let args = args![
        store_id,
        id,
        lease.now,
        &lease.owner,
        lease.until,
        from.as_str(),
        retry.version,
        retry.next_node,
        actions.as_str()
    ];
    if db.execute(&RETRY, args).await? == 0 {
        return Err(crate::error::run_conflict(&current, "retried so"));
    }
    if let Some(seq) = retry.supersede_from {
        db.execute(&SUPERSEDE, args![id, seq, lease.now]).await?;
    }
    get_run(db, store_id, id).await
}

/// Appends an action to a run's record of what was done to it.
pub(super) async fn record_action(
    db: &mut impl Db,
    store_id: &str,
    id: &str,
    action: &Value,
) -> Result<Option<RunRecord>> {
    let Some(current) = get_run(db, store_id, id).await? else {
        return Ok(None);
    };
    let actions = with_action(&current, action);
    db.execute(&RECORD_ACTION, args![store_id, id, actions.as_str()])
        .await?;
    get_run(db, store_id, id).await
}

/// A deleted workflow's live runs are cancelled, each with its `run.cancelled`.
pub(crate) async fn cancel_workflow_runs(
    db: &mut impl Db,
    workflow_id: &str,
    now: i64,
) -> Result<()> {
    let error = crate::error::cancelled("the workflow was deleted");
    let cancelled = db
        .fetch(
            &CANCEL_WORKFLOW_RUNS,
            args![workflow_id, error.as_str(), now],
            |r| {
                use crate::db::Row;
                Ok((
                    r.col::<String>(0)?,
                    r.col::<String>(1)?,
                    r.col::<Option<String>>(2)?,
                ))
            },
        )
        .await?;
    for (store_id, id, contact) in cancelled {
        db.execute(&CANCEL_STEPS, args![id.as_str(), now]).await?;
        publish_run(db, &store_id, &id, "run.cancelled", contact, now).await?;
    }
    Ok(())
}
