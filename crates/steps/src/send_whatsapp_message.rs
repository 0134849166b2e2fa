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

/// Sends a free-form WhatsApp text message through the store's WhatsApp channel. Output:
/// `{messageId, status}`.
#[derive(utoipa::ToSchema)]
#[schema(as = SendWhatsappMessageConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// A template giving the recipient's phone number.
    phone_number: String,
    /// The text, a template.
    message: String,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn example() -> serde_json::Value {
        serde_json::json!({"phoneNumber": "{{trigger.phoneNumber}}", "message": "Olá {{trigger.fullName}}!"})
    }

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


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Responder, Scene, error_code, output, spec, whatsapp_at};

    #[tokio::test]
    async fn posts_a_text_message_and_records_it() {
        let meta = Responder::start(200, r#"{"messages": [{"id": "wamid.T1"}]}"#).await;
        let services = FakeServices { whatsapp: Some(whatsapp_at(&meta.url)), ..Default::default() };
        let step = spec("send_whatsapp_message", json!({"phoneNumber": "{{trigger.phone}}", "message": "Olá {{trigger.name}}"}));
        let run = Scene::new(json!({"phone": "+55 11 98888-7777", "name": "Ana"})).run(&step, &services).await;
        assert_eq!(output(&run)["messageId"], "wamid.T1");
        let body: serde_json::Value = serde_json::from_str(&meta.requests()[0].body).unwrap();
        assert_eq!((&body["type"], &body["text"]["body"]), (&json!("text"), &json!("Olá Ana")));
        assert_eq!(services.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_provider_refusal_is_a_provider_error() {
        let meta = Responder::start(400, r#"{"error": {"message": "bad", "code": 131026}}"#).await;
        let services = FakeServices { whatsapp: Some(whatsapp_at(&meta.url)), ..Default::default() };
        let step = spec("send_whatsapp_message", json!({"phoneNumber": "1555", "message": "hi"}));
        let run = Scene::new(json!({})).run(&step, &services).await;
        assert_eq!(error_code(&run), "provider_error");
        assert!(services.sent.lock().unwrap().is_empty());
    }
}
