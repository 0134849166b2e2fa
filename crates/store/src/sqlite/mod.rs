//! The embedded backend: SQLite through rusqlite, WAL mode, one writer thread ([`writer`]) and a
//! pool of read-only connections used from the blocking thread pool.

mod cluster;
mod messages;
mod outbox;
mod resources;
mod rows;
mod runs;
mod schedules;
mod workflows;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::model::*;
use crate::{Result, Store, StoreError};
use rows::*;
use writer::Writer;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../../migrations/sqlite/0002_resources.sql"),
    ),
    (
        3,
        include_str!("../../../../migrations/sqlite/0003_messages.sql"),
    ),
    (
        4,
        include_str!("../../../../migrations/sqlite/0004_schedules.sql"),
    ),
    (
        5,
        include_str!("../../../../migrations/sqlite/0005_subscriptions.sql"),
    ),
    (
        6,
        include_str!("../../../../migrations/sqlite/0006_cluster.sql"),
    ),
];

pub struct SqliteStore {
    writer: Writer,
    signal: writer::Signal,
    readers: Arc<ReaderPool>,
}

/// Read-only connections, opened on demand and reused. At most [`READERS`] exist: each holds a
/// page cache, and without a bound a burst (thousands of runs waking at once) would open one per
/// blocking thread.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

const READERS: usize = 8;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
            }
            let conn = Connection::open(&path)?;
            // FULL: an acknowledged write survives power loss, not only a crash; with group commit
            // it costs little (docs/architecture.md). temp_store MEMORY keeps the sub-journals of the
            // writer's per-request savepoints off disk: they are only needed to roll back one
            // request of a batch, and on disk they cost ~600 writes per commit.
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;",
            )?;
            migrate(&conn)?;
            let signal = writer::Signal::default();
            Ok(SqliteStore {
                writer: Writer::start(conn, signal.clone()),
                signal,
                readers: Arc::new(ReaderPool { path, idle: Mutex::new(Vec::new()), permits: tokio::sync::Semaphore::new(READERS) }),
            })
        })
        .await
        .map_err(StoreError::backend)?
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let pool = self.readers.clone();
        let _permit = pool.permits.acquire().await.map_err(StoreError::backend)?;
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match pool.idle.lock().expect("reader pool").pop() {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &pool.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.execute_batch("PRAGMA busy_timeout = 5000;")?;
                    c
                }
            };
            let result = f(&conn);
            pool.idle.lock().expect("reader pool").push(conn);
            result
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, now_ms()],
            )?;
            tx.commit()?;
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Maps a uniqueness violation to a conflict on `field`.
fn unique(
    field: &'static str,
    message: impl Into<String>,
) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let message = message.into();
    move |e| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) =>
        {
            StoreError::Conflict { field, message }
        }
        _ => StoreError::backend(e),
    }
}

fn get_workflow(conn: &Connection, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE store_id = ?1 AND id = ?2 AND deleted_at IS NULL"
    );
    conn.prepare_cached(&sql)?
        .query_row([store_id, id], workflow_row)
        .optional()?
        .map(workflow)
        .transpose()
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .write(move |c| {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                    [&key, &value],
                )?;
                Ok(
                    c.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
    }

    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord> {
        self.writer
            .write(move |c| {
                let message = format!("a store named '{}' already exists", store.name);
                c.execute(
                    "INSERT INTO stores (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![store.id, store.name, store.now],
                )
                .map_err(unique("name", message))?;
                if let Some(t) = token {
                    insert_token(c, &t)?;
                }
                Ok(StoreRecord {
                    id: store.id,
                    name: store.name,
                    created_at: store.now,
                })
            })
            .await
    }

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([id], store_row)
                .optional()?)
        })
        .await
    }

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>> {
        let page = page.clone();
        self.read(move |c| {
            let sql =
                format!("SELECT {STORE_COLUMNS} FROM stores WHERE id > ?1 ORDER BY id LIMIT ?2");
            let rows = c
                .prepare_cached(&sql)?
                .query_map(params![page.after_key(), page.limit + 1], store_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
        })
        .await
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.writer
            .write(move |c| {
                insert_token(c, &token)?;
                Ok(TokenRecord {
                    id: token.id,
                    store_id: token.store_id,
                    name: token.name,
                    created_at: token.now,
                })
            })
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([hash], token_row)
                .optional()?)
        })
        .await
    }

    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool> {
        let (store_id, token_id) = (store_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM tokens WHERE store_id = ?1 AND id = ?2",
                    [store_id, token_id],
                )? > 0)
            })
            .await
    }

    async fn create_workflow(&self, w: NewWorkflow) -> Result<WorkflowRecord> {
        self.writer.write(move |c| workflows::create(c, &w)).await
    }

    async fn update_workflow(
        &self,
        store_id: &str,
        id: &str,
        u: WorkflowUpdate,
    ) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| workflows::update(c, &store_id, &id, &u))
            .await
    }

    async fn set_workflow_active(
        &self,
        store_id: &str,
        id: &str,
        active: bool,
        next_tick: Option<i64>,
        now: i64,
    ) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| workflows::set_active(c, &store_id, &id, active, next_tick, now))
            .await
    }

    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| workflows::delete(c, &store_id, &id, now))
            .await
    }

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| get_workflow(c, &store_id, &id)).await
    }

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| {
            let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE store_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3");
            let rows = c.prepare_cached(&sql)?.query_map(params![store_id, page.after_key(), page.limit + 1], workflow_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            let rows = rows.into_iter().map(workflow).collect::<Result<Vec<_>>>()?;
            Ok(Page::from_rows(rows, page.limit, |w| w.id.clone()))
        })
        .await
    }

    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>> {
        let (store_id, id, page) = (store_id.to_owned(), id.to_owned(), page.clone());
        self.read(move |c| {
            if get_workflow(c, &store_id, &id)?.is_none() {
                return Ok(None);
            }
            let after: i64 = page.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
            let rows = c
                .prepare_cached("SELECT workflow_id, version, definition, created_at FROM workflow_versions WHERE workflow_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3")?
                .query_map(params![id, after, page.limit + 1], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<(String, i64, String, i64)>>>()?;
            let rows = rows.into_iter().map(version).collect::<Result<Vec<_>>>()?;
            Ok(Some(Page::from_rows(rows, page.limit, |v| v.version.to_string())))
        })
        .await
    }

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
                 WHERE w.store_id = ?1 AND w.id = ?2 AND w.deleted_at IS NULL AND v.version = ?3",
            )?
            .query_row(params![store_id, id, number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?
            .map(version)
            .transpose()
        })
        .await
    }

    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>> {
        let params = [store_id.to_owned(), kind.to_owned(), key.to_owned()];
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT id, version FROM workflows WHERE store_id = ?1 AND trigger_kind = ?2 AND trigger_key = ?3 AND active AND deleted_at IS NULL ORDER BY id")?
                .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn accept(&self, event: NewEvent, new_runs: Vec<NewRun>) -> Result<Acceptance> {
        self.writer
            .write(move |c| runs::accept(c, &event, &new_runs))
            .await
    }

    async fn checkpoint(&self, checkpoint: Checkpoint) -> Result<bool> {
        self.writer
            .write(move |c| runs::checkpoint(c, &checkpoint))
            .await
    }

    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
        self.writer
            .write(move |c| runs::claim(c, &lease, limit, steal))
            .await
    }

    async fn renew_leases(&self, leased: Leased, lease: Lease, ids: Vec<String>) -> Result<u64> {
        self.writer
            .write(move |c| cluster::renew_leases(c, leased, &lease, &ids))
            .await
    }

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| runs::get_run(c, &store_id, &id)).await
    }

    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| runs::list_runs(c, &store_id, &filter, &page))
            .await
    }

    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let run_id = run_id.to_owned();
        self.read(move |c| runs::run_steps(c, &run_id)).await
    }

    async fn cancel_run(&self, store_id: &str, id: &str, now: i64) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::cancel_run(c, &store_id, &id, now))
            .await
    }

    async fn retry_run(&self, store_id: &str, id: &str, lease: Lease) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::retry_run(c, &store_id, &id, &lease))
            .await
    }

    async fn count_waiting(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM runs WHERE status = 'waiting'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>> {
        let (store_id, phone) = (store_id.to_owned(), phone.to_owned());
        self.read(move |c| runs::get_conversation(c, &store_id, &phone))
            .await
    }

    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |c| runs::merge_conversation(c, &patch, now))
            .await
    }

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool> {
        let (store_id, phone) = (store_id.to_owned(), phone.to_owned());
        self.writer
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM conversations WHERE store_id = ?1 AND phone = ?2",
                    [store_id, phone],
                )? > 0)
            })
            .await
    }

    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| resources::create(c, resource))
            .await
    }

    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| resources::get(c, &store_id, kind, &id))
            .await
    }

    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, name) = (store_id.to_owned(), name.to_owned());
        self.read(move |c| resources::by_name(c, &store_id, kind, &name))
            .await
    }

    async fn list_resources(
        &self,
        store_id: &str,
        kind: ResourceKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ResourceRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| resources::list(c, &store_id, kind, deleted, &page))
            .await
    }

    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>> {
        self.writer
            .write(move |c| resources::update(c, resource))
            .await
    }

    async fn delete_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
        now: i64,
    ) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| resources::delete(c, &store_id, kind, &id, now))
            .await
    }

    async fn restore_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
        now: i64,
    ) -> Result<Option<ResourceRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| resources::restore(c, &store_id, kind, &id, now))
            .await
    }

    async fn record_message(
        &self,
        message: MessageRecord,
        event: Option<String>,
    ) -> Result<MessageRecord> {
        self.writer
            .write(move |c| messages::record_message(c, &message, event.as_deref()))
            .await
    }

    async fn message_status(&self, update: StatusReport) -> Result<Option<MessageRecord>> {
        self.writer
            .write(move |c| messages::message_status(c, &update))
            .await
    }

    async fn list_messages(
        &self,
        store_id: &str,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| messages::list(c, &store_id, &filter, &page))
            .await
    }

    async fn schedule_call(&self, call: NewCall) -> Result<ScheduleRecord> {
        self.writer
            .write(move |c| schedules::schedule_call(c, &call))
            .await
    }

    async fn claim_schedules(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<ScheduleRecord>> {
        self.writer
            .write(move |c| schedules::claim(c, &lease, limit, steal))
            .await
    }

    async fn settle_schedule(&self, settle: ScheduleSettle) -> Result<bool> {
        self.writer
            .write(move |c| schedules::settle(c, &settle))
            .await
    }

    async fn get_schedule(&self, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| schedules::get(c, &store_id, &id)).await
    }

    async fn list_schedules(
        &self,
        store_id: &str,
        filter: &ScheduleFilter,
        page: &PageRequest,
    ) -> Result<Page<ScheduleRecord>> {
        let (store_id, filter, page) = (store_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| schedules::list(c, &store_id, &filter, &page))
            .await
    }

    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| {
                let AppInstall {
                    app,
                    create,
                    update,
                    delete,
                } = install;
                let now = app.updated_at;
                let record = match resources::update(c, app.clone())? {
                    Some(r) => r,
                    None => resources::create(c, app)?,
                };
                for id in &delete {
                    workflows::delete(c, &record.store_id, id, now)?;
                }
                for (id, u) in &update {
                    workflows::update(c, &record.store_id, id, u)?;
                }
                for w in &create {
                    workflows::create(c, w)?;
                }
                Ok(record)
            })
            .await
    }

    async fn uninstall_app(
        &self,
        store_id: &str,
        app_id: &str,
        workflow_ids: Vec<String>,
        now: i64,
    ) -> Result<bool> {
        let (store_id, app_id) = (store_id.to_owned(), app_id.to_owned());
        self.writer
            .write(move |c| {
                if !resources::delete(c, &store_id, ResourceKind::App, &app_id, now)? {
                    return Ok(false);
                }
                for id in &workflow_ids {
                    workflows::delete(c, &store_id, id, now)?;
                }
                Ok(true)
            })
            .await
    }

    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord> {
        self.writer
            .write(move |c| outbox::create_subscription(c, &s))
            .await
    }

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| outbox::get_subscription(c, &store_id, &id))
            .await
    }

    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>> {
        let (store_id, page) = (store_id.to_owned(), page.clone());
        self.read(move |c| outbox::list_subscriptions(c, &store_id, &page))
            .await
    }

    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>> {
        self.writer
            .write(move |c| outbox::update_subscription(c, &s))
            .await
    }

    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| outbox::delete_subscription(c, &store_id, &id, now))
            .await
    }

    async fn emit_event(&self, event: crate::outbox::Outgoing) -> Result<String> {
        self.writer.write(move |c| outbox::emit(c, event)).await
    }

    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>> {
        self.writer
            .write(move |c| outbox::claim(c, &lease, limit, steal))
            .await
    }

    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool> {
        self.writer
            .write(move |c| outbox::finish_attempt(c, &outcome))
            .await
    }

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.read(move |c| outbox::get_delivery(c, &store_id, &id))
            .await
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        let id = delivery_id.to_owned();
        self.read(move |c| outbox::attempts(c, &id)).await
    }

    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| outbox::list_deliveries(c, &store_id, &subscription_id, &filter, &page))
            .await
    }

    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| outbox::retry(c, &store_id, &id, now))
            .await
    }

    async fn recover_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        since: i64,
        until: Option<i64>,
        now: i64,
    ) -> Result<u64> {
        let (store_id, subscription_id) = (store_id.to_owned(), subscription_id.to_owned());
        self.writer
            .write(move |c| outbox::recover(c, &store_id, &subscription_id, since, until, now))
            .await
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.signal.clone()
    }

    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>> {
        let store_id = store_id.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT inbound_secret FROM stores WHERE id = ?1",
                [store_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
        })
        .await
    }

    async fn heartbeat(&self, node: NodeRecord, forget_before: i64) -> Result<()> {
        self.writer
            .write(move |c| cluster::heartbeat(c, &node, forget_before))
            .await
    }

    async fn list_nodes(&self, since: i64) -> Result<Vec<NodeRecord>> {
        self.read(move |c| cluster::list_nodes(c, since)).await
    }

    async fn remove_node(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .write(move |c| cluster::remove_node(c, &id))
            .await
    }

    async fn config_generation(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()> {
        let (store_id, sealed) = (store_id.to_owned(), sealed.to_owned());
        self.writer
            .write(move |c| {
                c.execute(
                    "UPDATE stores SET inbound_secret = ?2 WHERE id = ?1",
                    [store_id, sealed],
                )?;
                Ok(())
            })
            .await
    }
}

fn insert_token(c: &Connection, t: &NewToken) -> Result<()> {
    c.execute(
        "INSERT INTO tokens (id, store_id, name, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id, t.store_id, t.name, t.hash, t.now],
    )
    .map_err(unique("token", "this token already exists"))?;
    Ok(())
}
