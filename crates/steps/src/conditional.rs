//! `conditional`: its `condition`, `then` and `else` are graph structure, read by the workflow model
//! into edges; the step itself reports which way it went (`{result}`).

use switchboard_core::workflow::Fields;

#[derive(Debug, Clone)]
pub struct Config;

/// Branches: `then` when `condition` holds, else `else` (or on to the next step); the branches
/// rejoin after it. Output: `{result}`, whether `then` was taken.
#[derive(utoipa::ToSchema)]
#[schema(as = ConditionalConfig)]
#[allow(dead_code)]
pub struct Doc {
    /// A JavaScript expression without braces, judged by JavaScript truthiness
    /// (`context.trigger.companies.length > 0`).
    condition: String,
    /// A step, or a list of steps, run when the condition holds.
    then: serde_json::Value,
    /// A step, or a list of steps, run when it does not.
    r#else: Option<serde_json::Value>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Pure;

    fn example() -> serde_json::Value {
        serde_json::json!({"condition": "context.trigger.companies && context.trigger.companies.length > 0",
            "then": {"id": "companies", "type": "store_context_data", "config": {"data": {"companies": "{{trigger.companies}}"}}}})
    }

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Scene, spec};

    #[tokio::test]
    async fn its_output_says_which_branch_was_taken() {
        let step = spec("conditional", <super::Config as crate::Step>::example());
        let run = Scene::new(json!({})).run(&step, &FakeServices::default()).await;
        assert!(run.result.is_ok());
        assert_eq!(step.branch_output(Some(0)), Some(json!({"result": true})));
        assert_eq!(step.branch_output(Some(1)), Some(json!({"result": false})));
        assert_eq!(step.branch_output(None), Some(json!({"result": false})));
        assert!(!step.merges_state());
    }
}
