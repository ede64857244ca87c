//! SQLite as the SOURCE of a move to PostgreSQL (backend/transfer.rs): each column's portable
//! type from its declared type (`types.rs`), the values that type cannot take exactly, counted
//! in one scan per table (`blockers.rs`), and the rows read as cells (`rows.rs`). SQLite stores
//! any value in any column of a non-STRICT table, so the declared type is a promise the blockers
//! check, value by value, against the same rules the reader converts by (`rows::to_cell`).

mod blockers;
mod rows;
mod types;

use rusqlite::{Connection, OpenFlags};

use super::{parse, q, SqliteBackend, BUSY_TIMEOUT};
use crate::backend::transfer::{Cell, Export, ExportBlocker, Import, PortableColumn};
use crate::error::{Error, Place, Result};
use crate::model::Table;
use crate::stage::Stage;
use crate::url::Engine;

impl Export for SqliteBackend {
    fn exports_to(&self, target: Engine) -> bool {
        target == Engine::Postgres
    }

    fn portable_columns(
        &self,
        table: &Table,
    ) -> std::result::Result<Vec<PortableColumn>, Vec<String>> {
        types::portable_columns(self, table)
    }

    fn export_blockers(
        &self,
        table: &Table,
        columns: &[PortableColumn],
    ) -> Result<Vec<ExportBlocker>> {
        blockers::export_blockers(self, table, columns)
    }

    fn export_rows(
        &self,
        table: &Table,
        columns: &[PortableColumn],
        zero_dates_null: bool,
        sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<u64> {
        rows::export_rows(self, table, columns, zero_dates_null, sink)
    }
}

impl Import for SqliteBackend {}

fn place(table: &str) -> Place {
    Place::stage(Stage::Transfer).table(table)
}

impl SqliteBackend {
    /// SOURCE opened read-only: the move never writes it, and a read-only handle makes that a
    /// property of the connection rather than of the statements.
    fn open_read_only(&self, table: &str) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(self.path(), flags).map_err(|e| {
            Error::env(
                place(table),
                format!("cannot open {} to read it: {e}.", self.url),
                "Check that the file exists, is a SQLite database and is readable by this user.",
            )
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| super::sql_error(e, "busy_timeout").at(&place(table)))?;
        Ok(conn)
    }
}

/// The name that reaches a table's rowid: the first of the three SQLite offers that no column
/// shadows; `None` for a WITHOUT ROWID table (or all three taken).
fn rowid_name(table: &Table) -> Option<&'static str> {
    let def = table
        .create_sql
        .as_deref()
        .and_then(parse::parse_create_table);
    if def.is_some_and(|d| d.without_rowid()) {
        return None;
    }
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|n| !table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(n)))
}

/// The SQL that names a row in messages: its primary-key columns, else its rowid (then `true`).
fn key_columns(table: &Table) -> (Vec<String>, bool) {
    if !table.primary_key.is_empty() {
        (table.primary_key.iter().map(|c| q(c)).collect(), false)
    } else if let Some(r) = rowid_name(table) {
        (vec![r.to_string()], true)
    } else {
        (Vec::new(), false)
    }
}

/// A value as the operator would look for it: integers and text as they are, a blob in hex.
fn show(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => {
            let s: String = String::from_utf8_lossy(t)
                .chars()
                .take(60)
                .map(|c| if c == '\0' { '\u{2400}' } else { c })
                .collect();
            format!("'{s}'")
        }
        ValueRef::Blob(b) => {
            let hex: String = b.iter().take(32).map(|x| format!("{x:02X}")).collect();
            format!("X'{hex}'")
        }
    }
}

/// The key of one row as text: `7`, `(1, 2)` for a composite key, `rowid 7` without a key.
fn key_text(values: &[String], rowid: bool) -> String {
    match values {
        [one] if rowid => format!("rowid {one}"),
        [one] => one.clone(),
        many => format!("({})", many.join(", ")),
    }
}
