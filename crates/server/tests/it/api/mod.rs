mod auth;
mod conversations;
mod events;
mod ops;
mod runs;
mod stores;
mod workflows;
