//! `store_context_data`: resolves `data` and merges it into the run's `state`.

use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    /// An object of templates.
    pub data: TValue,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    Some(Config { data: f.object("data", REQUIRED)? })
}

pub const EFFECTS: crate::Effects = crate::Effects::Pure;

/// The output is the resolved object; the engine merges it into `state`.
pub async fn run(config: &Config, env: &crate::StepEnv<'_>) -> crate::StepRun {
    match env.value(&config.data) {
        Ok(data) => crate::StepRun::done(serde_json::json!({ "data": data }), data),
        Err(e) => crate::StepRun::failed(serde_json::Value::Null, e),
    }
}
