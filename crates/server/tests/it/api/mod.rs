mod auth;
mod conversations;
pub mod events;
mod ops;
mod runs;
mod stores;
mod workflows;
