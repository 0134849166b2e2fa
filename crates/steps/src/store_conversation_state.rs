//! `store_conversation_state`: merges `data` into the conversation state of `phoneNumber`.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    pub phone_number: Template,
    pub data: TValue,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let phone_number = f.template("phoneNumber", REQUIRED);
    let data = f.object("data", REQUIRED);
    Some(Config { phone_number: phone_number?, data: data? })
}
