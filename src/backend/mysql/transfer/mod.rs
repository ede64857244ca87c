//! MariaDB/MySQL as the SOURCE of a move to another engine (backend/transfer.rs): its columns in
//! portable terms (`types.rs`), what the move cannot store, found in one scan per table
//! (`blockers.rs`), and its rows as cells, streamed with the binary protocol (`rows.rs`).
//! This engine cannot hold another engine's copy (`Import` keeps its refusals).

mod blockers;
mod rows;
mod types;

pub(super) use crate::calendar::days_from_civil;
use mysql::Conn;

use super::pool::{Pooled, IDLE};
use super::MysqlBackend;
use crate::backend::transfer::{Cell, Export, ExportBlocker, Import, PortableColumn};
use crate::error::Result;
use crate::model::Table;
use crate::url::Engine;

impl Export for MysqlBackend {
    /// PostgreSQL only: it is the one engine that imports (SQLite's single writer and MySQL
    /// itself are not targets of a move).
    fn exports_to(&self, target: Engine) -> bool {
        target == Engine::Postgres
    }

    fn portable_columns(
        &self,
        table: &Table,
    ) -> std::result::Result<Vec<PortableColumn>, Vec<String>> {
        types::portable_columns(table)
    }

    fn export_blockers(
        &self,
        table: &Table,
        columns: &[PortableColumn],
    ) -> Result<Vec<ExportBlocker>> {
        blockers::export_blockers(self, table, columns)
    }

    fn export_rows(
        &self,
        table: &Table,
        columns: &[PortableColumn],
        zero_dates_null: bool,
        sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<u64> {
        rows::export_rows(self, table, columns, zero_dates_null, sink)
    }
}

impl Import for MysqlBackend {}

/// What an export's session adds to rekey's own settings: results in utf8mb4 instead of the
/// stored bytes, so the server converts every text column (latin1 and the others) to UTF-8, and
/// binary columns still come as they are; TIMESTAMPs read in UTC (already rekey's zone, restated
/// because the cells' meaning depends on it).
const EXPORT_SESSION: &str =
    "SET SESSION character_set_results = utf8mb4, SESSION time_zone = '+00:00'";

impl MysqlBackend {
    fn export_init(&self) -> Result<Vec<String>> {
        let mut init = self.facts()?.dialect.session_init();
        init.push(EXPORT_SESSION.to_string());
        Ok(init)
    }

    /// A connection of this process with the export's settings, reused when idle (for
    /// statements that read their whole result).
    fn export_pooled(&self) -> Result<Pooled> {
        let init = self.export_init()?;
        let key = self.pool_key(true, &init);
        if let Some(reused) = IDLE.reuse(&key) {
            return Ok(reused);
        }
        Ok(IDLE.adopt(&key, self.connect_with(true, &init)?))
    }

    /// A connection of its own with the export's settings, for a stream of rows that may be
    /// abandoned halfway (then closed, never returned to the pool with a result pending).
    fn export_connection(&self) -> Result<Conn> {
        let init = self.export_init()?;
        self.connect_with(true, &init)
    }
}

/// A statement of this folder's `.sql` files: its comment lines left out, each `{name}` replaced
/// by its value in one pass (a value holding `{...}`, such as a quoted identifier, stays as it is).
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let body: Vec<&str> = template
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    let body = body.join("\n");
    let mut out = String::with_capacity(body.len() + 64);
    let mut rest = body.trim();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, close))
        });
        match known {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Microseconds since 1970-01-01 00:00:00 of a date and time of day.
pub(super) fn civil_micros(
    (y, m, d): (i64, i64, i64),
    (h, mi, s): (i64, i64, i64),
    micros: i64,
) -> i64 {
    ((days_from_civil(y, m, d) * 24 + h) * 60 + mi) * 60 * 1_000_000 + s * 1_000_000 + micros
}

/// `YYYY-MM-DD`, a day that exists (no zero month or day).
pub(super) fn parse_date(text: &str) -> Option<(i64, i64, i64)> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = digits(parts.next()?)?;
    let m: i64 = digits(parts.next()?)?;
    let d: i64 = digits(parts.next()?)?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` as microseconds since the epoch.
pub(super) fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(' ')?;
    let date = parse_date(date)?;
    let (clock, micros) = clock(time)?;
    (clock.0 < 24).then(|| civil_micros(date, clock, micros))
}

/// `[-]HHH:MM:SS[.ffffff]` (TIME) as signed microseconds.
pub(super) fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let ((h, m, s), micros) = clock(body)?;
    let total = ((h * 60 + m) * 60 + s) * 1_000_000 + micros;
    Some(if negative { -total } else { total })
}

/// `H:MM:SS[.ffffff]`: hours, minutes, seconds and the fraction in microseconds.
fn clock(text: &str) -> Option<((i64, i64, i64), i64)> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let mut parts = whole.splitn(3, ':');
    let h: i64 = digits(parts.next()?)?;
    let m: i64 = digits(parts.next()?)?;
    let s: i64 = digits(parts.next()?)?;
    if m > 59 || s > 59 || fraction.len() > 6 {
        return None;
    }
    let micros = if fraction.is_empty() {
        0
    } else {
        digits::<i64>(fraction)? * 10i64.pow(6 - fraction.len() as u32)
    };
    Some(((h, m, s), micros))
}

fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_once() {
        assert_eq!(
            fill(
                "-- a comment\nSELECT {a} FROM {t}\nLIMIT {n}\n",
                &[("a", "`{t}`"), ("t", "`x`"), ("n", "5")]
            ),
            "SELECT `{t}` FROM `x`\nLIMIT 5"
        );
        assert_eq!(fill("{unknown}", &[]), "{unknown}");
    }

    #[test]
    fn days_and_times_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(1000, 1, 1), -354_285);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2024-00-01"), None);
        assert_eq!(parse_date("0000-00-00"), None);
        assert_eq!(parse_datetime("1970-01-01 00:00:01"), Some(1_000_000));
        assert_eq!(parse_datetime("1970-01-01 00:00:00.5"), Some(500_000));
        assert_eq!(
            parse_datetime("9999-12-31 23:59:59.999999"),
            Some(253_402_300_799_999_999)
        );
        assert_eq!(parse_datetime("1970-01-01 24:00:00"), None);
        assert_eq!(
            parse_duration("-838:59:59"),
            Some(-(838 * 3600 + 59 * 60 + 59) * 1_000_000)
        );
        assert_eq!(parse_duration("00:00:00.000001"), Some(1));
        assert_eq!(parse_duration("1:60:00"), None);
    }
}
