//! Which edge a run takes: after a step (`transition::advance` with the node's edges) and where it
//! starts (the graph's entry edges). Conditions holding JavaScript have it computed ahead on the JS
//! threads (`switchboard_script::Computed`), so nothing here runs a script on an async thread.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_core::run::{Outcome, StepError};
use switchboard_core::template::Scope;
use switchboard_core::transition::{Advance, Inputs, Visit, advance};
use switchboard_core::workflow::Edge;
use switchboard_script::{Computed, EvalError, Evaluator, eval::scripts_of};
use switchboard_steps::expression_error;

use crate::Graph;
use crate::live::Node;

/// The ack budget ran out while waiting for the JS threads; the step is left to the engine.
pub(crate) struct OutOfTime;

/// A run-ahead's deadline, and how long a script may have held a JS thread before waiting for it
/// is pointless (the event's whole budget).
#[derive(Clone, Copy)]
pub(crate) struct Budget {
    pub deadline: Instant,
    pub long: Duration,
}

/// `Computed::of`, unless the budget runs out first. Ahead of an acknowledgement a step does not
/// wait behind slow scripts: when every JS thread is held by one, it is left to the engine at once.
pub(crate) async fn compute(
    store_id: &str,
    scope: &Scope<'_>,
    sources: &[&str],
    budget: Option<Budget>,
) -> Result<Computed, OutOfTime> {
    let work = Computed::of(store_id, scope, sources);
    match budget {
        None => Ok(work.await),
        Some(b) if !sources.is_empty() && !switchboard_script::js_start_soon(b.long) => {
            Err(OutOfTime)
        }
        Some(b) => tokio::time::timeout_at(b.deadline.into(), work)
            .await
            .map_err(|_| OutOfTime),
    }
}

/// Whether choosing the node's next step may run JavaScript (its edges or error edges hold some).
pub(crate) fn has_scripts(node: &Node) -> bool {
    use switchboard_core::workflow::OnError;
    use switchboard_script::Scripts;
    let mut out = Vec::new();
    node.next.as_slice().scripts(&mut out);
    if let OnError::Goto(edges) = &node.on_error {
        edges.as_slice().scripts(&mut out);
    }
    !out.is_empty()
}

/// The first edge whose condition holds, evaluated with `ev`; its index goes into `taken`.
fn first_holding(
    edges: &[Edge],
    ev: &Evaluator,
    taken: &Cell<Option<usize>>,
) -> Result<Option<usize>, EvalError> {
    for (i, edge) in edges.iter().enumerate() {
        if ev.condition(&edge.when)? {
            taken.set(Some(i));
            return Ok(Some(edge.target));
        }
    }
    taken.set(None);
    Ok(None)
}

/// A set of edges whose JavaScript was not computed yet, and the error in their scope.
struct Missing {
    scripts: Vec<String>,
    error: Option<Value>,
}

/// What follows the step's `result` (`transition::advance`), and which edge was taken. Each scope
/// the conditions are judged in (error edges see the error) gets its JavaScript computed in one
/// hop; `advance` is pure, so it is simply asked again once a missing scope is computed.
pub(crate) async fn decide(
    store_id: &str,
    node: &Node,
    scope: Scope<'_>,
    result: &Result<Outcome, StepError>,
    visit: Visit,
    inputs: &Inputs<'_>,
    budget: Option<Budget>,
) -> Result<(Advance, Option<usize>), OutOfTime> {
    let mut computed: Vec<(Option<Value>, Computed)> = Vec::new();
    loop {
        let Missing { scripts, error } = match judge(node, scope, result, visit, inputs, &computed)
        {
            Ok(decided) => return Ok(decided),
            Err(missing) => missing,
        };
        let scope = Scope {
            error: error.as_ref(),
            ..scope
        };
        let sources: Vec<&str> = scripts.iter().map(String::as_str).collect();
        let c = compute(store_id, &scope, &sources, budget).await?;
        computed.push((error, c));
    }
}

/// `advance` with the JavaScript computed so far; the first scope still missing stops it.
fn judge(
    node: &Node,
    scope: Scope<'_>,
    result: &Result<Outcome, StepError>,
    visit: Visit,
    inputs: &Inputs<'_>,
    computed: &[(Option<Value>, Computed)],
) -> Result<(Advance, Option<usize>), Missing> {
    let taken = Cell::new(None);
    let missing: RefCell<Option<Missing>> = RefCell::new(None);
    let pending = || StepError::new("pending", "judged again once computed");
    let mut picker = |edges: &[Edge], error: Option<&StepError>| {
        if missing.borrow().is_some() {
            return Err(pending());
        }
        let error = error.map(StepError::to_json);
        let scope = Scope {
            error: error.as_ref(),
            ..scope
        };
        let scripts = scripts_of(&[&edges]);
        let chosen = if scripts.is_empty() {
            // Plain paths and operators only: nothing to run on the JS threads.
            first_holding(edges, &Evaluator::here(scope), &taken)
        } else if let Some((_, c)) = computed.iter().find(|(e, _)| *e == error) {
            first_holding(edges, &Evaluator::with(scope, c), &taken)
        } else {
            let scripts = scripts.into_iter().map(str::to_owned).collect();
            *missing.borrow_mut() = Some(Missing { scripts, error });
            return Err(pending());
        };
        chosen.map_err(expression_error)
    };
    let adv = advance(node, visit, result.clone(), inputs, &mut picker);
    match missing.into_inner() {
        None => Ok((adv, taken.get())),
        Some(m) => Err(m),
    }
}

/// Where a run starts over its trigger: `Some(None)` for a workflow without steps (it completes at
/// once), `None` when no entry condition holds.
pub(crate) async fn entry(
    store_id: &str,
    graph: &Graph,
    scope: &Scope<'_>,
) -> Result<Option<Option<usize>>, EvalError> {
    if graph.entry.is_empty() {
        return Ok(Some(None));
    }
    let edges = graph.entry.as_slice();
    let scripts = scripts_of(&[&edges]);
    let computed = Computed::of(store_id, scope, &scripts).await;
    let taken = Cell::new(None);
    let first = first_holding(&graph.entry, &Evaluator::with(*scope, &computed), &taken)?;
    Ok(first.map(Some))
}
