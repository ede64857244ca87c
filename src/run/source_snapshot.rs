//! SOURCE must not change while a run converts it: preflight journals each table's row count and
//! largest converted key (a `source-snapshot` artifact, which also holds the smallest key, from
//! which the run decides whether the table's keys can be derived: `key_range`), and verify
//! compares them with what its own read of each table's rows saw (`Seen`): the rows it hashed and
//! the largest key among them, the same figures `COUNT(*)` and `MAX(key)` of that moment give,
//! without reading the table again. So each table is found unchanged from preflight up to its
//! verification, which also found DB_FINAL equal to it then. Only a table verify did not read in this process (a verify
//! step done by an earlier attempt) is counted again by a query at the end. Counts and the
//! largest key catch inserts and deletes; an engine's table checksum (CHECKSUM TABLE) reads every
//! row once more, which verify's own read of SOURCE already pays for.

use crate::journal::Artifact;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::Context;
use crate::error::{Error, Result};
use crate::model::{is_internal, Table};

const ARTIFACT: Artifact = Artifact::SourceSnapshot;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub rows: u64,
    /// The largest old key of a converted table, as text.
    pub max_key: Option<String>,
    /// The smallest old key of a converted table, as text, where it was counted (by preflight
    /// and verify's end count; not by verify's own reads, nor in a journal of an earlier
    /// version). Whether the table's keys can be derived depends on it (`keys::derivable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_key: Option<String>,
}

impl Snapshot {
    /// Whether two largest keys are the same key: by value where both are integers (an engine
    /// may spell `MAX(key)` and the row's own value differently), else as written.
    fn same_max(&self, other: &Snapshot) -> bool {
        same_key(&self.max_key, &other.max_key)
    }

    /// Whether the smallest keys are the same key, where both were counted.
    fn same_min(&self, other: &Snapshot) -> bool {
        match (&self.min_key, &other.min_key) {
            (Some(_), Some(_)) => same_key(&self.min_key, &other.min_key),
            _ => true,
        }
    }
}

/// Whether two keys are the same key: by value where both are integers (an engine may spell
/// `MAX(key)` and the row's own value differently), else as written.
fn same_key(a: &Option<String>, b: &Option<String>) -> bool {
    let number = |k: &Option<String>| k.as_deref().and_then(|k| k.trim().parse::<i128>().ok());
    match (number(a), number(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

fn take(
    ctx: &Context,
    tables: &[&Table],
    known: &BTreeMap<String, u64>,
    stop: Option<&AtomicBool>,
) -> Result<BTreeMap<String, Snapshot>> {
    let source = ctx.source()?;
    let d = source.dialect();
    let plan = ctx.plan()?;
    let ordered = largest_first(tables, known);
    let found = super::greedy(ctx.run.jobs, &ordered, |t| {
        // No table is begun once the caller has no use for the counts (greedy hands out no
        // other after an error).
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return Err(Error::usage("the count of SOURCE's rows was stopped", ""));
        }
        let key = plan.1.converted(&t.name).map(|c| d.q(&c.column));
        // Each figure its own subquery of one statement (one snapshot of the table): the key's
        // MAX and MIN are then one descent of its index each, where beside COUNT(*) in one
        // select list they are computed over every row the count reads (PostgreSQL lean at 10x:
        // 0.1 s more of preflight for the MIN alone).
        let from = d.own_rows(t);
        let sql = match &key {
            Some(k) => format!(
                "SELECT (SELECT COUNT(*) FROM {from}), (SELECT MAX({k}) FROM {from}), (SELECT MIN({k}) FROM {from})"
            ),
            None => format!("SELECT COUNT(*) FROM {from}"),
        };
        let mut s = source.connect()?;
        let row = s.query_all(&sql)?.into_iter().next().unwrap_or_default();
        Ok((
            t.name.clone(),
            Snapshot {
                rows: row.first().and_then(|v| v.as_u64()).unwrap_or(0),
                max_key: row.get(1).and_then(|v| v.as_string()),
                min_key: row.get(2).and_then(|v| v.as_string()),
            },
        ))
    })?;
    Ok(found.into_iter().collect())
}

/// `tables` in the order the workers should count them: largest first (by `known` counts, else
/// the catalog's estimate), so the count of a large table starts at once instead of after every
/// small one on its worker, where it alone would hold up the end (the snapshot is taken before
/// the first write and again after the last, both on the run's clock).
fn largest_first<'a>(tables: &[&'a Table], known: &BTreeMap<String, u64>) -> Vec<&'a Table> {
    let mut ordered = tables.to_vec();
    ordered.sort_by_key(|t| std::cmp::Reverse(rows_of(known, t)));
    ordered
}

/// SOURCE's snapshot, counted now (nothing in a dry run): preflight's, which `store` journals
/// once per run (a preflight run again after a failure takes it anew: nothing was written yet).
/// Once `stop` is set no other table is begun, and the count fails.
pub fn count(ctx: &Context, stop: &AtomicBool) -> Result<BTreeMap<String, Snapshot>> {
    if ctx.run.dry_run {
        return Ok(BTreeMap::new());
    }
    let shared = super::source::load(ctx)?;
    let tables: Vec<&Table> = shared
        .0
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    take(ctx, &tables, &BTreeMap::new(), Some(stop))
}

/// Journals a snapshot `count` took, as the run's.
pub fn store(ctx: &Context, snapshot: BTreeMap<String, Snapshot>) -> Result<()> {
    for (name, snap) in snapshot {
        ctx.journal.add_artifact(
            ARTIFACT,
            &name,
            &serde_json::to_string(&snap).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// Each table's rows as preflight counted them (empty before preflight, or for a journal of an
/// earlier version): the stages that weigh tables by size use them where the catalog's estimate
/// may be missing (PostgreSQL has none for a table never analyzed, as a restored snapshot is).
pub fn counted_rows(ctx: &Context) -> Result<BTreeMap<String, u64>> {
    Ok(recorded(ctx)?
        .into_iter()
        .map(|(name, snap)| (name, snap.rows))
        .collect())
}

/// Reads of SOURCE's tables of at least this many rows go through `Session::scan`: a connection
/// of its own costs a few milliseconds, which a small table does not repay.
const SCAN_ROWS: u64 = 50_000;

/// Whether reading every row of SOURCE's `table` should go through `Session::scan`: by
/// preflight's count, or the catalog's estimate where preflight counted none.
pub fn large(ctx: &Context, table: &crate::model::Table) -> bool {
    let counted = counted_rows(ctx).unwrap_or_default();
    large_by(&counted, table)
}

/// `large`, with preflight's counts in hand (`counted_rows`), for a caller that weighs many
/// tables: `large` reads them from the journal each time.
pub fn large_by(counted: &BTreeMap<String, u64>, table: &crate::model::Table) -> bool {
    rows_of(counted, table) >= SCAN_ROWS
}

/// `table`'s rows as preflight counted them, or the catalog's estimate where that is more.
pub fn rows_of(counted: &BTreeMap<String, u64>, table: &crate::model::Table) -> u64 {
    counted
        .get(&table.name)
        .copied()
        .unwrap_or(0)
        .max(table.estimated_rows)
}

/// The smallest and largest old key of converted `table` as preflight's snapshot counted them
/// (both `None` where the table held no rows); `None` where the snapshot did not count them (no
/// preflight yet, a dry run, a journal of an earlier version).
pub fn key_range(
    journal: &crate::journal::Journal,
    table: &str,
) -> Result<Option<(Option<String>, Option<String>)>> {
    let snap: Option<Snapshot> = journal
        .artifact(ARTIFACT, table)?
        .and_then(|detail| serde_json::from_str(&detail).ok());
    Ok(snap.and_then(|snap| match snap.min_key {
        Some(min) => Some((Some(min), snap.max_key)),
        None if snap.rows == 0 => Some((None, None)),
        None => None,
    }))
}

/// Preflight's journaled snapshot, per table (a record that does not parse is left out).
fn recorded(ctx: &Context) -> Result<BTreeMap<String, Snapshot>> {
    Ok(ctx
        .journal
        .artifacts(ARTIFACT)?
        .into_iter()
        .filter_map(|(name, detail)| Some((name, serde_json::from_str(&detail).ok()?)))
        .collect())
}

/// What changed in SOURCE since preflight's snapshot, one line per table; nothing when the run
/// has no snapshot (a journal of an earlier version, or `rekey verify` on its own). `seen` holds
/// what verify's reads of SOURCE found per table; the other tables are counted now.
pub fn changes(ctx: &Context, seen: &BTreeMap<String, Snapshot>) -> Result<Vec<String>> {
    let recorded = recorded(ctx)?;
    if recorded.is_empty() || ctx.run.dry_run {
        return Ok(Vec::new());
    }
    let shared = super::source::load(ctx)?;
    let tables: Vec<&Table> = shared
        .0
        .tables
        .iter()
        .filter(|t| recorded.contains_key(&t.name) && !seen.contains_key(&t.name))
        .collect();
    let counted = recorded.iter().map(|(k, v)| (k.clone(), v.rows)).collect();
    let mut now = take(ctx, &tables, &counted, None)?;
    now.extend(seen.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut out = Vec::new();
    for (name, before) in &recorded {
        match now.get(name) {
            None => out.push(format!("{name} is gone")),
            Some(after) if after.rows != before.rows => out.push(format!(
                "{name} held {} rows at preflight and holds {} now",
                before.rows, after.rows
            )),
            Some(after) if !after.same_max(before) => out.push(format!(
                "{name}'s largest key was {} at preflight and is {} now",
                before.max_key.as_deref().unwrap_or("none"),
                after.max_key.as_deref().unwrap_or("none")
            )),
            // The range the run decided its derived keys from (`keys::derivable`).
            Some(after) if !after.same_min(before) => out.push(format!(
                "{name}'s smallest key was {} at preflight and is {} now",
                before.min_key.as_deref().unwrap_or("none"),
                after.min_key.as_deref().unwrap_or("none")
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_range_comes_from_a_snapshot_that_counted_it() {
        let j = crate::journal::Journal::in_memory().unwrap();
        let put = |name: &str, detail: &str| j.add_artifact(ARTIFACT, name, detail).unwrap();
        put("counted", r#"{"rows":3,"max_key":"9","min_key":"2"}"#);
        put("empty", r#"{"rows":0,"max_key":null}"#);
        put("older", r#"{"rows":3,"max_key":"9"}"#);
        let range = |name: &str| key_range(&j, name).unwrap();
        assert_eq!(range("counted"), Some((Some("2".into()), Some("9".into()))));
        assert_eq!(range("empty"), Some((None, None)));
        // A journal of an earlier version counted no smallest key; a table it did not count.
        assert_eq!(range("older"), None);
        assert_eq!(range("missing"), None);
    }

    #[test]
    fn a_smallest_key_that_changed_is_a_change_and_one_not_counted_is_not() {
        let snap = |min: Option<&str>| Snapshot {
            rows: 3,
            max_key: Some("9".into()),
            min_key: min.map(String::from),
        };
        assert!(snap(Some("2")).same_min(&snap(Some("02"))));
        assert!(!snap(Some("2")).same_min(&snap(Some("-1"))));
        assert!(snap(Some("2")).same_min(&snap(None)));
    }

    fn table(name: &str, estimated_rows: u64) -> Table {
        Table {
            name: name.into(),
            estimated_rows,
            ..Table::default()
        }
    }

    #[test]
    fn the_largest_tables_are_counted_first() {
        // Catalog estimates (by name the large log tables came between and after small ones),
        // and one table whose estimate is missing but which preflight counted large.
        let tables = [
            table("a_small", 150),
            table("like_log", 580_000),
            table("member", 20_000),
            table("unanalyzed", 0),
            table("view_log", 800_000),
        ];
        let refs: Vec<&Table> = tables.iter().collect();
        let names = |known: &BTreeMap<String, u64>| -> Vec<String> {
            largest_first(&refs, known)
                .into_iter()
                .map(|t| t.name.clone())
                .collect()
        };
        assert_eq!(
            names(&BTreeMap::new()),
            ["view_log", "like_log", "member", "a_small", "unanalyzed"]
        );
        let known = BTreeMap::from([("unanalyzed".to_string(), 1_000_000)]);
        assert_eq!(
            names(&known),
            ["unanalyzed", "view_log", "like_log", "member", "a_small"]
        );
    }
}
