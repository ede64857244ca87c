//! What the live cutover's stages and commands share besides the follower itself: where the
//! snapshot copy of SOURCE lives, the cutover request a `rekey cutover` leaves for the follower in
//! the run directory, and the table in DB_FINAL that stores the stream position with every
//! applied transaction.

use std::path::{Path, PathBuf};

use crate::backend::{Backend, Session, StreamPosition};
use crate::error::{io_error, Error, Result};
use crate::model::INTERNAL_PREFIX;
use crate::run::marker::Companion;
use crate::url::DbUrl;

/// The journal's name for the snapshot copy among the databases a run created.
pub const SNAPSHOT_DATABASE: &str = "snapshot";

/// DB_FINAL's table holding the follower's position, written in the same transaction as the
/// changes it applied (exactly once across a kill). rekey's own (`_rekey_` tables are never
/// compared, loaded or verified); the cutover drops it.
pub const POSITION_TABLE: &str = "_rekey_follow";

/// The snapshot copy of SOURCE: a database next to DB_DATA named after it.
pub const SNAPSHOT: Companion = Companion {
    artifact: SNAPSHOT_DATABASE,
    suffix: "_snapshot",
    purpose: "the live cutover copies SOURCE's snapshot into",
    called: "the snapshot copy",
};

/// The snapshot copy's URL, holding SOURCE's schema (on PostgreSQL the same schema name as
/// SOURCE's).
pub fn snapshot_url(data: &DbUrl, source: &DbUrl) -> Result<DbUrl> {
    let mut url = SNAPSHOT.url(data)?;
    url.schema = source.schema.clone();
    Ok(url)
}

/// The file a `rekey cutover` leaves in the run directory: the follower drains SOURCE's last
/// changes and stops when it sees it.
fn request_path(run_dir: &Path) -> PathBuf {
    run_dir.join("cutover.request")
}

/// Asks the follower of `run_dir` to drain and stop; returns when the request is written. The
/// request holds when the cutover began (seconds since the epoch), where the freeze starts.
pub fn request_cutover(run_dir: &Path, began: f64) -> Result<()> {
    let path = request_path(run_dir);
    std::fs::write(&path, format!("{began}\n")).map_err(|e| io_error("write", &path, e))
}

/// When the cutover asked (seconds since the epoch), if it has.
pub fn cutover_requested(run_dir: &Path) -> Option<f64> {
    std::fs::read_to_string(request_path(run_dir))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

/// Removes the request once the cutover has ended.
pub fn forget_request(run_dir: &Path) -> Result<()> {
    let path = request_path(run_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", &path, e)),
    }
}

/// Creates DB_FINAL's position table if it is not there yet.
pub fn create_position_table(fin: &dyn Backend, s: &mut dyn Session) -> Result<()> {
    debug_assert!(POSITION_TABLE.starts_with(INTERNAL_PREFIX));
    let d = fin.dialect();
    s.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (run_id VARCHAR(64) NOT NULL PRIMARY KEY, position TEXT NOT NULL)",
        d.q(POSITION_TABLE)
    ))?;
    Ok(())
}

/// The position DB_FINAL stores for this run: the last transaction it committed.
pub fn stored_position(
    fin: &dyn Backend,
    s: &mut dyn Session,
    run_id: &str,
) -> Result<Option<StreamPosition>> {
    let d = fin.dialect();
    Ok(s.query_first(&format!(
        "SELECT position FROM {} WHERE run_id = {}",
        d.q(POSITION_TABLE),
        d.lit(run_id)
    ))?
    .and_then(|v| v.as_string())
    .map(StreamPosition))
}

/// The statement that stores `position` (inside the transaction that applied it).
pub fn store_position_sql(fin: &dyn Backend, run_id: &str, position: &StreamPosition) -> String {
    let d = fin.dialect();
    d.upsert_sql(
        &d.q(POSITION_TABLE),
        &[d.q("run_id"), d.q("position")],
        &[d.lit(run_id), d.lit(&position.0)],
        &[d.q("run_id")],
    )
}

/// Drops DB_FINAL's position table (the cutover's and clean's last word on DB_FINAL).
pub fn drop_position_table(fin: &dyn Backend, s: &mut dyn Session) -> Result<()> {
    let d = fin.dialect();
    s.execute(&format!("DROP TABLE IF EXISTS {}", d.q(POSITION_TABLE)))?;
    Ok(())
}

/// The error of a live command on a run that is not live.
pub fn not_live(run_dir: &Path) -> Error {
    Error::usage(
        format!(
            "the run in {} is not a live run (it was not started with `rekey run --follow`).",
            run_dir.display()
        ),
        "`rekey cutover` ends a live run; a run without --follow is finished when `rekey run` returns.",
    )
}
