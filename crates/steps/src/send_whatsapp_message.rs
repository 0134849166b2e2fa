//! `send_whatsapp_message`: a WhatsApp text message.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED};

#[derive(Debug, Clone)]
pub struct Config {
    pub phone_number: Template,
    pub message: Template,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let phone_number = f.template("phoneNumber", REQUIRED);
    let message = f.template("message", REQUIRED);
    Some(Config { phone_number: phone_number?, message: message? })
}

pub const EFFECTS: crate::Effects = crate::Effects::External;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("send_whatsapp_message", "the messaging channels (issue 5)")
}
