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

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let workflow_id = f.template("workflowId", REQUIRED);
    if let Some(id) = workflow_id.as_ref().and_then(|t| t.literal()).map(str::to_owned) {
        f.reference("workflowId", |pointer| Reference { kind: ReferenceKind::Workflow, key: id, pointer });
    }
    let run_at = f.raw("runAt", REQUIRED).and_then(|v| parse_run_at(v, f));
    let inputs = f.object("inputs", OPTIONAL);
    Some(Config { workflow_id: workflow_id?, run_at: run_at?, inputs })
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

pub const EFFECTS: crate::Effects = crate::Effects::Internal;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("schedule_workflow", "scheduled workflows (issue 6)")
}
