//! `store_conversation_state`: merges `data` into the conversation state of `phoneNumber`.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub phone_number: Template,
    pub data: TValue,
}

impl crate::Step for Config {
    const EFFECTS: crate::Effects = crate::Effects::Internal;

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

