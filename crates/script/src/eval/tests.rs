use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::problem::Report;
use switchboard_core::template::{Expr, Scope, Template};
use switchboard_core::workflow::{Context, TValue};

use super::*;
use crate::{ScriptError, check_syntax};

struct Roots {
    trigger: Value,
    state: Value,
    empty: Value,
}

impl Roots {
    fn new(trigger: Value) -> Roots {
        Roots {
            trigger,
            state: json!({"n": 2}),
            empty: json!({}),
        }
    }
    fn scope(&self) -> Scope<'_> {
        Scope {
            trigger: &self.trigger,
            state: &self.state,
            variables: &self.empty,
            steps: &self.empty,
            store: &self.empty,
            error: None,
            params: None,
        }
    }
}

fn eval(src: &str, trigger: Value) -> Result<Value, EvalError> {
    let roots = Roots::new(trigger);
    Evaluator::here(roots.scope()).template(&Template::compile(src).unwrap())
}

#[test]
fn whole_expressions_keep_their_type_and_mixed_ones_become_text() {
    let t =
        json!({"fullName": "Ana Maria Souza", "items": [1, {"a": 2}], "cartValue": 200, "f": 0.5});
    assert_eq!(
        eval("{{trigger.items}}", t.clone()).unwrap(),
        json!([1, {"a": 2}])
    );
    assert_eq!(
        eval("{{trigger.fullName.split(' ')[0]}}", t.clone()).unwrap(),
        json!("Ana")
    );
    assert_eq!(
        eval("R$ {{trigger.cartValue}}", t.clone()).unwrap(),
        json!("R$ 200")
    );
    assert_eq!(
        eval("{{ trigger.cartValue * 2 }}", t.clone()).unwrap(),
        json!(400)
    );
    assert_eq!(
        eval("x{{trigger.items}}y", t.clone()).unwrap(),
        json!("x[1,{\"a\":2}]y")
    );
    assert_eq!(
        eval("x{{trigger.missing}}y{{ undefined }}", t.clone()).unwrap(),
        json!("xy")
    );
    assert_eq!(
        eval("{{ trigger.f + 1e21 }}", t.clone()).unwrap(),
        json!(1e21)
    );
    assert_eq!(eval("{{ undefined }}", t.clone()).unwrap(), Value::Null);
    assert_eq!(
        eval("{{ context.state.n + 1 }}", t.clone()).unwrap(),
        json!(3)
    );
    assert_eq!(
        eval("v={{ 1e21 }} {{ 0.1 + 0.2 }} {{ 1/3 }}", t).unwrap(),
        json!("v=1e+21 0.30000000000000004 0.3333333333333333")
    );
}

#[test]
fn text_of_numbers_matches_javascript() {
    for (f, js) in [
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123.25, "123.25"),
        (-0.0, "0"),
    ] {
        assert_eq!(text_of(&json!(f)), js, "{f}");
    }
}

#[test]
fn a_failing_expression_names_itself() {
    let e = eval("{{ trigger.missing.split(' ') }}", json!({})).unwrap_err();
    assert_eq!(e.code(), "expression_error");
    assert!(e.to_string().contains("trigger.missing.split(' ')"), "{e}");
    assert!(e.to_string().contains("TypeError"), "{e}");
}

#[test]
fn limits_stop_loops_and_bombs_and_the_next_expression_still_works() {
    let e = eval("{{ (() => { while (true) {} })() }}", json!({})).unwrap_err();
    assert_eq!(e.error, ScriptError::Timeout(50));
    assert_eq!(e.code(), "script_timeout");
    let e = eval(
        "{{ (() => { let a = ['x']; while (true) { a = a.concat(a); } })() }}",
        json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(e.error, ScriptError::Memory(_) | ScriptError::Timeout(_)),
        "{e:?}"
    );
    let e = eval(
        "{{ (() => { const f = () => f(); return f(); })() }}",
        json!({}),
    )
    .unwrap_err();
    assert_eq!(
        e.code(),
        "expression_error",
        "stack overflow is an ordinary error: {e}"
    );
    assert_eq!(eval("{{ 1 + 1 }}", json!({})).unwrap(), json!(2));
}

#[test]
fn expressions_cannot_leave_state_behind() {
    let _ = eval(
        "{{ (() => { try { globalThis.leak = 1 } catch (e) {} ; try { Array.prototype.first = 1 } catch (e) {}; return 1 })() }}",
        json!({}),
    );
    assert_eq!(
        eval("{{ typeof leak + ' ' + typeof [].first }}", json!({})).unwrap(),
        json!("undefined undefined")
    );
    assert!(
        eval("{{ (Object.prototype.x = 1) }}", json!({})).is_err(),
        "frozen intrinsics throw in strict mode"
    );
}

#[test]
fn conditions_use_truthiness_and_never_fail_on_plain_paths() {
    let roots = Roots::new(json!({"companies": ["a"]}));
    let cond = |src: &str| {
        Evaluator::here(roots.scope())
            .condition(&Condition::Expr(Expr::parse(src)))
            .unwrap()
    };
    assert!(cond(
        "context.trigger.companies && context.trigger.companies.length > 0"
    ));
    assert!(!cond("trigger.nothing.deeper"));
    assert!(cond("trigger.companies"));
}

#[test]
fn op_conditions_follow_the_table() {
    let roots = Roots::new(json!({"n": 5, "s": "Hello", "tags": ["vip", 3], "nil": null}));
    let op = |def: Value| {
        let mut ctx = Context::default();
        let c = to_op(&def, &mut ctx);
        assert!(ctx.report.is_valid());
        Evaluator::here(roots.scope()).op_condition(&c).unwrap()
    };
    assert!(op(json!({"op": "eq", "values": ["{{trigger.n}}", 5.0]})));
    assert!(op(json!({"op": "gt", "values": ["{{trigger.n}}", "4"]})));
    assert!(op(json!({"op": "lt", "values": ["abc", "abd"]})));
    assert!(op(
        json!({"op": "contains", "values": ["{{trigger.s}}", "ell"]})
    ));
    assert!(op(json!({"op": "in", "values": [3, "{{trigger.tags}}"]})));
    assert!(op(
        json!({"op": "not_exists", "values": ["{{trigger.nil}}"]})
    ));
    assert!(op(
        json!({"op": "regex", "values": ["{{trigger.s}}", "(?i)^hel"]})
    ));
    assert!(!op(
        json!({"op": "and", "values": [{"op": "true"}, {"op": "false"}]})
    ));
    assert!(op(
        json!({"op": "not", "values": [{"op": "neq", "values": [1, 1]}]})
    ));
    // The rest of docs/workflows.md's table, each both ways.
    for (def, holds) in [
        (json!({"op": "gte", "values": ["{{trigger.n}}", 5]}), true),
        (json!({"op": "gte", "values": ["{{trigger.n}}", 6]}), false),
        (json!({"op": "lte", "values": ["{{trigger.n}}", 5]}), true),
        (json!({"op": "lte", "values": ["b", "a"]}), false),
        (
            json!({"op": "neq", "values": ["{{trigger.s}}", "Hello"]}),
            false,
        ),
        (
            json!({"op": "eq", "values": ["{{trigger.tags}}", ["vip", 3]]}),
            true,
        ),
        (
            json!({"op": "contains", "values": ["{{trigger.tags}}", "vip"]}),
            true,
        ),
        (
            json!({"op": "not_contains", "values": ["{{trigger.tags}}", "spam"]}),
            true,
        ),
        (
            json!({"op": "not_contains", "values": ["{{trigger.s}}", "ell"]}),
            false,
        ),
        (
            json!({"op": "in", "values": ["spam", "{{trigger.tags}}"]}),
            false,
        ),
        (json!({"op": "exists", "values": ["{{trigger.s}}"]}), true),
        (
            json!({"op": "exists", "values": ["{{trigger.missing.deeper}}"]}),
            false,
        ),
        (
            json!({"op": "not_exists", "values": ["{{trigger.n}}"]}),
            false,
        ),
        (
            json!({"op": "regex", "values": ["{{trigger.s}}", "^hel"]}),
            false,
        ),
        (
            json!({"op": "or", "values": [{"op": "false"}, {"op": "eq", "values": [1, 1]}]}),
            true,
        ),
        (
            json!({"op": "or", "values": [{"op": "false"}, {"op": "false"}]}),
            false,
        ),
        (json!({"op": "false", "values": [true]}), false),
    ] {
        assert_eq!(op(def.clone()), holds, "{def}");
    }
}

fn to_op(def: &Value, ctx: &mut Context) -> OpCondition {
    use switchboard_core::workflow::{Op, OpArg};
    let name = def["op"].as_str().unwrap();
    let op = match name {
        "true" => Op::True,
        "false" => Op::False,
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "contains" => Op::Contains,
        "not_contains" => Op::NotContains,
        "in" => Op::In,
        "exists" => Op::Exists,
        "not_exists" => Op::NotExists,
        "regex" => Op::Regex,
        "and" => Op::And,
        "or" => Op::Or,
        "not" => Op::Not,
        other => panic!("{other}"),
    };
    let args = def
        .get("values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let args = args
        .iter()
        .map(|v| {
            if v.get("op").is_some() {
                OpArg::Condition(to_op(v, ctx))
            } else {
                OpArg::Value(TValue::compile(v, "", ctx))
            }
        })
        .collect();
    let _ = Report::default();
    OpCondition { op, args }
}

#[test]
fn custom_code_runs_fresh_with_logs_and_limits() {
    let roots = Roots::new(json!({"fullName": "Ana Souza"}));
    let out = run_code_on("globalThis.seen = (globalThis.seen || 0) + 1; console.log('hi', {a: 1}); return { first: context.trigger.fullName.split(' ')[0], seen };", &roots.scope(), None).unwrap();
    assert_eq!(out.value, json!({"first": "Ana", "seen": 1}));
    assert_eq!(out.logs, ["hi {\"a\":1}"]);
    let again = run_code_on(
        "globalThis.seen = (globalThis.seen || 0) + 1; return seen;",
        &roots.scope(),
        None,
    )
    .unwrap();
    assert_eq!(again.value, json!(1), "a fresh runtime each time");
    let e = run_code_on(
        "while (true) {}",
        &roots.scope(),
        Some(Duration::from_millis(30)),
    )
    .unwrap_err();
    assert_eq!(e, ScriptError::Timeout(30));
    let e = run_code_on(
        "const a = []; while (true) a.push(new Array(1000).fill(1));",
        &roots.scope(),
        Some(Duration::from_secs(5)),
    )
    .unwrap_err();
    assert!(matches!(e, ScriptError::Memory(_)), "{e:?}");
    let e = run_code_on("throw new RangeError('nope')", &roots.scope(), None).unwrap_err();
    assert_eq!(e, ScriptError::Exception("RangeError: nope".into()));
    assert_eq!(e.code(true), "script_error");
    assert_eq!(
        run_code_on("return undefined", &roots.scope(), None)
            .unwrap()
            .value,
        Value::Null
    );
}

#[test]
fn syntax_is_checked_without_running() {
    assert!(check_syntax("trigger.a.split(' ')[0]", false).is_ok());
    assert!(
        check_syntax("while (true) {}; return 1", true).is_ok(),
        "compiled, not run"
    );
    let e = check_syntax("trigger.a +", false).unwrap_err();
    assert!(
        matches!(e, ScriptError::Exception(ref m) if m.contains("SyntaxError")),
        "{e:?}"
    );
    assert!(check_syntax("return {", true).is_err());
}

#[test]
/// Large chunks exhaust memory so fast that QuickJS cannot build its error and throws `null`.
fn large_allocations_hit_the_memory_limit_too() {
    let roots = Roots::new(json!({}));
    let e = run_code_on(
        "const a = []; while (true) a.push(new Array(10000).fill(1));",
        &roots.scope(),
        Some(Duration::from_secs(5)),
    )
    .unwrap_err();
    assert!(matches!(e, ScriptError::Memory(_)), "{e:?}");
}

/// `run_code` over a scope, on this thread.
fn run_code_on(
    code: &str,
    scope: &switchboard_core::template::Scope,
    timeout: Option<Duration>,
) -> Result<crate::CodeOutput, ScriptError> {
    crate::run_code(code, crate::RootTexts::of(code, scope), timeout)
}

/// Computed ahead on the JS threads, every template gives what evaluating it here gives, as a
/// whole expression (JSON) and mixed with text — including values JSON cannot hold.
#[tokio::test]
async fn computed_ahead_gives_what_evaluating_here_gives() {
    let roots = Roots::new(json!({"fullName": "Ana Maria", "n": 0.1, "items": [1, {"a": 2}]}));
    let sources = [
        "trigger.fullName.split(' ')[0]",
        "trigger.n + 0.2",
        "trigger.items",
        "trigger.missing",
        "null",
        "1e21",
        "0 / 0",
        "10n",
        "new Date(0)",
        "(() => 1)",
        "[undefined, () => 1]",
        "trigger.nope.deeper",
        "state.n * 2",
    ];
    let scope = roots.scope();
    let computed = Computed::of("st_a", &scope, &sources).await;
    let ahead = Evaluator::with(scope, &computed);
    let here = Evaluator::here(scope);
    for source in sources {
        for template in [format!("{{{{{source}}}}}"), format!("[{{{{{source}}}}}]")] {
            let t = Template::compile(&template).unwrap();
            assert_eq!(ahead.template(&t), here.template(&t), "{template}");
            assert_eq!(ahead.text(&t), here.text(&t), "{template}");
        }
        let c = Condition::Expr(Expr::parse(source));
        assert_eq!(ahead.condition(&c), here.condition(&c), "{source}");
    }
    assert_eq!(
        ahead.text(&Template::compile("{{10n}}").unwrap()).unwrap(),
        "10"
    );
    assert!(
        ahead
            .template(&Template::compile("{{10n}}").unwrap())
            .is_err()
    );
}

/// A value cheap to make but past the memory limit to convert is a limit's error too, not a plain
/// expression error.
#[test]
fn a_limit_hit_while_converting_the_value_is_the_limit_s_error() {
    let roots = Roots::new(json!({}));
    let e = eval_expression("'x'.repeat(2e7)", &roots.scope(), false).unwrap_err();
    assert!(
        matches!(e, ScriptError::Memory(_) | ScriptError::Timeout(_)),
        "{e:?}"
    );
}
