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

/// One loop over the registry: every step type's example compiles cleanly; a config that is not
/// an object, an unknown field and a wrong value are each reported at their pointer; and the
/// declared effects hold (steps that only compute touch no service, steps with effects outside
/// get three attempts by default).
mod registry {
    use serde_json::{Value, json};
    use switchboard_core::workflow::Options;

    use crate::testing::{FakeServices, Scene, spec};
    use crate::{Effects, TYPES, compile, example, retry_policy};

    fn report(step_type: &str, config: Value) -> (Vec<String>, Vec<String>) {
        let def = json!({"name": "t", "trigger": {"type": "manual"},
            "steps": [{"id": "s", "type": step_type, "config": config}]});
        let report = compile(
            &def,
            &Options {
                allow_http: true,
                ..Default::default()
            },
        )
        .report;
        let at = |ps: Vec<switchboard_core::Problem>| ps.into_iter().map(|p| p.pointer).collect();
        (at(report.errors), at(report.warnings))
    }

    #[test]
    fn every_example_compiles_without_a_problem() {
        assert_eq!(TYPES.len(), 12);
        for t in TYPES {
            let example = example(t).unwrap();
            assert!(example.is_object(), "{t}");
            assert_eq!(report(t, example), (vec![], vec![]), "{t}");
        }
        assert_eq!(example("no_such_step"), None);
    }

    /// The documented schema and the reader agree: every example fits its schema, names only
    /// documented fields, and every field is documented.
    #[test]
    fn every_example_fits_its_documented_schema() {
        for t in TYPES {
            let schema = crate::schema(t).unwrap();
            let example = example(t).unwrap();
            let validator = jsonschema::validator_for(&schema).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&example)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{t}: {errors:?}");
            let documented = schema["properties"].as_object().unwrap();
            for key in example.as_object().unwrap().keys() {
                assert!(documented.contains_key(key), "{t}.{key} is not documented");
            }
            let about = schema["description"].as_str().unwrap_or_default();
            assert!(about.contains("Output"), "{t} says what it gives");
            for (key, field) in documented {
                assert!(
                    field["description"].is_string(),
                    "{t}.{key} has no description"
                );
            }
        }
    }

    #[test]
    fn problems_are_reported_at_their_pointer() {
        for t in TYPES {
            let (errors, _) = report(t, json!("not an object"));
            assert!(!errors.is_empty(), "{t}");
            assert!(
                errors.iter().all(|e| e == "/steps/0/config"),
                "{t}: {errors:?}"
            );
            let mut extra = example(t).unwrap();
            extra["colour"] = json!("blue");
            let (errors, warnings) = report(t, extra);
            assert!(errors.is_empty(), "{t}: {errors:?}");
            assert_eq!(warnings, ["/steps/0/config/colour"], "{t}");
            let fields: Vec<String> = example(t)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            for field in fields {
                let mut wrong = example(t).unwrap();
                wrong[&field] = json!([[[]]]);
                let (errors, _) = report(t, wrong);
                let at_field = |e: &String| e.starts_with(&format!("/steps/0/config/{field}"));
                // Some fields take any JSON (`emit_event.data`); the others say where it is wrong.
                assert!(
                    errors.is_empty() || errors.iter().any(at_field),
                    "{t}.{field}: {errors:?}"
                );
                assert!(
                    errors.iter().all(|e| e.starts_with("/steps/0/config")),
                    "{t}.{field}: {errors:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn declared_effects_hold() {
        let trigger = json!({"fullName": "Ana Souza", "phoneNumber": "+55 11 98888-7777",
            "email": "ana@example.com", "items": [1, 2], "form": "contact"});
        for t in TYPES {
            let step = spec(t, example(t).unwrap());
            let effects = step.effects();
            assert_eq!(step.has_effects(), effects == Effects::External, "{t}");
            let attempts = retry_policy(&step, None).max_attempts;
            assert_eq!(
                attempts,
                if effects == Effects::External { 3 } else { 1 },
                "{t}"
            );
            let services = FakeServices {
                callable: vec!["wf_follow_up".into()],
                ..Default::default()
            };
            let run = Scene::new(trigger.clone()).run(&step, &services).await;
            let touched = services.conversations.lock().unwrap().len()
                + services.calls.lock().unwrap().len()
                + services.emitted.lock().unwrap().len()
                + services.sent.lock().unwrap().len();
            match effects {
                Effects::Pure | Effects::Compute => {
                    assert_eq!(touched, 0, "{t}");
                    assert!(run.result.is_ok(), "{t}: {:?}", run.result);
                }
                Effects::Internal => assert_eq!(touched, 1, "{t}: {:?}", run.result),
                // Nothing configured: the step fails before anything leaves.
                Effects::External => {
                    assert_eq!(touched, 0, "{t}");
                    assert!(run.result.is_err(), "{t}");
                }
            }
        }
    }
}

/// `docs/steps.md` is what the registry says; `UPDATE_DOCS=1` rewrites it.
#[test]
fn docs_steps_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/steps.md");
    let made = crate::reference::steps_md();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &made).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == made,
        "docs/steps.md is stale: run `UPDATE_DOCS=1 cargo test -p switchboard-steps docs_steps_md` and commit it"
    );
}
