use serde_json::{Value, json};

use super::*;

/// Knows a few types; `store_context_data` requires `data`, the others read nothing.
struct TestCatalog;

impl StepCatalog for TestCatalog {
    type Spec = String;
    fn types(&self) -> &[&'static str] {
        &[
            "store_context_data",
            "conditional",
            "webhook",
            "schedule_workflow",
            "delay",
        ]
    }
    fn parse(&self, step_type: &str, f: &mut Fields<'_, '_>) -> Option<String> {
        match step_type {
            "store_context_data" => f.object("data", REQUIRED).map(|_| step_type.into()),
            "webhook" => {
                if let Some(name) = f.string("webhook", OPTIONAL) {
                    f.reference("webhook", |pointer| Reference {
                        kind: ReferenceKind::Webhook,
                        key: name,
                        pointer,
                    });
                }
                f.raw("params", OPTIONAL);
                f.url("url", OPTIONAL);
                f.string("method", OPTIONAL);
                f.raw("body", OPTIONAL);
                f.raw("responseFormat", OPTIONAL);
                Some(step_type.into())
            }
            _ => Some(step_type.into()),
        }
    }
}

fn check(def: Value) -> Compiled<String> {
    compile(&def, &TestCatalog, &Options::default())
}

fn pointers(problems: &[crate::Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.pointer.as_str()).collect()
}

fn step(id: &str) -> Value {
    json!({"id": id, "type": "store_context_data", "config": {"data": {"a": "{{trigger.a}}"}}})
}

#[test]
fn native_chain_compiles() {
    let c = check(
        json!({"name": "ok", "trigger": {"type": "webhook", "eventType": "x"}, "steps": [step("a"), step("b")]}),
    );
    let wf = c.workflow.expect("valid");
    assert_eq!(c.format, Format::Native);
    assert_eq!(wf.entry[0].target, 0);
    assert_eq!(wf.nodes[0].next[0].target, 1);
    assert!(wf.nodes[1].next.is_empty());
}

#[test]
fn conditional_branches_rejoin_the_chain() {
    let c = check(
        json!({"name": "c", "trigger": {"type": "manual"}, "steps": [
            {"id": "s1", "type": "conditional", "config": {"condition": "context.trigger.n > 1",
                "then": [step("t1"), step("t2")], "else": step("e1")}},
            step("s2")
        ]}),
    );
    let wf = c.workflow.expect("valid");
    let ids: Vec<_> = wf.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["s1", "t1", "t2", "e1", "s2"]);
    let targets = |i: usize| {
        wf.nodes[i]
            .next
            .iter()
            .map(|e| e.target)
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(0), [1, 3]);
    assert!(matches!(
        wf.nodes[0].next[0].when,
        Condition::Expr(Expr::Js(_))
    ));
    assert_eq!(targets(1), [2]);
    assert_eq!(targets(2), [4]);
    assert_eq!(targets(3), [4]);
}

#[test]
fn every_problem_is_reported_with_its_pointer() {
    let c = check(json!({
        "name": "bad/name",
        "description": "d".repeat(4097),
        "trigger": {"type": "webhook"},
        "steps": [
            step("a"),
            {"id": "a", "type": "nope"},
            {"id": "c", "type": "store_context_data", "config": {"data": {"x": "{{trigger.x"}, "extra": 1}},
            {"id": "d", "type": "store_context_data", "onError": {"goto": "zz"}, "retry": {"maxAttempts": 0}},
        ],
        "unknownTop": true
    }));
    assert!(c.workflow.is_none());
    assert_eq!(
        pointers(&c.report.errors),
        [
            "/name",
            "/description",
            "/trigger",
            "/steps/1/type",
            "/steps/1/id",
            "/steps/2/config/data/x",
            "/steps/3/retry/maxAttempts",
            "/steps/3/config",
            "/steps/3/onError/goto"
        ]
    );
    assert_eq!(
        c.report.errors[4].message,
        "duplicate step id 'a' (first used at /steps/0/id)"
    );
    assert_eq!(c.report.errors[8].message, "no step has the id 'zz'");
    assert_eq!(
        pointers(&c.report.warnings),
        ["/steps/2/config/extra", "/unknownTop"]
    );
}

#[test]
fn plain_http_urls_are_refused_unless_allowed() {
    let def = json!({"name": "h", "trigger": {"type": "manual"},
        "steps": [{"id": "w", "type": "webhook", "config": {"url": "http://example.com/x"}}]});
    assert_eq!(
        pointers(&check(def.clone()).report.errors),
        ["/steps/0/config/url"]
    );
    let allowed = compile(
        &def,
        &TestCatalog,
        &Options {
            allow_http: true,
            ..Default::default()
        },
    );
    assert!(allowed.report.is_valid());
}

#[test]
fn names_follow_the_rules() {
    assert!(check_name("Lead Follow-up v1.2_x").is_ok());
    assert!(check_name("Recuperação de carrinho").is_ok());
    assert!(check_name(&"a".repeat(129)).is_err());
    assert!(check_name("  ").is_err());
    assert!(check_name("a/b").is_err());
}

#[test]
fn kustomer_graph_compiles_with_references() {
    let c = check(json!({
        "name": "k", "trigger": {"eventName": "shop.order", "transitions": [
            {"target": "s2", "condition": {"op": "and", "values": [
                {"op": "gt", "values": ["/#steps.1.total", 10]},
                {"op": "regex", "values": ["/#steps.1.email", "@example\\.com$"]}]}}]},
        "steps": [
            {"id": "s2", "action": "kustomer.rest-api.json",
             "params": {"uri": "https://x.test/a", "method": "POST", "json": true, "body": {"n": "/#steps.1.items.0.sku"}},
             "transitions": [{"target": "s3", "condition": {"op": "exists", "values": ["/#steps.s2.body.id"]}}]},
            {"id": "s3", "action": "shop.notify", "params": {"id": "x /#steps.s2.body.id"}, "appVersion": "v1"}
        ]
    }));
    assert_eq!(c.format, Format::Kustomer);
    assert!(c.report.is_valid(), "{:?}", c.report);
    let references = c.references.clone();
    let wf = c.workflow.unwrap();
    assert!(
        matches!(wf.trigger, Trigger::Webhook { ref event_type } if event_type == "shop.order")
    );
    assert_eq!(wf.nodes[0].step_type, "webhook");
    assert_eq!(
        references,
        [Reference {
            kind: ReferenceKind::Webhook,
            key: "shop.notify".into(),
            pointer: "/steps/1/action".into()
        }]
    );
    assert_eq!(pointers(&c.report.warnings), ["/steps/1/appVersion"]);
    let Condition::Op(cond) = &wf.entry[0].when else {
        panic!()
    };
    let OpArg::Condition(gt) = &cond.args[0] else {
        panic!()
    };
    let OpArg::Value(TValue::Template(t)) = &gt.args[0] else {
        panic!()
    };
    assert_eq!(t.source, "{{trigger.total}}");
}

#[test]
fn kustomer_problems_point_at_fields() {
    let c = check(json!({
        "name": "k", "trigger": {"eventName": "e", "transitions": [{"target": "nope", "condition": {"op": "eq", "values": [1]}}]},
        "steps": [
            {"id": "a", "action": "kustomer.rest-api.json", "params": {"uri": "http://plain.test", "body": "/#steps.zz.x"}},
            {"id": "b", "action": "x", "transitions": [{"target": "a", "condition": {"op": "regex", "values": ["s", "("]}}]}
        ]
    }));
    assert_eq!(
        pointers(&c.report.errors),
        [
            "/trigger/transitions/0/condition/values",
            "/steps/0/params/body",
            "/steps/0/params/uri",
            "/steps/0",
            "/steps/1/transitions/0/condition/values/1",
            "/steps/1"
        ]
    );
}

#[test]
fn callable_triggers_are_recognised() {
    let c = check(
        json!({"name": "c", "trigger": {"eventName": "kustomer.workflow.5f8e.call", "callable": true,
        "schema": {"properties": {"foo": {"type": "string"}}}, "transitions": [{"target": "s"}]},
        "steps": [{"id": "s", "action": "kustomer.rest-api.json", "params": {"uri": "https://x.test", "method": "POST", "json": true}}]}),
    );
    assert!(matches!(
        c.workflow.unwrap().trigger,
        Trigger::Callable { schema: Some(_) }
    ));
    assert_eq!(callable_id("kustomer.workflow.5f8e.call"), Some("5f8e"));
}
