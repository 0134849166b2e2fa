mod auth;
mod conversations;
pub mod events;
mod hooks;
mod ops;
mod runs;
mod stores;
mod workflows;
