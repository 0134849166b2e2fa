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

impl crate::Step for Config {
    const EFFECTS: crate::Effects = crate::Effects::External;

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

