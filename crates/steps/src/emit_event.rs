//! `emit_event`: publishes an event (e.g. `captured_form.created`) to matching subscriptions.

use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub event: String,
    pub data: Option<TValue>,
}

/// Publishes an event to the store's matching subscriptions, ordered per contact by the data's
/// `phoneNumber` (or `phone`, `contact`). Output: `{eventId}`.
#[derive(utoipa::ToSchema)]
#[schema(as = EmitEventConfig)]
#[allow(dead_code)]
pub struct Doc {
    /// The event's name: dot-separated words (`captured_form.created`).
    event: String,
    /// The event's data: JSON whose strings are templates.
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Value>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Internal;

    fn example() -> serde_json::Value {
        serde_json::json!({"event": "captured_form.created", "data": {"phoneNumber": "{{trigger.phoneNumber}}", "form": "{{trigger.form}}"}})
    }

    fn emits(&self) -> Option<&str> {
        Some(&self.event)
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let event = f.string("event", REQUIRED);
        if let Some(e) = event.as_deref().filter(|e| !is_event_name(e)) {
            f.error("event", format!("'{e}' is not an event name (dot-separated words of letters, digits, '_' or '-')"));
            return None;
        }
        let data = f.value("data", OPTIONAL);
        Some(Config { event: event?, data })
    }

    /// Publishes the event under this visit's idempotency key, so a step run again after a crash
    /// gives back the event it published instead of a second one. The contact that orders it is the
    /// data's `phoneNumber` (or `phone`, `contact`).
    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        use serde_json::{Value, json};
        let data = match self.data.as_ref().map(|d| env.value(d)).transpose() {
            Ok(d) => d.unwrap_or_else(|| json!({})),
            Err(e) => return crate::StepRun::failed(json!({ "event": self.event }), e),
        };
        let input = json!({ "event": self.event, "data": data });
        let contact = ["phoneNumber", "phone", "contact"]
            .iter()
            .find_map(|k| match data.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .map(|p| switchboard_core::run::phone_key(&p))
            .filter(|p| !p.is_empty());
        let request = crate::EmitRequest {
            event: self.event.clone(),
            data,
            contact,
            origin_key: env.idempotency_key.clone(),
        };
        match env.services.emit_event(request).await {
            Ok(id) => crate::StepRun::done(input, json!({ "eventId": id })),
            Err(e) => crate::StepRun::failed(input, e),
        }
    }
}

/// Dot-separated words of letters, digits, `_` or `-`, at most 128 bytes (`captured_form.created`).
pub fn is_event_name(e: &str) -> bool {
    !e.is_empty()
        && e.len() <= 128
        && e.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Scene, output, spec};

    #[tokio::test]
    async fn publishes_once_per_visit_ordered_by_the_contact() {
        let step = spec("emit_event", json!({"event": "captured_form.created",
            "data": {"phoneNumber": "{{trigger.phone}}", "form": "{{trigger.form}}"}}));
        assert_eq!(step.emits(), Some("captured_form.created"));
        let services = FakeServices::default();
        let scene = Scene::new(json!({"phone": "+55 (11) 98888-7777", "form": "contact"}));
        let first = scene.run(&step, &services).await;
        let again = scene.run(&step, &services).await;
        assert_eq!(output(&first), &json!({"eventId": "evt_0"}));
        assert_eq!(output(&again), output(&first));
        let emitted = services.emitted.lock().unwrap();
        assert_eq!(emitted.len(), 1);
        assert_eq!(emitted[0].contact.as_deref(), Some("5511988887777"));
        assert_eq!(emitted[0].data, json!({"phoneNumber": "+55 (11) 98888-7777", "form": "contact"}));
        assert_eq!(emitted[0].origin_key, scene.key);
    }
}
