//! A step's JavaScript expressions, computed ahead in one hop to the JS threads (see
//! [`crate::threads`]); the step's templates then evaluate where they are, looking them up.

use std::collections::HashMap;

use switchboard_core::template::{Expr, Part, Scope, Template};
use switchboard_core::workflow::{Condition, Edge, OpArg, OpCondition, TValue};

use serde_json::Value;

use crate::ScriptError;
use crate::sandbox::{Evaluated, RootTexts, evaluate};
use crate::threads::{Lane, Lost, on_js_thread};

/// What expressions gave over one scope, by source.
#[derive(Debug, Default)]
pub struct Computed(HashMap<String, Result<Evaluated, ScriptError>>);

impl Computed {
    /// Computes `sources` over `scope` on the JS threads, in `store`'s turn. No sources, no hop.
    pub async fn of(store: &str, scope: &Scope<'_>, sources: &[&str]) -> Computed {
        let mut unique: Vec<String> = Vec::with_capacity(sources.len());
        for s in sources {
            if !unique.iter().any(|u| u == s) {
                unique.push((*s).to_owned());
            }
        }
        if unique.is_empty() {
            return Computed::default();
        }
        let roots = RootTexts::of_all(sources, scope);
        let job = move || {
            unique
                .into_iter()
                .map(|source| {
                    let result = evaluate(&source, &roots);
                    (source, result)
                })
                .collect()
        };
        match on_js_thread(store, Lane::Expressions, job).await {
            Ok(map) => Computed(map),
            Err(Lost) => Computed(
                sources
                    .iter()
                    .map(|s| {
                        (
                            (*s).to_owned(),
                            Err(ScriptError::Exception(Lost.to_string())),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// The value of `source`, as JSON or as text; `None` when it was not computed.
    pub fn get(&self, source: &str, as_text: bool) -> Option<Result<Value, ScriptError>> {
        self.0
            .get(source)
            .map(|r| r.clone().and_then(|e| e.get(as_text)))
    }
}

/// Things holding templates, whose JavaScript sources can be listed.
pub trait Scripts: Sync {
    /// Appends the JavaScript sources (not plain paths) to `out`.
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>);
}

impl Scripts for Expr {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        if let Expr::Js(source) = self {
            out.push(source);
        }
    }
}

impl Scripts for Template {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        for part in &self.parts {
            if let Part::Expr(e) = part {
                e.scripts(out);
            }
        }
    }
}

impl Scripts for TValue {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            TValue::Literal(_) => {}
            TValue::Template(t) => t.scripts(out),
            TValue::Array(items) => items.iter().for_each(|i| i.scripts(out)),
            TValue::Object(fields) => fields.iter().for_each(|(_, v)| v.scripts(out)),
        }
    }
}

impl Scripts for OpCondition {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        for arg in &self.args {
            match arg {
                OpArg::Value(v) => v.scripts(out),
                OpArg::Condition(c) => c.scripts(out),
            }
        }
    }
}

impl Scripts for Condition {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::Always => {}
            Condition::Expr(e) => e.scripts(out),
            Condition::Op(op) => op.scripts(out),
        }
    }
}

impl Scripts for [Edge] {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        self.iter().for_each(|e| e.when.scripts(out));
    }
}

impl<T: Scripts + ?Sized> Scripts for &T {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        (**self).scripts(out);
    }
}

impl<T: Scripts> Scripts for Option<T> {
    fn scripts<'a>(&'a self, out: &mut Vec<&'a str>) {
        if let Some(t) = self {
            t.scripts(out);
        }
    }
}

/// The JavaScript sources of `items`.
pub fn scripts_of<'a>(items: &[&'a dyn Scripts]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for &item in items {
        item.scripts(&mut out);
    }
    out
}
