//! What both batching writers share: how a request is queued, and how its answer waits for the
//! commit of the batch it ran in.

use tokio::sync::{mpsc, oneshot};

use crate::{Health, Result, StoreError};

/// Requests committed together at most.
pub const MAX_BATCH: usize = 512;

/// Called with the batch's commit outcome.
pub type Answer = Box<dyn FnOnce(Result<()>) + Send>;

/// A request's outcome: whether it succeeded (else its savepoint is rolled back) and its answer,
/// which delivers the result only if the batch then commits.
pub fn outcome<R: Send + 'static>(
    result: Result<R>,
    reply: oneshot::Sender<Result<R>>,
    health: &Health,
) -> (bool, Answer) {
    if let Err(e) = &result {
        health.saw(e);
    }
    let ok = result.is_ok();
    let answer: Answer = Box::new(move |commit| {
        let _ = reply.send(commit.and(result));
    });
    (ok, answer)
}

/// Queues `job` and waits for its answer. A job the writer dropped (it could not even begin its
/// batch) fails with the fault the writer met, if it met one.
pub async fn submit<J, R>(
    jobs: &mpsc::Sender<J>,
    job: J,
    answer: oneshot::Receiver<Result<R>>,
    health: &Health,
) -> Result<R> {
    jobs.send(job)
        .await
        .map_err(|_| StoreError::Backend("the writer has stopped".into()))?;
    answer.await.map_err(|_| match health.fault() {
        Some(fault) => StoreError::Unavailable {
            fault,
            message: "the write could not begin".into(),
        },
        None => StoreError::Backend(
            "a write was abandoned: the writer failed while running its batch".into(),
        ),
    })?
}

/// Takes `first` and whatever else is already queued, up to [`MAX_BATCH`].
pub fn drain<J>(first: J, rx: &mut mpsc::Receiver<J>) -> Vec<J> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch
}
