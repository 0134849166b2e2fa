//! Reading SQLite rows the backend's own code still reads by hand.

use rusqlite::Row;

/// Reads the status in column `i`.
pub(super) fn get_status<T>(r: &Row, i: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr<Err = switchboard_core::status::UnknownStatus>,
{
    let text: String = r.get(i)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}
