//! `schedule_workflow` (and Kustomer's `kustomer.app.scheduler.schedule-workflow`): starts a callable
//! workflow later, with `inputs`.

use serde_json::Value;
use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, Reference, ReferenceKind, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub workflow_id: Template,
    pub run_at: RunAt,
    pub inputs: Option<TValue>,
}

#[derive(Debug, Clone)]
pub enum RunAt {
    /// Seconds from when the step runs (a number or a template giving one).
    Relative(TValue),
    /// An RFC 3339 time, or a template giving one.
    Absolute(Template),
}

/// Starts a callable workflow later with `inputs`, checked against its schema. Output:
/// `{scheduleId, runAt}`.
#[derive(utoipa::ToSchema)]
#[schema(as = ScheduleWorkflowConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// The callable workflow's id; a literal one is checked when the workflow is saved.
    workflow_id: String,
    /// `{type: "relative", value: <seconds>}` or `{type: "absolute", value: <RFC 3339 time>}`;
    /// `value` may be a template.
    #[schema(value_type = Object)]
    run_at: serde_json::Value,
    /// The callee's trigger data: an object of templates.
    #[schema(value_type = Option<Object>)]
    inputs: Option<serde_json::Value>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Internal;

    fn example() -> serde_json::Value {
        serde_json::json!({"workflowId": "wf_follow_up", "runAt": {"type": "relative", "value": 3600}, "inputs": {"phoneNumber": "{{trigger.phoneNumber}}"}})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let workflow_id = f.template("workflowId", REQUIRED);
        if let Some(id) = workflow_id.as_ref().and_then(|t| t.literal()).map(str::to_owned) {
            f.reference("workflowId", |pointer| Reference { kind: ReferenceKind::Workflow, key: id, pointer });
        }
        let run_at = f.raw("runAt", REQUIRED).and_then(|v| parse_run_at(v, f));
        let inputs = f.object("inputs", OPTIONAL);
        Some(Config { workflow_id: workflow_id?, run_at: run_at?, inputs })
    }

    /// Resolves the call and hands it to the scheduler, which checks the inputs against the callee's
    /// schema before anything is scheduled. The call's key is this visit's idempotency key, so the
    /// step run again (after a crash) finds its call instead of making a second one.
    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        use serde_json::json;
        use switchboard_core::run::{Outcome, StepError};
        let mut input = json!({});
        let resolved = (|| -> Result<crate::CallRequest, StepError> {
            let workflow_id = env.text(&self.workflow_id)?;
            input["workflowId"] = json!(workflow_id);
            let due_ms = match &self.run_at {
                RunAt::Relative(v) => {
                    let value = env.value(v)?;
                    input["runAt"] = json!({"type": "relative", "value": value});
                    let seconds = value
                        .as_f64()
                        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| invalid(format!("a relative 'runAt' is a number of seconds (0 or more), not {value}")))?;
                    env.now_ms + switchboard_core::transition::scaled(seconds * 1000.0, env.time_scale)
                }
                RunAt::Absolute(t) => {
                    let text = env.text(t)?;
                    input["runAt"] = json!({"type": "absolute", "value": text});
                    chrono::DateTime::parse_from_rfc3339(text.trim())
                        .map_err(|e| invalid(format!("an absolute 'runAt' is an RFC 3339 time, not '{text}': {e}")))?
                        .timestamp_millis()
                }
            };
            let inputs = match &self.inputs {
                None => json!({}),
                Some(v) => match env.value(v)? {
                    Value::Null => json!({}),
                    o @ Value::Object(_) => o,
                    other => return Err(invalid(format!("'inputs' must give an object, not {other}"))),
                },
            };
            input["inputs"] = inputs.clone();
            Ok(crate::CallRequest {
                workflow_id,
                due_ms,
                inputs,
                origin_key: env.idempotency_key.clone(),
                run_id: env.run_id.to_owned(),
                step_id: env.step_id.to_owned(),
            })
        })();
        let call = match resolved {
            Ok(call) => call,
            Err(e) => return crate::StepRun::failed(input, e),
        };
        let result = env.services.schedule_call(call).await.map(|scheduled| {
            let run_at = chrono::DateTime::from_timestamp_millis(scheduled.due_ms).unwrap_or_default();
            Outcome::Next(json!({
                "scheduleId": scheduled.id,
                "runAt": run_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }))
        });
        crate::StepRun { input, result, logs: Vec::new(), http: None }
    }
}

fn parse_run_at(value: &Value, f: &mut Fields<'_, '_>) -> Option<RunAt> {
    let at = f.pointer("runAt");
    let mut r = Fields::new(Some(value), at, "runAt", f.ctx)?;
    let kind = r.one_of("type", REQUIRED, &["relative", "absolute"]);
    let run_at = match kind.as_deref() {
        Some("relative") => match r.raw("value", REQUIRED) {
            Some(Value::Number(n)) if n.as_f64().is_some_and(|s| s >= 0.0) => r.value("value", REQUIRED).map(RunAt::Relative),
            Some(Value::String(_)) => r.value("value", REQUIRED).map(RunAt::Relative),
            Some(_) => {
                r.error("value", "a relative 'value' is a number of seconds (0 or more)");
                None
            }
            None => None,
        },
        Some(_) => r.template("value", REQUIRED).map(RunAt::Absolute),
        None => {
            r.raw("value", OPTIONAL);
            None
        }
    };
    r.finish();
    run_at
}

fn invalid(message: String) -> switchboard_core::run::StepError {
    switchboard_core::run::StepError::new("invalid_input", message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, NOW_MS, Scene, error_code, output, spec};

    #[tokio::test]
    async fn schedules_a_call_relative_to_now_once_per_visit() {
        let step = spec("schedule_workflow", json!({"workflowId": "wf_b",
            "runAt": {"type": "relative", "value": "{{trigger.wait}}"}, "inputs": {"phone": "{{trigger.phone}}"}}));
        let services = FakeServices { callable: vec!["wf_b".into()], ..Default::default() };
        let scene = Scene::new(json!({"wait": 90, "phone": "+1 555"}));
        let run = scene.run(&step, &services).await;
        assert_eq!(output(&run)["scheduleId"], "sc_0");
        scene.run(&step, &services).await;
        let calls = services.calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].due_ms, &calls[0].inputs), (NOW_MS + 90_000, &json!({"phone": "+1 555"})));
    }

    #[tokio::test]
    async fn a_negative_wait_or_an_unknown_callee_fails() {
        let step = spec("schedule_workflow", json!({"workflowId": "wf_b", "runAt": {"type": "relative", "value": "{{trigger.wait}}"}}));
        let services = FakeServices::default();
        let run = Scene::new(json!({"wait": -5})).run(&step, &services).await;
        assert_eq!(error_code(&run), "invalid_input");
        let run = Scene::new(json!({"wait": 5})).run(&step, &services).await;
        assert_eq!(error_code(&run), "workflow_not_found");
    }
}
