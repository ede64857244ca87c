//! SOURCE must not change while a run converts it: preflight journals each table's row count and
//! largest converted key (a `source-snapshot` artifact), and verify takes them again at its end.
//! Counts and the largest key catch inserts and deletes; an engine's table checksum (CHECKSUM
//! TABLE) reads every row once more, which verify's own read of SOURCE already pays for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Context;
use crate::error::Result;
use crate::model::{is_internal, Table};

const ARTIFACT: &str = "source-snapshot";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    rows: u64,
    /// The largest old key of a converted table, as text.
    max_key: Option<String>,
}

fn take(ctx: &Context, tables: &[&Table]) -> Result<BTreeMap<String, Snapshot>> {
    let source = ctx.source()?;
    let d = source.dialect();
    let plan = ctx.plan()?;
    let found = super::greedy(ctx.run.jobs, tables, |t| {
        let key = plan.1.converted(&t.name).map(|c| d.q(&c.column));
        let sql = match &key {
            Some(k) => format!("SELECT COUNT(*), MAX({k}) FROM {}", d.own_rows(t)),
            None => format!("SELECT COUNT(*) FROM {}", d.own_rows(t)),
        };
        let mut s = source.connect()?;
        let row = s.query_all(&sql)?.into_iter().next().unwrap_or_default();
        Ok((
            t.name.clone(),
            Snapshot {
                rows: row.first().and_then(|v| v.as_u64()).unwrap_or(0),
                max_key: row.get(1).and_then(|v| v.as_string()),
            },
        ))
    })?;
    Ok(found.into_iter().collect())
}

/// Journals SOURCE's snapshot, once per run (a preflight run again after a failure takes it anew:
/// nothing was written yet).
pub fn record(ctx: &Context) -> Result<()> {
    if ctx.run.dry_run {
        return Ok(());
    }
    let shared = super::introspect::load(ctx)?;
    let tables: Vec<&Table> = shared
        .0
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    for (name, snap) in take(ctx, &tables)? {
        ctx.journal.add_artifact(
            ARTIFACT,
            &name,
            &serde_json::to_string(&snap).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// What changed in SOURCE since preflight's snapshot, one line per table; nothing when the run
/// has no snapshot (a journal of an earlier version, or `rekey verify` on its own).
pub fn changes(ctx: &Context) -> Result<Vec<String>> {
    let recorded: BTreeMap<String, Snapshot> = ctx
        .journal
        .artifacts(ARTIFACT)?
        .into_iter()
        .filter_map(|(name, detail)| Some((name, serde_json::from_str(&detail).ok()?)))
        .collect();
    if recorded.is_empty() || ctx.run.dry_run {
        return Ok(Vec::new());
    }
    let shared = super::introspect::load(ctx)?;
    let tables: Vec<&Table> = shared
        .0
        .tables
        .iter()
        .filter(|t| recorded.contains_key(&t.name))
        .collect();
    let now = take(ctx, &tables)?;
    let mut out = Vec::new();
    for (name, before) in &recorded {
        match now.get(name) {
            None => out.push(format!("{name} is gone")),
            Some(after) if after.rows != before.rows => out.push(format!(
                "{name} held {} rows at preflight and holds {} now",
                before.rows, after.rows
            )),
            Some(after) if after.max_key != before.max_key => out.push(format!(
                "{name}'s largest key was {} at preflight and is {} now",
                before.max_key.as_deref().unwrap_or("none"),
                after.max_key.as_deref().unwrap_or("none")
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}
