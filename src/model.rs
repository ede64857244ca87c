//! The neutral schema model shared by every backend: tables, columns, keys, indexes, references,
//! triggers and views, as the per-engine describers read them from the catalog.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Schema {
    pub tables: Vec<Table>,
    pub triggers: Vec<Trigger>,
    pub views: Vec<View>,
    pub routines: Vec<Routine>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    pub name: String,
    /// Columns in their ordinal order.
    pub columns: Vec<Column>,
    /// Primary-key column names in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Storage engine (InnoDB, MyISAM, ...) where the engine has several.
    pub engine: Option<String>,
    /// Table default character set and collation where the engine has them.
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// The catalog's estimate; exact counts come from COUNT(*) where they matter.
    pub estimated_rows: u64,
    /// Data and index bytes, where the catalog tells.
    pub bytes: u64,
    /// The table's own CREATE statement where the engine keeps it (SQLite), for rebuilds.
    pub create_sql: Option<String>,
    /// `METHOD(expression)` of a partitioned table.
    pub partitioning: Option<String>,
    /// CHECK constraints, column-level and table-level.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// A CHECK constraint: a condition written for the table's integer keys may not hold for UUIDs.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Check {
    /// The constraint's name, where the engine has one.
    pub name: String,
    pub expression: String,
    /// The column it is declared on, for a column-level check.
    pub column: Option<String>,
}

impl Check {
    /// Whether the condition names `column` (as a whole identifier, quoted or not).
    pub fn mentions(&self, column: &str) -> bool {
        mentions_identifier(&self.expression, column)
    }
}

/// Whether `text` names the identifier `name` as a whole word (bare, or in backticks, double
/// quotes or brackets), so that `flagship` does not count as a mention of `flag`.
pub fn mentions_identifier(text: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let lower_text = text.to_lowercase();
    let lower_name = name.to_lowercase();
    if lower_name.is_empty() {
        return false;
    }
    let mut start = 0;
    while let Some(pos) = lower_text[start..].find(&lower_name) {
        let at = start + pos;
        let end = at + lower_name.len();
        let before = lower_text[..at].chars().next_back();
        let after = lower_text[end..].chars().next();
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            return true;
        }
        start = at + lower_name.chars().next().map(char::len_utf8).unwrap_or(1);
    }
    false
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// Columns that can be written (generated columns are computed by the engine).
    pub fn writable_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.generated.is_none())
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Column {
    pub name: String,
    /// Base type, lower case: `int`, `varchar`, `longtext`, `char`...
    pub data_type: String,
    /// Full declared type as the engine prints it: `int(10) unsigned`, `varchar(255)`, `CHAR(32)`.
    pub column_type: String,
    pub nullable: bool,
    /// Default expression as the catalog shows it, `None` when there is none.
    pub default: Option<String>,
    pub max_length: Option<u64>,
    pub numeric_precision: Option<u64>,
    pub numeric_scale: Option<u64>,
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub auto_increment: bool,
    /// `Some(expression)` for generated (virtual or stored) columns.
    pub generated: Option<String>,
    /// MariaDB INVISIBLE columns: not in SELECT *, so always listed by name.
    pub invisible: bool,
    pub comment: Option<String>,
}

impl Column {
    /// Integer types that rekey converts when they form a table's single-column primary key.
    pub fn is_integer(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "tinyint"
                | "smallint"
                | "mediumint"
                | "int"
                | "integer"
                | "bigint"
                | "int2"
                | "int4"
                | "int8"
        )
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// BTREE, HASH, FULLTEXT, SPATIAL...
    pub kind: String,
    /// The index's own CREATE statement where the engine keeps it (SQLite).
    pub create_sql: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// The database of the referenced table when it is not the table's own.
    #[serde(default)]
    pub ref_schema: Option<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Trigger {
    pub name: String,
    pub table: String,
    /// The full statement that recreates the trigger exactly as it was.
    pub create_sql: String,
    /// Statements that recreate the session the trigger was defined under, run before
    /// `create_sql` (MySQL's sql_mode); empty where the engine keeps no such state.
    #[serde(default)]
    pub setup: Vec<String>,
    /// The account the trigger runs as (MySQL's DEFINER), which recreating it must be allowed
    /// to name; `None` where triggers run as whoever fires them.
    #[serde(default)]
    pub runs_as: Option<String>,
    /// How the engine has the trigger enabled, where it has states (PostgreSQL: O, D, R, A),
    /// restored exactly after the load.
    #[serde(default)]
    pub enabled: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct View {
    pub name: String,
    pub definition: String,
    /// The statement that recreates the view in another database of the same engine.
    pub create_sql: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_matched_as_whole_words() {
        assert!(mentions_identifier("`id` < 1000", "id"));
        assert!(mentions_identifier("\"ID\" > 0 AND v >= 0", "id"));
        assert!(mentions_identifier("SELECT * FROM flag f", "flag"));
        assert!(!mentions_identifier("'flagship'", "flag"));
        assert!(!mentions_identifier("user_id > 0", "id"));
        assert!(mentions_identifier("[user] x", "user"));
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Routine {
    pub name: String,
    pub kind: String,
    pub definition: String,
}

/// Tables that belong to rekey itself inside DB_DATA: never compared, loaded or verified.
pub const INTERNAL_PREFIX: &str = "_rekey_";

pub fn is_internal(table: &str) -> bool {
    table.starts_with(INTERNAL_PREFIX)
}

/// Migration tools' bookkeeping tables: in DB_FINAL they hold the new schema's own history and are
/// never loaded from DB_DATA nor overwritten.
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "alembic_version",
    "django_migrations",
    "schema_migrations",
    "ar_internal_metadata",
    "flyway_schema_history",
    "databasechangelog",
    "databasechangeloglock",
    "knex_migrations",
    "knex_migrations_lock",
    "doctrine_migration_versions",
    "migrations",
    "__diesel_schema_migrations",
    "_sqlx_migrations",
    "__efmigrationshistory",
];

pub fn is_bookkeeping(table: &str) -> bool {
    let lower = table.to_ascii_lowercase();
    BOOKKEEPING_TABLES.contains(&lower.as_str())
}
