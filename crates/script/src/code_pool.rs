//! `custom_code` runs on a few dedicated JS threads (as many as cores) rather than on the async
//! workers: a script may compute for up to its time limit, and running more scripts at once than
//! there are cores only adds threads and runtimes in memory. Each script still gets a fresh
//! runtime (see [`run_code`]); what waits in the queue is its roots as JSON text.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use switchboard_core::template::Scope;

use crate::ScriptError;
use crate::sandbox::{CodeOutput, RootTexts, run_code};

type Job = Box<dyn FnOnce() + Send>;

static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();

fn queue() -> &'static mpsc::Sender<Job> {
    QUEUE.get_or_init(|| {
        let (jobs, queued) = mpsc::channel::<Job>();
        let queued = Arc::new(Mutex::new(queued));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let queued = queued.clone();
            std::thread::Builder::new()
                .name(format!("js-code-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queued.lock().expect("code queue").recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        // A panicking job drops its answer (its caller sees an error); the thread goes on.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .expect("spawn a JS thread");
        }
        jobs
    })
}

/// Runs a `custom_code` body over `scope` on the JS threads.
pub async fn run_code_async(
    code: &str,
    scope: &Scope<'_>,
    timeout: Option<Duration>,
) -> Result<CodeOutput, ScriptError> {
    let roots = RootTexts::of(code, scope);
    let code = code.to_owned();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(run_code(&code, roots, timeout));
    });
    let lost = || ScriptError::Exception("the script was lost: its thread failed".into());
    queue().send(job).map_err(|_| lost())?;
    answered.await.map_err(|_| lost())?
}
