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

/// Places a phone call through the store's voice channel (Twilio): exactly one of `message`
/// (spoken), `twiml` or `url`. Output: `{callSid, status}`.
#[derive(utoipa::ToSchema)]
#[schema(as = MakePhoneCallConfig)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Doc {
    /// A template giving the number to call.
    phone_number: String,
    /// Text to speak, a template.
    message: Option<String>,
    /// TwiML to run, a template.
    twiml: Option<String>,
    /// A URL that answers with TwiML.
    url: Option<String>,
}

impl crate::Step for Config {
    type Doc = Doc;
    const EFFECTS: crate::Effects = crate::Effects::External;

    fn example() -> serde_json::Value {
        serde_json::json!({"phoneNumber": "{{trigger.phoneNumber}}", "message": "Olá {{trigger.fullName}}, your order has shipped."})
    }

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


#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{FakeServices, Responder, Scene, error_code, output, spec, voice_at};

    #[tokio::test]
    async fn asks_twilio_to_call_with_the_spoken_message() {
        let twilio = Responder::start(201, r#"{"sid": "CA42", "status": "queued"}"#).await;
        let services = FakeServices { voice: Some(voice_at(&twilio.url)), public_url: Some("https://sb.example.com/cb".into()), ..Default::default() };
        let step = spec("make_phone_call", <super::Config as crate::Step>::example());
        let run = Scene::new(json!({"phoneNumber": "+55 11 98888-7777", "fullName": "Ana"})).run(&step, &services).await;
        assert_eq!(output(&run)["callSid"], "CA42", "{:?}", output(&run));
        let got = twilio.requests();
        assert_eq!(got[0].line, "POST /2010-04-01/Accounts/AC0123/Calls.json HTTP/1.1");
        assert!(got[0].body.contains("To=%2B5511988887777"), "{}", got[0].body);
        assert_eq!(services.sent.lock().unwrap()[0].channel, "voice");
    }

    #[tokio::test]
    async fn without_a_channel_nothing_is_called() {
        let step = spec("make_phone_call", <super::Config as crate::Step>::example());
        let run = Scene::new(json!({"phoneNumber": "+1 555"})).run(&step, &FakeServices::default()).await;
        assert_eq!(error_code(&run), "channel_not_configured");
    }
}
