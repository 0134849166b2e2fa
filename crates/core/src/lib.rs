//! Switchboard's pure domain: no I/O. The workflow model (native and Kustomer formats compiled into
//! one graph), its validation with JSON pointers, templates, cron schedules, input schemas, ids and the lenient JSON reader.

pub mod ids;
pub mod inputs;
pub mod jsonc;
pub mod problem;
pub mod run;
pub mod schedule;
pub mod status;
pub mod suggest;
pub mod template;
pub mod transition;
pub mod workflow;

pub use problem::{Problem, Report};
