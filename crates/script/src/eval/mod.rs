//! Evaluating compiled templates and conditions (docs/workflows.md "Templates"): plain paths by direct
//! lookup, everything else in the sandbox.

use serde_json::{Map, Value};
use switchboard_core::template::{Expr, Part, Scope, Template};
use switchboard_core::workflow::{Condition, Op, OpArg, OpCondition, TValue};

use crate::{ScriptError, eval_expression};

mod computed;
pub use computed::{Computed, Scripts, scripts_of};

/// An expression that failed; the message names it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expression `{expression}` failed: {error}")]
pub struct EvalError {
    pub expression: String,
    pub error: ScriptError,
}

impl EvalError {
    /// The step error code (`expression_error`, `script_timeout`, `script_memory`).
    pub fn code(&self) -> &'static str {
        self.error.code(false)
    }
}

/// What templates are evaluated against: a scope, and the values of its JavaScript expressions
/// computed ahead on the JS threads ([`Computed::of`]), so that evaluating here only looks them up.
#[derive(Clone, Copy)]
pub struct Evaluator<'a> {
    pub scope: Scope<'a>,
    computed: Option<&'a Computed>,
}

impl<'a> Evaluator<'a> {
    /// Looks JavaScript up in `computed`, which must have been computed for this `scope`.
    pub fn with(scope: Scope<'a>, computed: &'a Computed) -> Evaluator<'a> {
        Evaluator {
            scope,
            computed: Some(computed),
        }
    }

    /// Runs JavaScript on this thread: only on the JS threads, and in tests.
    pub fn here(scope: Scope<'a>) -> Evaluator<'a> {
        Evaluator {
            scope,
            computed: None,
        }
    }

    fn js(&self, source: &str, as_text: bool) -> Result<Value, ScriptError> {
        match self.computed.map(|c| c.get(source, as_text)) {
            Some(Some(result)) => result,
            Some(None) => {
                debug_assert!(false, "`{source}` was not computed ahead");
                eval_expression(source, &self.scope, as_text)
            }
            None => eval_expression(source, &self.scope, as_text),
        }
    }

    fn expression(&self, expr: &Expr, as_text: bool) -> Result<Value, EvalError> {
        match expr {
            Expr::Path(p) => {
                let v = p.lookup(&self.scope);
                Ok(if as_text {
                    Value::String(text_of(&v))
                } else {
                    v
                })
            }
            Expr::Js(source) => self.js(source, as_text).map_err(|error| EvalError {
                expression: source.clone(),
                error,
            }),
        }
    }

    /// A template's value: exactly one `{{expr}}` keeps the expression's JSON type; text mixed
    /// with expressions becomes a string.
    pub fn template(&self, t: &Template) -> Result<Value, EvalError> {
        match t.whole_expression() {
            Some(e) => self.expression(e, false),
            None => self.text(t).map(Value::String),
        }
    }

    /// A template as text, whatever its parts (URLs, phone numbers, message bodies).
    pub fn text(&self, t: &Template) -> Result<String, EvalError> {
        self.text_escaped(t, |s, out| out.push_str(s))
    }

    /// A template as text whose substituted values pass through `escape` (an XML body escapes
    /// them; the template's own text is written as it is).
    pub fn text_escaped(
        &self,
        t: &Template,
        escape: impl Fn(&str, &mut String),
    ) -> Result<String, EvalError> {
        let mut out = String::new();
        for part in &t.parts {
            match part {
                Part::Text(s) => out.push_str(s),
                Part::Expr(e) => match self.expression(e, true)? {
                    Value::String(s) => escape(&s, &mut out),
                    other => escape(&text_of(&other), &mut out),
                },
            }
        }
        Ok(out)
    }

    /// A JSON value whose strings are templates.
    pub fn value(&self, v: &TValue) -> Result<Value, EvalError> {
        Ok(match v {
            TValue::Literal(v) => v.clone(),
            TValue::Template(t) => self.template(t)?,
            TValue::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Result<_, _>>()?,
            ),
            TValue::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (k, v) in fields {
                    map.insert(k.clone(), self.value(v)?);
                }
                Value::Object(map)
            }
        })
    }

    /// Whether an edge's condition holds.
    pub fn condition(&self, c: &Condition) -> Result<bool, EvalError> {
        match c {
            Condition::Always => Ok(true),
            Condition::Expr(e) => self.expression(e, false).map(|v| truthy(&v)),
            Condition::Op(op) => self.op_condition(op),
        }
    }

    fn arg(&self, a: &OpArg) -> Result<Value, EvalError> {
        match a {
            OpArg::Value(v) => self.value(v),
            OpArg::Condition(c) => self.op_condition(c).map(Value::Bool),
        }
    }

    /// A Kustomer `{op, values}` condition (docs/workflows.md's table).
    pub fn op_condition(&self, c: &OpCondition) -> Result<bool, EvalError> {
        let nested = |i: usize| -> Result<bool, EvalError> {
            match c.args.get(i) {
                Some(OpArg::Condition(n)) => self.op_condition(n),
                Some(a) => self.arg(a).map(|v| truthy(&v)),
                None => Ok(false),
            }
        };
        let values = |n: usize| -> Result<Vec<Value>, EvalError> {
            (0..n)
                .map(|i| c.args.get(i).map_or(Ok(Value::Null), |a| self.arg(a)))
                .collect()
        };
        Ok(match c.op {
            Op::True => true,
            Op::False => false,
            Op::Eq | Op::Neq => {
                let v = values(2)?;
                equal(&v[0], &v[1]) == (c.op == Op::Eq)
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let v = values(2)?;
                compare(&v[0], &v[1]).is_some_and(|o| match c.op {
                    Op::Gt => o.is_gt(),
                    Op::Gte => o.is_ge(),
                    Op::Lt => o.is_lt(),
                    _ => o.is_le(),
                })
            }
            Op::Contains | Op::NotContains => {
                let v = values(2)?;
                contains(&v[0], &v[1]) == (c.op == Op::Contains)
            }
            Op::In => {
                let v = values(2)?;
                contains(&v[1], &v[0]) && v[1].is_array()
            }
            Op::Exists | Op::NotExists => values(1)?[0].is_null() != (c.op == Op::Exists),
            Op::Regex => {
                let v = values(2)?;
                match (v[0].as_str(), v[1].as_str()) {
                    (Some(s), Some(p)) => regex::Regex::new(p).is_ok_and(|r| r.is_match(s)),
                    _ => false,
                }
            }
            Op::And => {
                for i in 0..c.args.len() {
                    if !nested(i)? {
                        return Ok(false);
                    }
                }
                true
            }
            Op::Or => {
                for i in 0..c.args.len() {
                    if nested(i)? {
                        return Ok(true);
                    }
                }
                false
            }
            Op::Not => !nested(0)?,
        })
    }
}

/// JavaScript's truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A value as JavaScript's `String()` shows it inside text; objects and arrays as compact JSON,
/// `null` as "".
pub fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => js_number(f),
            _ => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

/// `String(f)` in JavaScript: shortest round-trip digits, exponent form outside [1e-6, 1e21).
fn js_number(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        return f.to_string();
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

/// Numbers compare as numbers, everything else as JSON values.
fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::String(s) => match needle {
            Value::Null => false,
            n => s.contains(text_of(n).as_str()),
        },
        Value::Array(items) => items.iter().any(|i| equal(i, needle)),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
