//! The Kustomer graph format (seeds 001, 003): `trigger.eventName`, `transitions` with `{op, values}`
//! conditions, `action` + `params`, `errorCases`, and `/#steps.<id>.<path>` references, which are
//! rewritten into ordinary templates (`steps.1` is the trigger data).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::fields::{Context, Fields, OPTIONAL, REQUIRED, TValue, kind};
use super::graph::{Draft, DraftEdge, DraftNode, DraftOnError, Target, expressions_since};
use super::native::read_schema;
use super::{Condition, Op, OpArg, OpCondition, StepCatalog, Trigger};
use crate::problem::child;

pub const SCHEDULE_ACTION: &str = "kustomer.app.scheduler.schedule-workflow";
pub const REST_ACTION: &str = "kustomer.rest-api.json";

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"/#steps\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_$-]+)*)").expect("valid pattern")
});
static CALL_EVENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^kustomer\.workflow\.([^.]+)\.call$").expect("valid pattern"));

const OPS: [(&str, Op); 17] = [
    ("true", Op::True),
    ("false", Op::False),
    ("eq", Op::Eq),
    ("neq", Op::Neq),
    ("gt", Op::Gt),
    ("gte", Op::Gte),
    ("lt", Op::Lt),
    ("lte", Op::Lte),
    ("contains", Op::Contains),
    ("not_contains", Op::NotContains),
    ("in", Op::In),
    ("exists", Op::Exists),
    ("not_exists", Op::NotExists),
    ("regex", Op::Regex),
    ("and", Op::And),
    ("or", Op::Or),
    ("not", Op::Not),
];

pub(crate) fn read<C: StepCatalog>(top: &mut Fields<'_, '_>, catalog: &C) -> Draft<C::Spec> {
    top.raw("id", OPTIONAL); // the app-local id, used when an app is installed
    let trigger_value = top.raw("trigger", REQUIRED);
    let steps_value = top.raw("steps", REQUIRED);
    let ctx = &mut *top.ctx;
    let steps: &[Value] = match steps_value {
        Some(Value::Array(items)) => items,
        Some(other) => {
            ctx.report.error(
                "/steps",
                format!("'steps' must be an array, not {}", kind(other)),
            );
            &[]
        }
        None => &[],
    };
    let ids: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.get("id").and_then(Value::as_str))
        .collect();
    let g = Graph { ids: &ids };
    let (trigger, entry) = match trigger_value {
        Some(v) => g.trigger(v, ctx),
        None => (None, Vec::new()),
    };
    let nodes = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| g.step(s, child("/steps", i), catalog, ctx))
        .collect();
    Draft {
        trigger,
        entry,
        nodes,
        context_variables: Vec::new(),
    }
}

struct Graph<'a> {
    ids: &'a [&'a str],
}

impl Graph<'_> {
    fn trigger(&self, value: &Value, ctx: &mut Context) -> (Option<Trigger>, Vec<DraftEdge>) {
        let Some(mut f) = Fields::new(Some(value), "/trigger", "the trigger", ctx) else {
            return (None, Vec::new());
        };
        f.raw("id", OPTIONAL);
        let event_name = f.string("eventName", REQUIRED);
        let callable = f.boolean("callable", OPTIONAL).unwrap_or(false);
        let schema = read_schema(&mut f);
        let transitions = f.raw("transitions", OPTIONAL);
        let at = f.pointer("transitions");
        f.finish();
        let entry = self.edges(transitions, &at, ctx);
        let trigger = event_name.and_then(|name| {
            if callable || CALL_EVENT.is_match(&name) {
                schema.map(|schema| Trigger::Callable { schema })
            } else if name.trim().is_empty() {
                ctx.report
                    .error("/trigger/eventName", "'eventName' must not be empty");
                None
            } else {
                Some(Trigger::Webhook { event_type: name })
            }
        });
        (trigger, entry)
    }

    fn step<C: StepCatalog>(
        &self,
        value: &Value,
        at: String,
        catalog: &C,
        ctx: &mut Context,
    ) -> Option<DraftNode<C::Spec>> {
        let mut f = Fields::new(Some(value), at.clone(), "a step", ctx)?;
        let id = f.string("id", REQUIRED);
        if id.as_deref() == Some("1") {
            f.error(
                "id",
                "step id '1' is reserved: '/#steps.1' is the trigger data",
            );
        }
        let name = f.string("name", OPTIONAL);
        let action = f.string("action", REQUIRED);
        let params = f.raw("params", OPTIONAL);
        let transitions = f.raw("transitions", OPTIONAL);
        let error_cases = f.raw("errorCases", OPTIONAL);
        let id_pointer = f.pointer("id");
        f.finish();

        let next = self.edges(transitions, &child(&at, "transitions"), ctx);
        let on_error = match self.edges(error_cases, &child(&at, "errorCases"), ctx) {
            edges if edges.is_empty() => DraftOnError::Fail,
            edges => DraftOnError::Goto(edges),
        };
        let params_at = child(&at, "params");
        let params = match params {
            None => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => self.rewrite(p, &params_at, ctx),
            Some(other) => {
                ctx.report.error(
                    &params_at,
                    format!("'params' must be an object, not {}", kind(other)),
                );
                Value::Object(Map::new())
            }
        };
        let mapped = action
            .as_deref()
            .map(|action| (action, map_action(action, params, &at)));
        let step_type = mapped
            .as_ref()
            .map(|(_, (t, ..))| t.to_string())
            .unwrap_or_default();
        let noted = ctx.scripts.len();
        let spec = mapped.and_then(|(action, (step_type, config, config_at, renames))| {
            if !catalog.types().contains(&step_type) {
                return None;
            }
            let mut cf = Fields::new(Some(&config), config_at, format!("'{action}'"), ctx)?
                .with_renames(renames);
            let spec = catalog.parse(step_type, &mut cf);
            cf.finish();
            spec
        });
        Some(DraftNode {
            id: id.unwrap_or_else(|| at.clone()),
            id_pointer,
            pointer: at,
            name,
            step_type,
            spec,
            output_var: None,
            retry: None,
            next,
            on_error,
            scripts: expressions_since(ctx, noted),
        })
    }

    fn edges(&self, value: Option<&Value>, at: &str, ctx: &mut Context) -> Vec<DraftEdge> {
        let items = match value {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                ctx.report.error(
                    at,
                    format!(
                        "must be an array of {{target, condition}}, not {}",
                        kind(other)
                    ),
                );
                return Vec::new();
            }
        };
        let mut edges = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(mut f) = Fields::new(Some(item), child(at, i), "a transition", ctx) else {
                continue;
            };
            let target = f.string("target", REQUIRED);
            let target_at = f.pointer("target");
            let condition = f.raw("condition", OPTIONAL);
            let condition_at = f.pointer("condition");
            f.finish();
            let when = match condition {
                None => Some(Condition::Always),
                Some(c) => self.condition(c, &condition_at, ctx).map(Condition::Op),
            };
            if let (Some(id), Some(when)) = (target, when) {
                edges.push(DraftEdge {
                    target: Target::Id {
                        id,
                        pointer: target_at,
                    },
                    when,
                });
            }
        }
        edges
    }

    fn condition(&self, value: &Value, at: &str, ctx: &mut Context) -> Option<OpCondition> {
        let mut f = Fields::new(Some(value), at, "a condition", ctx)?;
        let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
        let op = f
            .one_of("op", REQUIRED, &names)
            .and_then(|n| OPS.iter().find(|(o, _)| *o == n).map(|(_, op)| *op));
        let values = f.raw("values", !matches!(op, Some(Op::True | Op::False)));
        let values_at = f.pointer("values");
        f.finish();
        let op = op?;
        if matches!(op, Op::True | Op::False) {
            return Some(OpCondition {
                op,
                args: Vec::new(),
            });
        }
        let Some(values) = values?.as_array() else {
            ctx.report.error(&values_at, "'values' must be an array");
            return None;
        };
        let arity = match op {
            Op::Exists | Op::NotExists | Op::Not => Some(1),
            Op::And | Op::Or => None,
            _ => Some(2),
        };
        if arity.is_some_and(|n| values.len() != n) || values.is_empty() {
            let want = arity.map_or("at least 1".to_owned(), |n| n.to_string());
            ctx.report.error(
                &values_at,
                format!(
                    "op '{}' takes {want} values, not {}",
                    OPS.iter().find(|(_, o)| *o == op).map_or("?", |(n, _)| *n),
                    values.len()
                ),
            );
            return None;
        }
        let mut args = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let p = child(&values_at, i);
            if matches!(op, Op::And | Op::Or | Op::Not) {
                args.push(OpArg::Condition(self.condition(v, &p, ctx)?));
                continue;
            }
            if op == Op::Regex && i == 1 {
                match v.as_str().map(Regex::new) {
                    Some(Err(e)) if !v.as_str().unwrap_or_default().contains("{{") => {
                        ctx.report
                            .error(&p, format!("not a valid regular expression: {e}"));
                    }
                    None if !v.is_string() => ctx.report.error(&p, "the pattern must be a string"),
                    _ => {}
                }
            }
            let v = self.rewrite(v, &p, ctx);
            args.push(OpArg::Value(TValue::compile(&v, &p, ctx)));
        }
        Some(OpCondition { op, args })
    }

    /// Replaces `/#steps.<id>.<path>` references by the equivalent template, reporting references to
    /// steps that do not exist.
    fn rewrite(&self, value: &Value, at: &str, ctx: &mut Context) -> Value {
        match value {
            Value::String(s) if s.contains("/#steps.") => {
                let mut out = String::new();
                let mut last = 0;
                for caps in REFERENCE.captures_iter(s) {
                    let whole = caps.get(0).expect("match");
                    let id = &caps[1];
                    if id != "1" && !self.ids.contains(&id) {
                        ctx.report.error(
                            at,
                            format!(
                                "'{}' refers to step '{id}', which does not exist",
                                whole.as_str()
                            ),
                        );
                    }
                    out.push_str(&s[last..whole.start()]);
                    out.push_str(&format!("{{{{{}}}}}", reference_path(id, &caps[2])));
                    last = whole.end();
                }
                out.push_str(&s[last..]);
                Value::String(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.rewrite(v, &child(at, i), ctx))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.rewrite(v, &child(at, k), ctx)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The template path of a reference: `steps.1` is the trigger, any other id a step's output.
fn reference_path(id: &str, path: &str) -> String {
    let mut out = if id == "1" {
        "trigger".to_owned()
    } else {
        format!("steps['{id}'].output")
    };
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if seg.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && !seg.contains('-')
        {
            out.push_str(&format!(".{seg}"));
        } else {
            out.push_str(&format!("['{seg}']"));
        }
    }
    out
}

type Mapped = (
    &'static str,
    Value,
    String,
    &'static [(&'static str, &'static str)],
);

/// The native step an action maps to: its type, config, the config's pointer, and field renames
/// so problems are reported under the names the user wrote.
fn map_action(action: &str, params: Value, step_at: &str) -> Mapped {
    let params_at = child(step_at, "params");
    match action {
        SCHEDULE_ACTION => ("schedule_workflow", params, params_at, &[]),
        REST_ACTION => {
            let mut config = match params {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            if let Some(uri) = config.remove("uri") {
                config.insert("url".into(), uri);
            }
            let json = config
                .remove("json")
                .and_then(|j| j.as_bool())
                .unwrap_or(false);
            if json {
                config.insert("responseFormat".into(), "json".into());
            }
            if let Some(body) = config.remove("body") {
                let format = if json || !body.is_string() {
                    "json"
                } else {
                    "text"
                };
                config.insert(
                    "body".into(),
                    serde_json::json!({"format": format, "content": body}),
                );
            }
            (
                "webhook",
                Value::Object(config),
                params_at,
                &[("url", "uri")],
            )
        }
        _ => {
            let config = serde_json::json!({"webhook": action, "params": params});
            (
                "webhook",
                config,
                step_at.to_owned(),
                &[("webhook", "action")],
            )
        }
    }
}

/// The app-local workflow id a callable trigger's event name carries.
pub fn callable_id(event_name: &str) -> Option<&str> {
    CALL_EVENT
        .captures(event_name)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// An app's definition with its app-local workflow ids replaced by global ones (`global`: local →
/// global): `workflowId` values that name a workflow of the app, and the ids inside
/// `kustomer.workflow.<id>.call` event names. Anything else stays as it is.
pub fn remap_workflow_ids(value: &Value, global: &HashMap<String, String>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if k == "workflowId" && global.contains_key(s) => {
                            Value::String(global[s].clone())
                        }
                        other => remap_workflow_ids(other, global),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| remap_workflow_ids(v, global))
                .collect(),
        ),
        Value::String(s) => match callable_id(s).and_then(|local| global.get(local)) {
            Some(id) => Value::String(format!("kustomer.workflow.{id}.call")),
            None => value.clone(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    #[test]
    fn local_ids_are_remapped_where_the_app_refers_to_them() {
        let global = HashMap::from([("5f8e".to_owned(), "wf_1".to_owned())]);
        let def = json!({
            "trigger": {"eventName": "kustomer.workflow.5f8e.call"},
            "steps": [{"params": {"workflowId": "5f8e", "other": "5f8e", "x": "kustomer.workflow.zz.call"}}]
        });
        assert_eq!(
            super::remap_workflow_ids(&def, &global),
            json!({
                "trigger": {"eventName": "kustomer.workflow.wf_1.call"},
                "steps": [{"params": {"workflowId": "wf_1", "other": "5f8e", "x": "kustomer.workflow.zz.call"}}]
            })
        );
    }
}
