//! The run's new keys as the stages share them: each converted table's map file (`map/<t>.csv`,
//! `old_id,new_id` in old-key order, written by shadow or `run::maps`, read by shadow for keys
//! taken from a parent and by verify) and the table whose name its derived keys use (journaled by shadow as a
//! `keys` artifact, read by swap's fill).

use crate::journal::Artifact;
use std::path::Path;

use super::Context;
use crate::error::{io_error, Error, Place, Result};

/// The table whose name a converted table's derived keys use (`None`: mapped), as shadow
/// recorded it in the journal.
pub fn key_source(ctx: &Context, table: &str) -> Result<Option<String>> {
    Ok(ctx
        .journal
        .artifacts(Artifact::Keys)?
        .into_iter()
        .find(|(t, _)| t == table)
        .map(|(_, from)| from)
        .filter(|from| !from.is_empty()))
}

/// `map/<table>.csv`, the table's name encoded by `run_files::file_stem`.
pub fn map_file(map_dir: &Path, table: &str) -> std::path::PathBuf {
    map_dir.join(format!("{}.csv", crate::run_files::file_stem(table)))
}

/// Reads a map file (`old_id,new_id`, in ascending old-key order) one pair at a time.
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

/// The map file appears under its final name only when complete.
pub fn finish_csv(mut w: csv::Writer<std::fs::File>, part: &Path, path: &Path) -> Result<()> {
    w.flush().map_err(|e| io_error("write", part, e))?;
    let file = w
        .into_inner()
        .map_err(|e| io_error("write", part, e.into_error()))?;
    file.sync_all().map_err(|e| io_error("sync", part, e))?;
    std::fs::rename(part, path).map_err(|e| io_error("rename", part, e))
}
