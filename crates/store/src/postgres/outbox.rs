//! What only PostgreSQL's side of the outbox has: the flag, per writer batch, that rings the
//! delivery worker once the batch commits.

tokio::task_local! {
    /// Set when a job of the writer's current batch published deliveries; the writer rings the
    /// outbox signal after the batch commits.
    pub static PUBLISHED: std::cell::Cell<bool>;
}
