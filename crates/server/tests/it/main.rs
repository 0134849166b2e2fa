//! End-to-end tests: the real `switchboard` binary on a free loopback port, over real HTTP. One test
//! binary (each file here is a module) so the server is linked once. API cases run against both
//! backends: `sqlite::case` and `postgres::case`.

mod harness;
mod providers;
mod receiver;
mod target;

pub mod api;
mod cli;
mod cli_remote;
mod cluster;
mod console;
mod contract;
mod crash;
pub mod faults;
mod first_start;
mod hostile;
mod observe;
mod unreachable;
