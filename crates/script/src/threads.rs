//! The JS threads. Every expression and `custom_code` runs here, never on the async threads that
//! serve HTTP or drive the engine's I/O: a script may compute up to its time limit, and a slow one
//! must occupy a JS thread, not the API (docs/architecture.md "JavaScript").
//!
//! Jobs queue per store and the threads take them round-robin between stores, so a store flooding
//! the queue waits behind its own jobs while another store's job is taken next. Each store also
//! has a budget of JS milliseconds per minute (`SWITCHBOARD_STORE_JS_MS_PER_MINUTE`): a store past
//! it is skipped until its budget refills — its scripts wait their turn, they do not fail.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle JS thread keeps looking for work before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// How many JS threads, and each store's default budget.
#[derive(Debug, Clone)]
pub struct ThreadSettings {
    /// `SWITCHBOARD_JS_THREADS`; 0 = the number of cores.
    pub threads: usize,
    /// `SWITCHBOARD_STORE_JS_MS_PER_MINUTE`.
    pub store_ms_per_minute: u64,
}

impl Default for ThreadSettings {
    fn default() -> Self {
        ThreadSettings {
            threads: 0,
            store_ms_per_minute: 60_000,
        }
    }
}

static SETTINGS: OnceLock<ThreadSettings> = OnceLock::new();
static POOL: OnceLock<Pool> = OnceLock::new();

/// Sets the threads' settings once, before the first script; later calls are ignored.
pub fn configure_threads(settings: ThreadSettings) {
    let _ = SETTINGS.set(settings);
}

/// Gives a store its own JS budget (ms per minute), or back the default with `None`.
pub fn set_store_js_budget(store: &str, ms_per_minute: Option<u64>) {
    let mut queues = pool().queues.lock().expect("js queues");
    queues.store(store).own_budget = ms_per_minute;
}

/// A store's JS milliseconds: spent from a bucket that holds a minute's budget and refills
/// continuously. It may go below zero by the job that overdrew it.
struct Budget {
    ms: f64,
    at: Instant,
}

/// Which of a store's queued jobs goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Template expressions and conditions: short (at most their limit), and an event's
    /// acknowledgement may be waiting for them.
    Expressions,
    /// `custom_code`: up to seconds.
    Code,
}

struct StoreQueue {
    /// Expressions, then code.
    jobs: VecDeque<Job>,
    code: VecDeque<Job>,
    budget: Budget,
    own_budget: Option<u64>,
}

impl StoreQueue {
    fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.code.is_empty()
    }

    fn per_minute(&self, default: u64) -> f64 {
        self.own_budget.unwrap_or(default) as f64
    }

    /// Refills the bucket to now; the time until it is positive again, if it is not.
    fn refill(&mut self, default: u64, now: Instant) -> Option<Duration> {
        let per_minute = self.per_minute(default);
        let per_ms = per_minute / 60_000.0;
        let elapsed = now.saturating_duration_since(self.budget.at).as_secs_f64() * 1000.0;
        self.budget.ms = (self.budget.ms + elapsed * per_ms).min(per_minute);
        self.budget.at = now;
        (self.budget.ms < 0.0).then(|| {
            let wait_ms = if per_ms > 0.0 {
                -self.budget.ms / per_ms
            } else {
                60_000.0
            };
            Duration::from_secs_f64(wait_ms / 1000.0 + 0.001)
        })
    }
}

#[derive(Default)]
struct Queues {
    stores: HashMap<Arc<str>, StoreQueue>,
    /// Stores with queued jobs, in the order they get their next turn.
    turns: VecDeque<Arc<str>>,
    default_budget: u64,
    /// Threads waiting for work: a job wakes one only if there is one (a wake is a system call).
    idle: usize,
    /// When each thread's current job started (`None`: it has none).
    running: Vec<Option<Instant>>,
}

impl Queues {
    fn store(&mut self, store: &str) -> &mut StoreQueue {
        let default = self.default_budget as f64;
        self.stores
            .entry(Arc::from(store))
            .or_insert_with(|| StoreQueue {
                jobs: VecDeque::new(),
                code: VecDeque::new(),
                budget: Budget {
                    ms: default,
                    at: Instant::now(),
                },
                own_budget: None,
            })
    }

    fn push(&mut self, store: &str, lane: Lane, job: Job) {
        let queue = self.store(store);
        let was_idle = queue.is_empty();
        match lane {
            Lane::Expressions => queue.jobs.push_back(job),
            Lane::Code => queue.code.push_back(job),
        }
        if was_idle {
            self.turns.push_back(Arc::from(store));
        }
    }

    /// The next job, from the first store in turn whose budget allows; otherwise how long until
    /// one does (`None`: nothing is queued).
    fn next(&mut self) -> Result<(Arc<str>, Job), Option<Duration>> {
        let now = Instant::now();
        let mut soonest: Option<Duration> = None;
        for _ in 0..self.turns.len() {
            let store = self.turns.pop_front().expect("a turn");
            let default = self.default_budget;
            let queue = self.stores.get_mut(&store).expect("a queued store");
            if let Some(wait) = queue.refill(default, now) {
                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                self.turns.push_back(store);
                continue;
            }
            let job = queue
                .jobs
                .pop_front()
                .or_else(|| queue.code.pop_front())
                .expect("a queued job");
            if !queue.is_empty() {
                self.turns.push_back(store.clone());
            }
            return Ok((store, job));
        }
        Err(soonest)
    }

    fn charge(&mut self, store: &str, spent: Duration) {
        if let Some(queue) = self.stores.get_mut(store) {
            queue.budget.ms -= spent.as_secs_f64() * 1000.0;
        }
    }
}

struct Pool {
    queues: Mutex<Queues>,
    work: Condvar,
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let settings = SETTINGS.get_or_init(ThreadSettings::default).clone();
        let threads = match settings.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let pool = Pool {
            queues: Mutex::new(Queues {
                default_budget: settings.store_ms_per_minute,
                running: vec![None; threads],
                ..Queues::default()
            }),
            work: Condvar::new(),
        };
        for i in 0..threads {
            std::thread::Builder::new()
                .name(format!("js-{i}"))
                .spawn(move || work(i))
                .expect("spawn a JS thread");
        }
        pool
    })
}

fn work(thread: usize) {
    let pool = pool();
    let mut ran: Option<(Arc<str>, Duration)> = None;
    loop {
        let (store, job) = {
            let mut queues = pool.queues.lock().expect("js queues");
            if let Some((store, spent)) = ran.take() {
                queues.charge(&store, spent);
                queues.running[thread] = None;
            }
            let mut spun = Instant::now();
            loop {
                let wait = match queues.next() {
                    Ok(next) => {
                        queues.running[thread] = Some(Instant::now());
                        break next;
                    }
                    Err(wait) => wait,
                };
                // Under load the next job comes within microseconds: yielding the core for a
                // moment costs less than sleeping and being woken (two system calls per job).
                if wait.is_none() && spun.elapsed() < SPIN {
                    drop(queues);
                    std::thread::yield_now();
                    queues = pool.queues.lock().expect("js queues");
                    continue;
                }
                queues.idle += 1;
                queues = match wait {
                    None => pool.work.wait(queues).expect("js queues"),
                    Some(wait) => pool.work.wait_timeout(queues, wait).expect("js queues").0,
                };
                queues.idle -= 1;
                spun = Instant::now();
            }
        };
        let started = Instant::now();
        // A panicking job drops its answer (its caller sees an error); the thread goes on.
        let _ = catch_unwind(AssertUnwindSafe(job));
        ran = Some((store, started.elapsed()));
    }
}

/// Whether a job queued now would likely start soon: some JS thread is free or on a job younger
/// than `long`, rather than every one held by a script running longer.
pub fn js_start_soon(long: Duration) -> bool {
    let queues = pool().queues.lock().expect("js queues");
    queues
        .running
        .iter()
        .any(|since| since.is_none_or(|at| at.elapsed() < long))
}

/// The job's thread failed before it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the script was lost: its thread failed")]
pub struct Lost;

/// Runs `job` on a JS thread in `store`'s turn, after the store's jobs queued before it in its
/// lane (expressions go before code). A job whose caller stopped waiting (its future was dropped)
/// before its turn is skipped.
pub async fn on_js_thread<R: Send + 'static>(
    store: &str,
    lane: Lane,
    job: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Lost> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        if !answer.is_closed() {
            let _ = answer.send(job());
        }
    });
    let pool = pool();
    let idle = {
        let mut queues = pool.queues.lock().expect("js queues");
        queues.push(store, lane, job);
        queues.idle > 0
    };
    if idle {
        pool.work.notify_one();
    }
    answered.await.map_err(|_| Lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(default_budget: u64) -> Queues {
        Queues {
            default_budget,
            ..Queues::default()
        }
    }

    fn noop() -> Job {
        Box::new(|| {})
    }

    fn order(q: &mut Queues, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| match q.next() {
                Ok((store, _)) => store.to_string(),
                Err(_) => panic!("a job was queued"),
            })
            .collect()
    }

    #[test]
    fn stores_take_turns_whatever_one_of_them_queued() {
        let mut q = queues(60_000);
        for _ in 0..5 {
            q.push("flood", Lane::Code, noop());
        }
        q.push("quiet", Lane::Code, noop());
        q.push("other", Lane::Code, noop());
        assert_eq!(
            order(&mut q, 7),
            [
                "flood", "quiet", "other", "flood", "flood", "flood", "flood"
            ]
        );
        assert!(matches!(q.next(), Err(None)));
    }

    #[test]
    fn a_store_s_expressions_go_before_its_code() {
        let mut q = queues(60_000);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let job = |name: &'static str| -> Job {
            let ran = ran.clone();
            Box::new(move || ran.lock().unwrap().push(name))
        };
        q.push("s", Lane::Code, job("code 1"));
        q.push("s", Lane::Code, job("code 2"));
        q.push("s", Lane::Expressions, job("expression"));
        while let Ok((_, job)) = q.next() {
            job();
        }
        assert_eq!(*ran.lock().unwrap(), ["expression", "code 1", "code 2"]);
    }

    #[test]
    fn a_store_past_its_budget_waits_while_others_go_on() {
        let mut q = queues(60_000);
        q.store("heavy").own_budget = Some(600); // 10 ms per second
        q.push("heavy", Lane::Code, noop());
        q.push("heavy", Lane::Code, noop());
        q.push("light", Lane::Code, noop());
        assert_eq!(order(&mut q, 1), ["heavy"]);
        q.charge("heavy", Duration::from_millis(700));
        assert_eq!(order(&mut q, 1), ["light"]);
        match q.next() {
            Err(Some(wait)) => assert!(
                wait > Duration::from_secs(5) && wait < Duration::from_secs(11),
                "{wait:?}"
            ),
            other => panic!("heavy should wait for its budget: {:?}", other.is_ok()),
        }
    }

    #[tokio::test]
    async fn jobs_run_on_js_threads_and_answer() {
        let name = on_js_thread("s", Lane::Code, || {
            std::thread::current().name().map(str::to_owned)
        })
        .await
        .unwrap();
        assert!(name.unwrap().starts_with("js-"));
    }
}
