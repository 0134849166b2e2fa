//! Reading user objects field by field. Each getter reports its own problem with the field's
//! pointer, so validation is total (every bad field is named, not just the first), and whatever
//! a reader never asked for is reported as an unknown field: kept, with a warning.

use serde_json::{Map, Value};

use super::Reference;
use crate::problem::{Report, child};
use crate::template::Template;

pub const REQUIRED: bool = true;
pub const OPTIONAL: bool = false;

/// Settings that change what validation accepts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Permit literal `http://` URLs (`SWITCHBOARD_OUTBOUND_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Checks made when a definition is saved or validated, not when a stored version is loaded
    /// (stored versions keep running): e.g. a literal `delay.until` must be a time.
    pub strict: bool,
}

/// What one validation pass collects: problems, and references that only a store can resolve.
#[derive(Debug, Default)]
pub struct Context {
    pub report: Report,
    pub options: Options,
    pub references: Vec<Reference>,
    /// Every JavaScript source met, for the sandbox's syntax check (core itself runs no JS).
    pub scripts: Vec<Script>,
}

/// JavaScript found in a definition, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub pointer: String,
    pub source: String,
    /// A `custom_code` body (statements with `return`) rather than an expression.
    pub is_code: bool,
}

impl Context {
    /// Notes the JavaScript expressions of a template for the syntax check.
    pub fn note_template(&mut self, pointer: &str, template: &Template) {
        for e in template.expressions() {
            self.note_expr(pointer, e);
        }
    }

    pub fn note_expr(&mut self, pointer: &str, expr: &crate::template::Expr) {
        if let crate::template::Expr::Js(source) = expr {
            self.scripts.push(Script {
                pointer: pointer.to_owned(),
                source: source.clone(),
                is_code: false,
            });
        }
    }
}

/// A JSON value whose strings are compiled templates. Subtrees without templates stay literal, so
/// resolving them at run time is a clone.
#[derive(Debug, Clone, PartialEq)]
pub enum TValue {
    Literal(Value),
    Template(Template),
    Array(Vec<TValue>),
    Object(Vec<(String, TValue)>),
}

impl TValue {
    pub fn compile(value: &Value, pointer: &str, ctx: &mut Context) -> TValue {
        match value {
            Value::String(s) => match Template::compile(s) {
                Ok(t) if t.literal().is_some() => TValue::Literal(value.clone()),
                Ok(t) => {
                    ctx.note_template(pointer, &t);
                    TValue::Template(t)
                }
                Err(e) => {
                    ctx.report.error(pointer, format!("invalid template: {e}"));
                    TValue::Literal(value.clone())
                }
            },
            Value::Array(items) => {
                let items: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| TValue::compile(v, &child(pointer, i), ctx))
                    .collect();
                if items.iter().all(|t| matches!(t, TValue::Literal(_))) {
                    TValue::Literal(value.clone())
                } else {
                    TValue::Array(items)
                }
            }
            Value::Object(map) => {
                let fields: Vec<_> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), TValue::compile(v, &child(pointer, k), ctx)))
                    .collect();
                if fields.iter().all(|(_, t)| matches!(t, TValue::Literal(_))) {
                    TValue::Literal(value.clone())
                } else {
                    TValue::Object(fields)
                }
            }
            _ => TValue::Literal(value.clone()),
        }
    }
}

/// A reader over one JSON object of a definition.
pub struct Fields<'v, 'c> {
    map: &'v Map<String, Value>,
    at: String,
    /// What the object is, for messages ("config of delay", "trigger").
    what: String,
    used: Vec<&'v str>,
    /// Field names as the user wrote them, for objects translated from another format.
    renames: &'static [(&'static str, &'static str)],
    pub ctx: &'c mut Context,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'v, 'c> Fields<'v, 'c> {
    /// A reader over `value`, which must be an object (or absent/null, read as `{}`).
    pub fn new(
        value: Option<&'v Value>,
        at: impl Into<String>,
        what: impl Into<String>,
        ctx: &'c mut Context,
    ) -> Option<Self> {
        let at = at.into();
        let map = match value {
            None | Some(Value::Null) => &*EMPTY,
            Some(Value::Object(m)) => m,
            Some(other) => {
                ctx.report.error(
                    &at,
                    format!("{} must be an object, not {}", what.into(), kind(other)),
                );
                return None;
            }
        };
        Some(Fields {
            map,
            at,
            what: what.into(),
            used: Vec::new(),
            renames: &[],
            ctx,
        })
    }

    pub fn with_renames(mut self, renames: &'static [(&'static str, &'static str)]) -> Self {
        self.renames = renames;
        self
    }

    pub fn at(&self) -> &str {
        &self.at
    }

    pub fn pointer(&self, key: &str) -> String {
        let key = self
            .renames
            .iter()
            .find(|(native, _)| *native == key)
            .map_or(key, |(_, original)| original);
        child(&self.at, key)
    }

    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let p = self.pointer(key);
        self.ctx.report.error(p, message);
    }

    pub fn present(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// The raw value, marking the field as known. Reports a missing required field.
    pub fn raw(&mut self, key: &str, required: bool) -> Option<&'v Value> {
        if let Some((k, _)) = self.map.get_key_value(key) {
            self.used.push(k.as_str());
        }
        match self.map.get(key) {
            Some(Value::Null) | None => {
                if required {
                    let p = self.at.clone();
                    let what = self.what.clone();
                    let key = self
                        .renames
                        .iter()
                        .find(|(n, _)| *n == key)
                        .map_or(key, |(_, o)| o);
                    self.ctx
                        .report
                        .error(p, format!("{what}: missing required field '{key}'"));
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    fn typed<T>(
        &mut self,
        key: &str,
        required: bool,
        expected: &str,
        get: impl Fn(&'v Value) -> Option<T>,
    ) -> Option<T> {
        let v = self.raw(key, required)?;
        let got = get(v);
        if got.is_none() {
            self.error(key, format!("'{key}' must be {expected}, not {}", kind(v)));
        }
        got
    }

    /// A literal string (no templates).
    pub fn string(&mut self, key: &str, required: bool) -> Option<String> {
        self.typed(key, required, "a string", |v| v.as_str().map(str::to_owned))
    }

    pub fn boolean(&mut self, key: &str, required: bool) -> Option<bool> {
        self.typed(key, required, "a boolean", Value::as_bool)
    }

    pub fn number(&mut self, key: &str, required: bool, min: f64, max: f64) -> Option<f64> {
        let n = self.typed(key, required, "a number", Value::as_f64)?;
        self.in_range(key, n, min, max)
    }

    pub fn integer(&mut self, key: &str, required: bool, min: u64, max: u64) -> Option<u64> {
        let n = self.typed(key, required, "a whole number", Value::as_u64)?;
        self.in_range(key, n, min, max)
    }

    fn in_range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        key: &str,
        n: T,
        min: T,
        max: T,
    ) -> Option<T> {
        if n < min || n > max {
            self.error(
                key,
                format!("'{key}' must be between {min} and {max}, not {n}"),
            );
            return None;
        }
        Some(n)
    }

    /// A literal string from a fixed set.
    pub fn one_of(&mut self, key: &str, required: bool, allowed: &[&str]) -> Option<String> {
        let s = self.string(key, required)?;
        if !allowed.contains(&s.as_str()) {
            self.error(
                key,
                format!("'{key}' must be one of {}, not '{s}'", quoted(allowed)),
            );
            return None;
        }
        Some(s)
    }

    /// A string template.
    pub fn template(&mut self, key: &str, required: bool) -> Option<Template> {
        let s = self.typed(key, required, "a string", Value::as_str)?;
        match Template::compile(s) {
            Ok(t) => {
                let p = self.pointer(key);
                self.ctx.note_template(&p, &t);
                Some(t)
            }
            Err(e) => {
                self.error(key, format!("invalid template: {e}"));
                None
            }
        }
    }

    /// A string template holding a URL: a literal `http://` scheme is refused unless allowed.
    pub fn url(&mut self, key: &str, required: bool) -> Option<Template> {
        let t = self.template(key, required)?;
        let lead = t.leading_text().to_ascii_lowercase();
        if lead.starts_with("http://") && !self.ctx.options.allow_http {
            self.error(key, "plain http:// URLs are refused: use https:// (or set SWITCHBOARD_OUTBOUND_ALLOW_HTTP=true)");
            return None;
        }
        if let Some(literal) = t.literal() {
            let rest = literal
                .strip_prefix("https://")
                .or_else(|| literal.strip_prefix("http://"));
            if rest.is_none_or(|r| r.split(['/', '?', '#']).next().is_none_or(str::is_empty)) {
                self.error(key, format!("'{literal}' is not an absolute https:// URL"));
                return None;
            }
        }
        Some(t)
    }

    /// Any JSON value; its strings are templates.
    pub fn value(&mut self, key: &str, required: bool) -> Option<TValue> {
        let v = self.raw(key, required)?;
        let p = self.pointer(key);
        Some(TValue::compile(v, &p, self.ctx))
    }

    /// A JSON object whose strings are templates.
    pub fn object(&mut self, key: &str, required: bool) -> Option<TValue> {
        let v = self.typed(key, required, "an object", |v| v.is_object().then_some(v))?;
        let p = self.pointer(key);
        Some(TValue::compile(v, &p, self.ctx))
    }

    /// Records something only a store can check (a saved webhook's name, a workflow id).
    pub fn reference(&mut self, key: &str, reference: impl FnOnce(String) -> Reference) {
        let p = self.pointer(key);
        self.ctx.references.push(reference(p));
    }

    /// Warns about every field no getter asked for.
    pub fn finish(self) {
        for key in self.map.keys() {
            if !self.used.contains(&key.as_str()) {
                let p = child(&self.at, key);
                self.ctx.report.warn(
                    p,
                    format!("unknown field '{key}' in {}: kept, not used", self.what),
                );
            }
        }
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
