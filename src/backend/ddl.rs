//! The statements that change schemas: creating DB_DATA's tables, dropping their constraints,
//! swapping columns, deriving DB_FINAL, and setting triggers and secondary indexes aside and back.

use serde::{Deserialize, Serialize};

use super::Session;
use crate::error::Result;
use crate::model::{Table, Trigger};
use crate::url::DbUrl;

/// What of a DB_FINAL table is set aside for its load, as the journal keeps it (an `indexes`
/// artifact, written before the first statement runs): its secondary indexes and, on MariaDB,
/// InnoDB's automatic statistics; the statements that set them aside and those that put them
/// back exactly as they were, so an interrupted load, `--resume` or `rekey clean` can restore
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexesAside {
    pub table: String,
    /// The indexes' names, for the report (none when only the statistics are aside).
    pub names: Vec<String>,
    /// The engine's automatic statistics are off for the load; the restore turns them back on
    /// as they were and gathers them once (absent in records of older builds: false).
    #[serde(default)]
    pub statistics: bool,
    /// One atomic statement where the engine allows (with the session settings it needs first):
    /// a kill leaves every index or none aside.
    pub set_aside: Vec<String>,
    /// One atomic statement, or statements that each do nothing when run again, so that a
    /// restore interrupted by a kill can run again.
    pub restore: Vec<String>,
    /// Restoring statements that wait until every table's rows are in, after `restore` (the
    /// load's end runs them; `--resume` and `rekey clean` too): an ALTER during the load waits
    /// for the statements writing the table's foreign-key neighbours. Each safe to run again
    /// (absent in records of older builds: none).
    #[serde(default)]
    pub at_load_end: Vec<String>,
    /// `restore` ran after the table's rows and `at_load_end` is what is left; a load of the
    /// table again (a resumed step) sets the indexes aside again first, and clears this.
    #[serde(default)]
    pub indexes_back: bool,
}

/// What unconstrain removes from one table of DB_DATA.
#[derive(Debug, Clone, Default)]
pub struct Unconstrain {
    pub foreign_keys: Vec<String>,
    pub primary_key: bool,
    pub indexes: Vec<String>,
    /// Table-level CHECK constraints that use a column becoming a UUID (by name).
    pub checks: Vec<String>,
}

/// One converted column swap: `shadow` takes the place and name of `column`.
#[derive(Debug, Clone)]
pub struct Swap {
    pub column: String,
    pub shadow: String,
    pub uuid_type: String,
    pub nullable: bool,
}

pub trait Ddl {
    /// Statements that create `table` (as SOURCE at `source` describes it) in this database,
    /// without rows: swap fills it once, with its new keys. Neither defaults nor identities tied
    /// to SOURCE's sequences come along.
    fn clone_table_sql(&self, source: &DbUrl, table: &Table) -> Result<Vec<String>>;
    /// Statements that drop constraints and indexes from a table of DB_DATA.
    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String>;
    /// Statements that swap shadow columns into place and drop `drop` columns, in one table whose
    /// current shape is `table`. Must be correct when re-run on a half-swapped table.
    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String>;
    /// Statements that create `table` of SOURCE in an empty database with the given UUID swaps
    /// applied and all constraints kept (derive-final).
    fn derive_table_sql(
        &self,
        source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>>;
    /// The table `derive_table_sql` makes, as one CREATE TABLE written from SOURCE's own
    /// definition, where the engine can write it (None: run `derive_table_sql`'s statements).
    /// MariaDB runs DDL one statement at a time server-wide, and an ALTER of an empty table
    /// rebuilds it: 81 tables took 0.40 s as CREATE ... LIKE and ALTER, 0.17 s as one CREATE
    /// each (docs/performance.md).
    fn derive_table_at_once(
        &self,
        _source: &DbUrl,
        _table: &Table,
        _swaps: &[Swap],
    ) -> Result<Option<String>> {
        Ok(None)
    }
    /// The statements that make `table` as `derive_table_sql` makes it: the one CREATE of
    /// `derive_table_at_once` where the engine writes it, else `derive_table_sql`'s.
    fn derive_table(&self, source: &DbUrl, table: &Table, swaps: &[Swap]) -> Result<Vec<String>> {
        match self.derive_table_at_once(source, table, swaps)? {
            Some(create) => Ok(vec![create]),
            None => self.derive_table_sql(source, table, swaps),
        }
    }
    /// DB_DATA's `table` in its converted definition, made by clone where the table's rows go
    /// straight from SOURCE into DB_FINAL (`Dialect::converts_in_clone`): it never holds rows,
    /// and compare reads only its columns. `derive_table`'s statements unless the engine makes
    /// a barer table more cheaply.
    fn converted_table_sql(
        &self,
        source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>> {
        self.derive_table(source, table, swaps)
    }
    /// Statements that add `table`'s foreign keys (and what else may name other tables: rules,
    /// row-security policies) in DB_FINAL once every table of derive-final exists with its final
    /// column types; `swaps` are its converted columns (engines that declare foreign keys inline
    /// return none).
    fn derive_constraints_sql(&self, _table: &Table, _swaps: &[Swap]) -> Vec<String> {
        Vec::new()
    }
    /// Definitions of `table` that read a converted column and may or may not hold for UUIDs
    /// (a CHECK, an expression or partial index): `CHECK (parent_id <> id)` and `WHERE
    /// parent_id IS NULL` do, `CHECK (id > 0)` and `(id % 10)` have no meaning there. Each is a
    /// name for the report and one statement; derive-final runs each on its own, after the
    /// foreign keys, and leaves out those the server refuses, naming them and its reason.
    fn derive_optional_sql(&self, _table: &Table, _swaps: &[Swap]) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Statements that create `trigger` as it was described: the session settings it was
    /// defined under first (MySQL's sql_mode), then its definition.
    fn create_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        let mut out = trigger.setup.clone();
        out.push(trigger.create_sql.clone());
        out
    }
    /// Statements that stop `trigger` from firing during the load.
    fn set_aside_trigger_sql(&self, trigger: &Trigger) -> Vec<String>;
    /// Statements that put `trigger` back exactly as it was after `set_aside_trigger_sql`.
    fn restore_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        self.create_trigger_sql(trigger)
    }
    /// Whether loading `table` (DB_FINAL's, as described) into this engine pays for setting
    /// its secondary indexes aside and building them after the rows (docs/performance.md has
    /// the measurements). Asked when the load is planned, so that the table's load session is
    /// chosen for the table as it will be while loading; `indexes_aside` has the last word.
    fn sets_aside_indexes(&self, _table: &Table) -> bool {
        false
    }
    /// Whether `indexes_aside` may set anything of `table` aside for its load: its secondary
    /// indexes (`sets_aside_indexes`), or a setting the load runs faster without (MariaDB:
    /// InnoDB's automatic statistics of a large table).
    fn sets_aside_for_load(&self, table: &Table) -> bool {
        self.sets_aside_indexes(table)
    }
    /// What of `table` to set aside for its load (its secondary indexes where
    /// `sets_aside_indexes`, a setting where the engine has one), read from the live catalog on
    /// `s` (DB_FINAL): the statements that set them aside and that restore them byte for byte.
    /// `table.estimated_rows` is the rows the load expects (an engine may keep a small table's
    /// keys). PostgreSQL sets aside the primary key too, with the foreign keys on it, where no
    /// other table's foreign key relies on it.
    /// `None` when nothing is set aside (it would not pay, or nothing can be restored exactly).
    fn indexes_aside(&self, _s: &mut dyn Session, _table: &Table) -> Result<Option<IndexesAside>> {
        Ok(None)
    }
}
