//! `custom_code`: JavaScript run in a fresh sandbox; `return` gives the step's output.

use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, Script};

/// The most a step may raise its time limit to.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub code: String,
    pub timeout_ms: Option<u64>,
}

/// Runs JavaScript in a fresh sandbox; `context` (trigger, state, variables, steps, store) is in
/// scope, and `console.log` lines are kept with the step. Output: the JSON value `return` gives.
#[derive(utoipa::ToSchema)]
#[schema(as = CustomCodeConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// The code.
    code: String,
    /// Time limit in ms (default the server's `SWITCHBOARD_CODE_TIMEOUT_MS`, at most 30000).
    timeout_ms: Option<u64>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Compute;

    fn example() -> serde_json::Value {
        serde_json::json!({"code": "return {total: context.trigger.items.length};", "timeoutMs": 1000})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let code = f.string("code", REQUIRED);
        if code.as_deref().is_some_and(|c| c.trim().is_empty()) {
            f.error("code", "'code' must not be empty");
            return None;
        }
        let timeout_ms = f.integer("timeoutMs", OPTIONAL, 1, MAX_TIMEOUT_MS);
        if let Some(source) = &code {
            let pointer = f.pointer("code");
            f.ctx.scripts.push(Script { pointer, source: source.clone(), is_code: true });
        }
        Some(Config { code: code?, timeout_ms })
    }

    /// Runs on the sandbox's JS threads: a script may take up to its time limit.
    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        use serde_json::json;
        use switchboard_core::run::StepError;
        let timeout = self.timeout_ms.map(std::time::Duration::from_millis);
        let result = switchboard_script::run_code_async(env.store_id, &self.code, &env.scope, timeout).await;
        let input = json!({ "timeoutMs": timeout.unwrap_or(switchboard_script::Limits::current().code_timeout).as_millis() as u64 });
        match result {
            Ok(out) => {
                let mut run = crate::StepRun::done(input, out.value);
                run.logs = out.logs;
                run
            }
            Err(e) => crate::StepRun::failed(input, StepError::new(e.code(true), e.to_string())),
        }
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Scene, error_code, output, spec};

    #[tokio::test]
    async fn returns_what_the_code_returns_with_its_logs() {
        let step = spec("custom_code", json!({"code": "console.log('n', context.trigger.items.length); return {total: context.trigger.items.reduce((a, b) => a + b, 0)};"}));
        let run = Scene::new(json!({"items": [1, 2, 3]})).run(&step, &FakeServices::default()).await;
        assert_eq!(output(&run), &json!({"total": 6}));
        assert_eq!(run.logs.len(), 1);
        assert!(run.logs[0].contains("n 3"), "{:?}", run.logs);
    }

    #[tokio::test]
    async fn stops_at_its_time_limit() {
        let step = spec("custom_code", json!({"code": "while (true) {}", "timeoutMs": 100}));
        let run = Scene::new(json!({})).run(&step, &FakeServices::default()).await;
        assert_eq!(error_code(&run), "script_timeout");
        assert_eq!(run.input, json!({"timeoutMs": 100}));
    }
}
