//! Stage 0 of a run whose SOURCE is on another engine than DB_DATA: SOURCE's tables and rows
//! copied, by meaning, into a database rekey owns on DB_DATA's engine, checked against SOURCE,
//! and read by every later stage as SOURCE. SOURCE is only read.

use super::{Context, Outcome};
use crate::error::{Error, Result};

pub fn run(_ctx: &Context) -> Result<Outcome> {
    Err(Error::usage(
        "moving SOURCE to another engine is being built.",
        "Use SOURCE, DB_DATA and DB_FINAL of one engine.",
    ))
}
