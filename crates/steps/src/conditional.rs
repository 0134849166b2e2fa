//! `conditional`: its `condition`, `then` and `else` are graph structure, read by the workflow model
//! into edges; the step itself reports which way it went (`{result}`).

use switchboard_core::workflow::Fields;

#[derive(Debug, Clone)]
pub struct Config;

pub fn parse(_: &mut Fields<'_, '_>) -> Option<Config> {
    Some(Config)
}
