//! Stage 8: DB_DATA and DB_FINAL must have the same tables and columns (names, data types, lengths,
//! nullability, character sets). Constraints are not compared. One line per difference.

use super::{Context, Outcome, Stage};
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::is_internal;
use crate::run::differences::differences;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let fin = ctx.final_db()?;
    let data_schema = crate::run::data_shape::data_or_predicted(ctx)?;
    let final_schema = match crate::run::data_shape::predicted_final(ctx)? {
        Some(predicted) => {
            ctx.say(
                "    -- DB_FINAL does not exist yet: compared with the shape derive-final gives it",
            );
            predicted
        }
        None => {
            let mut fs = fin.connect()?;
            fin.describe(fs.as_mut())?
        }
    };
    let source = crate::run::source::load_if_given(ctx)?;
    let diffs = differences(&data_schema, &final_schema, source.as_ref().map(|p| &p.0));
    if diffs.is_empty() {
        let n = data_schema
            .tables
            .iter()
            .filter(|t| !is_internal(&t.name))
            .count();
        return Ok(Outcome {
            rows: 0,
            detail: Some(format!("{} match", crate::text::count(n as u64, "table"))),
        });
    }
    for line in &diffs {
        ctx.say(line);
    }
    ctx.journal
        .add_artifact(Artifact::CompareDifferences, "all", &diffs.join("\n"))?;
    Err(Error::mismatch(
        Place::stage(Stage::Compare),
        format!(
            "DB_DATA and DB_FINAL differ in {} places (listed above); nothing was loaded. Change the application's schema (or the conversion options) so they match, then run again with --resume.",
            diffs.len()
        ),
    ))
}
