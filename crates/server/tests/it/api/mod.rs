mod auth;
mod ops;
mod stores;
mod workflows;
