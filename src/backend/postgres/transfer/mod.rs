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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm); year 0 is
/// 1 BC.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day since 1970-01-01 (the same algorithm, reversed).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
