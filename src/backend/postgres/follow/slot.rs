//! The run's logical replication slot on SOURCE, over plain SQL (the `postgres` crate opens no
//! replication connection): created or found again, peeked, advanced, dropped. The slot is the
//! only thing rekey writes on SOURCE, and `rekey check --follow` lists it while it exists.

use std::thread;
use std::time::Duration;

use super::super::DIALECT;
use super::position::{format_lsn, parse_lsn};
use crate::backend::follow::follow_place;
use crate::backend::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};
use crate::stage::Stage;

const SLOT_INFO_SQL: &str = include_str!("slot_info.sql");
const PEEK_SQL: &str = include_str!("peek.sql");
const ADVANCE_SQL: &str = include_str!("advance.sql");

/// The output styles the decoded values are read in, whatever SOURCE's defaults: the values go
/// back as literals into a database whose styles may differ, and ISO is what every server reads.
/// (Times are in UTC and floats exact already: `session_settings`.)
pub const DECODING_STYLES: &str =
    "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'";

/// The slot of a run: `rekey_` and the run id in the characters a slot name may hold (lower-case
/// letters, digits, `_`), at most 63 bytes. `check --follow` finds leftovers by the prefix.
pub fn slot_name(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("rekey_{clean}");
    name.truncate(63);
    name
}

/// `$1`, `$2`, ... of a statement replaced by their literals (`NULL` for `None`).
pub fn fill(sql: &str, args: &[Option<&str>]) -> String {
    let mut out = sql.to_string();
    // Highest first, so that `$1` does not eat the start of `$10`.
    for (i, arg) in args.iter().enumerate().rev() {
        let lit = arg.map_or("NULL".to_string(), |a| DIALECT.lit(a));
        out = out.replace(&format!("${}", i + 1), &lit);
    }
    out
}

fn text(row: &[Value], i: usize) -> String {
    row.get(i).and_then(Value::as_string).unwrap_or_default()
}

/// The slot as SOURCE lists it.
pub struct SlotInfo {
    pub plugin: String,
    pub database: String,
    pub here: bool,
    pub confirmed: Option<u64>,
}

pub fn info(session: &mut dyn Session, slot: &str) -> Result<Option<SlotInfo>> {
    let rows = session.query_all(&fill(SLOT_INFO_SQL, &[Some(slot)]))?;
    Ok(rows.first().map(|r| SlotInfo {
        plugin: text(r, 0),
        database: text(r, 1),
        here: text(r, 2) == "true",
        confirmed: parse_lsn(&text(r, 3)),
    }))
}

/// The run's slot on SOURCE's database, created where it does not exist yet, and found again
/// after a resume; returns where it stands (its confirmed LSN). Creating waits until every
/// transaction running on SOURCE has ended (the slot's consistent point).
pub fn ensure(session: &mut dyn Session, slot: &str) -> Result<u64> {
    let place = Place::stage(Stage::Snapshot);
    if info(session, slot)?.is_none() {
        let create = format!(
            "SELECT lsn::text FROM pg_create_logical_replication_slot({}, 'test_decoding')",
            DIALECT.lit(slot)
        );
        session.query_all(&create).map_err(|e| {
            Error::env(
                place.clone(),
                format!(
                    "the replication slot {slot} could not be created on SOURCE: {}.",
                    e.message()
                ),
                "`rekey check --follow --source ...` names what is missing (wal_level = logical, a free slot, the REPLICATION role); fix it, then run again with --resume.",
            )
        })?;
    }
    let Some(found) = info(session, slot)? else {
        return Err(Error::env(
            place,
            format!("the replication slot {slot} vanished right after it was created."),
            "Something on SOURCE drops rekey's slots: stop it, then run again with --resume.",
        ));
    };
    if !found.here || found.plugin != "test_decoding" {
        return Err(Error::env(
            place,
            format!(
                "a replication slot named {slot} already exists (database {}, plugin {}) and is not this run's.",
                found.database, found.plugin
            ),
            format!(
                "Drop it if nothing uses it: SELECT pg_drop_replication_slot({}); then run again with --resume.",
                DIALECT.lit(slot)
            ),
        ));
    }
    found.confirmed.ok_or_else(|| {
        Error::env(
            place,
            format!("the replication slot {slot} has no confirmed position."),
            "Drop it (`rekey clean`) and start the live cutover again.",
        )
    })
}

/// Runs `sql` against the slot, waiting while another session of this run holds it (a slot
/// serves one reader at a time; `reached` may peek while the stream does): SQLSTATE 55006.
fn on_slot(
    session: &mut dyn Session,
    slot: &str,
    sql: &str,
    each: &mut dyn FnMut(&[Value]) -> Result<()>,
) -> Result<()> {
    let mut attempt = 0;
    loop {
        match session.query(sql, each) {
            Err(e) if attempt < 50 && e.message().contains(" 55006:") => {
                attempt += 1;
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(Error::env(
                    follow_place(None),
                    format!(
                        "reading the replication slot {slot} failed: {}.",
                        e.message()
                    ),
                    "Check SOURCE and that the slot still exists (`rekey check --follow`), then run again with --resume.",
                ))
            }
            Ok(()) => return Ok(()),
        }
    }
}

/// The slot's pending output (lsn, text), from its confirmed position, up to `upto` and about
/// `limit` rows (whole transactions; `None`: no limit). The slot does not move.
pub fn peek(
    session: &mut dyn Session,
    slot: &str,
    upto: Option<u64>,
    limit: Option<u64>,
) -> Result<Vec<(u64, String)>> {
    let upto = upto.map(format_lsn);
    let limit = limit.map(|n| n.min(i32::MAX as u64).to_string());
    let sql = fill(PEEK_SQL, &[Some(slot), upto.as_deref(), limit.as_deref()]);
    let mut out = Vec::new();
    on_slot(session, slot, &sql, &mut |row| {
        let lsn = parse_lsn(&text(row, 0)).unwrap_or(0);
        out.push((lsn, text(row, 1)));
        Ok(())
    })?;
    Ok(out)
}

/// Moves the slot's confirmed position forward to `lsn` (never back), so that SOURCE frees the
/// WAL before it and the slot no longer returns what was applied.
pub fn advance(session: &mut dyn Session, slot: &str, lsn: u64) -> Result<()> {
    let lsn = format_lsn(lsn);
    let sql = fill(ADVANCE_SQL, &[Some(slot), Some(&lsn)]);
    on_slot(session, slot, &sql, &mut |_| Ok(()))
}

/// Drops the slot where it exists.
pub fn drop(session: &mut dyn Session, slot: &str) -> Result<()> {
    let sql = format!(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {}",
        DIALECT.lit(slot)
    );
    session.query_all(&sql).map(|_| ()).map_err(|e| {
        Error::env(
            follow_place(None),
            format!(
                "the replication slot {slot} could not be dropped: {}.",
                e.message()
            ),
            format!(
                "Stop the rekey process still reading it, then SELECT pg_drop_replication_slot({}); on SOURCE.",
                DIALECT.lit(slot)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_name_is_what_postgresql_accepts() {
        assert_eq!(slot_name("20261206-0225ab"), "rekey_20261206_0225ab");
        assert_eq!(slot_name("Run.X"), "rekey_run_x");
        assert_eq!(slot_name(&"a".repeat(100)).len(), 63);
        assert_eq!(
            fill(
                "f($1::text, $2::pg_lsn, $3::int)",
                &[Some("it's"), None, Some("5")]
            ),
            "f('it''s'::text, NULL::pg_lsn, '5'::int)"
        );
    }
}
