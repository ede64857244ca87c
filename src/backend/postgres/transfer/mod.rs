//! PostgreSQL's half of a move to another engine (backend/transfer.rs): the copy of SOURCE that
//! DB_DATA's server holds. Its types (`types.rs`), its statements (`ddl.rs`), its rows stored by
//! binary COPY (`write.rs`) and read back from PostgreSQL's text output (`read.rs`), which shares
//! no code with the encoder, so that an encoder's mistake cannot cancel itself out in the check.

mod ddl;
mod read;
mod types;
mod write;

use super::PostgresBackend;
use crate::backend::transfer::{Cell, Export, Import, ImportDdl, ImportTable, Portable};
use crate::calendar::{civil_from_days, days_from_civil};
use crate::error::{Place, Result};
use crate::model::Column;
use crate::stage::Stage;

impl Export for PostgresBackend {}

impl Import for PostgresBackend {
    fn imports(&self) -> bool {
        true
    }

    fn portable_of(&self, column: &Column) -> Option<Portable> {
        types::portable_of(column)
    }

    fn import_type_sql(&self, ty: &Portable) -> String {
        types::import_type_sql(ty)
    }

    fn import_ddl(&self, table: &ImportTable) -> ImportDdl {
        ddl::import_ddl(table)
    }

    fn import_types(&self, final_db: &dyn crate::backend::Backend, types: &[String]) -> Result<()> {
        ddl::import_enum_types(self, final_db, types)
    }

    fn import_rows(
        &self,
        table: &ImportTable,
        rows: &mut dyn Iterator<Item = Result<Vec<Cell>>>,
    ) -> Result<u64> {
        write::import_rows(self, table, rows)
    }

    fn read_back(
        &self,
        table: &ImportTable,
        sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<u64> {
        read::read_back(self, table, sink)
    }
}

/// Where an error of this stage happened.
fn place(table: &str, column: Option<&str>) -> Place {
    let p = Place::stage(Stage::Transfer).table(table);
    match column {
        Some(c) => p.column(c),
        None => p,
    }
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates and timestamps.
const PG_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

#[cfg(test)]
mod tests;
