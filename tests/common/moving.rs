//! One move's databases (issue 24): SOURCE on MariaDB or in a SQLite file, DB_DATA and DB_FINAL on
//! PostgreSQL, and the independent check of the result (`meaning`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use mysql::prelude::Queryable;

use super::engine::TestServer;
use super::meaning;
use super::pg::{pg_server, Postgres};
use super::{conn, load_sql, rekey, server};

/// One move's databases: SOURCE on MariaDB (or a SQLite file), DB_DATA and DB_FINAL on
/// PostgreSQL, a run directory; all dropped when the test ends.
pub struct Move {
    pub pg: Postgres,
    pub mysql: Option<String>,
    pub source: String,
    pub sqlite: Option<tempfile::TempDir>,
    pub data: String,
    pub final_db: String,
    pub dir: tempfile::TempDir,
}

impl Move {
    fn names(tag: &str) -> (String, String, String) {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 100_000;
        let prefix = format!("rk_mv_{tag}_{}_{n}", std::process::id());
        (
            format!("{prefix}_src"),
            format!("{prefix}_data"),
            format!("{prefix}_final"),
        )
    }

    /// SOURCE on MariaDB holding `sql`.
    pub fn from_mysql(tag: &str, sql: &str) -> Option<Move> {
        let server = server()?;
        let pg = pg_server()?;
        let (source, data, final_db) = Move::names(tag);
        let mut c = conn(&server, None);
        c.query_drop(format!("DROP DATABASE IF EXISTS `{source}`"))
            .unwrap();
        c.query_drop(format!(
            "CREATE DATABASE `{source}` DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci"
        ))
        .unwrap();
        load_sql(&server, &source, sql);
        let m = Move {
            pg,
            mysql: Some(server),
            source,
            sqlite: None,
            data,
            final_db,
            dir: tempfile::tempdir().unwrap(),
        };
        m.drop_targets();
        Some(m)
    }

    /// SOURCE a SQLite file holding `sql`.
    pub fn from_sqlite(tag: &str, sql: &str) -> Option<Move> {
        let pg = pg_server()?;
        let (source, data, final_db) = Move::names(tag);
        let dir = tempfile::tempdir().unwrap();
        let c = rusqlite::Connection::open(dir.path().join("source.db")).unwrap();
        c.execute_batch(sql).unwrap();
        let m = Move {
            pg,
            mysql: None,
            source,
            sqlite: Some(dir),
            data,
            final_db,
            dir: tempfile::tempdir().unwrap(),
        };
        m.drop_targets();
        Some(m)
    }

    fn drop_targets(&self) {
        for db in [&self.data, &self.final_db, &format!("{}_source", self.data)] {
            self.pg.drop_database(db);
        }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.sqlite.as_ref().map(|d| d.path().join("source.db"))
    }

    pub fn src_url(&self) -> String {
        match (&self.mysql, self.sqlite_path()) {
            (Some(server), _) => format!("{server}/{}", self.source),
            (None, Some(path)) => format!("sqlite://{}", path.display()),
            _ => unreachable!(),
        }
    }

    pub fn urls(&self) -> [String; 3] {
        [
            self.src_url(),
            self.pg.url(&self.data),
            self.pg.url(&self.final_db),
        ]
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn run(&self, extra: &[&str]) -> Output {
        let [s, d, f] = self.urls();
        let dir = self.run_dir();
        let mut args = vec![
            "run",
            "--source",
            &s,
            "--data",
            &d,
            "--final",
            &f,
            "--run-dir",
            dir.to_str().unwrap(),
            "-q",
        ];
        args.extend(extra);
        rekey(&args)
    }

    pub fn copy_db(&self) -> String {
        format!("{}_source", self.data)
    }

    /// SOURCE's tables, read by the independent reader.
    pub fn source_tables(&self) -> Vec<meaning::SrcTable> {
        match (&self.mysql, self.sqlite_path()) {
            (Some(server), _) => meaning::mysql_tables(server, &self.source),
            (None, Some(path)) => meaning::sqlite_tables(&path),
            _ => unreachable!(),
        }
    }

    /// Every row and reference of SOURCE found in DB_FINAL by meaning (tables in `skip`
    /// excepted); returns the values compared.
    pub fn compare(&self, skip: &[&str]) -> u64 {
        self.compare_declared(skip, &[])
    }

    /// `compare`, with references declared by `--reference table.column=parent.key`.
    pub fn compare_declared(&self, skip: &[&str], declared: &[(&str, &str, &str)]) -> u64 {
        let mut tables: Vec<meaning::SrcTable> = self
            .source_tables()
            .into_iter()
            .filter(|t| !skip.contains(&t.name.as_str()))
            .collect();
        for (table, column, parent) in declared {
            if let Some(t) = tables.iter_mut().find(|t| t.name == *table) {
                t.references.insert(column.to_string(), parent.to_string());
            }
        }
        meaning::compare(&tables, &self.pg, &self.final_db, &self.run_dir())
    }
}

/// The blog fixture's text columns holding a zero byte (one row each), which PostgreSQL's text
/// cannot store.
pub const BLOG_ZERO_BYTES: [&str; 5] = [
    "comment.body",
    "content_item.body",
    "content_item_translation.intro",
    "mail_message.body",
    "user.bio",
];

impl Move {
    /// Removes the zero bytes of `columns` (`table.column`) in SOURCE (the test's own copy), as
    /// the move's refusal tells an operator to.
    pub fn strip_zero_bytes(&self, columns: &[&str]) {
        for column in columns {
            let (table, col) = column.split_once('.').unwrap();
            match (&self.mysql, self.sqlite_path()) {
                (Some(server), _) => conn(server, Some(&self.source))
                    .query_drop(format!(
                        "UPDATE `{table}` SET `{col}` = REPLACE(`{col}`, CHAR(0), '')"
                    ))
                    .unwrap(),
                (None, Some(path)) => {
                    // SQLite's replace() stops at a zero byte: the rows are cleaned here.
                    let c = rusqlite::Connection::open(path).unwrap();
                    let rows: Vec<(i64, String)> = c
                        .prepare(&format!(
                            "SELECT rowid, \"{col}\" FROM \"{table}\" WHERE instr(\"{col}\", char(0)) > 0"
                        ))
                        .unwrap()
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    for (rowid, text) in rows {
                        c.execute(
                            &format!("UPDATE \"{table}\" SET \"{col}\" = ?1 WHERE rowid = ?2"),
                            rusqlite::params![text.replace('\0', ""), rowid],
                        )
                        .unwrap();
                    }
                }
                _ => unreachable!(),
            }
        }
    }

    /// `rekey run` with `extra` arguments, stalled after the first step of `stage`
    /// (REKEY_TEST_STALL_AFTER_STEP), once it has reached the stall; with `release`, it goes on
    /// when the test writes `<run-dir>/release` (REKEY_TEST_STALL_RELEASE). Its stderr is piped.
    pub fn stalled_in(&self, stage: &str, extra: &[&str], release: bool) -> std::process::Child {
        let [s, d, f] = self.urls();
        let dir = self.run_dir();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"));
        command
            .args(["run", "--source", &s, "--data", &d, "--final", &f])
            .args(["--run-dir", dir.to_str().unwrap(), "-q", "--jobs", "2"])
            .args(extra)
            .env("REKEY_TEST_STALL_AFTER_STEP", stage)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if release {
            command.env("REKEY_TEST_STALL_RELEASE", "1");
        }
        let mut child = command.spawn().unwrap();
        super::wait_for_stall_at(&dir, &mut child);
        child
    }

    /// `stalled_in`, then killed with SIGKILL there.
    pub fn killed_in(&self, stage: &str, extra: &[&str]) {
        let mut child = self.stalled_in(stage, extra, false);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Move {
    fn drop(&mut self) {
        self.drop_targets();
        if let Some(server) = &self.mysql {
            let _ =
                conn(server, None).query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.source));
        }
    }
}
