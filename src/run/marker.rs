//! The databases a run creates next to DB_DATA (a live run's snapshot copy, a move's copy of
//! SOURCE: named and claimed by one `Companion`), and rekey's marker table in the databases a run
//! creates (`_rekey_run`, holding the run's id):
//! `rekey clean` drops only a database that carries its own run's marker, preflight refuses a
//! DB_DATA of another run, and derive-final takes over a DB_FINAL its own run created; after a
//! verified run (or a live run's cutover) the marker leaves a derived DB_FINAL (`hand_over`).

use super::Context;
use crate::backend::Backend;
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::Schema;
use crate::url::DbUrl;

/// A copy of SOURCE that a run creates on DB_DATA's server, named after DB_DATA.
pub struct Companion {
    /// The journal's name for it among the databases the run created.
    pub artifact: &'static str,
    /// What follows DB_DATA's name in its own.
    pub suffix: &'static str,
    /// What puts rows into it, for refusals: "... copies SOURCE into" a database.
    pub purpose: &'static str,
    /// What it is called in a hint.
    pub called: &'static str,
}

impl Companion {
    /// Its URL: DB_DATA's, with DB_DATA's name plus `suffix`.
    pub fn url(&self, data: &DbUrl) -> Result<DbUrl> {
        let mut url = data.clone();
        url.database = format!("{}{}", data.database, self.suffix);
        // MariaDB and PostgreSQL both stop at 63-64 bytes.
        if url.database.len() > 63 {
            return Err(Error::usage(
                format!(
                    "{} a database named {}, which is longer than the engine allows.",
                    self.purpose, url.database
                ),
                format!(
                    "Give DB_DATA a shorter database name (at most {} characters).",
                    63 - self.suffix.len()
                ),
            ));
        }
        Ok(url)
    }

    /// Claims `db` for the run: refuses a database of that name the run did not create,
    /// journals it and creates it when it is absent. Returns whether the run's own was there
    /// already (from before a resume).
    pub fn claim(&self, ctx: &Context, place: Place, db: &dyn Backend) -> Result<bool> {
        let ours = ctx
            .journal
            .artifacts(Artifact::Database)?
            .iter()
            .any(|(which, _)| which == self.artifact);
        if db.database_exists()? {
            if !ours {
                return Err(Error::input(
                    place,
                    format!(
                        "a database {} already exists; {} it and will not overwrite a database it did not create.",
                        db.url(),
                        self.purpose
                    ),
                    format!(
                        "Drop it if it is a leftover, or give DB_DATA another name ({} is DB_DATA's name plus {}).",
                        self.called, self.suffix
                    ),
                ));
            }
            return Ok(true);
        }
        ctx.journal
            .add_artifact(Artifact::Database, self.artifact, &db.url().stored())?;
        db.create_database(None, false)?;
        Ok(false)
    }
}

/// The table in DB_DATA that says which run built it.
pub const RUN_MARKER: &str = "_rekey_run";

/// The run that created a database, from rekey's marker inside it (`None` without a marker).
pub fn marker_of(
    db: &dyn Backend,
    s: &mut dyn crate::backend::Session,
    schema: &Schema,
) -> Result<Option<String>> {
    if schema.table(RUN_MARKER).is_none() {
        return Ok(None);
    }
    Ok(s.query_first(&format!(
        "SELECT run_id FROM {}",
        db.dialect().q(RUN_MARKER)
    ))?
    .and_then(|v| v.as_string()))
}

/// Writes rekey's marker into a database the run created: `rekey clean` drops only databases
/// that carry the marker of its own run.
pub fn mark(ctx: &Context, db: &dyn Backend) -> Result<()> {
    if ctx.run.dry_run {
        return Ok(());
    }
    let d = db.dialect();
    let mut s = db.connect()?;
    // Keyed: a Galera cluster may refuse keyless tables (wsrep_mode=REQUIRED_PRIMARY_KEY).
    s.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (run_id VARCHAR(64) NOT NULL PRIMARY KEY)",
        d.q(RUN_MARKER)
    ))?;
    if s.query_u64(&format!("SELECT COUNT(*) FROM {}", d.q(RUN_MARKER)))? == 0 {
        s.execute(&format!(
            "INSERT INTO {} (run_id) VALUES ({})",
            d.q(RUN_MARKER),
            d.lit(&ctx.run_id)
        ))?;
    }
    Ok(())
}

/// After a verified run, a DB_FINAL the run created (derive-final) becomes the application's:
/// the marker goes, so its schema holds nothing of rekey's, and the journal records the hand-over
/// instead of the database, so `rekey clean` keeps it (without its marker it cannot prove the
/// database is the run's, and after a verified run it is the application's). Safe to repeat.
pub fn hand_over(ctx: &Context) -> Result<()> {
    if ctx.run.dry_run
        || !ctx
            .journal
            .artifacts(Artifact::Database)?
            .iter()
            .any(|(which, _)| which == "final")
    {
        return Ok(());
    }
    let fin = ctx.final_db()?;
    let d = fin.dialect();
    let mut s = fin.connect()?;
    s.execute(&format!(
        "{}{}",
        ctx.marker(),
        d.drop_table_sql(&d.q(RUN_MARKER))
    ))?;
    ctx.journal
        .add_artifact(Artifact::HandedOver, "final", &fin.url().stored())?;
    ctx.journal.remove_artifact(Artifact::Database, "final")?;
    Ok(())
}
