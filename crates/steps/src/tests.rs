use serde_json::{Value, json};
use switchboard_core::jsonc;
use switchboard_core::workflow::{Options, Reference, ReferenceKind, Trigger};

use crate::{StepSpec, compile};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    jsonc::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn errors(def: &Value) -> Vec<(String, String)> {
    compile(def, &Options::default())
        .report
        .errors
        .into_iter()
        .map(|p| (p.pointer, p.message))
        .collect()
}

#[test]
fn seed_000_first_example_reports_the_duplicate_id() {
    let errs = errors(&fixture("doban_first_contact.jsonc"));
    assert_eq!(
        errs,
        [(
            "/steps/3/id".to_owned(),
            "duplicate step id 'step4' (first used at /steps/2/id)".to_owned()
        )]
    );
}

#[test]
fn seed_000_examples_compile() {
    for name in [
        "lead_follow_up.json",
        "abandoned_cart.json",
        "onboarding.json",
    ] {
        let c = compile(&fixture(name), &Options::default());
        assert!(c.report.is_valid(), "{name}: {:?}", c.report.errors);
        assert!(c.workflow.is_some());
    }
    let lead = compile(&fixture("lead_follow_up.json"), &Options::default());
    let warned: Vec<_> = lead
        .report
        .warnings
        .iter()
        .map(|w| w.pointer.as_str())
        .collect();
    assert_eq!(
        warned,
        ["/steps/1/config/fullName", "/steps/1/config/email"]
    );
    let wf = lead.workflow.unwrap();
    assert!(matches!(wf.nodes[3].spec, StepSpec::StoreContextData(_)));
    assert_eq!(wf.nodes[3].id, "step3a");
}

#[test]
fn seed_001_and_003_app_workflows_compile() {
    let app = fixture("kustomer_app_001.json");
    let c = compile(&app["workflows"][0], &Options::default());
    assert!(c.report.is_valid(), "{:?}", c.report.errors);
    assert_eq!(
        c.references,
        [Reference {
            kind: ReferenceKind::Webhook,
            key: "kustomer.company.create".into(),
            pointer: "/steps/0/action".into()
        }]
    );

    for text in [
        "kustomer_app_003.json",
        "kustomer_app_003_trailing_comma.txt",
    ] {
        let app = fixture(text);
        let compiled = compile(&app["workflows"][0], &Options::default());
        assert_eq!(compiled.references[0].key, "5f8e148232731d0015c14657");
        let scheduling = compiled.workflow.expect("scheduling compiles");
        assert!(matches!(
            scheduling.nodes[0].spec,
            StepSpec::ScheduleWorkflow(_)
        ));
        let scheduled = compile(&app["workflows"][1], &Options::default())
            .workflow
            .expect("scheduled compiles");
        assert!(matches!(
            scheduled.trigger,
            Trigger::Callable { schema: Some(_) }
        ));
        assert!(matches!(
            scheduled.nodes[0].spec,
            StepSpec::Webhook(crate::webhook::Config::Inline(_))
        ));
    }
}

fn one_step(step_type: &str, config: Value) -> Vec<(String, String)> {
    errors(
        &json!({"name": "t", "trigger": {"type": "manual"}, "steps": [{"id": "s", "type": step_type, "config": config}]}),
    )
}

#[test]
fn step_configs_are_checked_field_by_field() {
    assert_eq!(
        one_step("delay", json!({}))[0].1,
        "give one of 'delayMinutes', 'delaySeconds', 'until'"
    );
    assert_eq!(
        one_step("delay", json!({"delayMinutes": 1, "until": "x"}))[0].0,
        "/steps/0/config/until"
    );
    assert_eq!(
        one_step("delay", json!({"delayMinutes": "60"}))[0].0,
        "/steps/0/config/delayMinutes"
    );
    let e = one_step(
        "send_whatsapp_template",
        json!({"phoneNumber": 5, "variables": []}),
    );
    let at: Vec<_> = e.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        at,
        [
            "/steps/0/config",
            "/steps/0/config",
            "/steps/0/config/phoneNumber",
            "/steps/0/config/variables"
        ]
    );
    assert!(
        one_step(
            "webhook",
            json!({"url": "https://x.test", "method": "GETS"})
        )[0]
        .1
        .contains("'method' must be one of")
    );
    assert_eq!(
        one_step(
            "webhook",
            json!({"url": "https://x.test", "body": {"format": "xml", "content": "<a>{{x</a>"}})
        )[0]
        .0,
        "/steps/0/config/body/content"
    );
    assert!(
        one_step(
            "send_email",
            json!({"to": "a@b.c", "template": "t", "body": "x"})
        )[0]
        .1
        .contains("cannot be combined")
    );
    assert_eq!(
        one_step(
            "make_phone_call",
            json!({"phoneNumber": "1", "url": "http://x.test/t"})
        )[0]
        .0,
        "/steps/0/config/url"
    );
    assert_eq!(
        one_step("custom_code", json!({"code": " ", "timeoutMs": 60000}))[0].0,
        "/steps/0/config/code"
    );
    assert_eq!(
        one_step("emit_event", json!({"event": "bad event"}))[0].0,
        "/steps/0/config/event"
    );
    assert_eq!(
        one_step(
            "schedule_workflow",
            json!({"workflowId": "wf_1", "runAt": {"type": "relative", "value": -1}})
        )[0]
        .0,
        "/steps/0/config/runAt/value"
    );
    for (t, c) in [
        (
            "store_conversation_state",
            json!({"phoneNumber": "{{trigger.phoneNumber}}", "data": {"a": 1}}),
        ),
        (
            "send_whatsapp_message",
            json!({"phoneNumber": "1", "message": "hi {{trigger.name}}"}),
        ),
        (
            "make_phone_call",
            json!({"phoneNumber": "1", "message": "Olá"}),
        ),
        (
            "emit_event",
            json!({"event": "captured_form.created", "data": {"a": "{{trigger.a}}"}}),
        ),
        (
            "webhook",
            json!({"method": "POST", "url": "https://x.test/{{trigger.id}}", "body": {"format": "form", "content": {"a": "1"}}, "acceptStatuses": [200, 404]}),
        ),
    ] {
        assert_eq!(one_step(t, c), [], "{t}");
    }
}
