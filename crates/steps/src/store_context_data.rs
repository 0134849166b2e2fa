//! `store_context_data`: resolves `data` and merges it into the run's `state`.

use switchboard_core::workflow::{Fields, REQUIRED, TValue};

#[derive(Debug, Clone)]
pub struct Config {
    /// An object of templates.
    pub data: TValue,
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    Some(Config { data: f.object("data", REQUIRED)? })
}
