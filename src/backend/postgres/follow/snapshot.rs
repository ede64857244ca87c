//! The consistent copy of SOURCE a live cutover converts: the run's slot first, then a REPEATABLE
//! READ transaction on SOURCE that exports its snapshot and stays open while `pg_dump --snapshot`
//! reads the schema and rows as of it; `pg_restore` then loads them into the empty database rekey
//! made on DB_DATA's server. pg_dump copies everything rekey's catalog reads (tables, keys,
//! indexes, foreign keys and their actions, sequences and their values, triggers, views, types,
//! domains), so the copy's catalog is SOURCE's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::super::{PostgresBackend, DIALECT};
use super::position::{format_lsn, parse_lsn, Position, SeenBySnapshot};
use super::slot;
use crate::backend::follow::Snapshot;
use crate::backend::{Dialect, Session, Value};
use crate::error::{io_error, Error, Place, Result};
use crate::stage::Stage;
use crate::url::{redact, DbUrl};

const EXPORT_SNAPSHOT_SQL: &str = include_str!("export_snapshot.sql");
const ROW_COUNT_SQL: &str = include_str!("row_count.sql");
const EXTENSIONS_SQL: &str = include_str!("extensions.sql");
const RUNNING_SQL: &str = include_str!("running.sql");

fn place() -> Place {
    Place::stage(Stage::Snapshot)
}

fn text(row: &[Value], i: usize) -> String {
    row.get(i).and_then(Value::as_string).unwrap_or_default()
}

/// A libpq connection string for `url`'s database (every value quoted, so that any name
/// passes); the password goes to the child's environment instead, never its command line.
fn conninfo(url: &DbUrl, run_id: &str) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    format!(
        "host={} port={} user={} dbname={} application_name={}",
        quote(&url.host),
        url.port,
        quote(url.user.as_deref().unwrap_or("postgres")),
        quote(&url.database),
        quote(&format!("rekey:{run_id}"))
    )
}

/// `-n`'s pattern matching exactly `schema` (in double quotes nothing is a wildcard).
fn schema_pattern(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// The major version `pg_dump --version` prints (`pg_dump (PostgreSQL) 15.20 (Debian ...)`).
fn major_of(program: &Path) -> Option<u32> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let version = line.split_whitespace().nth(2)?;
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// pg_dump and pg_restore of a version that can read a server of major `server`: the newest
/// of Debian's /usr/lib/postgresql/NN/bin, then the ones on PATH.
pub(in crate::backend::postgres) fn client_tools(server: u32) -> Result<(PathBuf, PathBuf)> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    let mut candidates: Vec<(PathBuf, PathBuf)> = dirs
        .into_iter()
        .map(|(_, d)| (d.join("pg_dump"), d.join("pg_restore")))
        .collect();
    candidates.push(("pg_dump".into(), "pg_restore".into()));
    let mut found = Vec::new();
    for (dump, restore) in candidates {
        match major_of(&dump) {
            Some(v) if v >= server && major_of(&restore).is_some() => return Ok((dump, restore)),
            Some(v) => found.push(format!("{} {v}", dump.display())),
            None => {}
        }
    }
    Err(Error::env(
        place(),
        format!(
            "copying SOURCE's snapshot needs pg_dump and pg_restore of PostgreSQL {server} or newer; {}.",
            if found.is_empty() {
                "none was found on PATH or in /usr/lib/postgresql/*/bin".to_string()
            } else {
                format!("only {} was found", found.join(", "))
            }
        ),
        format!("Install the package postgresql-client-{server} (apt; or the PostgreSQL client tools of that version), then run again with --resume."),
    ))
}

/// pg_restore's table of contents without the entries of the schema itself (`SCHEMA - name`
/// and its `COMMENT - SCHEMA name`): the target has it already, with the extensions in it.
fn without_schema(list: &str, schema: &str) -> String {
    let own = format!(" SCHEMA - {schema} ");
    let comment = format!(" COMMENT - SCHEMA {schema} ");
    list.lines()
        .filter(|l| !(l.contains(&own) || l.contains(&comment)) || l.starts_with(';'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs one client tool; returns its standard output, and its error output in the error.
fn run_tool(
    program: &Path,
    args: &[String],
    password: Option<&str>,
    what: &str,
) -> Result<Vec<u8>> {
    let mut cmd = crate::child::command(program);
    cmd.args(args).stdin(Stdio::null());
    match password {
        Some(p) => cmd.env("PGPASSWORD", p),
        None => cmd.env_remove("PGPASSWORD"),
    };
    let out = cmd.output().map_err(|e| {
        Error::env(
            place(),
            format!("{} could not be started: {e}.", program.display()),
            "Check the PostgreSQL client installation, then run again with --resume.",
        )
    })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::env(
        place(),
        redact(&format!(
            "{what} failed ({}): {}",
            out.status,
            tail.join(" / ")
        )),
        "Fix the cause it names, then run again with --resume.",
    ))
}

/// Waits until every transaction in progress now has ended. A transaction whose commit record
/// is already before the slot's consistent point (so the slot will not decode it) can still be
/// in progress for a snapshot while its session waits for a synchronous standby; the exported
/// snapshot must see it, or neither the copy nor the stream would have it.
fn wait_for_running(session: &mut dyn Session) -> Result<()> {
    let now = session
        .query_all("SELECT pg_current_snapshot()::text")?
        .first()
        .map(|r| text(r, 0))
        .unwrap_or_default();
    let sql = slot::fill(RUNNING_SQL, &[Some(&now)]);
    loop {
        let running = session
            .query_all(&sql)?
            .first()
            .map(|r| text(r, 0))
            .unwrap_or_default();
        if running == "0" {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl PostgresBackend {
    pub(super) fn take_snapshot(&self, target: &DbUrl, run_id: &str) -> Result<Snapshot> {
        let slot = slot::slot_name(run_id);
        let schema = self.schema().to_string();
        let mut pooled = self.session(Some(run_id))?;
        let session: &mut dyn Session = &mut pooled;
        let server_major = session
            .query_all("SELECT (current_setting('server_version_num')::int / 10000)::text")?
            .first()
            .and_then(|r| text(r, 0).parse().ok())
            .unwrap_or(0);
        let (pg_dump, pg_restore) = client_tools(server_major)?;
        let extensions: Vec<(String, String)> = session
            .query_all(EXTENSIONS_SQL)?
            .iter()
            .map(|r| (text(r, 0), text(r, 1)))
            .collect();
        // The slot first: every transaction committed after its consistent point is in it, so
        // whatever the snapshot taken next does not see, the stream has.
        let slot_lsn = slot::ensure(session, &slot)?;
        wait_for_running(session)?;

        let dir = std::env::temp_dir().join(format!("rekey-{slot}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let held = Instant::now();
        session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        let row = session
            .query_all(EXPORT_SNAPSHOT_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let (exported, seen_text, insert_lsn) = (text(&row, 0), text(&row, 1), text(&row, 2));
        let seen = parse_lsn(&insert_lsn)
            .and_then(|lsn| SeenBySnapshot::parse(&seen_text, lsn))
            .ok_or_else(|| {
                Error::env(
                    place(),
                    format!(
                        "SOURCE's snapshot could not be read (`{seen_text}` at `{insert_lsn}`)."
                    ),
                    "Report this as a bug, with the server's version.",
                )
            })?;
        let dumped = run_tool(
            &pg_dump,
            &[
                format!("--snapshot={exported}"),
                "-n".into(),
                schema_pattern(&schema),
                "-Fd".into(),
                "-j".into(),
                "2".into(),
                "--no-owner".into(),
                "--no-privileges".into(),
                "-f".into(),
                dir.display().to_string(),
                "-d".into(),
                conninfo(&self.url, run_id),
            ],
            self.url.password.as_deref(),
            "pg_dump of SOURCE's snapshot",
        );
        // pg_dump's sessions imported the snapshot and are done: the exporting one may end.
        let ended = session.execute("COMMIT");
        let held = held.elapsed();
        drop(pooled);
        if let Err(e) = dumped.map(|_| ()).and(ended.map(|_| ())) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }

        let restored = self.restore_into(target, run_id, &pg_restore, &dir, &schema, &extensions);
        let _ = std::fs::remove_dir_all(&dir);
        let rows = restored?;
        let position = Position {
            slot: slot.clone(),
            lsn: slot_lsn,
            snapshot: Some(seen.clone()),
        };
        Ok(Snapshot {
            position: position.to_stream(),
            detail: format!(
                "slot {slot} from {}; snapshot {seen_text} exported by SOURCE and held {:.1}s while pg_dump read schema {schema}; {rows} rows restored into {}",
                format_lsn(slot_lsn),
                held.as_secs_f64(),
                target.database
            ),
            rows,
        })
    }

    /// Loads the dump into `target`: the schema made afresh (a new database's `public`, or what
    /// an interrupted copy left), SOURCE's extensions created first, then every object of the
    /// dump but the schema itself. Returns the rows restored.
    fn restore_into(
        &self,
        target: &DbUrl,
        run_id: &str,
        pg_restore: &Path,
        dir: &Path,
        schema: &str,
        extensions: &[(String, String)],
    ) -> Result<u64> {
        let copy = PostgresBackend::new(target.clone());
        {
            let mut pooled = copy.session(Some(run_id))?;
            let s: &mut dyn Session = &mut pooled;
            s.execute(&format!(
                "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
                DIALECT.q(schema)
            ))?;
            for (name, home) in extensions {
                s.execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {1}; CREATE EXTENSION IF NOT EXISTS {0} WITH SCHEMA {1}",
                    DIALECT.q(name),
                    DIALECT.q(home)
                ))
                .map_err(|e| {
                    Error::env(
                        place(),
                        format!(
                            "the extension {name} SOURCE uses could not be created in the copy on DB_DATA's server: {}.",
                            e.message()
                        ),
                        format!("Install the extension's package on DB_DATA's server (its name and version as on SOURCE: SELECT * FROM pg_extension WHERE extname = {}), then run again with --resume.", DIALECT.lit(name)),
                    )
                })?;
            }
        }
        let listed = run_tool(
            pg_restore,
            &["-l".into(), dir.display().to_string()],
            None,
            "pg_restore -l of SOURCE's snapshot",
        )?;
        let list = dir.join("rekey-restore.list");
        std::fs::write(
            &list,
            without_schema(&String::from_utf8_lossy(&listed), schema),
        )
        .map_err(|e| io_error("write", &list, e))?;
        run_tool(
            pg_restore,
            &[
                "-j".into(),
                "2".into(),
                "--no-owner".into(),
                "--no-privileges".into(),
                "--exit-on-error".into(),
                "-L".into(),
                list.display().to_string(),
                "-d".into(),
                conninfo(target, run_id),
                dir.display().to_string(),
            ],
            target.password.as_deref(),
            "pg_restore of SOURCE's snapshot",
        )?;
        let mut pooled = copy.session(Some(run_id))?;
        let s: &mut dyn Session = &mut pooled;
        let tables: Vec<String> = s
            .query_all(&slot::fill(ROW_COUNT_SQL, &[Some(schema)]))?
            .iter()
            .map(|r| text(r, 0))
            .collect();
        let mut rows = 0u64;
        for chunk in tables.chunks(50) {
            let sql = chunk
                .iter()
                .map(|t| format!("SELECT count(*) FROM {t}"))
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            s.query(
                &format!("SELECT sum(count)::bigint FROM ({sql}) c"),
                &mut |r| {
                    rows += r.first().and_then(Value::as_u64).unwrap_or(0);
                    Ok(())
                },
            )?;
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Engine;

    #[test]
    fn the_connection_string_quotes_every_value_and_holds_no_password() {
        let url = DbUrl {
            engine: Engine::Postgres,
            user: Some("o'neil".into()),
            password: Some("secret".into()),
            host: "db1".into(),
            port: 5433,
            database: "shop floor".into(),
            schema: None,
            retries: 0,
            retry_delay: std::time::Duration::ZERO,
        };
        let c = conninfo(&url, "r1");
        assert_eq!(
            c,
            "host='db1' port=5433 user='o\\'neil' dbname='shop floor' application_name='rekey:r1'"
        );
        assert!(!c.contains("secret"));
        assert_eq!(schema_pattern("Sales\"x"), "\"Sales\"\"x\"");
        let toc = "; comment\n5; 2615 2200 SCHEMA - public pg_database_owner\n\
                   3438; 0 0 COMMENT - SCHEMA public pg_database_owner\n\
                   215; 1259 18150 TABLE public u postgres\n";
        assert_eq!(
            without_schema(toc, "public"),
            "; comment\n215; 1259 18150 TABLE public u postgres\n"
        );
    }
}
