//! `conditional`: its `condition`, `then` and `else` are graph structure, read by the workflow model
//! into edges; the step itself reports which way it went (`{result}`).

use switchboard_core::workflow::Fields;

#[derive(Debug, Clone)]
pub struct Config;

impl crate::Step for Config {
    const EFFECTS: crate::Effects = crate::Effects::Pure;

    fn parse(_: &mut Fields<'_, '_>) -> Option<Self> {
        Some(Config)
    }

    /// The branch is chosen by the node's edges (the engine evaluates them once); see
    /// [`branch_output`](crate::Step::branch_output).
    async fn run(&self, _: &crate::StepEnv<'_>) -> crate::StepRun {
        crate::StepRun::done(serde_json::Value::Null, serde_json::Value::Null)
    }

    /// `{result}`: whether edge 0, `then` (guarded by the condition), was taken.
    fn branch_output(taken: Option<usize>) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "result": taken == Some(0) }))
    }
}
