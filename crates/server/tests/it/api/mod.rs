mod auth;
mod conversations;
pub mod events;
mod hooks;
mod ops;
mod outbound;
mod runs;
mod stores;
mod workflows;
