//! `advance`: the one pure function that turns a step's outcome or error into what happens next,
//! given the graph, the retry policy and the error edges (docs/architecture.md). The engine commits what it
//! returns together with the step's record.

use serde_json::Value;

use crate::run::{Outcome, StepError, StepStatus};
use crate::workflow::{Edge, Node, OnError, Retry};

/// The visit being decided.
#[derive(Debug, Clone, Copy)]
pub struct Visit {
    pub node: usize,
    /// This attempt, from 1.
    pub attempt: u64,
    /// Step visits of the run so far, this one included.
    pub visits: u64,
}

/// Everything `advance` needs besides the step's result, so that it stays pure.
pub struct Inputs<'a> {
    pub now_ms: i64,
    /// Durations are divided by it (`SWITCHBOARD_TIME_SCALE`).
    pub time_scale: f64,
    /// In [-1, 1]: where in the ±20 % jitter band a backoff lands.
    pub jitter: f64,
    pub max_steps: u64,
    /// The node's retry policy, defaults applied.
    pub retry: &'a Retry,
}

/// What happens after the step.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// Start a new visit of this node now.
    Step(usize),
    /// Try the same visit again at this time.
    RetryAt(i64),
    /// Resume the same visit at this time (a delay).
    WaitUntil(i64),
    Complete,
    Fail(StepError),
}

/// The step record's fate and the run's next move.
#[derive(Debug, Clone, PartialEq)]
pub struct Advance {
    pub status: StepStatus,
    /// The output recorded (and applied to the context) when the step completed or was continued.
    pub output: Option<Value>,
    pub error: Option<StepError>,
    pub then: Then,
}

/// Picks the first edge whose condition holds; `error` is in scope for error edges. Impure
/// (conditions may run JavaScript), so it is passed in.
pub type Choose<'c> =
    dyn FnMut(&[Edge], Option<&StepError>) -> Result<Option<usize>, StepError> + 'c;

pub fn advance<S>(
    node: &Node<S>,
    visit: Visit,
    result: Result<Outcome, StepError>,
    inputs: &Inputs,
    choose: &mut Choose,
) -> Advance {
    match result {
        Ok(Outcome::WaitUntil(at)) => Advance {
            status: StepStatus::Waiting,
            output: None,
            error: None,
            then: Then::WaitUntil(at),
        },
        Ok(Outcome::Next(output)) => match choose(&node.next, None) {
            Ok(target) => Advance {
                status: StepStatus::Completed,
                output: Some(output),
                error: None,
                then: onward(target, visit, inputs),
            },
            Err(e) => failed(node, visit, e, inputs, choose),
        },
        Err(e) if e.retryable && visit.attempt < inputs.retry.max_attempts => {
            let wait = backoff(inputs.retry, visit.attempt, inputs.jitter)
                .max(e.retry_after_ms.unwrap_or(0) as f64);
            Advance {
                status: StepStatus::Waiting,
                output: None,
                error: Some(e),
                then: Then::RetryAt(inputs.now_ms + scaled(wait, inputs.time_scale)),
            }
        }
        Err(e) => failed(node, visit, e, inputs, choose),
    }
}

/// A step failed for good: `onError` decides.
fn failed<S>(
    node: &Node<S>,
    visit: Visit,
    error: StepError,
    inputs: &Inputs,
    choose: &mut Choose,
) -> Advance {
    let (output, then) = match &node.on_error {
        OnError::Fail => (None, Then::Fail(error.clone())),
        OnError::Continue => match choose(&node.next, Some(&error)) {
            Ok(target) => (Some(Value::Null), onward(target, visit, inputs)),
            Err(e) => (None, Then::Fail(e)),
        },
        OnError::Goto(edges) => match choose(edges, Some(&error)) {
            Ok(Some(target)) => (None, onward(Some(target), visit, inputs)),
            Ok(None) => (None, Then::Fail(error.clone())),
            Err(e) => (None, Then::Fail(e)),
        },
    };
    Advance {
        status: StepStatus::Failed,
        output,
        error: Some(error),
        then,
    }
}

/// The next visit, unless the run has used up its step visits; no target ends the run.
fn onward(target: Option<usize>, visit: Visit, inputs: &Inputs) -> Then {
    match target {
        None => Then::Complete,
        Some(_) if visit.visits >= inputs.max_steps => Then::Fail(StepError::new(
            "step_limit_exceeded",
            format!(
                "the run reached its limit of {} step visits (maxSteps)",
                inputs.max_steps
            ),
        )),
        Some(t) => Then::Step(t),
    }
}

/// The wait before attempt `attempt + 1`, in ms, before scaling.
pub fn backoff(retry: &Retry, attempt: u64, jitter: f64) -> f64 {
    let base = if retry.exponential {
        let doubled = retry.initial_ms as f64 * 2f64.powi(attempt.saturating_sub(1).min(62) as i32);
        doubled.min(retry.max_ms as f64)
    } else {
        retry.initial_ms as f64
    };
    base * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0))
}

/// A duration in ms divided by the time scale.
pub fn scaled(ms: f64, time_scale: f64) -> i64 {
    (ms / time_scale.max(f64::MIN_POSITIVE)).round() as i64
}

#[cfg(test)]
mod tests;
