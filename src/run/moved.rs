//! A move to another engine's shared facts (issue 24): where the transfer stage's copy of SOURCE
//! lives and what its journal calls it (the check that SOURCE still holds what was copied is the
//! transfer stage's own, `stages::transfer::changes_since`).

use crate::error::{Error, Result};
use crate::run::marker::Companion;

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
