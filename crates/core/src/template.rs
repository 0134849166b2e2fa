//! `{{ … }}` templates, compiled once when a workflow is saved.
//!
//! A template is text and expressions. An expression that is a plain path (`trigger.items[0].sku`,
//! `steps['egu-awuO4'].output.name`) is evaluated here by direct lookup, with JavaScript's result
//! wherever the path exists and `null` where it does not; anything else is JavaScript source for the
//! sandbox.

use serde_json::Value;

/// The roots a template can see (`error` only in Kustomer `errorCases` conditions, `params` only in
/// a saved webhook's templates); a plain path must start with one of them.
pub const ROOTS: [&str; 8] = [
    "trigger",
    "state",
    "variables",
    "steps",
    "store",
    "context",
    "error",
    "params",
];

/// JavaScript's own globals an expression may start with besides the roots.
const JS_GLOBALS: [&str; 22] = [
    "Math",
    "JSON",
    "Date",
    "String",
    "Number",
    "Boolean",
    "Array",
    "Object",
    "RegExp",
    "Intl",
    "parseInt",
    "parseFloat",
    "isNaN",
    "isFinite",
    "encodeURIComponent",
    "decodeURIComponent",
    "encodeURI",
    "decodeURI",
    "undefined",
    "NaN",
    "Infinity",
    "Symbol",
];

/// The object an expression reads from when that is neither a root nor a JavaScript global
/// (`triger.name` → `triger`): it would fail each time it runs.
pub fn unknown_root(source: &str) -> Option<String> {
    let mut rest = source.trim_start();
    let name = take_identifier(&mut rest)?;
    let reads = rest.trim_start().starts_with(['.', '[']);
    (reads && !ROOTS.contains(&name.as_str()) && !JS_GLOBALS.contains(&name.as_str()))
        .then_some(name)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub source: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Path(Path),
    /// JavaScript source, run in the sandbox.
    Js(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("'{{{{' at character {0} has no closing '}}}}'")]
    Unclosed(usize),
    #[error("'}}}}' at character {0} has no opening '{{{{'")]
    UnexpectedClose(usize),
    #[error("empty expression '{{{{}}}}' at character {0}")]
    Empty(usize),
}

impl Template {
    /// Compiles a string that may contain `{{expr}}` parts.
    pub fn compile(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        let mut offset = 0;
        loop {
            let open = rest.find("{{");
            let close = rest.find("}}");
            match (open, close) {
                (None, None) => {
                    text.push_str(rest);
                    break;
                }
                (open, Some(c)) if open.is_none_or(|o| c < o) => {
                    return Err(TemplateError::UnexpectedClose(char_pos(source, offset + c)));
                }
                (Some(o), _) => {
                    text.push_str(&rest[..o]);
                    let body = &rest[o + 2..];
                    let end = expression_end(body)
                        .ok_or(TemplateError::Unclosed(char_pos(source, offset + o)))?;
                    let expr = body[..end].trim();
                    if expr.is_empty() {
                        return Err(TemplateError::Empty(char_pos(source, offset + o)));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Expr(Expr::parse(expr)));
                    let consumed = o + 2 + end + 2;
                    offset += consumed;
                    rest = &rest[consumed..];
                }
                (None, Some(_)) => unreachable!("handled by the guard above"),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// The single expression when the whole string is exactly one `{{expr}}`: its value keeps its
    /// JSON type instead of becoming text.
    pub fn whole_expression(&self) -> Option<&Expr> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => Some(e),
            _ => None,
        }
    }

    /// The text when the template holds no expression.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// The literal text before the first expression.
    pub fn leading_text(&self) -> &str {
        match self.parts.first() {
            Some(Part::Text(t)) => t,
            _ => "",
        }
    }

    pub fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Text(_) => None,
        })
    }
}

impl Expr {
    /// Classifies a bare expression (the inside of `{{…}}`, or a condition).
    pub fn parse(source: &str) -> Expr {
        let source = source.trim();
        match Path::parse(source) {
            Some(p) if ROOTS.contains(&p.root.as_str()) => Expr::Path(p),
            _ => Expr::Js(source.to_owned()),
        }
    }
}

/// The offset of the `}}` that closes an expression, skipping braces and string literals of the
/// JavaScript inside (so `{{ {a: {b: 1}} }}` and `{{ "}}" }}` work).
fn expression_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => depth += 1,
            b'}' if depth == 0 => return (bytes.get(i + 1) == Some(&b'}')).then_some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn char_pos(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

impl Path {
    /// Parses `root(.name | [N] | ['key'] | ["key"])*`; `None` when the source is anything else.
    pub fn parse(source: &str) -> Option<Path> {
        let mut rest = source;
        let root = take_identifier(&mut rest)?;
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
                segments.push(Segment::Key(take_identifier(&mut rest)?));
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']')?;
                let inner = &r[..end];
                rest = &r[end + 1..];
                segments.push(
                    if let Some(q) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
                        let key = inner.strip_prefix(q)?.strip_suffix(q)?;
                        if key.contains([q, '\\']) {
                            return None;
                        }
                        Segment::Key(key.to_owned())
                    } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                        if inner.len() > 1 && inner.starts_with('0') {
                            return None; // `a[01]` is `a["1"]` in JS only by accident; leave it to JS
                        }
                        Segment::Index(inner.parse().ok()?)
                    } else {
                        return None;
                    },
                );
            } else {
                return None;
            }
        }
        Some(Path { root, segments })
    }

    /// Looks the path up in `scope`. Never fails: a missing link yields `null`. `length` of a
    /// string counts UTF-16 units and indexing a string gives one unit, as JavaScript does.
    pub fn lookup(&self, scope: &Scope) -> Value {
        let mut segments = self.segments.iter();
        let start = if self.root == "context" {
            match segments.next() {
                None => return scope.context(),
                Some(Segment::Key(k)) if k != "error" && k != "params" => scope.root(k),
                Some(_) => None,
            }
        } else {
            scope.root(&self.root)
        };
        let Some(mut current) = start else {
            return Value::Null;
        };
        while let Some(seg) = segments.next() {
            let next = match (seg, current) {
                (Segment::Key(k), Value::Object(map)) => map.get(k),
                (Segment::Index(i), Value::Array(a)) => a.get(*i),
                (Segment::Index(i), Value::Object(map)) => map.get(&i.to_string()),
                (Segment::Key(k), Value::Array(a)) if k != "length" => {
                    k.parse::<usize>().ok().and_then(|i| a.get(i))
                }
                // Computed values (a length, one UTF-16 unit) end the walk: nothing below them
                // but `.length` of a one-unit string, which is 1.
                (seg, value) => return computed(seg, value, segments.as_slice()),
            };
            match next {
                Some(v) => current = v,
                None => return Value::Null,
            }
        }
        current.clone()
    }
}

/// What a segment gives on a value that has no stored child there: `length` of an array or a
/// string, or one unit of a string; then the rest of the path applies to that computed value.
fn computed(seg: &Segment, value: &Value, rest: &[Segment]) -> Value {
    let v = match (seg, value) {
        (Segment::Key(k), Value::Array(a)) if k == "length" => Value::from(a.len()),
        (Segment::Key(k), Value::String(s)) if k == "length" => {
            Value::from(s.encode_utf16().count())
        }
        (Segment::Index(i), Value::String(s)) => utf16_unit(s, *i),
        (Segment::Key(k), Value::String(s)) => {
            k.parse::<usize>().map_or(Value::Null, |i| utf16_unit(s, i))
        }
        _ => Value::Null,
    };
    match rest.split_first() {
        None => v,
        Some((next, rest)) => computed(next, &v, rest),
    }
}

/// The values templates and scripts see. `context` is all of them but `error` in one object.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub trigger: &'a Value,
    pub state: &'a Value,
    pub variables: &'a Value,
    pub steps: &'a Value,
    pub store: &'a Value,
    /// Only in Kustomer `errorCases` conditions: `{code, message, status?}`.
    pub error: Option<&'a Value>,
    /// Only in a saved webhook's templates: the calling step's resolved `params`.
    pub params: Option<&'a Value>,
}

impl<'a> Scope<'a> {
    /// A scope holding only the trigger data (what a trigger's own conditions can see).
    pub fn of_trigger(trigger: &'a Value) -> Scope<'a> {
        static EMPTY: std::sync::LazyLock<Value> =
            std::sync::LazyLock::new(|| Value::Object(Default::default()));
        Scope {
            trigger,
            state: &EMPTY,
            variables: &EMPTY,
            steps: &EMPTY,
            store: &EMPTY,
            error: None,
            params: None,
        }
    }

    pub fn root(&self, name: &str) -> Option<&'a Value> {
        match name {
            "trigger" => Some(self.trigger),
            "state" => Some(self.state),
            "variables" => Some(self.variables),
            "steps" => Some(self.steps),
            "store" => Some(self.store),
            "error" => self.error,
            "params" => self.params,
            _ => None,
        }
    }

    /// The `context` object, built on demand (only a path that is `context` alone needs it).
    pub fn context(&self) -> Value {
        serde_json::json!({
            "trigger": self.trigger, "state": self.state, "variables": self.variables,
            "steps": self.steps, "store": self.store,
        })
    }
}

fn utf16_unit(s: &str, i: usize) -> Value {
    s.encode_utf16().nth(i).map_or(Value::Null, |u| {
        Value::String(String::from_utf16_lossy(&[u]))
    })
}

fn take_identifier(rest: &mut &str) -> Option<String> {
    let s = *rest;
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return None,
    }
    let end = chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '$'))
        .map_or(s.len(), |(i, _)| i);
    *rest = &s[end..];
    Some(s[..end].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_roots_are_named() {
        use super::unknown_root;
        assert_eq!(unknown_root("triger.name").as_deref(), Some("triger"));
        assert_eq!(unknown_root(" stat['x'] ").as_deref(), Some("stat"));
        for fine in [
            "trigger.name",
            "Math.max(1, 2)",
            "JSON.stringify(state)",
            "!trigger.x",
            "1 + 2",
            "x",
        ] {
            assert_eq!(unknown_root(fine), None, "{fine}");
        }
    }

    use super::*;
    use serde_json::json;

    fn path(s: &str) -> Path {
        match Expr::parse(s) {
            Expr::Path(p) => p,
            other => panic!("{s} compiled to {other:?}"),
        }
    }

    #[test]
    fn plain_paths_are_recognised() {
        let p = path("trigger.items[0]['sku-x'].length");
        assert_eq!(p.root, "trigger");
        assert_eq!(
            p.segments,
            [
                Segment::Key("items".into()),
                Segment::Index(0),
                Segment::Key("sku-x".into()),
                Segment::Key("length".into())
            ]
        );
        for js in [
            "trigger.fullName.split(' ')[0]",
            "a.b",
            "trigger.x + 1",
            "trigger[i]",
            "Math.PI",
        ] {
            assert!(matches!(Expr::parse(js), Expr::Js(_)), "{js}");
        }
    }

    #[test]
    fn text_and_expressions_split() {
        let t = Template::compile("R$ {{ trigger.cartValue }}!").unwrap();
        assert_eq!(t.parts.len(), 3);
        assert!(t.whole_expression().is_none());
        let whole = Template::compile("{{trigger.items}}").unwrap();
        assert!(matches!(whole.whole_expression(), Some(Expr::Path(_))));
        assert_eq!(Template::compile("plain").unwrap().literal(), Some("plain"));
    }

    #[test]
    fn braces_and_strings_inside_expressions() {
        let t = Template::compile("{{ ({a: {b: '}}'}}).a.b }} end").unwrap();
        assert_eq!(
            t.parts[0],
            Part::Expr(Expr::Js("({a: {b: '}}'}}).a.b".into()))
        );
    }

    #[test]
    fn delimiter_errors_name_the_position() {
        assert_eq!(
            Template::compile("Hi {{trigger.name"),
            Err(TemplateError::Unclosed(3))
        );
        assert_eq!(Template::compile("Hi {{  }}"), Err(TemplateError::Empty(3)));
        assert_eq!(
            Template::compile("a }} b"),
            Err(TemplateError::UnexpectedClose(2))
        );
        assert_eq!(
            Template::compile("{{a}} }}"),
            Err(TemplateError::UnexpectedClose(6))
        );
    }

    #[test]
    fn lookup_matches_javascript() {
        let trigger = json!({"items": [{"sku": "a"}, 2], "name": "Zoë 😀", "o": {"length": 7}});
        let roots = Scope::of_trigger(&trigger);
        assert_eq!(path("trigger.items.length").lookup(&roots), json!(2));
        assert_eq!(path("trigger.items[0].sku").lookup(&roots), json!("a"));
        assert_eq!(
            path("trigger.name.length").lookup(&roots),
            json!(6),
            "UTF-16 units, like JS"
        );
        assert_eq!(path("trigger.name[0]").lookup(&roots), json!("Z"));
        assert_eq!(path("trigger.o.length").lookup(&roots), json!(7));
        assert_eq!(
            path("trigger.missing.deeper[3]").lookup(&roots),
            Value::Null
        );
        assert_eq!(path("state.x").lookup(&roots), Value::Null);
        assert_eq!(path("context.trigger.items[1]").lookup(&roots), json!(2));
        assert_eq!(path("trigger.name[0].length").lookup(&roots), json!(1));
        assert_eq!(path("trigger.items.length.x").lookup(&roots), Value::Null);
    }
}
