//! The QuickJS sandbox. A full context holds only the language's intrinsics: no I/O, no module
//! loader, no host functions. Values cross the boundary as JSON text (QuickJS's own parser on the
//! way in, `JSON.stringify` on the way out), so scripts never hold a host object.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Persistent, Runtime};
use serde_json::Value;
use switchboard_core::template::Scope;

use crate::ScriptError;
use crate::memory::Deadline;

/// Limits of the sandbox (docs/protocols.md §7: `SWITCHBOARD_SCRIPT_*`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// A template expression or condition.
    pub expression_timeout: Duration,
    /// A `custom_code` step, unless its `timeoutMs` says otherwise.
    pub code_timeout: Duration,
    pub memory_bytes: usize,
    pub stack_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            expression_timeout: Duration::from_millis(50),
            code_timeout: Duration::from_millis(1000),
            memory_bytes: 32 << 20,
            stack_bytes: 256 << 10,
        }
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Sets the limits once, at start; later calls are ignored.
pub fn configure(limits: Limits) {
    let _ = LIMITS.set(limits);
}

pub(crate) fn limits() -> &'static Limits {
    LIMITS.get_or_init(Limits::default)
}

impl Limits {
    /// The limits in force.
    pub fn current() -> &'static Limits {
        limits()
    }
}

/// The parameters every compiled function takes, in order: the roots of a [`Scope`].
const PARAMS: &str = "trigger, state, variables, steps, store, error, params";

/// Cached compiled expressions per thread, at most.
const CACHE_SIZE: usize = 4096;

/// A runtime with its deadline: the interrupt handler stops the script once it passes.
struct Guarded {
    context: Context,
    deadline: Arc<Deadline>,
    /// Raised when the runtime was refused memory.
    refused: Arc<AtomicBool>,
}

impl Guarded {
    fn new() -> Result<Guarded, ScriptError> {
        let limits = limits();
        let deadline = Arc::new(Deadline::default());
        let (allocator, refused) =
            crate::memory::Limited::new(limits.memory_bytes, deadline.clone());
        let runtime = Runtime::new_with_alloc(allocator)
            .map_err(|e| ScriptError::Exception(e.to_string()))?;
        runtime.set_max_stack_size(limits.stack_bytes);
        let watch = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || watch.passed())));
        let context = Context::full(&runtime).map_err(|e| ScriptError::Exception(e.to_string()))?;
        Ok(Guarded {
            context,
            deadline,
            refused,
        })
    }

    /// Runs `f` with the deadline armed; maps limit hits to their errors.
    fn run<R>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&Ctx<'_>) -> Result<R, String>,
    ) -> Result<R, ScriptError> {
        self.deadline.arm(timeout);
        let result = self.context.with(|ctx| f(&ctx));
        self.deadline.disarm();
        result.map_err(|message| {
            if self.deadline.fired() {
                ScriptError::Timeout(timeout.as_millis() as u64)
            } else if self.out_of_memory(&message) {
                ScriptError::Memory((limits().memory_bytes >> 20) as u64)
            } else {
                ScriptError::Exception(message)
            }
        })
    }

    /// Whether a failure came from the memory limit (see [`crate::memory`]).
    fn out_of_memory(&self, failure: &str) -> bool {
        failure.contains("out of memory") || self.refused.load(Ordering::Relaxed)
    }
}

/// The per-thread pooled context for expressions: intrinsics frozen, so nothing an expression
/// does (a global, a changed prototype) is seen by the next one.
struct Pooled {
    // Declared first so the functions are released before their runtime is freed.
    functions: HashMap<String, Persistent<Function<'static>>>,
    guarded: Guarded,
}

thread_local! {
    static POOL: RefCell<Option<Pooled>> = const { RefCell::new(None) };
}

const FREEZE: &str = r#"(() => {
  const seen = new Set();
  const freeze = (o) => {
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) return;
    seen.add(o);
    Object.freeze(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d) { freeze(d.value); freeze(d.get); freeze(d.set); }
    }
    freeze(Object.getPrototypeOf(o));
  };
  freeze(globalThis);
})()"#;

impl Pooled {
    fn new() -> Result<Pooled, ScriptError> {
        let guarded = Guarded::new()?;
        guarded.run(Duration::from_secs(5), |ctx| {
            ctx.eval::<(), _>(FREEZE).catch(ctx).map_err(describe)
        })?;
        Ok(Pooled {
            guarded,
            functions: HashMap::new(),
        })
    }
}

/// Runs `f` on this thread's runtime in `slot`, creating it if needed and discarding it after a
/// limit was hit (its heap may be exhausted or its state half-changed).
fn in_slot<T: 'static, R>(
    slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    create: impl FnOnce() -> Result<T, ScriptError>,
    f: impl FnOnce(&mut T) -> Result<R, ScriptError>,
) -> Result<R, ScriptError> {
    slot.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(create()?);
        }
        let result = f(slot.as_mut().expect("just created"));
        if matches!(
            result,
            Err(ScriptError::Timeout(_) | ScriptError::Memory(_))
        ) {
            *slot = None;
        }
        result
    })
}

/// Runs `f` on this thread's pooled expression context.
fn with_pool<R>(f: impl FnOnce(&mut Pooled) -> Result<R, ScriptError>) -> Result<R, ScriptError> {
    in_slot(&POOL, Pooled::new, f)
}

fn expression_function(source: &str) -> String {
    format!(
        "(function ({PARAMS}) {{ \"use strict\"; const context = {{ trigger, state, variables, steps, store }}; return (\n{source}\n); }})"
    )
}

/// An expression's value both ways a template may want it: as JSON (a whole-expression template,
/// a condition) and as text (mixed with text: JavaScript's `String()`, objects as JSON,
/// `null`/`undefined` as ""). Each may fail on its own (`JSON.stringify` of a BigInt throws).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub value: Result<Value, ScriptError>,
    pub text: Result<String, ScriptError>,
}

impl Evaluated {
    /// The value as JSON, or with `as_text` as text (a JSON string).
    pub fn get(&self, as_text: bool) -> Result<Value, ScriptError> {
        if as_text {
            self.text.clone().map(Value::String)
        } else {
            self.value.clone()
        }
    }
}

/// Evaluates a JavaScript expression over the roots, on this thread's pooled context. An
/// `undefined` value is `null`.
pub fn evaluate(source: &str, roots: &RootTexts) -> Result<Evaluated, ScriptError> {
    let timeout = limits().expression_timeout;
    with_pool(|pool| {
        let cached = pool.functions.get(source).cloned();
        let Pooled { guarded, functions } = pool;
        guarded.run(timeout, |ctx| {
            let function = match cached {
                Some(f) => f.restore(ctx).map_err(|e| e.to_string())?,
                None => {
                    let f: Function = ctx
                        .eval(expression_function(source))
                        .catch(ctx)
                        .map_err(describe)?;
                    if functions.len() >= CACHE_SIZE {
                        functions.clear();
                    }
                    functions.insert(source.to_owned(), Persistent::save(ctx, f.clone()));
                    f
                }
            };
            let args = arguments(ctx, roots)?;
            let value: rquickjs::Value = function.call(args).catch(ctx).map_err(describe)?;
            let evaluated = both_ways(ctx, value);
            // A limit hit while converting the value ends the whole evaluation like one hit
            // while computing it (and the runtime is discarded).
            match (&evaluated.value, &evaluated.text) {
                (Err(ScriptError::Exception(m)), _) | (_, Err(ScriptError::Exception(m)))
                    if guarded.deadline.fired() || guarded.out_of_memory(m) =>
                {
                    Err(m.clone())
                }
                _ => Ok(evaluated),
            }
        })
    })
}

/// Evaluates an expression over `scope` on this thread, one way (see [`Evaluated`]). Only for the
/// JS threads and tests: elsewhere expressions go through `eval::Computed`.
pub fn eval_expression(source: &str, scope: &Scope, as_text: bool) -> Result<Value, ScriptError> {
    evaluate(source, &RootTexts::of(source, scope))?.get(as_text)
}

fn both_ways<'js>(ctx: &Ctx<'js>, v: rquickjs::Value<'js>) -> Evaluated {
    let exception = ScriptError::Exception;
    let json = to_json(ctx, v.clone());
    let text = if v.is_null() || v.is_undefined() {
        Ok(String::new())
    } else if let Ok((_, Value::String(s))) = &json {
        Ok(s.clone())
    } else if let Some(b) = v.as_bool() {
        Ok(b.to_string())
    } else if v.is_object() && !v.is_function() {
        json.as_ref()
            .map(|(raw, _)| raw.clone().unwrap_or_default())
            .map_err(|e| exception(e.clone()))
    } else {
        ctx.globals()
            .get::<_, Function>("String")
            .and_then(|string| string.call::<_, String>((v,)))
            .catch(ctx)
            .map_err(|e| exception(describe(e)))
    };
    Evaluated {
        value: json.map(|(_, value)| value).map_err(exception),
        text,
    }
}

/// What `custom_code` gave: its return value and what it logged.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeOutput {
    pub value: Value,
    pub logs: Vec<String>,
}

/// Lines of `console.log` kept, and characters per line.
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 2000;

/// Runs a `custom_code` body in a fresh runtime that is dropped afterwards, on this thread.
pub fn run_code(
    code: &str,
    roots: RootTexts,
    timeout: Option<Duration>,
) -> Result<CodeOutput, ScriptError> {
    let timeout = timeout.unwrap_or(limits().code_timeout);
    let guarded = Guarded::new()?;
    let wrapper = format!(
        r#"(function ({PARAMS}) {{
  const logs = [];
  const show = (v) => {{ if (typeof v === "string") return v; try {{ return JSON.stringify(v) ?? String(v); }} catch (e) {{ return String(v); }} }};
  const log = (...a) => {{ if (logs.length < {MAX_LOG_LINES}) logs.push(a.map(show).join(" ").slice(0, {MAX_LOG_LINE})); }};
  const console = {{ log, info: log, warn: log, error: log, debug: log }};
  const context = {{ trigger, state, variables, steps, store }};
  let value, failure = null;
  try {{
    value = (function (context, trigger, state, variables, steps, store, console) {{
{code}
    }})(context, trigger, state, variables, steps, store, console);
    if (value instanceof Promise) failure = "custom_code must return a value, not a Promise";
  }} catch (e) {{
    failure = (e instanceof Error) ? e.name + ": " + e.message : "uncaught " + show(e);
  }}
  return JSON.stringify({{ value: value === undefined ? null : value, failure, logs }});
}})"#
    );
    let out = guarded.run(timeout, |ctx| {
        let function: Function = ctx.eval(wrapper).catch(ctx).map_err(describe)?;
        let args = arguments(ctx, &roots)?;
        let text: String = function.call(args).catch(ctx).map_err(describe)?;
        serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
    })?;
    if let Some(failure) = out.get("failure").and_then(Value::as_str) {
        return Err(if guarded.out_of_memory(failure) {
            ScriptError::Memory((limits().memory_bytes >> 20) as u64)
        } else {
            ScriptError::Exception(failure.to_owned())
        });
    }
    let logs = out
        .get("logs")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(CodeOutput {
        value: out.get("value").cloned().unwrap_or(Value::Null),
        logs,
    })
}

thread_local! {
    /// The runtime syntax checks compile in, kept between checks (a definition may hold
    /// thousands of expressions); discarded after a limit was hit.
    static CHECKER: RefCell<Option<Guarded>> = const { RefCell::new(None) };
}

/// Checks that an expression (or, with `is_code`, a `custom_code` body) compiles. The function is
/// only created, never called.
pub fn check_syntax(source: &str, is_code: bool) -> Result<(), ScriptError> {
    let wrapper = if is_code {
        format!("(function ({PARAMS}, context, console) {{\n{source}\n}})")
    } else {
        expression_function(source)
    };
    in_slot(&CHECKER, Guarded::new, |guarded| {
        guarded.run(limits().expression_timeout, |ctx| {
            ctx.eval::<Function, _>(wrapper)
                .catch(ctx)
                .map(drop)
                .map_err(describe)
        })
    })
}

/// The scope's roots as JSON texts, in [`PARAMS`] order; a root the source never names is left
/// out (`undefined` in JS), since conversion is the main cost of a call. Being plain text, the
/// roots can go to another thread (the code pool).
pub struct RootTexts([Option<String>; 7]);

impl RootTexts {
    pub fn of(source: &str, scope: &Scope) -> RootTexts {
        RootTexts::of_all(&[source], scope)
    }

    /// The roots any of `sources` names.
    pub fn of_all(sources: &[&str], scope: &Scope) -> RootTexts {
        let names = |name: &str| sources.iter().any(|s| s.contains(name));
        let all = names("context");
        let text = |name: &str, value: Option<&Value>| {
            value.filter(|_| all || names(name)).map(Value::to_string)
        };
        RootTexts([
            text("trigger", Some(scope.trigger)),
            text("state", Some(scope.state)),
            text("variables", Some(scope.variables)),
            text("steps", Some(scope.steps)),
            text("store", Some(scope.store)),
            text("error", scope.error),
            text("params", scope.params),
        ])
    }
}

type Arguments<'js> = (
    rquickjs::Value<'js>,
    rquickjs::Value<'js>,
    rquickjs::Value<'js>,
    rquickjs::Value<'js>,
    rquickjs::Value<'js>,
    rquickjs::Value<'js>,
    rquickjs::Value<'js>,
);

/// The roots as JS values, for a call of a function taking [`PARAMS`].
fn arguments<'js>(ctx: &Ctx<'js>, roots: &RootTexts) -> Result<Arguments<'js>, String> {
    let [trigger, state, variables, steps, store, error, params] =
        roots.0.each_ref().map(|text| match text {
            Some(t) => ctx.json_parse(t.as_str()).catch(ctx).map_err(describe),
            None => Ok(rquickjs::Value::new_undefined(ctx.clone())),
        });
    Ok((
        trigger?, state?, variables?, steps?, store?, error?, params?,
    ))
}

/// A value as JSON: the text `JSON.stringify` gave (none for `undefined`) and its parse.
fn to_json<'js>(
    ctx: &Ctx<'js>,
    value: rquickjs::Value<'js>,
) -> Result<(Option<String>, Value), String> {
    match ctx.json_stringify(value).catch(ctx).map_err(describe)? {
        None => Ok((None, Value::Null)),
        Some(text) => {
            let text = text.to_string().map_err(|e| e.to_string())?;
            let value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            Ok((Some(text), value))
        }
    }
}

/// A thrown value as `Name: message`.
fn describe(error: CaughtError<'_>) -> String {
    match error {
        CaughtError::Exception(e) => {
            let name: Option<String> = e.get("name").ok();
            let message = e.message().unwrap_or_default();
            match name {
                Some(n) if !n.is_empty() => format!("{n}: {message}"),
                _ => message,
            }
        }
        CaughtError::Value(v) => match v.as_string().and_then(|s| s.to_string().ok()) {
            Some(s) => format!("uncaught {s:?}"),
            None => format!("uncaught {}", v.type_name()),
        },
        CaughtError::Error(e) => e.to_string(),
    }
}
