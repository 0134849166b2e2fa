//! Limits that hold whatever a script calls: each hostile expression of the corpus ends with a
//! limit's error, as a template expression and inside `custom_code`, long before it would have
//! finished on its own. (How far past the limit it ends is a figure for a benchmark, on the release
//! build; here the bound is loose, for debug builds on a busy machine.)

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_core::template::Scope;
use switchboard_script::{RootTexts, ScriptError, eval_expression, run_code};

use switchboard_script::HOSTILE_CORPUS as CORPUS;

/// Well past a 50 ms expression or 200 ms code limit, far below what the corpus takes unchecked
/// (`new Array(1e9).join('x')` ran 17 s).
const LOOSE: Duration = Duration::from_millis(2500);

fn stopped(
    what: &str,
    source: &str,
    result: Result<serde_json::Value, ScriptError>,
    took: Duration,
) {
    let limit_hit = match &result {
        Err(ScriptError::Timeout(_) | ScriptError::Memory(_)) => true,
        // A stack overflow, or a string past QuickJS's longest, is a plain error at once.
        Err(ScriptError::Exception(m)) => {
            m.contains("Maximum call stack size exceeded") || m.contains("invalid string length")
        }
        Ok(_) => false,
    };
    assert!(limit_hit, "{what} `{source}` was not stopped: {result:?}");
    assert!(took < LOOSE, "{what} `{source}` took {took:?}");
}

#[test]
fn hostile_expressions_stop_at_their_limits() {
    let trigger = json!({});
    let scope = Scope::of_trigger(&trigger);
    for source in CORPUS {
        let started = Instant::now();
        let result = eval_expression(source, &scope, false);
        stopped("the expression", source, result, started.elapsed());
    }
}

#[test]
fn hostile_custom_code_stops_at_its_limit() {
    let trigger = json!({});
    let scope = Scope::of_trigger(&trigger);
    for source in CORPUS {
        let code = format!("return {source};");
        let started = Instant::now();
        let result = run_code(
            &code,
            RootTexts::of(&code, &scope),
            Some(Duration::from_millis(200)),
        )
        .map(|out| out.value);
        stopped("custom_code", source, result, started.elapsed());
    }
}
