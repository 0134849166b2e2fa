//! Expressions: templates, conditions and JavaScript in a sandbox (QuickJS through rquickjs).
//!
//! Plain paths are looked up directly (`switchboard_core::template`); every other expression runs
//! on the JS threads ([`threads`]), in a pooled, frozen JS context of that thread, compiled once
//! into a cached function; a step's expressions go there together ([`eval::Computed`]).
//! `custom_code` runs in a fresh runtime that is thrown away afterwards, so no run sees another's
//! globals. Limits (time by the interrupt handler, memory, stack) apply to both; a runtime that hit
//! a limit is discarded.

pub mod eval;
mod memory;
mod sandbox;
mod threads;

pub use eval::{Computed, EvalError, Evaluator, Scripts};
pub use sandbox::{
    CodeOutput, Evaluated, Limits, RootTexts, check_syntax, configure, eval_expression, evaluate,
    run_code,
};
pub use threads::{
    Lane, Lost, ThreadSettings, configure_threads, js_start_soon, on_js_thread, set_store_js_budget,
};

/// Runs a `custom_code` body over `scope` on the JS threads, in `store`'s turn.
pub async fn run_code_async(
    store: &str,
    code: &str,
    scope: &switchboard_core::template::Scope<'_>,
    timeout: Option<std::time::Duration>,
) -> Result<CodeOutput, ScriptError> {
    let roots = RootTexts::of(code, scope);
    let code = code.to_owned();
    on_js_thread(store, Lane::Code, move || run_code(&code, roots, timeout))
        .await
        .map_err(|lost| ScriptError::Exception(lost.to_string()))?
}

/// Scripts that would run for seconds or exhaust memory unchecked: each must end at its limit as
/// a template expression and inside `custom_code` (its tests, and `switchboard bench hostile`).
pub const HOSTILE_CORPUS: &[&str] = &[
    "new Array(1e9).join('x')",
    "new Array(1e7).join('x').length",
    "''.padStart(1e9, 'ab')",
    "'xy'.repeat(2 ** 29)",
    "/(a+)+$/.test('a'.repeat(34) + 'b')",
    "Array.from({length: 3e6}, (_, i) => (i * 7919) % 3e6).sort((a, b) => a - b).length",
    "JSON.stringify(Array.from({length: 2e6}, (_, i) => ({i}))).length",
    "JSON.parse('[' + '1,'.repeat(5e6) + '1]').length",
    "(function f() { return f(); })()",
    "(() => { let s = ''; for (;;) s += 'xx'; })()",
];

/// Why a script failed. The codes are the step error codes of docs/workflows.md.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptError {
    /// The script threw (or did not compile); the message names the JS error.
    #[error("{0}")]
    Exception(String),
    #[error("stopped after its time limit of {0} ms")]
    Timeout(u64),
    #[error("stopped at its memory limit of {0} MiB")]
    Memory(u64),
}

impl ScriptError {
    /// The step error code for a failure in `custom_code` (`script_error`) or in a template
    /// expression (`expression_error`); limits have their own codes either way.
    pub fn code(&self, in_code: bool) -> &'static str {
        match self {
            ScriptError::Exception(_) if in_code => "script_error",
            ScriptError::Exception(_) => "expression_error",
            ScriptError::Timeout(_) => "script_timeout",
            ScriptError::Memory(_) => "script_memory",
        }
    }
}
