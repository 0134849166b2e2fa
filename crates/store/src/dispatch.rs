//! Each area's trait, implemented on both backends from one list of its operations.
//!
//! An operation is written once (`async fn op(db: &mut impl Db, …)`); [`on_both_backends!`] says
//! where each trait method runs it:
//! - `write`: in the batching writer's next transaction (answered after the commit);
//! - `read`: on a reader connection (SQLite) or the pool (PostgreSQL);
//! - `direct`: through SQLite's writer (its one way to write), on PostgreSQL's pool, not queued
//!   behind the writer's batches (heartbeats and lease renewals must not wait for a backlog).
//!
//! Arguments that must travel to the writer are made owned ([`Owned`]).

use crate::model::*;
use crate::outbox::Outgoing;

/// A trait method's argument, made owned so it can move to the writer.
pub trait Owned {
    type Owned: Send + 'static;
    fn owned(self) -> Self::Owned;
}

impl Owned for &str {
    type Owned = String;
    fn owned(self) -> String {
        self.to_owned()
    }
}

macro_rules! owned_as_is {
    ($($t:ty),* $(,)?) => {
        $(impl Owned for $t {
            type Owned = $t;
            fn owned(self) -> $t {
                self
            }
        })*
    };
}

owned_as_is!(
    i64,
    u32,
    bool,
    Option<i64>,
    Vec<String>,
    Vec<(String, u32)>,
    ResourceKind,
    Lease,
    Leased,
    NodeRecord,
    NewStore,
    StoreLimits,
    Option<NewToken>,
    NewToken,
    NewWorkflow,
    WorkflowUpdate,
    ResourceRecord,
    MessageRecord,
    Option<String>,
    StatusReport,
    NewCall,
    ScheduleSettle,
    AppInstall,
    SubscriptionRecord,
    Outgoing,
    AttemptOutcome,
    NewEvent,
    Vec<NewRun>,
    Checkpoint,
    ConversationPatch,
    RunRetry,
    (i64, String),
    serde_json::Value,
);

macro_rules! owned_by_clone {
    ($($t:ty),* $(,)?) => {
        $(impl Owned for &$t {
            type Owned = $t;
            fn owned(self) -> $t {
                self.clone()
            }
        })*
    };
}

owned_by_clone!(
    PageRequest,
    RunFilter,
    EventFilter,
    ScheduleFilter,
    MessageFilter,
    DeliveryFilter
);

/// Implements an area's trait on `SqliteStore` and `PgStore` from one list of
/// `kind fn name(args) -> T => |db| operation(db, …);` lines (see the module docs), plus any items
/// a backend needs of its own (`sqlite { … } postgres { … }`).
macro_rules! on_both_backends {
    (
        $area:path {
            $( $kind:ident fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty => |$db:ident| $op:expr; )*
        }
        $(sqlite { $($sqlite_item:item)* })?
        $(postgres { $($pg_item:item)* })?
    ) => {
        #[async_trait::async_trait]
        impl $area for crate::SqliteStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> crate::Result<$ret> {
                    $(let $arg = crate::dispatch::Owned::owned($arg);)*
                    $crate::dispatch::on_both_backends!(@sqlite $kind self, move |c| {
                        let $db = &mut crate::db::Sqlite(c);
                        crate::db::run_now($op)
                    })
                }
            )*
            $($($sqlite_item)*)?
        }

        #[async_trait::async_trait]
        impl $area for crate::PgStore {
            $(
                // One operation line serves both: owned arguments on SQLite, borrowed ones here.
                #[allow(clippy::needless_borrow)]
                async fn $name(&self $(, $arg: $ty)*) -> crate::Result<$ret> {
                    $crate::dispatch::on_both_backends!(@postgres $kind self, ($($arg),*), |$db| $op)
                }
            )*
            $($($pg_item)*)?
        }
    };
    (@sqlite write $store:ident, $job:expr) => {
        $store.writer.write($job).await
    };
    (@sqlite direct $store:ident, $job:expr) => {
        $store.writer.write($job).await
    };
    (@sqlite read $store:ident, $job:expr) => {
        $store.read($job).await
    };
    (@postgres write $store:ident, ($($arg:ident),*), |$db:ident| $op:expr) => {{
        $(let $arg = crate::dispatch::Owned::owned($arg);)*
        $store
            .writer
            .write(move |c| Box::pin(async move {
                let $db = c;
                $op.await
            }))
            .await
    }};
    (@postgres $on_pool:ident $store:ident, ($($arg:ident),*), |$db:ident| $op:expr) => {{
        let mut connection = $store.pool.acquire().await?;
        let $db = &mut *connection;
        $op.await
    }};
}
pub(crate) use on_both_backends;
