//! `store_context_data`: resolves `data` and merges it into the run's `state`.

use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    /// An object of templates.
    pub data: TValue,
}

impl crate::Step for Config {
    const EFFECTS: crate::Effects = crate::Effects::Pure;
    const MERGES_STATE: bool = true;

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        Some(Config { data: f.object("data", REQUIRED)? })
    }

    /// The output is the resolved object, merged into `state`.
    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        match env.value(&self.data) {
            Ok(data) => crate::StepRun::done(serde_json::json!({ "data": data }), data),
            Err(e) => crate::StepRun::failed(serde_json::Value::Null, e),
        }
    }
}

