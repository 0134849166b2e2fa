//! The SQLite batching writer: one thread owns the write connection. Requests queue on a channel;
//! the thread takes whatever is waiting (up to `MAX_BATCH`), runs each in its own savepoint inside
//! one transaction, commits once, and only then answers every request.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Answer, Laned, MAX_BATCH, Queue, outcome, submit};
use crate::{Health, Result, StoreError};
/// Runs one request; says whether it succeeded (else its savepoint is rolled back) and how to answer.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Answer) + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Laned<Job>>,
    health: Arc<Health>,
}

/// Rung after a batch that published deliveries committed.
pub type Signal = std::sync::Arc<tokio::sync::Notify>;

impl Writer {
    pub fn start(conn: Connection, signal: Signal, health: Arc<Health>) -> Writer {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let watch = health.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, Queue::new(rx), signal, &watch))
            .expect("spawn the SQLite writer thread");
        Writer { jobs, health }
    }

    /// Runs `f` in the next batch; answers after that batch committed.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let health = self.health.clone();
        let job: Job = Box::new(move |conn| outcome(f(conn), tx, &health));
        submit(&self.jobs, job, rx, &self.health).await
    }
}

fn run(conn: Connection, mut queue: Queue<Job>, signal: Signal, health: &Health) {
    use super::outbox::{PUBLISHED, forget_targets};
    while let Some(batch) = queue.next_blocking() {
        PUBLISHED.with(|p| p.set(false));
        health.batch_began();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs answers their callers with an error; nothing was written.
            tracing::error!(error = %e, "SQLite writer cannot begin a transaction");
            health.batch_ended(&Err(e.into()));
            continue;
        }
        let mut answers: Vec<Answer> = Vec::with_capacity(batch.len());
        let mut rolled_back = false;
        for job in batch {
            if rolled_back {
                // Not run: dropping it answers its caller with the fault (nothing is written).
                continue;
            }
            answers.extend(run_one(job, &conn));
            // On a full disk or an I/O error SQLite may roll the whole transaction back. What
            // follows must not run outside it (each statement would commit on its own), and
            // what ran before is gone: the whole batch fails.
            rolled_back = conn.is_autocommit();
        }
        let commit = if rolled_back {
            Err(rolled_back_error(health))
        } else {
            conn.execute_batch("COMMIT").map_err(StoreError::from)
        };
        health.batch_ended(&commit);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            forget_targets();
        }
        if commit.is_ok() && PUBLISHED.with(|p| p.get()) {
            signal.notify_one();
        }
        for answer in answers {
            answer(commit.clone());
        }
    }
}

/// Why a batch SQLite rolled back failed: the fault a job met (it was noted as it failed).
fn rolled_back_error(health: &Health) -> StoreError {
    let message = "the database rolled the transaction back".to_owned();
    match health.fault() {
        Some(fault) => StoreError::Unavailable { fault, message },
        None => StoreError::Backend(message),
    }
}

/// Runs one job in a savepoint. A panicking job is rolled back and its caller sees an error.
fn run_one(job: Job, conn: &Connection) -> Option<Answer> {
    use super::outbox::forget_targets;
    if let Err(e) = conn.execute_batch("SAVEPOINT job") {
        tracing::error!(error = %e, "SQLite writer cannot open a savepoint");
        return None;
    }
    match catch_unwind(AssertUnwindSafe(|| job(conn))) {
        Ok((ok, answer)) => {
            let end = if ok {
                "RELEASE job"
            } else {
                forget_targets();
                "ROLLBACK TO job; RELEASE job"
            };
            conn.execute_batch(end).ok()?;
            Some(answer)
        }
        Err(_) => {
            tracing::error!("a write request panicked; its changes were rolled back");
            forget_targets();
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            None
        }
    }
}
