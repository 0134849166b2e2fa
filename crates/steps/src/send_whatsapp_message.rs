//! `send_whatsapp_message`: a WhatsApp text message.

use serde_json::{Value, json};
use switchboard_channels::whatsapp::{self, Content};
use switchboard_core::run::phone_key;
use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED};

#[derive(Debug, Clone)]
pub struct Config {
    pub phone_number: Template,
    pub message: Template,
}

impl crate::Step for Config {
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let phone_number = f.template("phoneNumber", REQUIRED);
        let message = f.template("message", REQUIRED);
        Some(Config { phone_number: phone_number?, message: message? })
    }

    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        let (phone, text) = match env.text(&self.phone_number).and_then(|p| Ok((p, env.text(&self.message)?))) {
            Ok(r) => r,
            Err(e) => return crate::StepRun::failed(Value::Null, e),
        };
        let input = json!({"phoneNumber": phone, "message": text});
        let config = match env.services.whatsapp().await {
            Ok(config) => config,
            Err(e) => return crate::StepRun::failed(input, e),
        };
        let content = Content::Text { body: text.clone() };
        let attempt = whatsapp::send(env.services.http(), &config, &phone, &content).await;
        let record = json!({"type": "text", "text": text});
        env.delivered(input, "whatsapp", phone_key(&phone), record, attempt, |sent| json!({"messageId": sent.provider_id, "status": sent.status}))
            .await
    }
}

