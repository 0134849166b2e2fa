//! `send_whatsapp_template`: a WhatsApp template message; `variables` become named body parameters.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, OPTIONAL, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub template_id: Template,
    pub language_code: Template,
    pub phone_number: Template,
    pub variables: Option<TValue>,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let template_id = f.template("templateId", REQUIRED);
    let language_code = f.template("languageCode", REQUIRED);
    let phone_number = f.template("phoneNumber", REQUIRED);
    let variables = f.object("variables", OPTIONAL);
    Some(Config { template_id: template_id?, language_code: language_code?, phone_number: phone_number?, variables })
}

pub const EFFECTS: crate::Effects = crate::Effects::External;

pub async fn run(_: &Config, _: &crate::StepEnv<'_>) -> crate::StepRun {
    crate::env::unavailable("send_whatsapp_template", "the messaging channels (issue 5)")
}
