//! A move to another engine's shared facts (issue 24): where the transfer stage's copy of SOURCE
//! lives, what its journal calls it, and the check at the end of a run that SOURCE still holds
//! what the transfer copied (the stages after it read only the copy).

use crate::error::{Error, Result};
use crate::run::marker::Companion;
use crate::run::Context;
use crate::stage::Stage;

/// The journal's name for the copy among the databases a run created.
pub const TRANSFER_DATABASE: &str = "transfer";

/// The copy of SOURCE a move makes: a database next to DB_DATA named after it, in DB_DATA's
/// schema.
pub const COPY: Companion = Companion {
    artifact: TRANSFER_DATABASE,
    suffix: "_source",
    purpose: "a move to another engine copies SOURCE into",
    called: "SOURCE's copy",
};

/// Refuses a DB_FINAL named like the copy of SOURCE a move makes (`<DB_DATA>_source` on the
/// same server): the copy would be taken for DB_FINAL, or DB_FINAL for the copy.
pub fn copy_apart(copy: &crate::url::DbUrl, final_db: &crate::url::DbUrl) -> Result<()> {
    let same_server = copy.host.eq_ignore_ascii_case(&final_db.host) && copy.port == final_db.port;
    if same_server && copy.database == final_db.database {
        return Err(Error::usage(
            format!(
                "DB_FINAL is {}, the name a move gives its copy of SOURCE (DB_DATA's name plus _source).",
                final_db.database
            ),
            "Give DB_FINAL or DB_DATA another name.",
        ));
    }
    Ok(())
}

/// The transfer's step that adds the copy's foreign keys once every table has its rows.
pub const LINKS_STEP: &str = "(foreign keys)";

/// SOURCE's tables whose row count differs from what the transfer copied: the stages after the
/// transfer read only the copy, so a write to SOURCE after it would be missing from DB_FINAL.
/// Empty for a run that is not a move.
pub fn changes_since_transfer(ctx: &Context) -> Result<Vec<String>> {
    let Some(origin) = &ctx.moved_from else {
        return Ok(Vec::new());
    };
    if ctx.run.dry_run {
        return Ok(Vec::new());
    }
    let copied: Vec<(String, u64)> = ctx
        .journal
        .steps(Stage::Transfer.name())?
        .into_iter()
        .filter(|s| s.item != LINKS_STEP)
        .map(|s| (s.item, s.rows))
        .collect();
    let counted = crate::run::greedy(ctx.run.jobs, &copied, |(table, _)| {
        let mut s = origin.connect()?;
        s.query_u64(&format!(
            "SELECT COUNT(*) FROM {}",
            origin.dialect().q(table)
        ))
    })?;
    Ok(copied
        .iter()
        .zip(counted)
        .filter(|((_, copied), now)| copied != now)
        .map(|((table, copied), now)| {
            format!("{table} held {copied} rows when the transfer copied it and holds {now} now")
        })
        .collect())
}
