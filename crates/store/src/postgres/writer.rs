//! The PostgreSQL batching writer: tasks (one per writer connection), each owning its connection, take turns
//! collecting whatever requests are waiting and commit them in one transaction, each in its own
//! savepoint, answering after the commit. Single-row commits reach only a few thousand per second;
//! batching is what scales (docs/architecture.md). A batch costs round trips, not CPU, so while one
//! connection waits on the database the next batch is already collected and sent on another:
//! one connection left a node at ~40 % of two cores (docs/scaling.md). Several connections write
//! concurrently as several nodes do; how many a node uses is `WRITER_CONNECTIONS`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::{Connection, PgConnection};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Answer, Laned, MAX_BATCH, Queue, outcome, submit};
use crate::{Health, Result};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Job = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, (bool, Answer)> + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Laned<Job>>,
    health: Arc<Health>,
}

/// Rung after a batch that published deliveries committed.
pub type Signal = std::sync::Arc<tokio::sync::Notify>;

impl Writer {
    pub fn start(
        url: String,
        connections: Vec<PgConnection>,
        signal: Signal,
        health: Arc<Health>,
    ) -> Writer {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(tokio::sync::Mutex::new(Queue::new(rx)));
        for conn in connections {
            let health = health.clone();
            tokio::spawn(run(url.clone(), conn, rx.clone(), signal.clone(), health));
        }
        Writer { jobs, health }
    }

    /// Runs `f` in the next batch; answers after that batch committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<R>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let health = self.health.clone();
        let job: Job =
            Box::new(move |conn| Box::pin(async move { outcome(f(conn).await, tx, &health) }));
        submit(&self.jobs, job, rx, &self.health).await
    }
}

async fn run(
    url: String,
    mut conn: PgConnection,
    rx: Arc<tokio::sync::Mutex<Queue<Job>>>,
    signal: Signal,
    health: Arc<Health>,
) {
    use super::outbox::PUBLISHED;
    loop {
        // The next batch is whatever waits when this connection is free; the others meanwhile
        // commit theirs.
        let batch = {
            let Some(batch) = rx.lock().await.next().await else {
                break;
            };
            batch
        };
        health.batch_began();
        let published = std::cell::Cell::new(false);
        let (commit, published) = PUBLISHED
            .scope(published, async {
                let commit = run_batch(&mut conn, batch).await;
                (commit, PUBLISHED.with(|p| p.get()))
            })
            .await;
        let (answers, commit) = match commit {
            Ok(answers) => {
                let c = exec(&mut conn, "COMMIT").await;
                (answers, c)
            }
            Err(e) => (Vec::new(), Err(e)),
        };
        health.batch_ended(&commit);
        if let Err(e) = &commit {
            tracing::error!(error = %e, "PostgreSQL write batch failed");
            let _ = exec(&mut conn, "ROLLBACK").await;
            if conn.ping().await.is_err() {
                match PgConnection::connect(&url).await {
                    Ok(c) => conn = c,
                    Err(e) => tracing::error!(error = %e, "cannot reconnect the PostgreSQL writer"),
                }
            }
        }
        if commit.is_ok() && published {
            signal.notify_one();
        }
        for answer in answers {
            answer(commit.clone());
        }
    }
}

/// Runs the jobs inside one transaction; a job whose savepoint cannot be handled ends the batch.
fn run_batch(conn: &mut PgConnection, batch: Vec<Job>) -> BoxFuture<'_, Result<Vec<Answer>>> {
    Box::pin(run_jobs(conn, batch))
}

async fn run_jobs(conn: &mut PgConnection, batch: Vec<Job>) -> Result<Vec<Answer>> {
    exec(conn, "BEGIN").await?;
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        exec(conn, "SAVEPOINT job").await?;
        let (ok, answer) = job(conn).await;
        exec(
            conn,
            if ok {
                "RELEASE SAVEPOINT job"
            } else {
                "ROLLBACK TO SAVEPOINT job"
            },
        )
        .await?;
        answers.push(answer);
    }
    Ok(answers)
}

// Boxed so the future's lifetimes are concrete: an `async fn` here trips the compiler's
// higher-ranked `Send` inference for sqlx executors inside `tokio::spawn`.
fn exec<'a>(conn: &'a mut PgConnection, sql: &'static str) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        sqlx::Executor::execute(conn, sql).await?;
        Ok(())
    })
}
