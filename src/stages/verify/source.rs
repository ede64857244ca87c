//! Verify's side of SOURCE for one table: each row digested in the form DB_FINAL's side takes
//! (converted columns through the id mapping), whether verify reads the rows itself or a one-write
//! load hands them over as it streams them into DB_FINAL (`backend::SourceTap`), which spares the
//! check a second read of SOURCE.

use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_128;

use super::{raw, Canon, Map, PushCanon};
use crate::backend::Value;
use crate::error::Result;
use crate::run::digest::Digest;
use crate::uuidgen::{DerivedKey, DERIVED_KEY_LIMIT};

/// A map file's pairs as `keys::read_map` reads them.
pub(super) type MapPairs = Box<dyn Iterator<Item = Result<(i128, u128)>> + Send>;

/// How a row's own key finds its new key.
pub(super) enum Own {
    /// The table converts no key of its own.
    None,
    /// Rows come in old-key order and are merged with the table's map file as it is read.
    Merge {
        map: std::iter::Peekable<MapPairs>,
        entries: u64,
    },
    /// Rows come in any order; each new key is derived here, as the engine derives it. The map
    /// file must hold exactly these pairs (`finish` reads it once, in any order), or, where no
    /// one wrote it (`maps::left_to_check`), the pass writes it (`write`).
    Derived {
        key: DerivedKey,
        map: std::path::PathBuf,
        pairs: u128,
        write: Option<Box<MapOut>>,
    },
}

impl Own {
    /// `table`'s keys derived from `from`'s name (`keys::key_source`) as the run derives them,
    /// checked against the table's map file, or written to it: only a table whose map file is
    /// left to its check (`maps::left_to_check`, decided the same way in every stage of a
    /// process: no background writer has it queued) and is not there yet. Any other map file is
    /// the background writer's or `maps_ready`'s; the pass checks it, once the check has waited
    /// for the writer.
    pub(super) fn derived(ctx: &crate::run::Context, table: &str, from: String) -> Result<Own> {
        let (map, part) = map_to_write(ctx, table)?;
        let write = match part {
            Some(part) => Some(MapOut::create(part, ctx.conversion.uuid_format)?),
            None => None,
        };
        Ok(Own::Derived {
            key: ctx.derived_key(from),
            map,
            pairs: 0,
            write,
        })
    }
}

/// `table`'s map file, and the part name a pass deriving its keys writes it under: none where the
/// map file is there already or another writes it (`maps::left_to_check`).
pub(super) fn map_to_write(
    ctx: &crate::run::Context,
    table: &str,
) -> Result<(std::path::PathBuf, Option<std::path::PathBuf>)> {
    let (map, part) = crate::run::keys::map_paths(ctx, table);
    let write = !map.exists() && crate::run::maps::left_to_check(ctx, table)?;
    Ok((map, write.then_some(part)))
}

/// A map file the pass writes as it derives the keys: under its part name until `finish`, which
/// gives it its name, or (a pass read ahead) leaves it under its own name for the check to give
/// it the map file's only if the check found DB_FINAL equal (`ahead::settle`).
pub(super) struct MapOut {
    csv: csv::Writer<std::fs::File>,
    part: std::path::PathBuf,
    format: crate::options::UuidFormat,
}

impl MapOut {
    pub(super) fn create(
        part: std::path::PathBuf,
        format: crate::options::UuidFormat,
    ) -> Result<Box<Self>> {
        Ok(Box::new(MapOut {
            csv: crate::run::keys::csv_writer(&part)?,
            part,
            format,
        }))
    }
}

/// One pass over a table's SOURCE rows (`row` for each, then `finish`).
pub struct SourcePass {
    digest: Digest,
    buf: Vec<u8>,
    columns: Vec<String>,
    is_uuid: Vec<bool>,
    /// Per column: the parent's mapping of a reference.
    parents: Vec<Option<Arc<Map>>>,
    own_index: Option<usize>,
    own: Own,
    orphans_null: bool,
    problems: Vec<String>,
    max_key: Option<i128>,
    /// Where each column's value is in the rows handed over, when they come in another order
    /// (a load's column list).
    positions: Option<Vec<usize>>,
    map_name: String,
    /// Made before the load by a read of its own (`ahead`), not from the load's stream.
    ahead: bool,
}

/// What a pass found: its digest, the problems it named, the largest own key.
pub(super) type SourceSide = (Digest, Vec<String>, Option<i128>);

/// A pair of an old key and its new key, as the pairs of `Own::Derived` are summed.
fn pair_hash(old: i128, new: u128) -> u128 {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&old.to_le_bytes());
    b[16..].copy_from_slice(&new.to_le_bytes());
    xxh3_128(&b)
}

/// What `SourcePass::new` needs to know of the table's columns.
pub(super) struct Columns {
    pub names: Vec<String>,
    pub is_uuid: Vec<bool>,
    pub parents: Vec<Option<Arc<Map>>>,
    pub own_index: Option<usize>,
}

impl SourcePass {
    pub(super) fn new(
        table: &str,
        columns: Columns,
        own: Own,
        orphans_null: bool,
        tracked: usize,
    ) -> Self {
        SourcePass {
            digest: Digest::new(tracked),
            buf: Vec::new(),
            columns: columns.names,
            is_uuid: columns.is_uuid,
            parents: columns.parents,
            own_index: columns.own_index,
            own,
            orphans_null,
            problems: Vec::new(),
            max_key: None,
            positions: None,
            map_name: format!("map/{}.csv", crate::run_files::file_stem(table)),
            ahead: false,
        }
    }

    /// A pass read ahead, before the load (`ahead`).
    pub(super) fn read_ahead(mut self) -> Self {
        self.ahead = true;
        self
    }

    /// Whether the pass was read ahead.
    pub(super) fn is_read_ahead(&self) -> bool {
        self.ahead
    }

    /// The columns the pass digests, in the check's order.
    pub(super) fn column_names(&self) -> &[String] {
        &self.columns
    }

    /// Rows handed over hold column `i`'s value at `positions[i]`.
    pub(super) fn with_positions(mut self, positions: Vec<usize>) -> Self {
        self.positions = Some(positions);
        self
    }

    /// Whether the pass saw every row of a load that read `read` (a tap that stopped, on an
    /// error of its own, leaves the check to read SOURCE itself).
    pub fn complete(&self, read: u64) -> bool {
        self.digest.rows == read
    }

    /// The rows the pass saw.
    pub(super) fn rows(&self) -> u64 {
        self.digest.rows
    }

    /// Per column: whether it holds UUIDs in DB_FINAL.
    pub(super) fn is_uuid(&self) -> &[bool] {
        &self.is_uuid
    }

    pub(super) fn row(&mut self, row: &[Value]) -> Result<()> {
        for i in 0..self.columns.len() {
            let v = match &self.positions {
                Some(p) => &row[p[i]],
                None => &row[i],
            };
            if !self.is_uuid[i] || v.is_null() {
                self.digest.push(i, raw(v), &mut self.buf);
                continue;
            }
            let key = v.as_key().unwrap_or(i128::MIN);
            let own = Some(i) == self.own_index;
            if own {
                self.max_key = self.max_key.max(Some(key));
            }
            let mapped = match &mut self.own {
                Own::Merge { map, entries } if own => loop {
                    match map.peek() {
                        Some(Ok((k, _))) if *k < key => {
                            map.next();
                            *entries += 1;
                        }
                        Some(Ok((k, u))) if *k == key => break Some(*u),
                        Some(Err(_)) => {
                            if let Some(Err(e)) = map.next() {
                                return Err(e);
                            }
                        }
                        _ => break None,
                    }
                },
                Own::Derived {
                    key: spec,
                    pairs,
                    write,
                    ..
                } if own => match u64::try_from(key).ok().filter(|k| *k < DERIVED_KEY_LIMIT) {
                    Some(old) => {
                        let new = spec.uuid(old);
                        *pairs = pairs.wrapping_add(pair_hash(key, new.as_u128()));
                        if let Some(out) = write {
                            crate::run::keys::write_pair(
                                &mut out.csv,
                                &out.part,
                                old,
                                new,
                                out.format,
                            )?;
                        }
                        Some(new.as_u128())
                    }
                    None => None,
                },
                _ => self.parents[i].as_ref().and_then(|p| p.get(key)),
            };
            match mapped {
                Some(u) => self.digest.push(i, Canon::Uuid(u), &mut self.buf),
                None if self.orphans_null && !own => {
                    self.digest.push(i, Canon::Null, &mut self.buf)
                }
                None => {
                    if self.problems.len() < 5 {
                        self.problems.push(format!(
                            "{} = {key} in SOURCE has no entry in the id mapping",
                            self.columns[i]
                        ));
                    }
                    self.digest.push(i, Canon::Int(0), &mut self.buf);
                }
            }
        }
        self.digest.end_row(&mut self.buf);
        Ok(())
    }

    /// The pass's result, once every row went through `row`: the map file must hold SOURCE's
    /// keys, no more (a merge counts what it passed; derived keys are checked pair by pair).
    pub(super) fn finish(self) -> Result<SourceSide> {
        let SourcePass {
            digest,
            mut problems,
            max_key,
            own,
            map_name,
            ahead,
            ..
        } = self;
        let (entries, same) = match own {
            Own::None => return Ok((digest, problems, max_key)),
            Own::Merge { map, mut entries } => {
                for entry in map {
                    entry?;
                    entries += 1;
                }
                (entries, true)
            }
            Own::Derived {
                map,
                write: Some(out),
                ..
            } => {
                // These pairs are the map file: it appears under its name, complete (a pass read
                // ahead leaves that to its check's outcome).
                if ahead {
                    crate::run::keys::sync_csv(out.csv, &out.part)?;
                } else {
                    crate::run::keys::finish_csv(out.csv, &out.part, &map)?;
                }
                return Ok((digest, problems, max_key));
            }
            Own::Derived { map, pairs, .. } => {
                let (mut entries, mut sum) = (0u64, 0u128);
                for entry in crate::run::keys::read_map(&map)? {
                    let (old, new) = entry?;
                    entries += 1;
                    sum = sum.wrapping_add(pair_hash(old, new));
                }
                (entries, sum == pairs)
            }
        };
        if entries != digest.rows {
            problems.push(format!(
                "{map_name} holds {entries} keys, SOURCE {} rows: SOURCE changed since its keys were mapped",
                digest.rows
            ));
        } else if !same {
            problems.push(format!(
                "{map_name} does not hold the keys derived for SOURCE's rows: it was changed after it was written; remove it and run `rekey verify` with the run's directory, which writes it again"
            ));
        }
        Ok((digest, problems, max_key))
    }
}

/// A load hands its rows over through this (`backend::SourceTap`).
impl crate::backend::SourceTap for SourcePass {
    fn row(&mut self, row: &[Value]) -> Result<()> {
        SourcePass::row(self, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{UuidFormat, UuidVersion};
    use crate::uuidgen::Secret;

    fn key() -> DerivedKey {
        DerivedKey {
            secret: Secret::from_seed(7),
            base_ms: 0,
            table: "t".into(),
            version: UuidVersion::V4,
        }
    }

    /// A pass over `t (id, note)` with derived keys, `write`ing the map file or checking it.
    fn pass(dir: &std::path::Path, write: bool) -> SourcePass {
        let map = dir.join("t.csv");
        let write =
            write.then(|| MapOut::create(dir.join("t.csv.part"), UuidFormat::Char36).unwrap());
        let columns = Columns {
            names: vec!["id".into(), "note".into()],
            is_uuid: vec![true, false],
            parents: vec![None, None],
            own_index: Some(0),
        };
        let own = Own::Derived {
            key: key(),
            map,
            pairs: 0,
            write,
        };
        SourcePass::new("t", columns, own, false, 0)
    }

    fn rows(p: &mut SourcePass, ids: &[i64]) {
        for id in ids {
            p.row(&[Value::Int(*id), Value::Text(b"n".to_vec())])
                .unwrap();
        }
    }

    #[test]
    fn derived_keys_write_the_map_file_or_check_it_pair_by_pair() {
        let dir = tempfile::tempdir().unwrap();
        // Rows in any order: the pass writes the map file of their keys.
        let mut p = pass(dir.path(), true);
        rows(&mut p, &[3, 1, 2]);
        assert!(p.complete(3));
        let (written, problems, max) = p.finish().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(max, Some(3));
        let map: Vec<(i128, u128)> = crate::run::keys::read_map(&dir.path().join("t.csv"))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let k = key();
        assert_eq!(
            map,
            [3u64, 1, 2]
                .map(|o| (o as i128, k.uuid(o).as_u128()))
                .to_vec()
        );
        // A pass that finds the map file checks it: the same rows, in another order, agree,
        // with the same digest.
        let mut p = pass(dir.path(), false);
        rows(&mut p, &[2, 3, 1]);
        let (checked, problems, _) = p.finish().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(checked, written);
        // A row the map file lacks, and a map file whose key is not the one derived.
        let mut p = pass(dir.path(), false);
        rows(&mut p, &[1, 2, 3, 4]);
        let problems = p.finish().unwrap().1;
        assert!(
            problems[0].contains("holds 3 keys, SOURCE 4 rows"),
            "{problems:?}"
        );
        let text = std::fs::read_to_string(dir.path().join("t.csv")).unwrap();
        let other = k.uuid(9).hyphenated().to_string();
        let first = k.uuid(3).hyphenated().to_string();
        std::fs::write(dir.path().join("t.csv"), text.replace(&first, &other)).unwrap();
        let mut p = pass(dir.path(), false);
        rows(&mut p, &[1, 2, 3]);
        let problems = p.finish().unwrap().1;
        assert!(
            problems[0].contains("does not hold the keys derived"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_pass_that_did_not_see_every_row_is_not_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pass(dir.path(), true);
        rows(&mut p, &[1, 2]);
        assert!(!p.complete(3));
        assert!(p.complete(2));
    }
}
