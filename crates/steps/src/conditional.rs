//! `conditional`: its `condition`, `then` and `else` are graph structure, read by the workflow model
//! into edges; the step itself reports which way it went (`{result}`).

use switchboard_core::workflow::Fields;

#[derive(Debug, Clone)]
pub struct Config;

pub fn parse(_: &mut Fields<'_, '_>) -> Option<Config> {
    Some(Config)
}

pub const EFFECTS: crate::Effects = crate::Effects::Pure;

/// The branch is chosen by the node's edges (the engine evaluates them once); see [`output`].
pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::StepRun::done(serde_json::Value::Null, serde_json::Value::Null)
}

/// The output once the engine took edge `taken`: edge 0 is `then`, guarded by the condition.
pub fn output(taken: Option<usize>) -> serde_json::Value {
    serde_json::json!({ "result": taken == Some(0) })
}
