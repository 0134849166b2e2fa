//! `make_phone_call`: a voice call that speaks `message`, runs `twiml`, or fetches TwiML from `url`.

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

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let phone_number = f.template("phoneNumber", REQUIRED);
    let which = exactly_one(f, &["message", "twiml", "url"]);
    let script = match which? {
        "message" => f.template("message", REQUIRED).map(Script::Say),
        "twiml" => f.template("twiml", REQUIRED).map(Script::Twiml),
        _ => f.url("url", REQUIRED).map(Script::Url),
    };
    Some(Config { phone_number: phone_number?, script: script? })
}

pub const EFFECTS: crate::Effects = crate::Effects::External;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("make_phone_call", "the messaging channels (issue 5)")
}
