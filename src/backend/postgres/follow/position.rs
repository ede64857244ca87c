//! PostgreSQL's stream position: the run's slot and an LSN of it, plus, until the stream has
//! passed it, what the copy's snapshot saw:
//! `slot=rekey_x;lsn=0/1A2B3C;snapshot=740:745:741,743;snapshot_lsn=0/1A3000`.
//! Transactions committed after the slot's consistent point but before the exported snapshot are
//! both in the copy and in the slot; the snapshot says which ones, so each is applied once.

use crate::backend::follow::{follow_place, StreamPosition};
use crate::error::{Error, Result};

/// What `pg_current_snapshot()` printed in the exporting transaction (`xmin:xmax:xip,...`), and
/// the WAL insert position read right after it: every transaction the snapshot sees committed
/// before that position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenBySnapshot {
    pub xmin: u64,
    pub xmax: u64,
    pub xip: Vec<u64>,
    pub lsn: u64,
}

impl SeenBySnapshot {
    pub fn parse(text: &str, lsn: u64) -> Option<SeenBySnapshot> {
        let mut parts = text.trim().splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let xip = parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        Some(SeenBySnapshot {
            xmin,
            xmax,
            xip,
            lsn,
        })
    }

    /// test_decoding's 32-bit xid as the 64-bit one nearest the snapshot's xmax: the xids the
    /// stream carries around the snapshot are within 2^31 of it.
    pub fn widen(&self, xid: u32) -> u64 {
        let diff = xid.wrapping_sub(self.xmax as u32) as i32 as i64;
        (self.xmax as i64 + diff) as u64
    }

    /// Whether the snapshot saw the transaction `xid` committed (PostgreSQL's rule: below xmin,
    /// or below xmax and not in progress). An aborted one never reaches the stream.
    pub fn sees(&self, xid: u32) -> bool {
        let xid = self.widen(xid);
        xid < self.xmin || (xid < self.xmax && !self.xip.contains(&xid))
    }

    fn text(&self) -> String {
        let xip: Vec<String> = self.xip.iter().map(u64::to_string).collect();
        format!("{}:{}:{}", self.xmin, self.xmax, xip.join(","))
    }
}

/// A parsed `StreamPosition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The run's slot (`reached` peeks it, and has no run id).
    pub slot: String,
    pub lsn: u64,
    pub snapshot: Option<SeenBySnapshot>,
}

impl Position {
    pub fn at(slot: &str, lsn: u64) -> Position {
        Position {
            slot: slot.to_string(),
            lsn,
            snapshot: None,
        }
    }

    /// The position right after a transaction that ended at `end`: the snapshot is kept while a
    /// later transaction may still be one it saw (those all ended before its `lsn`).
    pub fn after(&self, end: u64) -> Position {
        Position {
            slot: self.slot.clone(),
            lsn: end.max(self.lsn),
            snapshot: self.snapshot.clone().filter(|s| end < s.lsn),
        }
    }

    pub fn parse(position: &StreamPosition) -> Result<Position> {
        let bad = || {
            Error::env(
                follow_place(None),
                format!(
                    "the stream position `{}` is not one PostgreSQL's follower wrote.",
                    position.0
                ),
                "Start the live cutover again (`rekey clean`, then `rekey run --follow`).",
            )
        };
        let mut slot = None;
        let mut lsn = None;
        let mut snapshot = None;
        let mut snapshot_lsn = None;
        for part in position.0.split(';') {
            match part.split_once('=') {
                Some(("slot", v)) => slot = Some(v.to_string()),
                Some(("lsn", v)) => lsn = Some(parse_lsn(v).ok_or_else(bad)?),
                Some(("snapshot", v)) => snapshot = Some(v.to_string()),
                Some(("snapshot_lsn", v)) => snapshot_lsn = Some(parse_lsn(v).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        let snapshot = match (snapshot, snapshot_lsn) {
            (Some(s), Some(l)) => Some(SeenBySnapshot::parse(&s, l).ok_or_else(bad)?),
            (None, None) => None,
            _ => return Err(bad()),
        };
        Ok(Position {
            slot: slot.ok_or_else(bad)?,
            lsn: lsn.ok_or_else(bad)?,
            snapshot,
        })
    }

    pub fn to_stream(&self) -> StreamPosition {
        let mut s = format!("slot={};lsn={}", self.slot, format_lsn(self.lsn));
        if let Some(snap) = &self.snapshot {
            s.push_str(&format!(
                ";snapshot={};snapshot_lsn={}",
                snap.text(),
                format_lsn(snap.lsn)
            ));
        }
        StreamPosition(s)
    }
}

/// `0/1A2B3C` as a number.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back_what_it_wrote() {
        let p = Position {
            slot: "rekey_r1".into(),
            lsn: parse_lsn("0/199AD50").unwrap(),
            snapshot: SeenBySnapshot::parse("740:745:741,743", 0x1_0000_0010),
        };
        let s = p.to_stream();
        assert_eq!(
            s.0,
            "slot=rekey_r1;lsn=0/199AD50;snapshot=740:745:741,743;snapshot_lsn=1/10"
        );
        assert_eq!(Position::parse(&s).unwrap(), p);
        assert_eq!(
            Position::parse(&StreamPosition("slot=rekey_r1;lsn=0/10".into())).unwrap(),
            Position::at("rekey_r1", 16)
        );
        assert!(Position::parse(&StreamPosition("binlog.000001:4".into())).is_err());
        // Past the snapshot's LSN the position needs only its own.
        assert_eq!(p.after(0x1_0000_0010).snapshot, None);
        assert!(p.after(0x1_0000_000F).snapshot.is_some());
    }

    #[test]
    fn the_snapshot_sees_what_committed_before_it() {
        let s = SeenBySnapshot::parse("740:745:741,743", 0).unwrap();
        assert!(s.sees(739));
        assert!(s.sees(740));
        assert!(!s.sees(741), "in progress at the snapshot");
        assert!(s.sees(742));
        assert!(!s.sees(743));
        assert!(s.sees(744));
        assert!(!s.sees(745), "started after the snapshot");
        assert!(!s.sees(9000));
        let none_running = SeenBySnapshot::parse("747:747:", 0).unwrap();
        assert!(none_running.sees(746) && !none_running.sees(747));
    }

    #[test]
    fn a_32_bit_xid_is_widened_across_the_epoch() {
        // Epoch 1: xmax 2^32 + 5; xid 2^32 - 3 of epoch 0 and 7 of epoch 1 around it.
        let s = SeenBySnapshot::parse("4294967294:4294967301:4294967299", 0).unwrap();
        assert_eq!(s.widen(u32::MAX - 2), u32::MAX as u64 - 2);
        assert_eq!(s.widen(7), (1u64 << 32) + 7);
        assert!(s.sees(u32::MAX - 2));
        assert!(s.sees(1));
        assert!(!s.sees(3), "2^32 + 3 was in progress");
        assert!(!s.sees(5));
    }
}
