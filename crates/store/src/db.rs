//! One text per statement and one body per store operation, for both backends.
//!
//! Statements are written once with PostgreSQL's `$N` placeholders ([`sql!`]); SQLite reads the
//! same text with `?N`. Where the dialects differ, [`Sql::each`] keeps both texts side by side.
//! Operations are written once as `async fn op(db: &mut impl Db, …)`: on PostgreSQL they run on a
//! connection as they are; on SQLite, whose calls never wait, [`run_now`] completes them in one
//! poll on the writer thread or a reader.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::types::{ToSqlOutput, Value as SqliteValue};
use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;

use crate::Result;

/// A statement in each backend's placeholder style.
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    pub pg: &'static str,
    pub sqlite: &'static str,
}

impl Sql {
    /// A statement whose dialects differ.
    pub const fn each(pg: &'static str, sqlite: &'static str) -> Sql {
        Sql { pg, sqlite }
    }
}

/// `$N` → `?N`: what SQLite reads of a PostgreSQL statement. Same length, so it runs at compile time.
pub const fn sqlite_text<const N: usize>(pg: &str) -> [u8; N] {
    let from = pg.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if from[i] == b'$' && i + 1 < N && from[i + 1].is_ascii_digit() {
            b'?'
        } else {
            from[i]
        };
        i += 1;
    }
    out
}

/// A statement written once, with `$N` placeholders: `sql!("SELECT … WHERE id = $1")` or
/// `sql!(concat!("SELECT ", columns!(), " FROM …"))`.
macro_rules! sql {
    ($pg:expr) => {{
        const PG: &str = $pg;
        const BYTES: [u8; PG.len()] = $crate::db::sqlite_text(PG);
        const SQLITE: &str = match std::str::from_utf8(&BYTES) {
            Ok(s) => s,
            Err(_) => panic!("SQL text is UTF-8"),
        };
        $crate::db::Sql {
            pg: PG,
            sqlite: SQLITE,
        }
    }};
}
pub(crate) use sql;

/// One statement with a clause that only PostgreSQL gets, between `$head` and `$tail`: row locks
/// (`FOR UPDATE`, `SKIP LOCKED`), which SQLite's one writer does not need.
macro_rules! sql_pg_clause {
    ($head:expr, $pg_only:expr, $tail:expr) => {
        $crate::db::Sql {
            pg: concat!($head, $pg_only, $tail),
            sqlite: $crate::db::sql!(concat!($head, $tail)).sqlite,
        }
    };
}
pub(crate) use sql_pg_clause;

/// A claim: other nodes' claims skip the rows this one takes.
macro_rules! sql_skip_locked {
    ($head:expr, $tail:expr) => {
        $crate::db::sql_pg_clause!($head, " FOR UPDATE SKIP LOCKED", $tail)
    };
}
pub(crate) use sql_skip_locked;

/// A read that locks its rows, so that concurrent writers on other nodes apply in turn.
macro_rules! sql_for_update {
    ($text:expr) => {
        $crate::db::sql_pg_clause!($text, " FOR UPDATE", "")
    };
}
pub(crate) use sql_for_update;

/// A statement's parameter. Nulls carry their type: PostgreSQL is told each parameter's type.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Int(i64),
    Bool(bool),
    Text(&'a str),
    /// A list of texts: a PostgreSQL array, JSON text on SQLite (read with `json_each`).
    Texts(&'a [String]),
    NullInt,
    NullText,
    NullBool,
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [String]> for Arg<'a> {
    fn from(v: &'a [String]) -> Self {
        Arg::Texts(v)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

impl From<Option<bool>> for Arg<'_> {
    fn from(v: Option<bool>) -> Self {
        v.map_or(Arg::NullBool, Arg::Bool)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::NullText, Arg::Text)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Arg::NullText, Arg::Text)
    }
}

/// `args![a, b, …]`: parameters from values that convert into [`Arg`].
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::db::Arg::from($arg)),*]
    };
}
pub(crate) use args;

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(v) => ToSqlOutput::from(*v),
            Arg::Bool(v) => ToSqlOutput::from(*v),
            Arg::Text(v) => ToSqlOutput::from(*v),
            Arg::Texts(v) => ToSqlOutput::Owned(SqliteValue::Text(
                serde_json::to_string(v).expect("texts are JSON"),
            )),
            Arg::NullInt | Arg::NullText | Arg::NullBool => ToSqlOutput::Owned(SqliteValue::Null),
        })
    }
}

fn bind<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    args: &'q [Arg<'q>],
) -> Query<'q, Postgres, PgArguments> {
    for arg in args {
        query = match *arg {
            Arg::Int(v) => query.bind(v),
            Arg::Bool(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Texts(v) => query.bind(v),
            Arg::NullInt => query.bind(None::<i64>),
            Arg::NullText => query.bind(None::<&str>),
            Arg::NullBool => query.bind(None::<bool>),
        };
    }
    query
}

/// A column type both backends read.
pub trait Col:
    Sized + rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

impl<T> Col for T where
    T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

/// A result row of either backend.
pub trait Row {
    /// Column `i`.
    fn col<T: Col>(&self, i: usize) -> Result<T>;

    /// Column `i`, JSON text the store wrote.
    fn json(&self, i: usize) -> Result<serde_json::Value> {
        crate::error::parse_json(self.col(i)?)
    }

    /// Column `i`, JSON text or NULL.
    fn opt_json(&self, i: usize) -> Result<Option<serde_json::Value>> {
        crate::error::parse_opt(self.col(i)?)
    }

    /// Column `i`, a status's wire name.
    fn status<T>(&self, i: usize) -> Result<T>
    where
        T: std::str::FromStr<Err = switchboard_core::status::UnknownStatus>,
    {
        crate::error::status(self.col(i)?)
    }
}

impl Row for rusqlite::Row<'_> {
    fn col<T: Col>(&self, i: usize) -> Result<T> {
        Ok(self.get(i)?)
    }
}

impl Row for PgRow {
    fn col<T: Col>(&self, i: usize) -> Result<T> {
        Ok(sqlx::Row::try_get(self, i)?)
    }
}

/// A connection (in the writer's transaction, or a reader) of either backend.
pub trait Db {
    type Row<'r>: Row;

    /// Runs a statement; gives the rows it changed.
    fn execute(&mut self, sql: &Sql, args: &[Arg<'_>]) -> impl Future<Output = Result<u64>>;

    /// Runs a query and reads each row with `read`.
    fn fetch<T>(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
        read: impl FnMut(&Self::Row<'_>) -> Result<T>,
    ) -> impl Future<Output = Result<Vec<T>>>;

    /// The store's active subscriptions whose filter takes `event`: `(id, ordered)`.
    fn subscribers(
        &mut self,
        store_id: &str,
        event: &str,
    ) -> impl Future<Output = Result<Vec<(String, bool)>>>;

    /// Notes that this transaction published deliveries: the delivery worker is rung once it
    /// commits.
    fn published(&mut self);

    /// Subscriptions changed in this transaction: any copy of them is stale.
    fn subscriptions_changed(&mut self) {}

    /// The first row the query gives, read with `read`.
    fn fetch_one<T>(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
        read: impl FnMut(&Self::Row<'_>) -> Result<T>,
    ) -> impl Future<Output = Result<Option<T>>> {
        async move { Ok(self.fetch(sql, args, read).await?.into_iter().next()) }
    }
}

/// SQLite's side: a connection of the writer thread or a reader.
pub struct Sqlite<'c>(pub &'c rusqlite::Connection);

impl Db for Sqlite<'_> {
    type Row<'r> = rusqlite::Row<'r>;

    /// From the writer thread's copy of the active subscriptions.
    async fn subscribers(&mut self, store_id: &str, event: &str) -> Result<Vec<(String, bool)>> {
        crate::sqlite::outbox::matching(self.0, store_id, event)
    }

    fn published(&mut self) {
        crate::sqlite::outbox::PUBLISHED.with(|p| p.set(true));
    }

    fn subscriptions_changed(&mut self) {
        crate::sqlite::outbox::forget_targets();
    }

    async fn execute(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64> {
        let mut statement = self.0.prepare_cached(sql.sqlite)?;
        Ok(statement.execute(rusqlite::params_from_iter(args))? as u64)
    }

    async fn fetch<T>(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
        mut read: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.0.prepare_cached(sql.sqlite)?;
        let mut rows = statement.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read(row)?);
        }
        Ok(out)
    }
}

/// Which subscriptions take an event (several nodes write: no copy is kept).
const SUBSCRIBERS: Sql = Sql::each(
    "SELECT DISTINCT s.id, s.ordered FROM subscription_events e JOIN subscriptions s ON s.id = e.subscription_id \
     WHERE e.store_id = $1 AND e.event IN ($2, $3, $4) AND s.active AND s.deleted_at IS NULL",
    "",
);

impl Db for sqlx::PgConnection {
    type Row<'r> = PgRow;

    async fn subscribers(&mut self, store_id: &str, event: &str) -> Result<Vec<(String, bool)>> {
        let [exact, group, all] = crate::outbox::filters_matching(event);
        let filters = args![store_id, exact.as_str(), group.as_str(), all.as_str()];
        self.fetch(&SUBSCRIBERS, filters, |r| Ok((r.col(0)?, r.col(1)?)))
            .await
    }

    fn published(&mut self) {
        let _ = crate::postgres::outbox::PUBLISHED.try_with(|p| p.set(true));
    }

    async fn execute(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64> {
        let done = bind(sqlx::query(sql.pg), args).execute(self).await?;
        Ok(done.rows_affected())
    }

    async fn fetch<T>(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
        read: impl FnMut(&PgRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = bind(sqlx::query(sql.pg), args).fetch_all(self).await?;
        rows.iter().map(read).collect()
    }
}

/// Completes an operation on SQLite, whose calls never wait.
pub fn run_now<F: Future>(operation: F) -> F::Output {
    let mut operation = pin!(operation);
    match operation
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a SQLite operation waited"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_reads_the_same_statement_with_its_placeholders() {
        const S: Sql =
            sql!("SELECT json_extract(x, '$.a') FROM t WHERE a = $1 AND b = $12 OR $3 IS NULL");
        assert_eq!(
            S.sqlite,
            "SELECT json_extract(x, '$.a') FROM t WHERE a = ?1 AND b = ?12 OR ?3 IS NULL"
        );
        assert_eq!(S.pg.len(), S.sqlite.len());
        const L: Sql = sql_skip_locked!("SELECT id FROM t WHERE a < $1 LIMIT $2", ") x");
        assert_eq!(
            L.pg,
            "SELECT id FROM t WHERE a < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) x"
        );
        assert_eq!(L.sqlite, "SELECT id FROM t WHERE a < ?1 LIMIT ?2) x");
    }

    #[test]
    fn an_operation_completes_at_once_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut db = Sqlite(&conn);
        run_now(db.execute(&sql!("CREATE TABLE t (a INTEGER, b TEXT)"), &[])).unwrap();
        let row = args![7_i64, "x", Option::<i64>::None];
        let n = run_now(db.execute(
            &sql!("INSERT INTO t (a, b) VALUES ($1 + COALESCE($3, 0), $2)"),
            row,
        ));
        assert_eq!(n.unwrap(), 1);
        let got = run_now(db.fetch_one(&sql!("SELECT a, b FROM t"), &[], |r| {
            Ok((r.col::<i64>(0)?, r.col::<String>(1)?))
        }));
        assert_eq!(got.unwrap(), Some((7, "x".to_owned())));
    }
}
