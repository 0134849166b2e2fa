//! `delay`: the run waits (durably, holding no memory) for a duration or until a time.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED};

use crate::exactly_one;

const MAX_MINUTES: f64 = 366.0 * 24.0 * 60.0;

#[derive(Debug, Clone)]
pub enum Config {
    Minutes(f64),
    Seconds(f64),
    /// An RFC 3339 time, or a template giving one.
    Until(Template),
}

/// Waits, durably: exactly one of `delayMinutes`, `delaySeconds` or `until`, counted from when the
/// visit started. Output: `{resumedAt}`.
#[derive(utoipa::ToSchema)]
#[schema(as = DelayConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// Minutes to wait (0 or more).
    delay_minutes: Option<f64>,
    /// Seconds to wait (0 or more).
    delay_seconds: Option<f64>,
    /// An RFC 3339 time, or a template giving one.
    until: Option<String>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Pure;

    fn example() -> serde_json::Value {
        serde_json::json!({"delayMinutes": 60})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let which = exactly_one(f, &["delayMinutes", "delaySeconds", "until"]);
        let minutes = f.number("delayMinutes", false, 0.0, MAX_MINUTES);
        let seconds = f.number("delaySeconds", false, 0.0, MAX_MINUTES * 60.0);
        let until = f.template("until", false);
        // A literal time that is not one would fail each run; stored versions keep running.
        if f.ctx.options.strict
            && let Some(text) = until.as_ref().and_then(|t| t.literal())
            && chrono::DateTime::parse_from_rfc3339(text.trim()).is_err()
        {
            f.error("until", format!("'until' must be an RFC 3339 time (e.g. 2026-12-01T09:00:00Z) or a template, not '{text}'"));
            return None;
        }
        match which? {
            "delayMinutes" => minutes.map(Config::Minutes),
            "delaySeconds" => seconds.map(Config::Seconds),
            _ => until.map(Config::Until).or_else(|| f.template("until", REQUIRED).map(Config::Until)),
        }
    }

    /// Counts from when the visit started, so running it again after a wake-up or a restart is
    /// harmless: once the time has come, it completes.
    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        use serde_json::json;
        use switchboard_core::run::{Outcome, StepError};
        use switchboard_core::transition::scaled;
        let (input, at) = match self {
            Config::Minutes(m) => (json!({ "delayMinutes": m }), env.started_ms + scaled(m * 60_000.0, env.time_scale)),
            Config::Seconds(s) => (json!({ "delaySeconds": s }), env.started_ms + scaled(s * 1000.0, env.time_scale)),
            Config::Until(t) => {
                let text = match env.text(t) {
                    Ok(t) => t,
                    Err(e) => return crate::StepRun::failed(serde_json::Value::Null, e),
                };
                match chrono::DateTime::parse_from_rfc3339(text.trim()) {
                    Ok(time) => (json!({ "until": text }), time.timestamp_millis()),
                    Err(e) => {
                        let e = StepError::new("invalid_input", format!("'until' is not an RFC 3339 time ('{text}'): {e}"));
                        return crate::StepRun::failed(json!({ "until": text }), e);
                    }
                }
            }
        };
        let result = if env.now_ms >= at {
            let resumed = chrono::DateTime::from_timestamp_millis(env.now_ms).unwrap_or_default();
            Ok(Outcome::Next(json!({ "resumedAt": resumed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) })))
        } else {
            Ok(Outcome::WaitUntil(at))
        };
        crate::StepRun { input, result, logs: Vec::new(), http: None }
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchboard_core::run::Outcome;

    use crate::testing::{FakeServices, NOW_MS, Scene, error_code, output, spec};

    #[tokio::test]
    async fn waits_from_the_start_of_the_visit_then_completes() {
        let step = spec("delay", json!({"delaySeconds": 30}));
        let mut scene = Scene::new(json!({}));
        scene.started_ms = NOW_MS - 10_000;
        let run = scene.run(&step, &FakeServices::default()).await;
        assert_eq!(run.result, Ok(Outcome::WaitUntil(NOW_MS + 20_000)));
        scene.time_scale = 10.0;
        let run = scene.run(&step, &FakeServices::default()).await;
        assert_eq!(output(&run), &json!({"resumedAt": "2026-01-15T12:00:00.000Z"}));
    }

    #[tokio::test]
    async fn until_takes_an_rfc_3339_time() {
        let step = spec("delay", json!({"until": "{{trigger.at}}"}));
        let scene = Scene::new(json!({"at": "2026-01-15T13:00:00Z"}));
        let run = scene.run(&step, &FakeServices::default()).await;
        assert_eq!(run.result, Ok(Outcome::WaitUntil(NOW_MS + 3_600_000)));
        let scene = Scene::new(json!({"at": "tomorrow"}));
        let run = scene.run(&step, &FakeServices::default()).await;
        assert_eq!(error_code(&run), "invalid_input");
    }
}
