//! The workflow model: both definition formats compile into one graph.
//!
//! `compile` is the single entry point: it detects the format (docs/workflows.md), validates totally
//! (every problem with its JSON pointer) and, when there are no errors, yields the graph. Step
//! configs are read by a [`StepCatalog`] (the `steps` crate), so core owns structure and the catalog
//! owns each step type's fields.

mod fields;
mod graph;
mod kustomer;
mod native;

use serde_json::Value;

use crate::inputs::InputSchema;
use crate::problem::Report;
use crate::schedule::CronSchedule;
use crate::template::Expr;
pub use fields::{Context, Fields, OPTIONAL, Options, REQUIRED, Script, TValue, quoted};
pub use kustomer::{REST_ACTION, SCHEDULE_ACTION, callable_id, remap_workflow_ids};

/// Reads the config of each step type. Implemented by the step registry.
pub trait StepCatalog {
    type Spec;
    /// Every step type the catalog knows.
    fn types(&self) -> &[&'static str];
    /// Reads a known type's config; `None` when it has errors (already reported in `fields`).
    fn parse(&self, step_type: &str, fields: &mut Fields<'_, '_>) -> Option<Self::Spec>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Native,
    Kustomer,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Kustomer => "kustomer",
        }
    }

    /// A definition whose trigger has `eventName`, or any of whose steps has `action`, is Kustomer.
    pub fn detect(def: &Value) -> Format {
        let kustomer_trigger = def.pointer("/trigger/eventName").is_some();
        let kustomer_step = def
            .get("steps")
            .and_then(Value::as_array)
            .is_some_and(|steps| steps.iter().any(|s| s.get("action").is_some()));
        if kustomer_trigger || kustomer_step {
            Format::Kustomer
        } else {
            Format::Native
        }
    }
}

#[derive(Debug, Clone)]
pub enum Trigger {
    Webhook {
        event_type: String,
    },
    CustomerMessage {
        channel: String,
        pattern: Option<regex::Regex>,
    },
    Schedule(Box<CronSchedule>),
    Manual,
    Callable {
        schema: Option<InputSchema>,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Webhook { .. } => "webhook",
            Trigger::CustomerMessage { .. } => "customer_message",
            Trigger::Schedule(_) => "schedule",
            Trigger::Manual => "manual",
            Trigger::Callable { .. } => "callable",
        }
    }

    /// How `inputs` fail a callable trigger's schema, each at its pointer (nothing for other
    /// triggers, or without a schema).
    pub fn check_inputs(&self, inputs: &Value) -> Vec<crate::Problem> {
        match self {
            Trigger::Callable {
                schema: Some(schema),
            } => schema.check(inputs),
            _ => Vec::new(),
        }
    }
}

/// The compiled graph of one workflow version.
#[derive(Debug, Clone)]
pub struct Workflow<S> {
    pub name: String,
    pub description: Option<String>,
    pub format: Format,
    pub trigger: Trigger,
    /// Where a run starts: tried in order, the first edge whose condition holds wins.
    pub entry: Vec<Edge>,
    pub nodes: Vec<Node<S>>,
    pub context_variables: Vec<String>,
    pub max_steps: u64,
}

#[derive(Debug, Clone)]
pub struct Node<S> {
    pub id: String,
    pub name: Option<String>,
    pub step_type: String,
    pub spec: S,
    pub output_var: Option<String>,
    pub retry: Option<Retry>,
    /// Tried in order after the step succeeds; the first match wins; none ends the run.
    pub next: Vec<Edge>,
    pub on_error: OnError,
    /// JSON pointer of the step in its definition.
    pub pointer: String,
    /// The JavaScript expressions of the step's config, computed ahead of each attempt.
    pub scripts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub target: usize,
    pub when: Condition,
}

#[derive(Debug, Clone)]
pub enum Condition {
    Always,
    /// A JavaScript condition judged by truthiness (native `conditional`).
    Expr(Expr),
    /// A Kustomer `{op, values}` condition.
    Op(OpCondition),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    True,
    False,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    NotContains,
    In,
    Exists,
    NotExists,
    Regex,
    And,
    Or,
    Not,
}

#[derive(Debug, Clone)]
pub struct OpCondition {
    pub op: Op,
    pub args: Vec<OpArg>,
}

#[derive(Debug, Clone)]
pub enum OpArg {
    Value(TValue),
    Condition(OpCondition),
}

/// What happens when a step fails for good (after its retries).
#[derive(Debug, Clone)]
pub enum OnError {
    Fail,
    Continue,
    Goto(Vec<Edge>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub max_attempts: u64,
    pub exponential: bool,
    pub initial_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceKind {
    /// A saved webhook, by name.
    Webhook,
    /// A saved webhook, by id.
    WebhookId,
    /// A workflow, by id, that must be callable.
    Workflow,
    /// A connector, by id.
    Connector,
    /// A stored email template, by name.
    EmailTemplate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: ReferenceKind,
    pub key: String,
    pub pointer: String,
}

/// The outcome of validating a definition.
#[derive(Debug)]
pub struct Compiled<S> {
    pub format: Format,
    pub report: Report,
    /// Present when there are no errors.
    pub workflow: Option<Workflow<S>>,
    /// The JavaScript the definition holds, for a syntax check by the sandbox.
    pub scripts: Vec<Script>,
    /// What only a store can resolve (saved webhooks, connectors, other workflows), collected
    /// whether or not the definition compiled, so a store can report them all in one pass.
    pub references: Vec<Reference>,
}

/// Validates a definition (either format) and compiles it.
pub fn compile<C: StepCatalog>(def: &Value, catalog: &C, options: &Options) -> Compiled<C::Spec> {
    let format = Format::detect(def);
    let mut ctx = Context {
        options: options.clone(),
        ..Context::default()
    };
    let workflow = match Fields::new(Some(def), "", "the workflow", &mut ctx) {
        None => None,
        Some(mut top) => {
            let meta = graph::Meta::read(&mut top);
            let draft = match format {
                Format::Native => native::read(&mut top, catalog),
                Format::Kustomer => kustomer::read(&mut top, catalog),
            };
            top.finish();
            graph::finish(meta, draft, &mut ctx).map(|w| Workflow { format, ..w })
        }
    };
    ctx.report.sort();
    let workflow = workflow.filter(|_| ctx.report.is_valid());
    Compiled {
        format,
        report: ctx.report,
        workflow,
        scripts: ctx.scripts,
        references: ctx.references,
    }
}

/// Name rules (seed 001): 1–128 characters of letters, digits, `.`, `-`, `_` and spaces.
pub fn check_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if name.trim().is_empty() {
        return Err("name must not be empty".into());
    }
    if count > 128 {
        return Err(format!(
            "name is {count} characters long; at most 128 are allowed"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ')))
    {
        return Err(format!(
            "name may hold only letters, digits, '.', '-', '_' and spaces; '{bad}' is not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
