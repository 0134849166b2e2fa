//! `send_whatsapp_template`: a WhatsApp template message; `variables` become named body parameters.

use serde_json::{Value, json};
use switchboard_channels::whatsapp::{self, Content};
use switchboard_core::run::{StepError, phone_key};
use switchboard_core::template::Template;
use switchboard_script::eval;
use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub template_id: Template,
    pub language_code: Template,
    pub phone_number: Template,
    pub variables: Option<TValue>,
}

/// Sends a WhatsApp template message through the store's WhatsApp channel. Output:
/// `{messageId, status}`.
#[derive(utoipa::ToSchema)]
#[schema(as = SendWhatsappTemplateConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// The approved template's name.
    template_id: String,
    /// Its language, e.g. `pt_BR`.
    language_code: String,
    /// A template giving the recipient's phone number.
    phone_number: String,
    /// Named body parameters: an object of templates.
    #[schema(value_type = Option<Object>)]
    variables: Option<serde_json::Value>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn example() -> serde_json::Value {
        serde_json::json!({"templateId": "welcome_v2", "languageCode": "pt_BR", "phoneNumber": "{{trigger.phoneNumber}}", "variables": {"name": "{{trigger.fullName}}"}})
    }

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let template_id = f.template("templateId", REQUIRED);
        let language_code = f.template("languageCode", REQUIRED);
        let phone_number = f.template("phoneNumber", REQUIRED);
        let variables = f.object("variables", OPTIONAL);
        Some(Config { template_id: template_id?, language_code: language_code?, phone_number: phone_number?, variables })
    }

    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        let resolved = (|| -> Result<_, StepError> {
            let variables = match &self.variables {
                Some(v) => env.value(v)?,
                None => Value::Object(Default::default()),
            };
            Ok((env.text(&self.template_id)?, env.text(&self.language_code)?, env.text(&self.phone_number)?, variables))
        })();
        let (name, language, phone, variables) = match resolved {
            Ok(r) => r,
            Err(e) => return crate::StepRun::failed(Value::Null, e),
        };
        let input = json!({"templateId": name, "languageCode": language, "phoneNumber": phone, "variables": variables});
        let config = match env.services.whatsapp().await {
            Ok(config) => config,
            Err(e) => return crate::StepRun::failed(input, e),
        };
        let texts = variables.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), eval::text_of(v))).collect());
        let content = Content::Template { name, language, variables: texts.unwrap_or_default() };
        let attempt = whatsapp::send(env.services.http(), &config, &phone, &content).await;
        let record = json!({"type": "template", "template": input["templateId"], "languageCode": input["languageCode"], "variables": input["variables"]});
        env.delivered(input, "whatsapp", phone_key(&phone), record, attempt, |sent| json!({"messageId": sent.provider_id, "status": sent.status}))
            .await
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Responder, Scene, error_code, output, spec, whatsapp_at};

    #[tokio::test]
    async fn posts_the_template_to_the_graph_api_and_records_it() {
        let meta = Responder::start(200, r#"{"messages": [{"id": "wamid.A1", "message_status": "accepted"}]}"#).await;
        let services = FakeServices { whatsapp: Some(whatsapp_at(&meta.url)), ..Default::default() };
        let step = spec("send_whatsapp_template", <super::Config as crate::Step>::example());
        let run = Scene::new(json!({"phoneNumber": "+55 11 98888-7777", "fullName": "Ana"})).run(&step, &services).await;
        assert_eq!(output(&run), &json!({"messageId": "wamid.A1", "status": "accepted"}));
        let got = meta.requests();
        assert_eq!(got[0].line, "POST /v21.0/1065403522/messages HTTP/1.1");
        assert_eq!(got[0].headers["authorization"], "Bearer EAAG-test");
        let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!((&body["to"], &body["type"], &body["template"]["name"]), (&json!("5511988887777"), &json!("template"), &json!("welcome_v2")));
        let sent = services.sent.lock().unwrap();
        assert_eq!((sent[0].channel, sent[0].provider_id.as_str(), sent[0].contact.as_str()), ("whatsapp", "wamid.A1", "5511988887777"));
    }

    #[tokio::test]
    async fn without_a_channel_nothing_is_sent() {
        let step = spec("send_whatsapp_template", <super::Config as crate::Step>::example());
        let services = FakeServices::default();
        let run = Scene::new(json!({"phoneNumber": "+1 555 0100"})).run(&step, &services).await;
        assert_eq!(error_code(&run), "channel_not_configured");
        assert_eq!(run.input["phoneNumber"], "+1 555 0100");
        assert!(services.sent.lock().unwrap().is_empty());
    }
}
