//! `store_conversation_state`: merges `data` into the conversation state of `phoneNumber`.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub phone_number: Template,
    pub data: TValue,
}

/// Merges `data` (RFC 7396: `null` deletes a key) into the conversation of `phoneNumber`, keyed by
/// its digits. Output: the conversation's merged state.
#[derive(utoipa::ToSchema)]
#[schema(as = StoreConversationStateConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// A template giving the phone number, in any spelling.
    phone_number: String,
    /// An object whose strings are templates.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::Internal;

    fn example() -> serde_json::Value {
        serde_json::json!({"phoneNumber": "{{trigger.phoneNumber}}", "data": {"stage": "lead", "name": "{{trigger.fullName}}"}})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let phone_number = f.template("phoneNumber", REQUIRED);
        let data = f.object("data", REQUIRED);
        Some(Config { phone_number: phone_number?, data: data? })
    }

    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        use serde_json::{Value, json};
        use switchboard_core::run::{StepError, phone_key};
        let phone = match env.text(&self.phone_number) {
            Ok(p) => p,
            Err(e) => return crate::StepRun::failed(Value::Null, e),
        };
        let data = match env.value(&self.data) {
            Ok(d) => d,
            Err(e) => return crate::StepRun::failed(json!({ "phoneNumber": phone }), e),
        };
        let input = json!({ "phoneNumber": phone, "data": data });
        let key = phone_key(&phone);
        if key.is_empty() {
            let e = StepError::new("invalid_input", format!("'{phone}' is not a phone number: it has no digits"));
            return crate::StepRun::failed(input, e);
        }
        match env.services.merge_conversation(&key, &data).await {
            Ok(state) => crate::StepRun::done(input, state),
            Err(e) => crate::StepRun::failed(input, e),
        }
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Scene, error_code, output, spec};

    #[tokio::test]
    async fn merges_into_the_conversation_of_the_phone_digits() {
        let step = spec("store_conversation_state", json!({"phoneNumber": "{{trigger.phone}}",
            "data": {"stage": "{{trigger.stage}}", "old": null}}));
        let services = FakeServices::default();
        services.conversations.lock().unwrap().insert("5511988887777".into(), json!({"old": 1, "keep": true}));
        let run = Scene::new(json!({"phone": "+55 11 98888-7777", "stage": "lead"})).run(&step, &services).await;
        assert_eq!(output(&run), &json!({"keep": true, "stage": "lead"}));
        assert_eq!(run.input["phoneNumber"], "+55 11 98888-7777");
    }

    #[tokio::test]
    async fn a_phone_without_digits_is_invalid_input() {
        let step = spec("store_conversation_state", json!({"phoneNumber": "n/a", "data": {"a": 1}}));
        let services = FakeServices::default();
        let run = Scene::new(json!({})).run(&step, &services).await;
        assert_eq!(error_code(&run), "invalid_input");
        assert!(services.conversations.lock().unwrap().is_empty());
    }
}
