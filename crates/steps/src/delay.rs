//! `delay`: the run waits (durably, holding no memory) for a duration or until a time.

use switchboard_core::template::Template;
use switchboard_core::workflow::{Fields, REQUIRED};

use crate::exactly_one;

const MAX_MINUTES: f64 = 366.0 * 24.0 * 60.0;

#[derive(Debug, Clone)]
pub enum Config {
    Minutes(f64),
    Seconds(f64),
    /// An RFC 3339 time, or a template giving one.
    Until(Template),
}

pub fn parse(f: &mut Fields<'_, '_>) -> Option<Config> {
    let which = exactly_one(f, &["delayMinutes", "delaySeconds", "until"]);
    let minutes = f.number("delayMinutes", false, 0.0, MAX_MINUTES);
    let seconds = f.number("delaySeconds", false, 0.0, MAX_MINUTES * 60.0);
    let until = f.template("until", false);
    match which? {
        "delayMinutes" => minutes.map(Config::Minutes),
        "delaySeconds" => seconds.map(Config::Seconds),
        _ => until.map(Config::Until).or_else(|| f.template("until", REQUIRED).map(Config::Until)),
    }
}
