use serde_json::json;

use super::*;
use crate::workflow::Condition;

fn node(next: Vec<usize>, on_error: OnError) -> Node<()> {
    Node {
        id: "s".into(),
        name: None,
        step_type: "webhook".into(),
        spec: (),
        output_var: None,
        retry: None,
        next: next
            .into_iter()
            .map(|target| Edge {
                target,
                when: Condition::Always,
            })
            .collect(),
        on_error,
        pointer: "/steps/0".into(),
        scripts: Vec::new(),
    }
}

const RETRY: Retry = Retry {
    max_attempts: 3,
    exponential: true,
    initial_ms: 1000,
    max_ms: 60_000,
};

fn inputs() -> Inputs<'static> {
    Inputs {
        now_ms: 1_000_000,
        time_scale: 1.0,
        jitter: 0.0,
        max_steps: 10,
        retry: &RETRY,
    }
}

/// The first edge always holds, as for a plain chain.
fn first(edges: &[Edge], _: Option<&StepError>) -> Result<Option<usize>, StepError> {
    Ok(edges.first().map(|e| e.target))
}

fn visit(attempt: u64, visits: u64) -> Visit {
    Visit {
        node: 0,
        attempt,
        visits,
    }
}

fn retryable() -> StepError {
    StepError::new("timeout", "slow").retryable()
}

fn permanent() -> StepError {
    StepError::new("http_status", "404")
}

#[test]
fn advance_table() {
    let goto = OnError::Goto(vec![Edge {
        target: 7,
        when: Condition::Always,
    }]);
    let limit = StepError::new(
        "step_limit_exceeded",
        "the run reached its limit of 10 step visits (maxSteps)",
    );
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        Node<()>,
        Visit,
        Result<Outcome, StepError>,
        StepStatus,
        Option<serde_json::Value>,
        Then,
    )> = vec![
        (
            "output goes on to the next node",
            node(vec![1], OnError::Fail),
            visit(1, 1),
            Ok(Outcome::Next(json!({"a": 1}))),
            StepStatus::Completed,
            Some(json!({"a": 1})),
            Then::Step(1),
        ),
        (
            "no edge completes the run",
            node(vec![], OnError::Fail),
            visit(1, 1),
            Ok(Outcome::Next(json!(1))),
            StepStatus::Completed,
            Some(json!(1)),
            Then::Complete,
        ),
        (
            "a delay waits on the same visit",
            node(vec![1], OnError::Fail),
            visit(1, 1),
            Ok(Outcome::WaitUntil(5)),
            StepStatus::Waiting,
            None,
            Then::WaitUntil(5),
        ),
        (
            "retryable error backs off (1 s)",
            node(vec![1], OnError::Fail),
            visit(1, 1),
            Err(retryable()),
            StepStatus::Waiting,
            None,
            Then::RetryAt(1_001_000),
        ),
        (
            "second attempt doubles (2 s)",
            node(vec![1], OnError::Fail),
            visit(2, 1),
            Err(retryable()),
            StepStatus::Waiting,
            None,
            Then::RetryAt(1_002_000),
        ),
        (
            "attempts spent: fail",
            node(vec![1], OnError::Fail),
            visit(3, 1),
            Err(retryable()),
            StepStatus::Failed,
            None,
            Then::Fail(retryable()),
        ),
        (
            "permanent error is not retried",
            node(vec![1], OnError::Fail),
            visit(1, 1),
            Err(permanent()),
            StepStatus::Failed,
            None,
            Then::Fail(permanent()),
        ),
        (
            "continue: output null, go on",
            node(vec![1], OnError::Continue),
            visit(1, 1),
            Err(permanent()),
            StepStatus::Failed,
            Some(json!(null)),
            Then::Step(1),
        ),
        (
            "continue at the end completes",
            node(vec![], OnError::Continue),
            visit(1, 1),
            Err(permanent()),
            StepStatus::Failed,
            Some(json!(null)),
            Then::Complete,
        ),
        (
            "goto takes the error edge",
            node(vec![1], goto.clone()),
            visit(3, 1),
            Err(retryable()),
            StepStatus::Failed,
            None,
            Then::Step(7),
        ),
        (
            "goto with no edge matching fails",
            node(vec![1], OnError::Goto(vec![])),
            visit(1, 1),
            Err(permanent()),
            StepStatus::Failed,
            None,
            Then::Fail(permanent()),
        ),
        (
            "maxSteps stops a cycle",
            node(vec![0], OnError::Fail),
            visit(1, 10),
            Ok(Outcome::Next(json!(1))),
            StepStatus::Completed,
            Some(json!(1)),
            Then::Fail(limit.clone()),
        ),
        (
            "maxSteps also bounds goto loops",
            node(vec![], goto),
            visit(1, 10),
            Err(permanent()),
            StepStatus::Failed,
            None,
            Then::Fail(limit),
        ),
    ];
    for (name, node, visit, result, status, output, then) in cases {
        let a = advance(&node, visit, result, &inputs(), &mut first);
        assert_eq!(
            (a.status, a.output, a.then),
            (status, output, then),
            "{name}"
        );
    }
}

#[test]
fn retry_after_wins_when_longer_and_time_scale_divides() {
    let mut e = retryable();
    e.retry_after_ms = Some(30_000);
    let a = advance(
        &node(vec![], OnError::Fail),
        visit(1, 1),
        Err(e),
        &inputs(),
        &mut first,
    );
    assert_eq!(a.then, Then::RetryAt(1_030_000));
    let fast = Inputs {
        time_scale: 1000.0,
        ..inputs()
    };
    let a = advance(
        &node(vec![], OnError::Fail),
        visit(1, 1),
        Err(retryable()),
        &fast,
        &mut first,
    );
    assert_eq!(a.then, Then::RetryAt(1_000_001));
}

#[test]
fn backoff_is_capped_and_jittered() {
    assert_eq!(backoff(&RETRY, 10, 0.0), 60_000.0);
    assert_eq!(backoff(&RETRY, 1, 1.0), 1200.0);
    assert_eq!(backoff(&RETRY, 1, -1.0), 800.0);
    let fixed = Retry {
        exponential: false,
        ..RETRY
    };
    assert_eq!(backoff(&fixed, 5, 0.0), 1000.0);
}

#[test]
fn a_failing_edge_condition_is_the_step_failing() {
    let mut broken =
        |_: &[Edge], _: Option<&StepError>| Err(StepError::new("expression_error", "bad"));
    let a = advance(
        &node(vec![1], OnError::Fail),
        visit(1, 1),
        Ok(Outcome::Next(json!(1))),
        &inputs(),
        &mut broken,
    );
    assert_eq!(a.status, StepStatus::Failed);
    assert_eq!(
        a.then,
        Then::Fail(StepError::new("expression_error", "bad"))
    );
}
