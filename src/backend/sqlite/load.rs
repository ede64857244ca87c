//! Moving rows between SQLite files: SOURCE (for swap's fill) and DB_DATA (for the load) are
//! attached read-only to a session on the file being written, and one INSERT ... SELECT per
//! table copies the rows.

use std::path::Path;

use super::catalog::text;
use super::{q, read_only_uri, same_file, SqliteBackend, DIALECT};
use crate::backend::{Arrival, Backend, Dialect, FillJob, Load, LoadJob, Moved, Session};
use crate::error::{Error, Place, Result};
use crate::url::{DbUrl, Engine};

const ATTACHED_SQL: &str = include_str!("attached.sql");
const TABLE_INDEXES_SQL: &str = include_str!("table_indexes.sql");

/// The alias under which `load_table` reaches DB_DATA from a DB_FINAL session.
const DATA_ALIAS: &str = "rekey_data";
/// The alias under which `fill_table` reaches SOURCE from a DB_DATA session.
const SOURCE_ALIAS: &str = "rekey_source";

impl SqliteBackend {
    /// Attaches `other` read-only to `session` under `alias` (once) and returns the qualifier
    /// its tables take there.
    pub(super) fn attach(
        &self,
        session: &mut dyn Session,
        other: &DbUrl,
        alias: &str,
    ) -> Result<Option<String>> {
        if other.engine != Engine::Sqlite {
            return Ok(None);
        }
        let path = Path::new(&other.database);
        if same_file(self.path(), path) {
            return Err(Error::usage(
                format!("{} and {} are the same file.", self.url, other),
                "rekey never writes SOURCE: give DB_DATA and DB_FINAL files of their own.",
            ));
        }
        let attached = session.query_all(&ATTACHED_SQL.replace("{alias}", &DIALECT.lit(alias)))?;
        if attached.is_empty() {
            if !path.exists() {
                return Err(Error::input(
                    Place::default(),
                    format!("{other} does not exist."),
                    "Check the file path in the URL (a relative path starts from the current directory).",
                ));
            }
            // rekey only reads through `reach`; read-only also stops an unqualified statement
            // that SQLite resolves in the attached file from ever changing it.
            session.execute(&format!(
                "ATTACH DATABASE {} AS {}",
                DIALECT.lit(&read_only_uri(&other.database)),
                q(alias)
            ))?;
        }
        Ok(Some(q(alias)))
    }
}

impl Load for SqliteBackend {
    fn fill_table(&self, source: &dyn Backend, job: &FillJob<'_>) -> Result<u64> {
        let mut session = self.open()?;
        let s: &mut dyn Session = &mut session;
        // The table is emptied before SOURCE is attached: SQLite would resolve a name that this
        // file lacked in the attached SOURCE (which is read-only anyway).
        let table = format!("main.{}", q(&job.table.name));
        if s.has_rows(&table)? {
            s.execute(&DIALECT.empty_table_sql(&table))?;
        }
        let from = self
            .attach(s, source.url(), SOURCE_ALIAS)?
            .ok_or_else(|| not_sqlite(source.url()))?;
        for sql in DIALECT.bulk_session(Arrival::InKeyOrder) {
            s.execute(&sql)?;
        }
        s.execute(&job.insert_select_sql(&DIALECT, &from)?)
    }

    fn fill_table_sql(&self, source: &DbUrl, job: &FillJob<'_>) -> Result<Vec<String>> {
        let mut out = vec![format!(
            "ATTACH DATABASE {} AS {}",
            DIALECT.lit(&read_only_uri(&source.database)),
            q(SOURCE_ALIAS)
        )];
        out.extend(DIALECT.bulk_session(Arrival::InKeyOrder));
        out.push(job.insert_select_sql(&DIALECT, &q(SOURCE_ALIAS))?);
        Ok(out)
    }

    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved> {
        let mut session = self.open()?;
        let s: &mut dyn Session = &mut session;
        let from = self
            .attach(s, data.url(), DATA_ALIAS)?
            .ok_or_else(|| not_sqlite(data.url()))?;
        for sql in DIALECT.bulk_session(job.arrival) {
            s.execute(&sql)?;
        }
        let cols = DIALECT.column_list(job.columns);
        let table = q(job.table);
        // DB_FINAL's own indexes are built once after the rows are in (a sort instead of one
        // b-tree insert per row, about twice as fast), from their stored statements, in the same
        // transaction: no other connection ever sees the table without them.
        let indexes =
            s.query_all(&TABLE_INDEXES_SQL.replace("{table}", &DIALECT.lit(job.table)))?;
        s.execute("BEGIN IMMEDIATE")?;
        for ix in &indexes {
            s.execute(&format!("DROP INDEX main.{}", q(&text(&ix[0]))))?;
        }
        let rows = s.execute(&format!(
            "INSERT INTO main.{table} ({cols}) SELECT {cols} FROM {from}.{table}"
        ))?;
        for ix in &indexes {
            s.execute(&text(&ix[1]))?;
        }
        s.execute("COMMIT")?;
        (job.progress)(rows);
        Ok(Moved::whole(rows))
    }
}

fn not_sqlite(url: &DbUrl) -> Error {
    Error::usage(
        format!("{url} is not a SQLite database."),
        "Give SOURCE, DB_DATA and DB_FINAL as sqlite:// URLs.",
    )
}
