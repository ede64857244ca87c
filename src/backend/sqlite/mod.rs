//! The SQLite backend (the embedded default): catalog from sqlite_schema and the pragma functions,
//! constraint changes by rebuilding tables, bulk load through ATTACH.

use super::{Backend, Dialect, LoadJob, ServerInfo, Session, Swap, Unconstrain, Value};
use crate::error::{Error, Place, Result};
use crate::ident::QuoteStyle;
use crate::model::{Schema, Table};
use crate::options::UuidFormat;
use crate::url::DbUrl;

pub struct SqliteDialect;

static DIALECT: SqliteDialect = SqliteDialect;

impl Dialect for SqliteDialect {
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::DoubleQuote
    }
    fn backslash_escapes(&self) -> bool {
        false
    }
    fn alters_in_place(&self) -> bool {
        false
    }
    fn parallel_writes(&self) -> bool {
        false
    }
    fn uuid_type(&self, format: UuidFormat) -> Result<String> {
        match format {
            UuidFormat::Char32 => Ok("CHAR(32)".into()),
            UuidFormat::Char36 => Ok("CHAR(36)".into()),
            UuidFormat::Binary16 => Ok("BLOB".into()),
            UuidFormat::Native => Err(Error::usage(
                "SQLite has no native UUID type.",
                "Use --uuid-format char32 (default), char36 or binary16 with SQLite.",
            )),
        }
    }
    fn uuid_value(&self, id: &uuid::Uuid, format: UuidFormat) -> Value {
        match format {
            UuidFormat::Binary16 => Value::Blob(id.as_bytes().to_vec()),
            f => Value::Text(crate::uuidgen::to_text(id, f).into_bytes()),
        }
    }
    fn update_join(
        &self,
        target: &str,
        source: &str,
        alias: &str,
        on: &str,
        sets: &[(String, String)],
    ) -> String {
        let sets: Vec<String> = sets.iter().map(|(c, e)| format!("{c} = {e}")).collect();
        format!(
            "UPDATE {target} SET {} FROM {source} AS {alias} WHERE {on}",
            sets.join(", ")
        )
    }
    fn bulk_session(&self) -> Vec<String> {
        vec!["PRAGMA foreign_keys = OFF".into()]
    }
    fn map_key_type(&self, _column_type: &str) -> String {
        "INTEGER".into()
    }
}

pub struct SqliteBackend {
    url: DbUrl,
}

impl SqliteBackend {
    pub fn new(url: DbUrl) -> Self {
        SqliteBackend { url }
    }
}

fn not_yet() -> Error {
    Error::usage(
        "the SQLite backend is not complete in this build.",
        "Use a mysql:// URL.",
    )
}

impl Backend for SqliteBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }
    fn dialect(&self) -> &dyn Dialect {
        &DIALECT
    }
    fn connect(&self) -> Result<Box<dyn Session>> {
        Err(not_yet())
    }
    fn database_exists(&self) -> Result<bool> {
        Ok(std::path::Path::new(&self.url.database).exists())
    }
    fn create_database(&self, _like: Option<&Table>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn drop_database(&self) -> Result<()> {
        Err(not_yet())
    }
    fn execute_on_server(&self, _sql: &str) -> Result<()> {
        Ok(())
    }
    fn describe(&self, _session: &mut dyn Session) -> Result<Schema> {
        Err(not_yet())
    }
    fn reach(&self, _s: &mut dyn Session, _other: &DbUrl, _alias: &str) -> Result<Option<String>> {
        Err(not_yet())
    }
    fn clone_table_sql(&self, _from: &str, _table: &Table) -> Vec<String> {
        Vec::new()
    }
    fn unconstrain_sql(&self, _table: &Table, _what: &Unconstrain) -> Vec<String> {
        Vec::new()
    }
    fn swap_sql(&self, _table: &Table, _swaps: &[Swap], _drop: &[String]) -> Vec<String> {
        Vec::new()
    }
    fn derive_table_sql(&self, _from: &str, _table: &Table, _swaps: &[Swap]) -> Vec<String> {
        Vec::new()
    }
    fn server_info(&self, _session: &mut dyn Session) -> Result<ServerInfo> {
        Ok(ServerInfo::default())
    }
    fn load_table(&self, _data: &dyn Backend, _job: &LoadJob<'_>) -> Result<u64> {
        Err(not_yet()).map_err(|e: Error| e.at(&Place::stage("load")))
    }
    fn drop_trigger_sql(&self, name: &str) -> String {
        format!("DROP TRIGGER IF EXISTS {}", DIALECT.q(name))
    }
}
