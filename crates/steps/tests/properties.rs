//! Property tests of the definition reader: whatever a native definition or a Kustomer graph says,
//! compiling never panics, every problem points into the definition, and compiling is
//! deterministic.

use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_core::workflow::Options;

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z_.]{0,8}".prop_map(Value::String),
        Just(json!("{{trigger.name}}")),
        Just(json!("{{ trigger.items.length > 0 }}")),
        Just(json!("{{")),
        Just(json!("/#steps.1.name")),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn config() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "data",
        "phoneNumber",
        "message",
        "templateId",
        "languageCode",
        "variables",
        "to",
        "subject",
        "body",
        "url",
        "method",
        "webhook",
        "delayMinutes",
        "until",
        "code",
        "condition",
        "then",
        "event",
        "workflowId",
        "runAt",
        "inputs",
        "colour",
    ]);
    prop::collection::btree_map(key, text(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn step() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(
        switchboard_steps::TYPES
            .iter()
            .copied()
            .chain(["nope", "kustomer.rest-api.json"])
            .collect::<Vec<_>>(),
    );
    (
        "[a-z0-9]{1,4}",
        kind,
        config(),
        prop::option::of(text()),
        prop::option::of(prop::sample::select(vec!["fail", "continue", "elsewhere"])),
    )
        .prop_map(|(id, kind, config, output_var, on_error)| {
            let mut step = json!({"id": id, "type": kind, "config": config});
            if let Some(v) = output_var {
                step["outputVar"] = v;
            }
            if let Some(e) = on_error {
                step["onError"] = json!(e);
            }
            step
        })
}

fn native() -> impl Strategy<Value = Value> {
    let trigger = prop_oneof![
        Just(json!({"type": "webhook", "eventType": "lead"})),
        Just(json!({"type": "manual"})),
        Just(json!({"type": "callable", "schema": {"type": "object"}})),
        Just(json!({"type": "schedule", "cron": "*/5 * * * *"})),
        Just(json!({"type": "customer_message", "channel": "whatsapp", "match": "(?i)pre"})),
        Just(json!({"type": "schedule", "cron": "nope"})),
        text(),
    ];
    ("[a-z ]{0,12}", trigger, prop::collection::vec(step(), 0..6)).prop_map(
        |(name, trigger, steps)| json!({"name": name, "trigger": trigger, "steps": steps}),
    )
}

fn kustomer() -> impl Strategy<Value = Value> {
    let condition = prop_oneof![
        Just(json!({"op": "true", "values": []})),
        Just(json!({"op": "eq", "values": ["/#steps.1.a", "x"]})),
        Just(json!({"op": "and", "values": [{"op": "exists", "values": ["/#steps.1.b"]}]})),
        Just(json!({"op": "regex", "values": ["/#steps.1.c", "("]})),
        Just(json!({"op": "nope"})),
    ];
    let transition =
        ("[0-9]{1,2}", condition).prop_map(|(t, c)| json!({"target": t, "condition": c}));
    let action = prop::sample::select(vec![
        "kustomer.rest-api.json",
        "kustomer.app.scheduler.schedule-workflow",
        "saved.lookup",
    ]);
    let step = ("[0-9]{1,2}", action, config(), prop::collection::vec(transition.clone(), 0..3))
        .prop_map(|(id, action, params, transitions)| {
            json!({"id": id, "action": action, "params": params, "transitions": transitions})
        });
    ("[a-z ]{1,10}", prop::collection::vec(transition, 0..3), prop::collection::vec(step, 0..5)).prop_map(
        |(name, transitions, steps)| {
            json!({"name": name, "trigger": {"eventName": "lead.created", "transitions": transitions}, "steps": steps})
        },
    )
}

fn pointers_resolve(def: &Value) -> Result<(), TestCaseError> {
    let compiled = switchboard_steps::compile(def, &Options::default());
    let again = switchboard_steps::compile(def, &Options::default());
    prop_assert_eq!(&compiled.report.errors, &again.report.errors);
    prop_assert_eq!(compiled.workflow.is_some(), again.workflow.is_some());
    for problem in compiled
        .report
        .errors
        .iter()
        .chain(&compiled.report.warnings)
    {
        prop_assert!(
            problem.pointer.is_empty() || problem.pointer.starts_with('/'),
            "{}",
            problem.pointer
        );
        prop_assert!(!problem.message.is_empty());
    }
    if compiled.workflow.is_some() {
        prop_assert!(compiled.report.errors.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn native_definitions_compile_or_point_at_their_problems(def in native()) {
        pointers_resolve(&def)?;
    }

    #[test]
    fn kustomer_graphs_compile_or_point_at_their_problems(def in kustomer()) {
        pointers_resolve(&def)?;
    }
}
