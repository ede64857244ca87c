//! `rekey demo`: the whole pipeline on SQLite files, nothing to install. It builds the blog
//! fixture's SOURCE and the application's UUID schema (DB_FINAL) in a directory, then runs
//! `rekey run` on them: convert, compare, load, verify, and the report.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::commands::{execute, Command, Invocation};
use crate::error::{io_error, Error, Place, Result};
use crate::options::{ConversionOptions, RunOptions};
use crate::progress::Progress;

const SOURCE_SQL: &str = include_str!("../fixtures/blog/sqlite/source.sql");
const FINAL_SQL: &str = include_str!("../fixtures/blog/sqlite/final.sql");

/// The databases a demo owns in its directory. A new demo replaces these and the run directory,
/// and nothing else there, so `--dir` may safely name a directory that holds other files.
const DATABASES: [&str; 3] = ["source.db", "data.db", "final.db"];
const RUN_DIR: &str = "run";

/// Builds SOURCE and DB_FINAL in `dir`, then runs every stage on them and prints the report.
pub fn run(
    dir: &Path,
    mut out: Box<dyn Write + Send>,
    progress: Progress,
    interrupted: Arc<AtomicBool>,
) -> Result<()> {
    reset(dir)?;
    let source = dir.join(DATABASES[0]);
    let data = dir.join(DATABASES[1]);
    let fin = dir.join(DATABASES[2]);
    build(&source, SOURCE_SQL)?;
    build(&fin, FINAL_SQL)?;
    let url = |p: &Path| format!("sqlite://{}", p.display());
    let _ = writeln!(
        out,
        "rekey demo in {}:\n  SOURCE   {} (the blog fixture, integer keys)\n  DB_FINAL {} (the application's new schema, UUID keys)\n  DB_DATA  {} (built by the run)\n",
        dir.display(),
        source.display(),
        fin.display(),
        data.display()
    );
    let invocation = Invocation {
        prompt: None,
        command: Command::Run {
            derive_final: false,
            follow: false,
        },
        source: Some(url(&source)),
        data: Some(url(&data)),
        final_db: Some(url(&fin)),
        conversion: ConversionOptions::default(),
        run: RunOptions {
            run_dir: dir.join(RUN_DIR),
            ..RunOptions::default()
        },
    };
    execute(invocation, out, progress, interrupted)
}

/// Removes what an earlier demo left in `dir` (only the demo's own files) and creates `dir`.
fn reset(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    for db in DATABASES {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = dir.join(format!("{db}{suffix}"));
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error("remove", &path, e));
                }
                _ => {}
            }
        }
    }
    let run_dir = dir.join(RUN_DIR);
    match std::fs::remove_dir_all(&run_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("remove", &run_dir, e)),
        _ => Ok(()),
    }
}

/// Creates the SQLite file `path` from a fixture script.
fn build(path: &Path, script: &str) -> Result<()> {
    let fail = |e: rusqlite::Error| {
        Error::env(
            Place::default(),
            format!("could not build the demo database {}: {e}.", path.display()),
            "Check that the demo directory is writable and the disk has room (or pass --dir).",
        )
    };
    let conn = rusqlite::Connection::open(path).map_err(fail)?;
    conn.execute_batch(script).map_err(fail)
}
