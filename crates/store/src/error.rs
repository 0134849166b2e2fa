use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// A uniqueness rule: `field` names what is taken (e.g. `name`).
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Backend(String),
    /// A uniqueness rule the database enforced, until the operation says which ([`unique`]);
    /// otherwise a backend error.
    #[error("database error: {0}")]
    Duplicate(String),
    /// The database cannot be written or reached now (a full disk, …): nothing was written, and
    /// the same request may succeed later.
    #[error("the database is unavailable ({}): {message}", fault.as_str())]
    Unavailable { fault: Fault, message: String },
}

/// Why the database cannot take writes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    DiskFull,
    ReadOnly,
    IoError,
    DatabaseUnreachable,
}

impl Fault {
    /// The wire name (`error.details.reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::DiskFull => "disk_full",
            Fault::ReadOnly => "read_only",
            Fault::IoError => "io_error",
            Fault::DatabaseUnreachable => "database_unreachable",
        }
    }

    fn error(self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            fault: self,
            message: e.to_string(),
        }
    }
}

impl StoreError {
    pub fn backend(e: impl std::fmt::Display) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::DiskFull => return Fault::DiskFull.error(e),
                ErrorCode::ReadOnly => return Fault::ReadOnly.error(e),
                ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => {
                    return Fault::IoError.error(e);
                }
                _ => {}
            }
        }
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                StoreError::Duplicate(e.to_string())
            }
            _ => StoreError::backend(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Duplicate(e.to_string())
            }
            // PostgreSQL's SQLSTATEs: disk_full, read_only_sql_transaction, io_error, the
            // connection exceptions (08…) and an administrator's shutdown (57P…).
            sqlx::Error::Database(d) => match d.code().as_deref() {
                Some("53100") => Fault::DiskFull.error(e),
                Some("25006") => Fault::ReadOnly.error(e),
                Some("58030") => Fault::IoError.error(e),
                Some(c) if c.starts_with("08") || c.starts_with("57P") => {
                    Fault::DatabaseUnreachable.error(e)
                }
                _ => StoreError::backend(e),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Fault::DatabaseUnreachable.error(e),
            _ => StoreError::backend(e),
        }
    }
}

/// Maps a uniqueness violation to a conflict on `field`.
pub(crate) fn unique(
    field: &'static str,
    message: impl Into<String>,
) -> impl FnOnce(StoreError) -> StoreError {
    let message = message.into();
    move |e| match e {
        StoreError::Duplicate(_) => StoreError::Conflict { field, message },
        other => other,
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("stored JSON is unreadable: {e}"))
    }
}

/// Reads a status the store wrote.
pub(crate) fn status<T>(text: String) -> Result<T>
where
    T: std::str::FromStr<Err = switchboard_core::status::UnknownStatus>,
{
    text.parse()
        .map_err(|e| StoreError::Backend(format!("unreadable stored status: {e}")))
}

/// Reads JSON text the store wrote.
pub(crate) fn parse_json(text: String) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&text)?)
}

pub(crate) fn parse_opt(text: Option<String>) -> Result<Option<serde_json::Value>> {
    text.map(parse_json).transpose()
}

/// The conflict message for a workflow name already in use.
pub(crate) fn name_taken(name: &str) -> String {
    resource_name_taken("workflow", name)
}

pub(crate) fn resource_name_taken(kind: &str, name: &str) -> String {
    format!("a {kind} named '{name}' already exists in this store")
}

/// A run in a state that forbids the action.
pub(crate) fn run_conflict(run: &crate::RunRecord, action: &str) -> StoreError {
    StoreError::Conflict {
        field: "status",
        message: format!("run {} is {}: it cannot be {action}", run.id, run.status),
    }
}

/// The error a cancelled run carries, as stored.
pub(crate) fn cancelled(why: &str) -> String {
    serde_json::json!({"code": "cancelled", "message": why}).to_string()
}

/// A schedule that is no longer pending at the due time seen: another node fired (or someone
/// cancelled) it.
pub(crate) fn schedule_gone() -> StoreError {
    StoreError::Conflict {
        field: "schedule",
        message: "the schedule was fired or changed meanwhile".into(),
    }
}
