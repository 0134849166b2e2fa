//! `emit_event`: publishes an event (e.g. `captured_form.created`) to matching subscriptions.

use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub event: String,
    pub data: Option<TValue>,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let event = f.string("event", REQUIRED);
    let valid = |e: &str| {
        !e.is_empty()
            && e.len() <= 128
            && e.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    };
    if let Some(e) = event.as_deref().filter(|e| !valid(e)) {
        f.error("event", format!("'{e}' is not an event name (dot-separated words of letters, digits, '_' or '-')"));
        return None;
    }
    let data = f.value("data", OPTIONAL);
    Some(Config { event: event?, data })
}

pub const EFFECTS: crate::Effects = crate::Effects::Internal;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("emit_event", "subscriptions (issue 7)")
}
