//! The PostgreSQL backend (sqlx): a pool for reads, one dedicated connection for the batching
//! writer. Runs will be claimed with `FOR UPDATE SKIP LOCKED` on the lease columns.

mod cluster;
mod messages;
mod outbox;
mod resources;
mod runs;
mod schedules;
mod workflows;
mod writer;

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::model::*;
use crate::{Result, Store, StoreError};
use writer::Writer;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../../migrations/postgres/0002_resources.sql"),
    ),
    (
        3,
        include_str!("../../../../migrations/postgres/0003_messages.sql"),
    ),
    (
        4,
        include_str!("../../../../migrations/postgres/0004_schedules.sql"),
    ),
    (
        5,
        include_str!("../../../../migrations/postgres/0005_subscriptions.sql"),
    ),
    (
        6,
        include_str!("../../../../migrations/postgres/0006_cluster.sql"),
    ),
];
/// Connections of the batching writer: batches commit on them in turn (see [`writer`]). Four
/// tripled a node's runs/s, but batches on different connections can deadlock on each other's
/// uncommitted unique keys (two workflows given the same name in two batches), and a batch that
/// loses fails whole: one until batches are retried (docs/scaling.md).
const WRITER_CONNECTIONS: usize = 1;
/// Serialises migrations when several nodes start at once.
const MIGRATION_LOCK: i64 = 0x5357_4254_4348;

pub struct PgStore {
    pool: PgPool,
    writer: Writer,
    signal: writer::Signal,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        migrate(&pool).await?;
        let mut connections = Vec::with_capacity(WRITER_CONNECTIONS);
        for _ in 0..WRITER_CONNECTIONS {
            connections.push(PgConnection::connect(url).await?);
        }
        let signal = writer::Signal::default();
        Ok(PgStore {
            pool,
            writer: Writer::start(url.to_owned(), connections, signal.clone()),
            signal,
        })
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .execute(&mut *tx)
        .await?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = $1)")
                .bind(version)
                .fetch_one(&mut *tx)
                .await?;
        if !applied {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Maps a uniqueness violation to a conflict on `field`.
fn unique(
    field: &'static str,
    message: impl Into<String>,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    let message = message.into();
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict { field, message }
        }
        _ => StoreError::backend(e),
    }
}

const STORE_COLUMNS: &str = "id, name, created_at";
const TOKEN_COLUMNS: &str = "id, store_id, name, created_at";
const WORKFLOW_COLUMNS: &str = "id, store_id, version, active, name, description, format, trigger_kind, trigger_key, definition, warnings, created_at, updated_at";

fn store_row(r: &PgRow) -> Result<StoreRecord> {
    Ok(StoreRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

fn token_row(r: &PgRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        name: r.try_get(2)?,
        created_at: r.try_get(3)?,
    })
}

fn workflow_row(r: &PgRow) -> Result<WorkflowRecord> {
    Ok(WorkflowRecord {
        id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        version: r.try_get(2)?,
        active: r.try_get(3)?,
        content: WorkflowContent {
            name: r.try_get(4)?,
            description: r.try_get(5)?,
            format: r.try_get(6)?,
            trigger_kind: r.try_get(7)?,
            trigger_key: r.try_get(8)?,
            definition: crate::error::parse_json(r.try_get(9)?)?,
            warnings: crate::error::parse_json(r.try_get(10)?)?,
        },
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

fn version_row(r: &PgRow) -> Result<VersionRecord> {
    Ok(VersionRecord {
        workflow_id: r.try_get(0)?,
        version: r.try_get(1)?,
        definition: crate::error::parse_json(r.try_get(2)?)?,
        created_at: r.try_get(3)?,
    })
}

async fn get_workflow<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    store_id: &str,
    id: &str,
) -> Result<Option<WorkflowRecord>> {
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    sqlx::query(&sql)
        .bind(store_id)
        .bind(id)
        .fetch_optional(exec)
        .await?
        .as_ref()
        .map(workflow_row)
        .transpose()
}

async fn insert_token(c: &mut PgConnection, t: &NewToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (id, store_id, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&t.id)
    .bind(&t.store_id)
    .bind(&t.name)
    .bind(&t.hash)
    .bind(t.now)
    .execute(c)
    .await
    .map_err(unique("token", "this token already exists"))?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                        .bind(&key)
                        .bind(&value)
                        .execute(&mut *c)
                        .await?;
                    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(&key).fetch_one(&mut *c).await?)
                })
            })
            .await
    }

    async fn create_store(&self, store: NewStore, token: Option<NewToken>) -> Result<StoreRecord> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let message = format!("a store named '{}' already exists", store.name);
                    sqlx::query("INSERT INTO stores (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(&store.id)
                        .bind(&store.name)
                        .bind(store.now)
                        .execute(&mut *c)
                        .await
                        .map_err(unique("name", message))?;
                    if let Some(t) = &token {
                        insert_token(c, t).await?;
                    }
                    Ok(StoreRecord {
                        id: store.id,
                        name: store.name,
                        created_at: store.now,
                    })
                })
            })
            .await
    }

    async fn get_store(&self, id: &str) -> Result<Option<StoreRecord>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(store_row)
            .transpose()
    }

    async fn list_stores(&self, page: &PageRequest) -> Result<Page<StoreRecord>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(page.after_key())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(store_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |s| s.id.clone()))
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    insert_token(c, &token).await?;
                    Ok(TokenRecord {
                        id: token.id,
                        store_id: token.store_id,
                        name: token.name,
                        created_at: token.now,
                    })
                })
            })
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1");
        sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    async fn delete_token(&self, store_id: &str, token_id: &str) -> Result<bool> {
        let (store_id, token_id) = (store_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM tokens WHERE store_id = $1 AND id = $2")
                        .bind(&store_id)
                        .bind(&token_id)
                        .execute(c)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn create_workflow(&self, w: NewWorkflow) -> Result<WorkflowRecord> {
        self.writer
            .write(move |c| Box::pin(async move { workflows::create(c, &w).await }))
            .await
    }

    async fn update_workflow(
        &self,
        store_id: &str,
        id: &str,
        u: WorkflowUpdate,
    ) -> Result<Option<WorkflowRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { workflows::update(c, &store_id, &id, &u).await }))
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
            .write(move |c| {
                Box::pin(async move {
                    workflows::set_active(c, &store_id, &id, active, next_tick, now).await
                })
            })
            .await
    }

    async fn delete_workflow(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { workflows::delete(c, &store_id, &id, now).await })
            })
            .await
    }

    async fn get_workflow(&self, store_id: &str, id: &str) -> Result<Option<WorkflowRecord>> {
        get_workflow(&self.pool, store_id, id).await
    }

    async fn list_workflows(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WorkflowRecord>> {
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE store_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(store_id)
            .bind(page.after_key())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(workflow_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |w| w.id.clone()))
    }

    async fn list_versions(
        &self,
        store_id: &str,
        id: &str,
        page: &PageRequest,
    ) -> Result<Option<Page<VersionRecord>>> {
        if get_workflow(&self.pool, store_id, id).await?.is_none() {
            return Ok(None);
        }
        let after: i64 = page
            .after
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let rows = sqlx::query(
            "SELECT workflow_id, version, definition, created_at FROM workflow_versions WHERE workflow_id = $1 AND version > $2 ORDER BY version LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(version_row).collect::<Result<Vec<_>>>()?;
        Ok(Some(Page::from_rows(rows, page.limit, |v| {
            v.version.to_string()
        })))
    }

    async fn get_version(
        &self,
        store_id: &str,
        id: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>> {
        sqlx::query(
            "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
             WHERE w.store_id = $1 AND w.id = $2 AND w.deleted_at IS NULL AND v.version = $3",
        )
        .bind(store_id)
        .bind(id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(version_row)
        .transpose()
    }

    async fn workflows_for_trigger(
        &self,
        store_id: &str,
        kind: &str,
        key: &str,
    ) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT id, version FROM workflows WHERE store_id = $1 AND trigger_kind = $2 AND trigger_key = $3 AND active AND deleted_at IS NULL ORDER BY id")
            .bind(store_id)
            .bind(kind)
            .bind(key)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn accept(&self, event: NewEvent, new_runs: Vec<NewRun>) -> Result<Acceptance> {
        self.writer
            .write(move |c| runs::accept(c, event, new_runs))
            .await
    }

    async fn checkpoint(&self, checkpoint: Checkpoint) -> Result<bool> {
        self.writer
            .write(move |c| runs::checkpoint(c, checkpoint))
            .await
    }

    async fn claim_runs(&self, lease: Lease, limit: u32, steal: bool) -> Result<Vec<RunRecord>> {
        self.writer
            .write(move |c| runs::claim(c, lease, limit, steal))
            .await
    }

    async fn renew_leases(&self, leased: Leased, lease: Lease, ids: Vec<String>) -> Result<u64> {
        // On the pool, not queued behind the writer's batches: a backlog of writes must not let
        // the leases of live work lapse (another node would take it over and repeat its effects).
        let mut c = self.pool.acquire().await?;
        cluster::renew_leases(&mut c, leased, lease, ids).await
    }

    async fn get_run(&self, store_id: &str, id: &str) -> Result<Option<RunRecord>> {
        runs::get_run(&self.pool, store_id, id).await
    }

    async fn list_runs(
        &self,
        store_id: &str,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<RunRecord>> {
        runs::list_runs(&self.pool, store_id, filter, page).await
    }

    async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        runs::run_steps(&self.pool, run_id).await
    }

    async fn cancel_run(&self, store_id: &str, id: &str, now: i64) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::cancel_run(c, store_id, id, now))
            .await
    }

    async fn retry_run(&self, store_id: &str, id: &str, lease: Lease) -> Result<Option<RunRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| runs::retry_run(c, store_id, id, lease))
            .await
    }

    async fn count_waiting(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM runs WHERE status = 'waiting'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn get_conversation(
        &self,
        store_id: &str,
        phone: &str,
    ) -> Result<Option<ConversationRecord>> {
        runs::get_conversation(&self.pool, store_id, phone).await
    }

    async fn merge_conversation(
        &self,
        patch: ConversationPatch,
        now: i64,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |c| runs::merge_conversation(c, patch, now))
            .await
    }

    async fn delete_conversation(&self, store_id: &str, phone: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM conversations WHERE store_id = $1 AND phone = $2")
            .bind(store_id)
            .bind(phone)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_resource(&self, resource: ResourceRecord) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| Box::pin(resources::create(c, resource)))
            .await
    }

    async fn get_resource(
        &self,
        store_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceRecord>> {
        resources::get(&self.pool, store_id, kind, "id", id).await
    }

    async fn resource_by_name(
        &self,
        store_id: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        resources::get(&self.pool, store_id, kind, "name", name).await
    }

    async fn list_resources(
        &self,
        store_id: &str,
        kind: ResourceKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ResourceRecord>> {
        resources::list(&self.pool, store_id, kind, deleted, page).await
    }

    async fn update_resource(&self, resource: ResourceRecord) -> Result<Option<ResourceRecord>> {
        self.writer
            .write(move |c| Box::pin(resources::update(c, resource)))
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
            .write(move |c| {
                Box::pin(async move { resources::delete(c, &store_id, kind, &id, now).await })
            })
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
            .write(move |c| {
                Box::pin(async move { resources::restore(c, &store_id, kind, &id, now).await })
            })
            .await
    }

    async fn record_message(
        &self,
        message: MessageRecord,
        event: Option<String>,
    ) -> Result<MessageRecord> {
        self.writer
            .write(move |c| Box::pin(messages::record_message(c, message, event)))
            .await
    }

    async fn message_status(&self, update: StatusReport) -> Result<Option<MessageRecord>> {
        self.writer
            .write(move |c| Box::pin(messages::message_status(c, update)))
            .await
    }

    async fn list_messages(
        &self,
        store_id: &str,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        messages::list(&self.pool, store_id, filter, page).await
    }

    async fn schedule_call(&self, call: NewCall) -> Result<ScheduleRecord> {
        self.writer
            .write(move |c| Box::pin(async move { schedules::schedule_call(c, &call).await }))
            .await
    }

    async fn claim_schedules(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<ScheduleRecord>> {
        self.writer
            .write(move |c| schedules::claim(c, lease, limit, steal))
            .await
    }

    async fn settle_schedule(&self, settle: ScheduleSettle) -> Result<bool> {
        self.writer
            .write(move |c| Box::pin(async move { schedules::settle(c, &settle).await }))
            .await
    }

    async fn get_schedule(&self, store_id: &str, id: &str) -> Result<Option<ScheduleRecord>> {
        schedules::get(&self.pool, store_id, id).await
    }

    async fn list_schedules(
        &self,
        store_id: &str,
        filter: &ScheduleFilter,
        page: &PageRequest,
    ) -> Result<Page<ScheduleRecord>> {
        schedules::list(&self.pool, store_id, filter, page).await
    }

    async fn install_app(&self, install: AppInstall) -> Result<ResourceRecord> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let AppInstall {
                        app,
                        create,
                        update,
                        delete,
                    } = install;
                    let now = app.updated_at;
                    let record = match resources::update(&mut *c, app.clone()).await? {
                        Some(r) => r,
                        None => resources::create(&mut *c, app).await?,
                    };
                    for id in &delete {
                        workflows::delete(&mut *c, &record.store_id, id, now).await?;
                    }
                    for (id, u) in &update {
                        workflows::update(&mut *c, &record.store_id, id, u).await?;
                    }
                    for w in &create {
                        workflows::create(&mut *c, w).await?;
                    }
                    Ok(record)
                })
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
                Box::pin(async move {
                    if !resources::delete(&mut *c, &store_id, ResourceKind::App, &app_id, now)
                        .await?
                    {
                        return Ok(false);
                    }
                    for id in &workflow_ids {
                        workflows::delete(&mut *c, &store_id, id, now).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }

    async fn create_subscription(&self, s: SubscriptionRecord) -> Result<SubscriptionRecord> {
        self.writer
            .write(move |c| Box::pin(outbox::create_subscription(c, s)))
            .await
    }

    async fn get_subscription(
        &self,
        store_id: &str,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>> {
        outbox::get_subscription(&self.pool, store_id, id).await
    }

    async fn list_subscriptions(
        &self,
        store_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionRecord>> {
        outbox::list_subscriptions(&self.pool, store_id, page).await
    }

    async fn update_subscription(
        &self,
        s: SubscriptionRecord,
    ) -> Result<Option<SubscriptionRecord>> {
        self.writer
            .write(move |c| Box::pin(outbox::update_subscription(c, s)))
            .await
    }

    async fn delete_subscription(&self, store_id: &str, id: &str, now: i64) -> Result<bool> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| {
                Box::pin(async move { outbox::delete_subscription(c, &store_id, &id, now).await })
            })
            .await
    }

    async fn emit_event(&self, event: crate::outbox::Outgoing) -> Result<String> {
        self.writer
            .write(move |c| Box::pin(outbox::emit(c, event)))
            .await
    }

    async fn claim_deliveries(
        &self,
        lease: Lease,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<DeliveryJob>> {
        self.writer
            .write(move |c| Box::pin(outbox::claim(c, lease, limit, steal)))
            .await
    }

    async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<bool> {
        self.writer
            .write(move |c| Box::pin(outbox::finish_attempt(c, outcome)))
            .await
    }

    async fn get_delivery(&self, store_id: &str, id: &str) -> Result<Option<DeliveryRecord>> {
        outbox::get_delivery(&self.pool, store_id, id).await
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        outbox::attempts(&self.pool, delivery_id).await
    }

    async fn list_deliveries(
        &self,
        store_id: &str,
        subscription_id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        outbox::list_deliveries(&self.pool, store_id, subscription_id, filter, page).await
    }

    async fn retry_delivery(
        &self,
        store_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<DeliveryRecord>> {
        let (store_id, id) = (store_id.to_owned(), id.to_owned());
        self.writer
            .write(move |c| Box::pin(async move { outbox::retry(c, &store_id, &id, now).await }))
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
            .write(move |c| {
                Box::pin(async move {
                    outbox::recover(c, &store_id, &subscription_id, since, until, now).await
                })
            })
            .await
    }

    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.signal.clone()
    }

    async fn inbound_secret(&self, store_id: &str) -> Result<Option<String>> {
        let row: Option<Option<String>> =
            sqlx::query_scalar("SELECT inbound_secret FROM stores WHERE id = $1")
                .bind(store_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.flatten())
    }

    async fn heartbeat(&self, node: NodeRecord, forget_before: i64) -> Result<()> {
        cluster::heartbeat(&self.pool, &node, forget_before).await
    }

    async fn list_nodes(&self, since: i64) -> Result<Vec<NodeRecord>> {
        cluster::list_nodes(&self.pool, since).await
    }

    async fn remove_node(&self, id: &str) -> Result<()> {
        cluster::remove_node(&self.pool, id).await
    }

    async fn config_generation(&self) -> Result<Option<i64>> {
        cluster::config_generation(&self.pool).await.map(Some)
    }

    async fn set_inbound_secret(&self, store_id: &str, sealed: &str) -> Result<()> {
        sqlx::query("UPDATE stores SET inbound_secret = $2 WHERE id = $1")
            .bind(store_id)
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
