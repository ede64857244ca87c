//! Stage 10: an independent end-to-end check of SOURCE against DB_FINAL through the map files: per
//! table, row counts and an order-independent hash of every row (converted columns compared through
//! the id mapping, so every child/parent pair must be the same pair); every UUID well formed and
//! every new key unique; DB_FINAL's own foreign keys on its rows; at the end, SOURCE against the
//! counts preflight recorded (`source_snapshot`). It never reads DB_DATA.

use std::collections::HashMap;

use std::sync::{Arc, Mutex};

use serde::Serialize;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64_with_seed};

use super::{Context, Outcome, Stage};
use crate::backend::Value;
use crate::error::{Error, Place, Result};
use crate::model::{is_internal, Table};
use crate::options::{OrphanPolicy, UuidFormat};
use crate::uuidgen::parse_stored;

/// One table's verification, as the report shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TableCheck {
    pub table: String,
    pub source_rows: u64,
    pub final_rows: u64,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// A converted table's mapping, sorted by old key.
struct Map(Vec<(i128, u128)>);

impl Map {
    fn get(&self, key: i128) -> Option<u128> {
        self.0
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .map(|i| self.0[i].1)
    }
}

/// Parent mappings, loaded once and shared by the parallel table checks.
struct Maps {
    dir: std::path::PathBuf,
    loaded: Mutex<HashMap<String, Arc<Map>>>,
}

impl Maps {
    fn get(&self, table: &str) -> Result<Arc<Map>> {
        if let Some(m) = self.loaded.lock().ok().and_then(|l| l.get(table).cloned()) {
            return Ok(m);
        }
        let mut pairs = Vec::new();
        for p in super::shadow::read_map(&super::shadow::map_file(&self.dir, table))? {
            pairs.push(p?);
        }
        pairs.sort_unstable_by_key(|(k, _)| *k);
        let m = Arc::new(Map(pairs));
        if let Ok(mut l) = self.loaded.lock() {
            l.insert(table.to_string(), m.clone());
        }
        Ok(m)
    }
}

/// Multiset digest of a table: the row count, the sum of row hashes, and the sum per column.
#[derive(Default, PartialEq)]
struct Digest {
    rows: u64,
    sum: u128,
    /// Only to name the column that differs; the 128-bit row sum is the check.
    columns: Vec<u64>,
}

impl Digest {
    /// `n` columns to track one by one, or 0 for the row sum alone (the fast first pass).
    fn new(n: usize) -> Self {
        Digest {
            rows: 0,
            sum: 0,
            columns: vec![0; n],
        }
    }
    /// Adds column `i` of the current row (columns come in order, the row's encoding grows in
    /// `buf`, which `end_row` hashes and clears: no allocation per row).
    fn push(&mut self, i: usize, v: Canon, buf: &mut Vec<u8>) {
        let start = buf.len();
        v.encode(buf);
        if let Some(c) = self.columns.get_mut(i) {
            *c = c.wrapping_add(xxh3_64_with_seed(&buf[start..], i as u64));
        }
    }
    fn end_row(&mut self, buf: &mut Vec<u8>) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(xxh3_128(buf));
        buf.clear();
    }
}

/// A value in the form both sides share: raw values as the engine returned them, UUID columns as
/// the 128-bit UUID.
enum Canon<'a> {
    Null,
    Int(i64),
    Real(f64),
    Bytes(u8, &'a [u8]),
    Uuid(u128),
}

impl Canon<'_> {
    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Canon::Null => buf.push(0),
            Canon::Int(i) => {
                buf.push(1);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            Canon::Real(r) => {
                buf.push(2);
                buf.extend_from_slice(&r.to_bits().to_le_bytes());
            }
            Canon::Bytes(tag, b) => {
                buf.push(*tag);
                buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
                buf.extend_from_slice(b);
            }
            Canon::Uuid(u) => {
                buf.push(5);
                buf.extend_from_slice(&u.to_le_bytes());
            }
        }
    }
}

fn raw(v: &Value) -> Canon<'_> {
    match v {
        Value::Null => Canon::Null,
        Value::Int(i) => Canon::Int(*i),
        Value::Real(r) => Canon::Real(*r),
        Value::Text(b) => Canon::Bytes(3, b),
        Value::Blob(b) => Canon::Bytes(4, b),
    }
}

/// A bookkeeping table that DB_FINAL has itself holds the new schema's history, not SOURCE's rows.
fn loaded_elsewhere(
    table: &str,
    final_schema: &crate::model::Schema,
    source: &crate::model::Schema,
) -> bool {
    super::bookkeeping::kept(table, final_schema, Some(source))
}

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (schema, _) = &*shared;
    let fin = ctx.final_db()?;
    let final_schema = match super::data_shape::predicted_final(ctx)? {
        Some(predicted) => predicted,
        None => {
            let mut fs = fin.connect()?;
            fin.describe(fs.as_mut())?
        }
    };
    let maps = Maps {
        dir: ctx.map_dir(),
        loaded: Mutex::default(),
    };
    let checks: Mutex<Vec<(TableCheck, f64)>> = Mutex::default();
    let mut tables: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name) && !loaded_elsewhere(&t.name, &final_schema, schema))
        .collect();
    // Largest first, so the parallel workers finish together (the largest table last had kept
    // one worker busy alone at the end).
    tables.sort_by_key(|t| std::cmp::Reverse(t.estimated_rows));
    if ctx.run.dry_run {
        for t in &tables {
            ctx.say(&format!("    -- verify {}: count, hash every row of SOURCE (keys through map/*.csv) and DB_FINAL", t.name));
        }
        return Ok(Outcome::default());
    }
    // Every table is checked, also after one differs, so the report lists each that does; a
    // differing table's step is marked failed afterwards, so that a resumed verify reads it again.
    let rows = ctx.steps(
        Stage::Verify,
        &tables,
        |t| t.name.clone(),
        true,
        |t| {
            let started = std::time::Instant::now();
            let ft = final_schema.table(&t.name);
            let mut check = verify_table(ctx, t, ft, &maps, false)?;
            if !check.ok {
                // Read both sides again, digesting each column, to name what differs.
                check = verify_table(ctx, t, ft, &maps, true)?;
            }
            if let Some(ft) = ft {
                let mut fs = fin.connect()?;
                let broken = super::final_keys::broken_in_final(
                    fin.as_ref(),
                    fs.as_mut(),
                    ft,
                    &final_schema,
                )?;
                if !broken.is_empty() {
                    check.problems.extend(broken);
                    check.ok = false;
                }
            }
            ctx.journal.add_artifact(
                "verify",
                &t.name,
                &serde_json::to_string(&check).unwrap_or_default(),
            )?;
            let rows = check.source_rows;
            if let Ok(mut c) = checks.lock() {
                c.push((check, started.elapsed().as_secs_f64()));
            }
            Ok(rows)
        },
    );
    let seconds: Vec<(String, f64)> = checks
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|(c, secs)| (c.table, secs))
        .collect();
    // The journal's checks, not this process's: a differing table's step is journaled done
    // before it is marked failed below, so a run killed in between finds it done on resume,
    // and only its journaled check still says that it differs. A table whose step is not done
    // (not reached, or failed) may hold an older verify's check: that is not this one's.
    let mut journaled = Vec::new();
    for (name, detail) in ctx.journal.artifacts("verify")? {
        if tables.iter().any(|t| t.name == name)
            && ctx
                .journal
                .step_done(Stage::Verify.name(), &name)?
                .is_some()
        {
            journaled.push(detail);
        }
    }
    let mut failed: Vec<(TableCheck, f64)> = journaled
        .iter()
        .filter_map(|detail| serde_json::from_str::<TableCheck>(detail).ok())
        .filter(|c| !c.ok)
        .map(|c| {
            let secs = seconds
                .iter()
                .find(|(t, _)| *t == c.table)
                .map_or(0.0, |(_, s)| *s);
            (c, secs)
        })
        .collect();
    failed.sort_by(|a, b| a.0.table.cmp(&b.0.table));
    for (c, secs) in &failed {
        for p in &c.problems {
            ctx.say(&format!("{}: {p}", c.table));
        }
        ctx.journal.step_failed(
            Stage::Verify.name(),
            &c.table,
            *secs,
            "differs between SOURCE and DB_FINAL",
        )?;
    }
    let rows = rows?;
    let changed = super::source_snapshot::changes(ctx)?;
    for c in &changed {
        ctx.say(&format!("SOURCE changed during the run: {c}"));
    }
    if !failed.is_empty() || !changed.is_empty() {
        let mut what = Vec::new();
        if !failed.is_empty() {
            let names: Vec<&str> = failed.iter().map(|(c, _)| c.table.as_str()).collect();
            what.push(format!(
                "{} of {} differ between SOURCE and DB_FINAL: {} (see the report)",
                failed.len(),
                crate::report::count(tables.len() as u64, "table"),
                names.join(", ")
            ));
        }
        if !changed.is_empty() {
            what.push(format!(
                "SOURCE changed during the run, so DB_FINAL may miss those writes: {}; convert a snapshot nothing writes to",
                changed.join("; ")
            ));
        }
        return Err(Error::mismatch(
            Place::stage(Stage::Verify),
            format!("{}.", what.join(". ")),
        ));
    }
    Ok(Outcome {
        rows,
        detail: Some(format!(
            "{} verified",
            crate::report::count(tables.len() as u64, "table")
        )),
    })
}

fn verify_table(
    ctx: &Context,
    t: &Table,
    ft: Option<&Table>,
    maps: &Maps,
    per_column: bool,
) -> Result<TableCheck> {
    let (_, plan) = &*ctx.plan()?;
    let mut check = TableCheck {
        table: t.name.clone(),
        source_rows: 0,
        final_rows: 0,
        ok: false,
        problems: Vec::new(),
    };
    let Some(ft) = ft else {
        check.problems.push("table missing in DB_FINAL".into());
        return Ok(check);
    };
    let source = ctx.source()?;
    let fin = ctx.final_db()?;
    let d = source.dialect();
    // Generated columns are DB_FINAL's to compute (the load leaves them out): their inputs are
    // compared, and one computed from a converted key differs by design.
    let columns: Vec<String> = t
        .writable_columns()
        .filter(|c| ft.column(&c.name).is_some())
        .map(|c| c.name.clone())
        .collect();
    for c in &t.columns {
        if ft.column(&c.name).is_none() {
            check
                .problems
                .push(format!("column {} missing in DB_FINAL", c.name));
        }
    }
    let uuid_cols = plan.uuid_columns(&t.name);
    let own_key = plan.converted(&t.name).map(|c| c.column.clone());
    // Per column: None for raw, Some(parent map) for a reference, and the own key by merge.
    let mut parents: Vec<Option<Arc<Map>>> = Vec::with_capacity(columns.len());
    let mut is_uuid = Vec::with_capacity(columns.len());
    for c in &columns {
        let role = uuid_cols.iter().find(|(col, _)| col == c);
        is_uuid.push(role.is_some());
        parents.push(match role {
            Some((col, parent)) if Some(col) != own_key.as_ref() => Some(maps.get(parent)?),
            _ => None,
        });
    }
    let own_index = own_key
        .as_ref()
        .and_then(|k| columns.iter().position(|c| c == k));
    let format = ctx.conversion.uuid_format;
    let orphans_null = ctx.conversion.orphans == OrphanPolicy::Null;
    // Each side renders its own column types exactly (a FLOAT's text form drops digits).
    let list = exact_list(d, t, &columns);
    let final_list = exact_list(fin.dialect(), ft, &columns);
    let table = d.own_rows(t);

    let tracked = if per_column { columns.len() } else { 0 };
    // Both sides are read at once, each on its own connection: a big table's check takes the
    // longer of the two reads, not their sum.
    // SOURCE, in old-key order so the table's own map file can be merged without loading it.
    let read_source = || -> Result<(Digest, Vec<String>)> {
        let mut src_digest = Digest::new(tracked);
        let mut own_map = match &own_key {
            Some(_) => Some(
                super::shadow::read_map(&super::shadow::map_file(&ctx.map_dir(), &t.name))?
                    .peekable(),
            ),
            None => None,
        };
        let order = own_key
            .as_ref()
            .map(|k| format!(" ORDER BY {}", d.q(k)))
            .unwrap_or_default();
        let mut problems: Vec<String> = Vec::new();
        let mut buf = Vec::new();
        let mut ss = source.connect()?;
        ss.query(&format!("SELECT {list} FROM {table}{order}"), &mut |row| {
            for (i, v) in row.iter().enumerate() {
                if !is_uuid[i] || v.is_null() {
                    src_digest.push(i, raw(v), &mut buf);
                    continue;
                }
                let key = v.as_key().unwrap_or(i128::MIN);
                let mapped = match own_map.as_mut().filter(|_| Some(i) == own_index) {
                    Some(m) => loop {
                        match m.peek() {
                            Some(Ok((k, _))) if *k < key => {
                                m.next();
                            }
                            Some(Ok((k, u))) if *k == key => break Some(*u),
                            Some(Err(_)) => {
                                if let Some(Err(e)) = m.next() {
                                    return Err(e);
                                }
                            }
                            _ => break None,
                        }
                    },
                    None => parents[i].as_ref().and_then(|p| p.get(key)),
                };
                match mapped {
                    Some(u) => src_digest.push(i, Canon::Uuid(u), &mut buf),
                    None if orphans_null && Some(i) != own_index => {
                        src_digest.push(i, Canon::Null, &mut buf)
                    }
                    None => {
                        if problems.len() < 5 {
                            problems.push(format!(
                                "{} = {key} in SOURCE has no entry in the id mapping",
                                columns[i]
                            ));
                        }
                        src_digest.push(i, Canon::Int(0), &mut buf);
                    }
                }
            }
            src_digest.end_row(&mut buf);
            Ok(())
        })?;
        Ok((src_digest, problems))
    };
    // DB_FINAL, in any order.
    let read_final = || -> Result<(Digest, u64, Box<dyn crate::backend::Session>)> {
        let mut buf = Vec::new();
        let mut fin_digest = Digest::new(tracked);
        let mut malformed = 0u64;
        let mut fs = fin.connect()?;
        fs.query(
            &format!("SELECT {final_list} FROM {}", fin.dialect().own_rows(ft)),
            &mut |row| {
                for (i, v) in row.iter().enumerate() {
                    if !is_uuid[i] {
                        fin_digest.push(i, raw(v), &mut buf);
                        continue;
                    }
                    match v {
                        Value::Null => fin_digest.push(i, Canon::Null, &mut buf),
                        Value::Text(b) | Value::Blob(b) => match parse_stored(b, format) {
                            Some(u) => fin_digest.push(i, Canon::Uuid(u.as_u128()), &mut buf),
                            None => {
                                malformed += 1;
                                fin_digest.push(i, Canon::Null, &mut buf);
                            }
                        },
                        _ => {
                            malformed += 1;
                            fin_digest.push(i, Canon::Null, &mut buf);
                        }
                    }
                }
                fin_digest.end_row(&mut buf);
                Ok(())
            },
        )?;
        Ok((fin_digest, malformed, fs))
    };
    let (source_side, final_side) = std::thread::scope(|scope| {
        let final_side = scope.spawn(read_final);
        let source_side = read_source();
        (source_side, final_side.join())
    });
    let (src_digest, problems) = source_side?;
    let (fin_digest, malformed, mut fs) = super::joined(
        final_side,
        Place::stage(Stage::Verify).table(&t.name),
        "the thread reading DB_FINAL",
    )?;

    check.source_rows = src_digest.rows;
    check.final_rows = fin_digest.rows;
    check.problems.extend(problems);
    if malformed > 0 {
        check.problems.push(format!(
            "{malformed} values in UUID columns are not well-formed {} UUIDs",
            format_name(format)
        ));
    }
    if src_digest.rows != fin_digest.rows {
        check.problems.push(format!(
            "{} rows in SOURCE, {} in DB_FINAL",
            src_digest.rows, fin_digest.rows
        ));
    }
    if src_digest.sum != fin_digest.sum {
        let cols: Vec<&str> = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| src_digest.columns.get(*i) != fin_digest.columns.get(*i))
            .map(|(_, c)| c.as_str())
            .collect();
        check.problems.push(if cols.is_empty() {
            "rows differ: the same values are paired differently".into()
        } else {
            format!("values differ in {}", cols.join(", "))
        });
    }
    if let Some(k) = &own_key {
        let q = fin.dialect().q(k);
        let dup = fs.query_u64(&format!(
            "SELECT COUNT(*) - COUNT(DISTINCT {q}) FROM {}",
            fin.dialect().q(&t.name)
        ))?;
        if dup > 0 {
            check.problems.push(format!("{dup} duplicate keys in {k}"));
        }
    }
    check.ok = check.problems.is_empty();
    Ok(check)
}

fn exact_list(d: &dyn crate::backend::Dialect, t: &Table, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| match t.column(c) {
            Some(col) => d.exact_select(col),
            None => d.q(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn format_name(f: UuidFormat) -> &'static str {
    match f {
        UuidFormat::Char32 => "char32",
        UuidFormat::Char36 => "char36",
        UuidFormat::Binary16 => "binary16",
        UuidFormat::Native => "native",
    }
}
