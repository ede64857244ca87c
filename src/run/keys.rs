//! The run's new keys as the stages share them: each converted table's map file (`map/<t>.csv`,
//! `old_id,new_id`, written by shadow or `run::maps` in old-key order, or, for a table nothing
//! references, by the load's check of it in the order the rows came (`maps::left_to_check`);
//! read by shadow for keys taken from a parent and by verify) and the table whose name its derived keys use (decided and
//! journaled as a `keys` artifact by `decide`, read by swap's fill and the load).

use crate::journal::Artifact;
use std::path::Path;

use super::Context;
use crate::backend::Value;
use crate::error::{io_error, Error, Place, Result};
use crate::uuidgen::{DerivedKey, DERIVED_KEY_LIMIT};

/// The table whose name a converted table's derived keys use (`None`: mapped), as shadow
/// recorded it in the journal.
pub fn key_source(ctx: &Context, table: &str) -> Result<Option<String>> {
    Ok(key_sources(ctx)?.remove(table))
}

/// `key_source` of every table whose keys are derived, read at once.
pub fn key_sources(ctx: &Context) -> Result<std::collections::HashMap<String, String>> {
    Ok(ctx
        .journal
        .artifacts(Artifact::Keys)?
        .into_iter()
        .filter(|(_, from)| !from.is_empty())
        .collect())
}

/// Decides which way `c`'s new keys go (`derivable`) and journals it (`key_source` reads it: the
/// fill, the load's route, a resumed run). Shadow decides for every converted table; clone
/// decides first where it makes one-write tables in their converted definition, since a table's
/// route depends on how its keys and its parents' keys are made.
pub fn decide(ctx: &Context, c: &crate::plan::Converted) -> Result<Option<DerivedKey>> {
    let derived = derivable(ctx, c)?;
    ctx.journal.add_artifact(
        Artifact::Keys,
        &c.table,
        derived.as_ref().map(|k| k.table.as_str()).unwrap_or(""),
    )?;
    Ok(derived)
}

/// Whether `c`'s new keys can be computed from its old keys (in Rust for the map file, by the
/// engine in swap), which saves writing a mapping table and joining it for every reference.
/// They can when the engine computes them (`Dialect::derived_key_sql`), every old key is in
/// `0..DERIVED_KEY_LIMIT`, every reference to the table is an integer column and none stores
/// orphans as NULL (those need the mapping table's join), and a one-to-one table's parent is
/// derived too. Returns what the
/// keys derive from (a one-to-one table names its parent's table).
fn derivable(ctx: &Context, c: &crate::plan::Converted) -> Result<Option<DerivedKey>> {
    let shared = crate::run::source::load(ctx)?;
    let (_, plan) = &*shared;
    let data = ctx.data()?;
    let table = match &c.follows {
        None => c.table.clone(),
        Some(parent) => match key_source(ctx, parent)? {
            Some(root) => root,
            None => return Ok(None),
        },
    };
    let spec = ctx.derived_key(table);
    if data
        .dialect()
        .derived_key_sql("0", &spec, ctx.conversion.uuid_format)
        .is_none()
    {
        return Ok(None);
    }
    let (schema, _) = &*shared;
    let nulled = ctx.journal.artifacts(Artifact::OrphansNulled)?;
    // A reference held in a text or decimal column ('007') matches its parent by value in a
    // join, but would be hashed as written: such a parent keeps its mapping table.
    let integer = |table: &str, column: &str| {
        schema
            .table(table)
            .and_then(|t| t.column(column))
            .is_some_and(|c| c.is_integer())
    };
    let needs_map = plan
        .references
        .iter()
        .filter(|r| r.ref_table == c.table)
        .any(|r| {
            nulled.iter().any(|(label, _)| *label == r.label()) || !integer(&r.table, &r.column)
        });
    if needs_map || !integer(&c.table, &c.column) {
        return Ok(None);
    }
    // Preflight's snapshot counted the keys' range; SOURCE is asked only where it did not (a
    // dry run, an older journal). SOURCE must not change during a run: verify's end count
    // compares the range too, and a key outside it is refused where the map file is written
    // and where the load derives keys (`maps`, PostgreSQL's COPY rewrite).
    if let Some((min, max)) = crate::run::source_snapshot::key_range(&ctx.journal, &c.table)? {
        return Ok(range_derivable(&min, &max).then_some(spec));
    }
    let source = ctx.source()?;
    let sd = source.dialect();
    let from = match schema.table(&c.table) {
        Some(t) => sd.own_rows(t),
        None => sd.q(&c.table),
    };
    let mut s = source.connect()?;
    let row = s
        .query_all(&format!(
            "SELECT MIN({k}), MAX({k}) FROM {from}",
            k = sd.q(&c.column)
        ))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let fits = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(v) => v.as_key().is_some_and(key_derivable),
    };
    Ok((fits(row.first()) && fits(row.get(1))).then_some(spec))
}

/// Whether an old key is one a derived key can be made of.
fn key_derivable(k: i128) -> bool {
    k >= 0 && k < i128::from(DERIVED_KEY_LIMIT)
}

/// Whether a table whose smallest and largest old keys are `min` and `max` (as text; `None`: no
/// rows) can have its keys derived.
fn range_derivable(min: &Option<String>, max: &Option<String>) -> bool {
    let fits = |k: &Option<String>| match k {
        None => true,
        Some(k) => k.trim().parse::<i128>().is_ok_and(key_derivable),
    };
    fits(min) && fits(max)
}

/// `map/<table>.csv`, the table's name encoded by `run_files::file_stem`.
pub fn map_file(map_dir: &Path, table: &str) -> std::path::PathBuf {
    map_dir.join(format!("{}.csv", crate::run_files::file_stem(table)))
}

/// Reads a map file (`old_id,new_id`) one pair at a time, in the order it was written.
pub fn read_map(path: &Path) -> Result<impl Iterator<Item = Result<(i128, u128)>>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::usage(
            format!("the map file {} cannot be read ({e}).", path.display()),
            "The map files of the run are needed: give the same --run-dir as the conversion.",
        )
    })?;
    let reader = csv::Reader::from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let p = path.to_path_buf();
    Ok(reader.into_records().map(move |rec| {
        let rec = rec.map_err(|e| io_error("read", &p, e.into()))?;
        let bad = || {
            Error::input(
                Place::default(),
                format!("the map file {} has a malformed line.", p.display()),
                "The map files must not be edited; run the conversion again.",
            )
        };
        let old: i128 = rec.get(0).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let new = rec
            .get(1)
            .and_then(|s| uuid::Uuid::try_parse(s).ok())
            .ok_or_else(bad)?;
        Ok((old, new.as_u128()))
    }))
}

/// A table's map file and the name it is written under until complete.
pub fn map_paths(ctx: &Context, table: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let path = map_file(&ctx.map_dir(), table);
    let mut part = path.clone().into_os_string();
    part.push(".part");
    (path, part.into())
}

pub fn csv_writer(part: &Path) -> Result<csv::Writer<std::fs::File>> {
    if let Some(dir) = part.parent() {
        crate::run_files::create_private_dir(dir).map_err(|e| io_error("create", dir, e))?;
    }
    let file =
        crate::run_files::create_private_file(part).map_err(|e| io_error("create", part, e))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(["old_id", "new_id"])
        .map_err(|e| io_error("write", part, e.into()))?;
    Ok(w)
}

/// Writes one line of a map file: the old key, and the new key as the run's format stores it.
pub fn write_pair(
    w: &mut csv::Writer<std::fs::File>,
    part: &Path,
    old: u64,
    id: uuid::Uuid,
    format: crate::options::UuidFormat,
) -> Result<()> {
    let mut digits = itoa::Buffer::new();
    let mut text = uuid::Uuid::encode_buffer();
    let text: &str = match format {
        crate::options::UuidFormat::Char32 => id.simple().encode_lower(&mut text),
        _ => id.hyphenated().encode_lower(&mut text),
    };
    w.write_record([digits.format(old), text])
        .map_err(|e| io_error("write", part, e.into()))
}

/// The map file appears under its final name only when complete.
pub fn finish_csv(w: csv::Writer<std::fs::File>, part: &Path, path: &Path) -> Result<()> {
    sync_csv(w, part)?;
    std::fs::rename(part, path).map_err(|e| io_error("rename", part, e))
}

/// Writes out and syncs the CSV file `w` writes at `part`, leaving it under that name.
pub fn sync_csv(mut w: csv::Writer<std::fs::File>, part: &Path) -> Result<()> {
    w.flush().map_err(|e| io_error("write", part, e))?;
    let file = w
        .into_inner()
        .map_err(|e| io_error("write", part, e.into_error()))?;
    file.sync_all().map_err(|e| io_error("sync", part, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_of_old_keys_is_derivable_only_from_zero_to_the_limit() {
        let k = |v: &str| Some(v.to_string());
        assert!(range_derivable(&k("1"), &k("800000")));
        assert!(range_derivable(&None, &None), "an empty table");
        assert!(range_derivable(
            &k("0"),
            &k(&(DERIVED_KEY_LIMIT - 1).to_string())
        ));
        assert!(!range_derivable(&k("-1"), &k("10")));
        assert!(!range_derivable(
            &k("1"),
            &k(&DERIVED_KEY_LIMIT.to_string())
        ));
        assert!(!range_derivable(&k("1"), &k("not a number")));
    }
}
