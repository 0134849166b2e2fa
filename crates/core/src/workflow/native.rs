//! The native format (seed 000): a trigger and an ordered list of steps. The list becomes a chain;
//! a `conditional` step's `then`/`else` (a step or a list) become branches that rejoin the chain
//! after it.

use std::collections::HashMap;

use serde_json::Value;

use super::fields::{Context, Fields, OPTIONAL, REQUIRED, kind};
use super::graph::{Draft, DraftEdge, DraftNode, DraftOnError, Target, expressions_since};
use super::{Condition, Retry, StepCatalog, Trigger};
use crate::inputs::InputSchema;
use crate::problem::child;
use crate::schedule::{CatchUp, CronSchedule};
use crate::template::Expr;

const TRIGGER_TYPES: [&str; 5] = [
    "webhook",
    "customer_message",
    "schedule",
    "manual",
    "callable",
];

pub(crate) fn read<C: StepCatalog>(top: &mut Fields<'_, '_>, catalog: &C) -> Draft<C::Spec> {
    let trigger_value = top.raw("trigger", REQUIRED);
    let steps_value = top.raw("steps", REQUIRED);
    let context_value = top.raw("contextVariables", OPTIONAL);
    let ctx = &mut *top.ctx;
    let trigger = trigger_value.and_then(|v| read_trigger(v, ctx));
    let mut reader = Reader {
        catalog,
        nodes: Vec::new(),
        branches: HashMap::new(),
    };
    let list = match steps_value {
        Some(Value::Array(items)) if items.is_empty() => {
            ctx.report
                .error("/steps", "a workflow needs at least one step");
            Vec::new()
        }
        Some(Value::Array(items)) => reader.list(items, "/steps", ctx),
        Some(other) => {
            ctx.report.error(
                "/steps",
                format!("'steps' must be an array, not {}", kind(other)),
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    reader.link(&list, None);
    let context_variables = read_context_variables(context_value, &reader.nodes, ctx);
    let entry = list.first().map(|&i| DraftEdge {
        target: Target::Node(i),
        when: Condition::Always,
    });
    Draft {
        trigger,
        entry: entry.into_iter().collect(),
        nodes: reader.nodes,
        context_variables,
    }
}

pub(crate) fn read_trigger(value: &Value, ctx: &mut Context) -> Option<Trigger> {
    let mut f = Fields::new(Some(value), "/trigger", "the trigger", ctx)?;
    let trigger = match f.one_of("type", REQUIRED, &TRIGGER_TYPES)?.as_str() {
        "webhook" => {
            let event_type = f.string("eventType", REQUIRED)?;
            if event_type.trim().is_empty() {
                f.error("eventType", "'eventType' must not be empty");
                return None;
            }
            Some(Trigger::Webhook { event_type })
        }
        "customer_message" => {
            let channel = f
                .one_of("channel", OPTIONAL, &["whatsapp"])
                .unwrap_or_else(|| "whatsapp".into());
            let pattern = match f.string("match", OPTIONAL) {
                None => None,
                Some(p) => match regex::Regex::new(&p) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        f.error(
                            "match",
                            format!("'match' is not a valid regular expression: {e}"),
                        );
                        return None;
                    }
                },
            };
            Some(Trigger::CustomerMessage { channel, pattern })
        }
        "schedule" => {
            let cron = f.string("cron", REQUIRED);
            let timezone = f
                .string("timezone", OPTIONAL)
                .unwrap_or_else(|| "UTC".into());
            let catch_up = f
                .one_of("catchUp", OPTIONAL, &CatchUp::NAMES)
                .and_then(|c| CatchUp::parse(&c))
                .unwrap_or(CatchUp::Latest);
            match CronSchedule::parse(&cron?, &timezone, catch_up) {
                Ok(schedule) => Some(Trigger::Schedule(Box::new(schedule))),
                Err(e) => {
                    f.error(e.field, e.message);
                    None
                }
            }
        }
        "callable" => read_schema(&mut f).map(|schema| Trigger::Callable { schema }),
        _ => Some(Trigger::Manual),
    };
    f.finish();
    trigger
}

/// A callable trigger's optional JSON Schema of its inputs.
pub(crate) fn read_schema(f: &mut Fields<'_, '_>) -> Option<Option<InputSchema>> {
    match f.raw("schema", OPTIONAL) {
        None => Some(None),
        Some(s @ (Value::Object(_) | Value::Bool(_))) => match InputSchema::compile(s) {
            Ok(schema) => Some(Some(schema)),
            Err(e) => {
                f.error("schema", e);
                None
            }
        },
        Some(other) => {
            f.error(
                "schema",
                format!("'schema' must be a JSON Schema object, not {}", kind(other)),
            );
            None
        }
    }
}

struct Reader<'c, C: StepCatalog> {
    catalog: &'c C,
    nodes: Vec<DraftNode<C::Spec>>,
    /// A conditional's node → its branches.
    branches: HashMap<usize, Branches>,
}

/// A `conditional` step's condition and the nodes of its `then` and `else` lists.
struct Branches {
    condition: Option<Expr>,
    then: Vec<usize>,
    otherwise: Vec<usize>,
}

impl<C: StepCatalog> Reader<'_, C> {
    fn list(&mut self, items: &[Value], at: &str, ctx: &mut Context) -> Vec<usize> {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| self.step(v, child(at, i), ctx))
            .collect()
    }

    /// A branch: one step or a list of steps.
    fn branch(&mut self, value: Option<&Value>, at: String, ctx: &mut Context) -> Vec<usize> {
        match value {
            None => Vec::new(),
            Some(Value::Array(items)) => self.list(items, &at, ctx),
            Some(v) => self.step(v, at, ctx).into_iter().collect(),
        }
    }

    fn step(&mut self, value: &Value, at: String, ctx: &mut Context) -> Option<usize> {
        let mut f = Fields::new(Some(value), at.clone(), "a step", ctx)?;
        let id = f.string("id", REQUIRED);
        if id.as_deref().is_some_and(|i| i.trim().is_empty()) {
            f.error("id", "'id' must not be empty");
        }
        let name = f.string("name", OPTIONAL);
        let step_type = f.string("type", REQUIRED);
        let output_var = f.string("outputVar", OPTIONAL);
        if let Some(v) = output_var.as_deref().filter(|v| !is_identifier(v)) {
            f.error(
                "outputVar",
                format!("'outputVar' must be an identifier (letters, digits, '_', '$'), not '{v}'"),
            );
        }
        let retry = f
            .raw("retry", OPTIONAL)
            .and_then(|v| read_retry(v, f.pointer("retry"), f.ctx));
        let on_error = read_on_error(&mut f);
        let config = f.raw("config", OPTIONAL);
        let id_pointer = f.pointer("id");
        f.finish();

        let index = self.nodes.len();
        self.nodes.push(DraftNode {
            id: id.unwrap_or_else(|| at.clone()),
            id_pointer,
            pointer: at.clone(),
            name,
            step_type: step_type.clone().unwrap_or_default(),
            spec: None,
            output_var,
            retry,
            next: Vec::new(),
            on_error,
            scripts: Vec::new(),
        });
        let step_type = step_type?;
        if !self.catalog.types().contains(&step_type.as_str()) {
            ctx.report.error(
                child(&at, "type"),
                format!(
                    "unknown step type '{step_type}' (known: {})",
                    self.catalog.types().join(", ")
                ),
            );
            return Some(index);
        }
        let config_at = child(&at, "config");
        let Some(mut cf) = Fields::new(
            config,
            config_at.clone(),
            format!("config of {step_type}"),
            ctx,
        ) else {
            return Some(index);
        };
        let conditional = if step_type == "conditional" {
            let condition = cf.string("condition", super::REQUIRED);
            if condition.as_deref().is_some_and(|c| c.trim().is_empty()) {
                cf.error("condition", "'condition' must not be empty");
            }
            let then = cf.raw("then", REQUIRED);
            let otherwise = cf.raw("else", OPTIONAL);
            let condition = condition
                .filter(|c| !c.trim().is_empty())
                .map(|c| Expr::parse(&c));
            if let Some(c) = &condition {
                let p = cf.pointer("condition");
                cf.ctx.note_expr(&p, c);
            }
            Some((condition, then, otherwise))
        } else {
            None
        };
        let noted = cf.ctx.scripts.len();
        self.nodes[index].spec = self.catalog.parse(&step_type, &mut cf);
        cf.finish();
        self.nodes[index].scripts = expressions_since(ctx, noted);
        if let Some((condition, then, otherwise)) = conditional {
            let then = self.branch(then, child(&config_at, "then"), ctx);
            let otherwise = self.branch(otherwise, child(&config_at, "else"), ctx);
            self.branches.insert(
                index,
                Branches {
                    condition,
                    then,
                    otherwise,
                },
            );
        }
        Some(index)
    }

    /// Chains a list; its last step continues at `after`.
    fn link(&mut self, list: &[usize], after: Option<usize>) {
        for (k, &node) in list.iter().enumerate() {
            let next = list.get(k + 1).copied().or(after);
            let mut edges = Vec::new();
            if let Some(Branches {
                condition,
                then,
                otherwise,
            }) = self.branches.remove(&node)
            {
                self.link(&then, next);
                self.link(&otherwise, next);
                if let (Some(cond), Some(t)) = (condition, then.first().copied().or(next)) {
                    edges.push(DraftEdge {
                        target: Target::Node(t),
                        when: Condition::Expr(cond),
                    });
                }
                if let Some(e) = otherwise.first().copied().or(next) {
                    edges.push(DraftEdge {
                        target: Target::Node(e),
                        when: Condition::Always,
                    });
                }
            } else if let Some(n) = next {
                edges.push(DraftEdge {
                    target: Target::Node(n),
                    when: Condition::Always,
                });
            }
            self.nodes[node].next = edges;
        }
    }
}

fn read_retry(value: &Value, at: String, ctx: &mut Context) -> Option<Retry> {
    let mut f = Fields::new(Some(value), at, "retry", ctx)?;
    let max_attempts = f.integer("maxAttempts", REQUIRED, 1, 100);
    let backoff = f.one_of("backoff", OPTIONAL, &["fixed", "exponential"]);
    let initial_ms = f
        .integer("initialMs", OPTIONAL, 0, 86_400_000)
        .unwrap_or(1000);
    let max_ms = f
        .integer("maxMs", OPTIONAL, 0, 86_400_000)
        .unwrap_or(60_000);
    if max_ms < initial_ms {
        f.error(
            "maxMs",
            format!("'maxMs' ({max_ms}) must not be less than 'initialMs' ({initial_ms})"),
        );
    }
    f.finish();
    Some(Retry {
        max_attempts: max_attempts?,
        exponential: backoff.as_deref() != Some("fixed"),
        initial_ms,
        max_ms,
    })
}

fn read_on_error(f: &mut Fields<'_, '_>) -> DraftOnError {
    let at = f.pointer("onError");
    match f.raw("onError", OPTIONAL) {
        None => DraftOnError::Fail,
        Some(Value::String(s)) if s == "fail" => DraftOnError::Fail,
        Some(Value::String(s)) if s == "continue" => DraftOnError::Continue,
        Some(Value::Object(o)) if o.len() == 1 && o.get("goto").is_some_and(Value::is_string) => {
            let id = o["goto"].as_str().unwrap_or_default().to_owned();
            let pointer = child(&at, "goto");
            DraftOnError::Goto(vec![DraftEdge {
                target: Target::Id { id, pointer },
                when: Condition::Always,
            }])
        }
        Some(_) => {
            f.ctx.report.error(
                at,
                "'onError' must be \"fail\", \"continue\" or {\"goto\": \"<step id>\"}",
            );
            DraftOnError::Fail
        }
    }
}

fn read_context_variables<S>(
    value: Option<&Value>,
    nodes: &[DraftNode<S>],
    ctx: &mut Context,
) -> Vec<String> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        ctx.report.error(
            "/contextVariables",
            format!(
                "'contextVariables' must be an array of names, not {}",
                kind(value)
            ),
        );
        return Vec::new();
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = child("/contextVariables", i);
        match item.as_str() {
            None => ctx.report.error(
                at,
                format!("a context variable must be a name, not {}", kind(item)),
            ),
            Some(name) => {
                if !nodes.iter().any(|n| n.output_var.as_deref() == Some(name)) {
                    ctx.report.warn(
                        &at,
                        format!("no step sets '{name}' as its outputVar, so it is never stored"),
                    );
                }
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}
