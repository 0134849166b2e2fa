//! `make_phone_call`: a voice call that speaks `message`, runs `twiml`, or fetches TwiML from `url`.

use serde_json::{Value, json};
use switchboard_channels::voice;
use switchboard_core::run::phone_key;
use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED};

use crate::exactly_one;

#[derive(Debug, Clone)]
pub struct Config {
    pub phone_number: Template,
    pub script: Script,
}

#[derive(Debug, Clone)]
pub enum Script {
    Say(Template),
    Twiml(Template),
    Url(Template),
}

impl crate::Step for Config {
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn parse(f: &mut Fields<'_, '_>) -> Option<Self> {
        let phone_number = f.template("phoneNumber", REQUIRED);
        let which = exactly_one(f, &["message", "twiml", "url"]);
        let script = match which? {
            "message" => f.template("message", REQUIRED).map(Script::Say),
            "twiml" => f.template("twiml", REQUIRED).map(Script::Twiml),
            _ => f.url("url", REQUIRED).map(Script::Url),
        };
        Some(Config { phone_number: phone_number?, script: script? })
    }

    async fn run(&self, env: &crate::StepEnv<'_>) -> crate::StepRun {
        let resolved = env.text(&self.phone_number).and_then(|phone| {
            let (key, script) = match &self.script {
                Script::Say(t) => ("message", env.text(t)?),
                Script::Twiml(t) => ("twiml", env.text(t)?),
                Script::Url(t) => ("url", env.text(t)?),
            };
            Ok((phone, key, script))
        });
        let (phone, key, text) = match resolved {
            Ok(r) => r,
            Err(e) => return crate::StepRun::failed(Value::Null, e),
        };
        let mut input = json!({"phoneNumber": phone});
        input[key] = Value::String(text.clone());
        let config = match env.services.voice().await {
            Ok(config) => config,
            Err(e) => return crate::StepRun::failed(input, e),
        };
        let script = match key {
            "message" => voice::Script::say(&text),
            "twiml" => voice::Script::Twiml(text),
            _ => voice::Script::Url(text),
        };
        let callback = env.services.voice_status_callback();
        let attempt = voice::call(env.services.http(), &config, &phone, &script, callback.as_deref()).await;
        let record = match &script {
            voice::Script::Twiml(twiml) => json!({"type": "call", "twiml": twiml}),
            voice::Script::Url(url) => json!({"type": "call", "url": url}),
        };
        env.delivered(input, "voice", phone_key(&phone), record, attempt, |sent| json!({"callSid": sent.provider_id, "status": sent.status}))
            .await
    }
}

