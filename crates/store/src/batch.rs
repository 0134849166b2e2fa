//! What both batching writers share: how a request is queued, how batches are formed from the
//! queue, and how a request's answer waits for the commit of the batch it ran in.
//!
//! Requests queue in lanes, one per store (the store a task works for, [`in_lane`]), and batches
//! take from the lanes in turn: a store with thousands of writes queued fills its own lane, and
//! another store's write goes into the next batch rather than behind them all.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

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

tokio::task_local! {
    static LANE: Arc<str>;
}

/// Runs `work` with its writes queued in `store`'s lane.
pub fn in_lane<F: Future>(store: &str, work: F) -> impl Future<Output = F::Output> + use<F> {
    LANE.scope(Arc::from(store), work)
}

/// A queued request and its lane (`None`: work for no store in particular).
pub struct Laned<J> {
    lane: Option<Arc<str>>,
    job: J,
}

/// Queues `job` in the current task's lane and waits for its answer. A job the writer dropped (it
/// could not even begin its batch) fails with the fault the writer met, if it met one.
pub async fn submit<J, R>(
    jobs: &mpsc::Sender<Laned<J>>,
    job: J,
    answer: oneshot::Receiver<Result<R>>,
    health: &Health,
) -> Result<R> {
    let lane = LANE.try_with(Arc::clone).ok();
    jobs.send(Laned { lane, job })
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

/// Requests taken from the channel into the lanes at most; the channel holds the rest back.
const LOOKAHEAD: usize = 4 * MAX_BATCH;

/// The writer's side of the queue: requests taken from the channel into their lanes, batches
/// formed by taking one request from each lane in turn.
pub struct Queue<J> {
    rx: mpsc::Receiver<Laned<J>>,
    lanes: HashMap<Option<Arc<str>>, VecDeque<J>>,
    /// Lanes holding requests, in the order they are next taken from.
    turns: VecDeque<Option<Arc<str>>>,
    len: usize,
}

impl<J> Queue<J> {
    pub fn new(rx: mpsc::Receiver<Laned<J>>) -> Queue<J> {
        Queue {
            rx,
            lanes: HashMap::new(),
            turns: VecDeque::new(),
            len: 0,
        }
    }

    /// The next batch, waiting for a request if none is queued; `None` once the writer's handle
    /// is gone.
    pub async fn next(&mut self) -> Option<Vec<J>> {
        if self.len == 0 {
            let first = self.rx.recv().await?;
            self.take(first);
        }
        Some(self.batch())
    }

    /// [`Queue::next`] for a writer on its own thread.
    pub fn next_blocking(&mut self) -> Option<Vec<J>> {
        if self.len == 0 {
            let first = self.rx.blocking_recv()?;
            self.take(first);
        }
        Some(self.batch())
    }

    fn take(&mut self, laned: Laned<J>) {
        let lane = self.lanes.entry(laned.lane.clone()).or_default();
        if lane.is_empty() {
            self.turns.push_back(laned.lane);
        }
        lane.push_back(laned.job);
        self.len += 1;
    }

    /// Up to [`MAX_BATCH`] requests, one from each lane in turn (each lane in its own order).
    fn batch(&mut self) -> Vec<J> {
        while self.len < LOOKAHEAD {
            match self.rx.try_recv() {
                Ok(laned) => self.take(laned),
                Err(_) => break,
            }
        }
        let mut batch = Vec::with_capacity(self.len.min(MAX_BATCH));
        while batch.len() < MAX_BATCH {
            let Some(lane) = self.turns.pop_front() else {
                break;
            };
            let jobs = self.lanes.get_mut(&lane).expect("a lane in turn");
            batch.push(jobs.pop_front().expect("a lane in turn holds a request"));
            if jobs.is_empty() {
                self.lanes.remove(&lane);
            } else {
                self.turns.push_back(lane);
            }
        }
        self.len -= batch.len();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laned(lane: &str, job: &'static str) -> Laned<&'static str> {
        Laned {
            lane: (!lane.is_empty()).then(|| Arc::from(lane)),
            job,
        }
    }

    #[tokio::test]
    async fn batches_take_from_each_store_s_lane_in_turn() {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let mut queue = Queue::new(rx);
        for _ in 0..MAX_BATCH + 10 {
            tx.send(laned("flood", "f")).await.unwrap();
        }
        tx.send(laned("calm", "c1")).await.unwrap();
        tx.send(laned("", "system")).await.unwrap();
        tx.send(laned("calm", "c2")).await.unwrap();
        let first = queue.next().await.unwrap();
        assert_eq!(first.len(), MAX_BATCH);
        // The calm store's writes and the unlaned one go in the first batch, in their order.
        let others: Vec<_> = first.iter().filter(|j| **j != "f").collect();
        assert_eq!(others, [&"c1", &"system", &"c2"]);
        let second = queue.next().await.unwrap();
        assert_eq!(second.len(), 13);
        assert!(second.iter().all(|j| *j == "f"));
    }
}
