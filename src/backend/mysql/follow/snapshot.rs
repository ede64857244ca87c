//! SOURCE's consistent snapshot copied into the target database by mariadb-dump piped into the
//! mariadb client. `--single-transaction --master-data=2` reads every table in one `START
//! TRANSACTION WITH CONSISTENT SNAPSHOT` and, on MariaDB, takes the binlog position from that
//! snapshot's `Binlog_snapshot_file/position` status: no FLUSH TABLES WITH READ LOCK (measured
//! on 10.11: Com_flush unchanged, and a dump started while a 3 s query held a table finished at
//! once). The dump is the copy MariaDB itself vouches for: tables as SHOW CREATE TABLE gives
//! them (keys, foreign keys and their actions, CHECKs, defaults, AUTO_INCREMENT counters),
//! triggers, views and routines, binary values in hex.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;

use mysql::prelude::Queryable;

use super::super::{sql_error, Family, MysqlBackend, DIALECT};
use super::BinlogPos;
use crate::backend::follow::Snapshot;
use crate::backend::Dialect;
use crate::error::{Error, Place, Result};
use crate::stage::Stage;
use crate::url::{redact, DbUrl};

const TABLES_SQL: &str = include_str!("tables.sql");
const OBJECTS_SQL: &str = include_str!("objects.sql");
/// Whether the account may read MariaDB's routine bodies (mysql.proc): without it the dump
/// leaves out, without a word, every routine the account did not define.
const PROC_PROBE_SQL: &str = "SELECT 1 FROM mysql.proc LIMIT 0";

/// The dump's options besides the account's: one consistent snapshot with its binlog position
/// as a comment, every object of the database but the database itself, values exact (hex for
/// binary, TIMESTAMP in UTC), events left out (they would start running on the copy).
const DUMP_OPTIONS: &[&str] = &[
    "--single-transaction",
    "--master-data=2",
    "--hex-blob",
    "--routines",
    "--triggers",
    "--skip-events",
    "--no-create-db",
    "--tz-utc",
    "--quick",
    "--default-character-set=utf8mb4",
    "--max-allowed-packet=1073741824",
];

const CLIENT_OPTIONS: &[&str] = &[
    "--default-character-set=utf8mb4",
    "--max-allowed-packet=1073741824",
    "--batch",
];

pub(super) fn snapshot_into(
    source: &MysqlBackend,
    target: &DbUrl,
    run_id: &str,
) -> Result<Snapshot> {
    let dump_bin = binary(&["mariadb-dump", "mysqldump"])?;
    let source_objects = routines_readable(source)?;
    let client_bin = binary(&["mariadb", "mysql"])?;
    let dir = PrivateDir::new(run_id)?;
    let source_cnf = dir.option_file("source.cnf", &source.url)?;
    let target_cnf = dir.option_file("target.cnf", target)?;

    let mut dump = crate::child::command(&dump_bin)
        .arg(format!("--defaults-extra-file={}", source_cnf.display()))
        .args(DUMP_OPTIONS)
        .arg("--")
        .arg(&source.url.database)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&dump_bin, e))?;
    let mut client = match crate::child::command(&client_bin)
        .arg(format!("--defaults-extra-file={}", target_cnf.display()))
        .args(CLIENT_OPTIONS)
        .arg(format!("--database={}", target.database))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = dump.kill();
            let _ = dump.wait();
            return Err(spawn_error(&client_bin, e));
        }
    };
    let dump_err = drain(&mut dump);
    let client_err = drain(&mut client);
    let copied = copy(&mut dump, &mut client);
    let dump_status = dump.wait();
    let client_status = client.wait();
    let dump_err = dump_err.join().unwrap_or_default();
    let client_err = client_err.join().unwrap_or_default();

    let failed = |who: &str, stderr: &str, hint: &str| {
        Error::env(
            place(),
            redact(&format!(
                "{who} failed copying the snapshot of {} into {}: {}.",
                source.url,
                target,
                last_lines(stderr)
            )),
            hint.to_string(),
        )
    };
    // The client first: when it stops, the dump fails writing into the broken pipe.
    if !client_status.as_ref().is_ok_and(|s| s.success()) {
        return Err(failed(
            &client_bin,
            &client_err,
            "Views, triggers and routines keep SOURCE's DEFINER: the account that loads the copy needs SET USER (SUPER before MariaDB 10.5) or to be that definer. Fix what the message names, then start the live cutover again.",
        ));
    }
    if !dump_status.as_ref().is_ok_and(|s| s.success()) {
        return Err(failed(
            &dump_bin,
            &dump_err,
            "The dump needs SELECT, SHOW VIEW, TRIGGER and EVENT on SOURCE and BINLOG MONITOR (REPLICATION CLIENT) for its binlog position: GRANT what the message names, then start the live cutover again.",
        ));
    }
    let (position, gtid) = copied.map_err(|e| {
        Error::env(
            place(),
            format!("the pipe from {dump_bin} to {client_bin} broke: {e}."),
            "Check the disk and memory of this machine, then start the live cutover again.",
        )
    })?;
    let mut position = position.ok_or_else(|| {
        Error::env(
            place(),
            format!("{dump_bin} wrote no binlog position for {}.", source.url),
            "SOURCE must write a binlog (log_bin) and the account hold BINLOG MONITOR: run `rekey check --follow`.",
        )
    })?;
    position.gtid = gtid;
    let target_objects = objects(target)?;
    if let Some(((kind, want), (_, got))) = source_objects
        .iter()
        .zip(&target_objects)
        .find(|(a, b)| a != b)
    {
        return Err(Error::env(
            place(),
            format!("the copy of {} in {target} has {got} {kind} where SOURCE has {want}.", source.url),
            "The dump left objects out that the account may not read: GRANT it SELECT, SHOW VIEW and TRIGGER on SOURCE's database (and SELECT ON mysql.proc for routines), then start the live cutover again.",
        ));
    }
    let (tables, rows) = count_rows(target)?;
    // MySQL has no position of a consistent snapshot: its dump holds FLUSH TABLES WITH READ
    // LOCK while it starts the transaction and reads the position.
    let lock = match source.facts().map(|f| f.dialect.family()) {
        Ok(Family::MySql) => "under a brief FLUSH TABLES WITH READ LOCK",
        _ => "the consistent snapshot's own position, no lock",
    };
    Ok(Snapshot {
        detail: format!(
            "{} --single-transaction of {} at binlog {} ({lock}): {tables} tables, {rows} rows",
            Path::new(&dump_bin)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source.url.database,
            position.to_position().0,
        ),
        position: position.to_position(),
        rows,
    })
}

/// Copies the dump into the client line by line, picking up the position comments on the way:
/// `-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1370;` near the top
/// and `-- SET GLOBAL gtid_slave_pos='0-3316-6';` at the end.
fn copy(
    dump: &mut Child,
    client: &mut Child,
) -> std::io::Result<(Option<BinlogPos>, Option<String>)> {
    let (Some(out), Some(mut into)) = (dump.stdout.take(), client.stdin.take()) else {
        return Err(std::io::Error::other("no pipe"));
    };
    let mut reader = BufReader::with_capacity(1 << 20, out);
    let mut line = Vec::new();
    let (mut position, mut gtid) = (None, None);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.starts_with(b"-- ") {
            let text = String::from_utf8_lossy(&line);
            if let Some(p) = parse_change_master(&text) {
                position = Some(p);
            } else if let Some(g) = parse_gtid(&text) {
                gtid = Some(g);
            }
        }
        into.write_all(&line)?;
    }
    into.flush()?;
    Ok((position, gtid))
}

pub(super) fn parse_change_master(line: &str) -> Option<BinlogPos> {
    let rest = line.trim_start_matches("-- ").trim();
    let rest = rest.strip_prefix("CHANGE MASTER TO ")?;
    let file = rest.split("MASTER_LOG_FILE='").nth(1)?.split('\'').next()?;
    let offset = rest
        .split("MASTER_LOG_POS=")
        .nth(1)?
        .trim_end_matches(';')
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(BinlogPos {
        file: file.to_string(),
        offset,
        gtid: None,
    })
}

pub(super) fn parse_gtid(line: &str) -> Option<String> {
    let rest = line
        .trim_start_matches("-- ")
        .trim()
        .strip_prefix("SET GLOBAL gtid_slave_pos='")?;
    let g = rest.split('\'').next()?;
    (!g.is_empty()).then(|| g.to_string())
}

/// SOURCE's objects as the account sees them, once it is known to see every routine.
fn routines_readable(source: &MysqlBackend) -> Result<Vec<(String, u64)>> {
    let mut conn = source.connect_with(false, &[])?;
    match conn.query_drop(PROC_PROBE_SQL) {
        // MySQL 8 keeps routines in its data dictionary: no mysql.proc.
        Err(mysql::Error::MySqlError(me)) if me.code == 1142 => {
            return Err(Error::env(
                place(),
                format!(
                    "the account of {} may not read mysql.proc, so the copy would lack the routines it did not define.",
                    source.url
                ),
                "GRANT SELECT ON mysql.proc TO the migration account, then start the live cutover again.",
            ));
        }
        _ => {}
    }
    objects(&source.url)
}

/// How many tables, views, triggers and routines a database has.
fn objects(url: &DbUrl) -> Result<Vec<(String, u64)>> {
    let mut conn = MysqlBackend::new(url.clone()).connect_with(false, &[])?;
    let sql = OBJECTS_SQL.replace("{schema}", &DIALECT.lit(&url.database));
    conn.query(&sql)
        .map_err(|e| sql_error(e, &sql).at(&place()))
}

/// Base tables of the copy and their rows (COUNT(*) each: exact, and the copy is rekey's).
fn count_rows(target: &DbUrl) -> Result<(usize, u64)> {
    let backend = MysqlBackend::new(target.clone());
    let mut conn = backend.connect_with(true, &[])?;
    let sql = TABLES_SQL.replace("{schema}", &DIALECT.lit(&target.database));
    let tables: Vec<String> = conn
        .query(&sql)
        .map_err(|e| sql_error(e, &sql).at(&place()))?;
    let mut rows = 0;
    for t in &tables {
        let count_sql = format!("SELECT COUNT(*) FROM {}", DIALECT.q(t));
        let n: Option<u64> = conn
            .query_first(&count_sql)
            .map_err(|e| sql_error(e, &count_sql).at(&place().table(t)))?;
        rows += n.unwrap_or(0);
    }
    Ok((tables.len(), rows))
}

/// Where snapshot errors happened.
fn place() -> Place {
    Place::stage(Stage::Snapshot)
}

/// The first of `names` on PATH.
pub(in crate::backend::mysql) fn binary(names: &[&str]) -> Result<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        if std::env::split_paths(&path).any(|dir| dir.join(name).is_file()) {
            return Ok((*name).to_string());
        }
    }
    Err(Error::env(
        place(),
        format!(
            "the live cutover copies SOURCE's snapshot with {}, which is not on PATH.",
            names.join(" or ")
        ),
        "Install the MariaDB client programs (Debian/Ubuntu: apt-get install mariadb-client; RHEL: dnf install mariadb), then start the live cutover again.",
    ))
}

fn spawn_error(bin: &str, e: std::io::Error) -> Error {
    Error::env(
        place(),
        format!("could not start {bin}: {e}."),
        "Install the MariaDB client programs (Debian/Ubuntu: apt-get install mariadb-client), then start the live cutover again.",
    )
}

/// Reads a child's stderr to the end on a thread, so that neither pipe fills and stalls it.
fn drain(child: &mut Child) -> thread::JoinHandle<String> {
    let err = child.stderr.take();
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = err {
            let mut bytes = Vec::new();
            let _ = e.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "it exited without a message".into()
    } else {
        tail.join(" / ")
    }
}

/// A directory only this user can read, for the option files that carry passwords (never the
/// command line, which every user of the machine can read); removed with everything in it.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new(run_id: &str) -> Result<PrivateDir> {
        let safe: String = run_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "rekey-snapshot-{safe}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&path)
            .map_err(|e| crate::error::io_error("create", &path, e).at(&place()))?;
        Ok(PrivateDir(path))
    }

    /// A `[client]` option file with the URL's account, readable by this user only.
    fn option_file(&self, name: &str, url: &DbUrl) -> Result<PathBuf> {
        let path = self.0.join(name);
        let mut text = String::from("[client]\nprotocol=TCP\n");
        text.push_str(&format!(
            "host={}\nport={}\n",
            option_value(&url.host),
            url.port
        ));
        if let Some(u) = &url.user {
            text.push_str(&format!("user={}\n", option_value(u)));
        }
        if let Some(p) = &url.password {
            text.push_str(&format!("password={}\n", option_value(p)));
        }
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| crate::error::io_error("write", &path, e).at(&place()))?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A value in an option file: double-quoted, with the escapes the client's parser undoes.
fn option_value(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_position_comments_parse() {
        let p = parse_change_master(
            "-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1370;\n",
        )
        .unwrap();
        assert_eq!((p.file.as_str(), p.offset), ("binlog.000001", 1370));
        assert_eq!(
            parse_gtid("-- SET GLOBAL gtid_slave_pos='0-3316-6';\n").as_deref(),
            Some("0-3316-6")
        );
        assert_eq!(parse_gtid("-- SET GLOBAL gtid_slave_pos='';\n"), None);
        assert!(parse_change_master("-- Table structure for table `t`\n").is_none());
    }

    #[test]
    fn option_values_are_quoted() {
        assert_eq!(option_value(r#"p"a\ss"#), r#""p\"a\\ss""#);
    }
}
