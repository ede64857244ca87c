//! MysqlBackend as the SOURCE of a live cutover: the snapshot copied by mariadb-dump from one
//! consistent-snapshot transaction (`snapshot.rs`), the binlog's row events after its position
//! as committed transactions (`binlog.rs`) with values in the form the apply writes back
//! (`values.rs`), and positions as `file:offset` in SOURCE's binlog.

mod binlog;
pub(super) mod snapshot;
mod values;

use std::cmp::Ordering;

use mysql::prelude::Queryable;

use super::{sql_error, MysqlBackend};
use crate::backend::follow::{follow_place, ChangeStream, Follow, Snapshot, StreamPosition};
use crate::error::{Error, Result};
use crate::url::DbUrl;

const MASTER_STATUS_SQL: &str = "SHOW MASTER STATUS";
const BINARY_LOG_STATUS_SQL: &str = "SHOW BINARY LOG STATUS";

/// A place in SOURCE's binlog: `binlog.000003:2219`, optionally `;gtid=0-1-23` after it
/// (for the operator: the stream resumes by file and offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BinlogPos {
    pub file: String,
    pub offset: u64,
    pub gtid: Option<String>,
}

impl BinlogPos {
    pub(super) fn parse(position: &StreamPosition) -> Result<BinlogPos> {
        let bad = || {
            Error::env(
                follow_place(None),
                format!(
                    "`{}` is not a MariaDB/MySQL binlog position (file:offset).",
                    position.0
                ),
                "The run's journal holds a position another engine or version wrote: start the live cutover again (`rekey clean`, then `rekey run --follow`).",
            )
        };
        let mut parts = position.0.split(';');
        let head = parts.next().unwrap_or_default();
        let (file, offset) = head.rsplit_once(':').ok_or_else(bad)?;
        let offset: u64 = offset.parse().map_err(|_| bad())?;
        if file.is_empty() {
            return Err(bad());
        }
        let gtid = parts
            .find_map(|p| p.strip_prefix("gtid="))
            .filter(|g| !g.is_empty())
            .map(str::to_string);
        Ok(BinlogPos {
            file: file.to_string(),
            offset,
            gtid,
        })
    }

    pub(super) fn to_position(&self) -> StreamPosition {
        StreamPosition(match &self.gtid {
            Some(g) => format!("{}:{};gtid={g}", self.file, self.offset),
            None => format!("{}:{}", self.file, self.offset),
        })
    }

    /// The binlog file's sequence number (`binlog.000003` → 3): files sort by it.
    fn sequence(&self) -> u64 {
        self.file
            .rsplit_once('.')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    }

    fn order(&self, other: &BinlogPos) -> Ordering {
        (self.sequence(), self.offset).cmp(&(other.sequence(), other.offset))
    }
}

impl Follow for MysqlBackend {
    /// Measured on MariaDB 10.11 (docs/cutover.md §9): rows that foreign-key actions change are
    /// not in the binlog.
    fn stream_has_cascades(&self) -> bool {
        false
    }

    fn snapshot_into(&self, target: &DbUrl, run_id: &str) -> Result<Snapshot> {
        snapshot::snapshot_into(self, target, run_id)
    }

    fn stream_from(
        &self,
        from: &StreamPosition,
        run_id: &str,
        tables: &[String],
    ) -> Result<Box<dyn ChangeStream>> {
        let from = BinlogPos::parse(from)?;
        Ok(Box::new(binlog::BinlogChangeStream::open(
            self, &from, run_id, tables,
        )?))
    }

    fn position_now(&self, _run_id: &str) -> Result<StreamPosition> {
        // On a Galera node, a causal read: the position then covers every write the cluster
        // committed before it, wherever the application made it (wsrep_sync_wait).
        let init = self.facts()?.dialect.session_init();
        let mut conn = self.connect_with(false, &init)?;
        // MySQL 8.4 renamed the statement; MariaDB knows both since 10.5.
        let row: Option<mysql::Row> = match conn.query_first(MASTER_STATUS_SQL) {
            Err(mysql::Error::MySqlError(me)) if me.code == 1064 => conn
                .query_first(BINARY_LOG_STATUS_SQL)
                .map_err(|e| sql_error(e, BINARY_LOG_STATUS_SQL).at(&follow_place(None)))?,
            other => other.map_err(|e| sql_error(e, MASTER_STATUS_SQL).at(&follow_place(None)))?,
        };
        let row = row.ok_or_else(|| {
            Error::env(
                follow_place(None),
                format!("{} has no binlog (SHOW MASTER STATUS is empty).", self.url),
                "Start the server with log_bin (`rekey check --follow` names what the live cutover needs).",
            )
        })?;
        let file: Option<String> = row.get(0);
        let offset: Option<u64> = row.get(1);
        match (file, offset) {
            (Some(file), Some(offset)) => Ok(BinlogPos {
                file,
                offset,
                gtid: None,
            }
            .to_position()),
            _ => Err(Error::env(
                follow_place(None),
                "SHOW MASTER STATUS gave no file and position.",
                "Check that the account holds BINLOG MONITOR (REPLICATION CLIENT before MariaDB 10.5).",
            )),
        }
    }

    fn reached(&self, applied: &StreamPosition, target: &StreamPosition) -> Result<bool> {
        Ok(BinlogPos::parse(applied)?.order(&BinlogPos::parse(target)?) != Ordering::Less)
    }

    /// Bytes of binlog between the two; across files, the head's offset plus a full file
    /// (max_binlog_size's default, 1 GiB) for each file in between: an estimate.
    fn behind(&self, applied: &StreamPosition, head: &StreamPosition) -> Option<u64> {
        let a = BinlogPos::parse(applied).ok()?;
        let h = BinlogPos::parse(head).ok()?;
        if a.order(&h) != Ordering::Less {
            return Some(0);
        }
        if a.sequence() == h.sequence() {
            return Some(h.offset - a.offset);
        }
        let between = h.sequence().saturating_sub(a.sequence()).saturating_sub(1);
        Some(h.offset.saturating_add(between.saturating_mul(1 << 30)))
    }

    /// The binlog stays SOURCE's: a run holds nothing there.
    fn release(&self, _run_id: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(s: &str) -> StreamPosition {
        StreamPosition(s.into())
    }

    #[test]
    fn positions_parse_and_print_back() {
        let p = BinlogPos::parse(&pos("binlog.000003:2219;gtid=0-3316-23")).unwrap();
        assert_eq!(p.file, "binlog.000003");
        assert_eq!(p.offset, 2219);
        assert_eq!(p.gtid.as_deref(), Some("0-3316-23"));
        assert_eq!(p.to_position(), pos("binlog.000003:2219;gtid=0-3316-23"));
        let q = BinlogPos::parse(&pos("mysql-bin.000010:4")).unwrap();
        assert_eq!((q.sequence(), q.gtid), (10, None));
        for bad in ["", "binlog.000003", "binlog.000003:x", ":12", "0/16B3748"] {
            assert!(BinlogPos::parse(&pos(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let b = MysqlBackend::new(
            DbUrl::parse("mysql://root@127.0.0.1:1/x", &crate::url::ProcessEnv).unwrap(),
        );
        let r = |a: &str, t: &str| b.reached(&pos(a), &pos(t)).unwrap();
        assert!(r("binlog.000003:2219", "binlog.000003:2219"));
        assert!(r("binlog.000003:2220", "binlog.000003:2219"));
        assert!(!r("binlog.000003:100", "binlog.000003:2219"));
        assert!(r("binlog.000010:4", "binlog.000009:99999"));
        assert!(!r("binlog.000009:99999", "binlog.000010:4"));
        assert_eq!(
            b.behind(&pos("binlog.000003:100"), &pos("binlog.000003:350")),
            Some(250)
        );
        assert_eq!(
            b.behind(&pos("binlog.000003:100"), &pos("binlog.000004:350")),
            Some(350)
        );
        assert_eq!(
            b.behind(&pos("binlog.000004:400"), &pos("binlog.000004:350")),
            Some(0)
        );
    }
}
