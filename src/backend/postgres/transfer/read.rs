//! The copy's rows read back as cells, decoded from PostgreSQL's text output.

use super::super::PostgresBackend;
use crate::backend::transfer::{Cell, ImportTable};
use crate::error::{Error, Result};

pub(super) fn read_back(
    _backend: &PostgresBackend,
    table: &ImportTable,
    _sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<u64> {
    Err(Error::env(
        super::place(&table.name, None),
        "reading the copy back is not built yet.".to_string(),
        "Report this as a bug.",
    ))
}
