//! Reading SQLite rows into records.

use rusqlite::Row;

use crate::Result;
use crate::error::parse_json;
use crate::model::*;

pub(super) const WORKFLOW_COLUMNS: &str = "id, store_id, version, active, name, description, format, trigger_kind, trigger_key, definition, warnings, created_at, updated_at";

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

pub(super) type RawWorkflow = (
    String,
    String,
    i64,
    bool,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
);

pub(super) fn workflow_row(r: &Row) -> rusqlite::Result<RawWorkflow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

pub(super) fn workflow(raw: RawWorkflow) -> Result<WorkflowRecord> {
    let (
        id,
        store_id,
        version,
        active,
        name,
        description,
        format,
        trigger_kind,
        trigger_key,
        definition,
        warnings,
        created_at,
        updated_at,
    ) = raw;
    Ok(WorkflowRecord {
        id,
        store_id,
        version,
        active,
        content: WorkflowContent {
            name,
            description,
            format,
            trigger_kind,
            trigger_key,
            definition: parse_json(definition)?,
            warnings: parse_json(warnings)?,
        },
        created_at,
        updated_at,
    })
}

pub(super) fn version(
    (workflow_id, version, definition, created_at): (String, i64, String, i64),
) -> Result<VersionRecord> {
    Ok(VersionRecord {
        workflow_id,
        version,
        definition: parse_json(definition)?,
        created_at,
    })
}
