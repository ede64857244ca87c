//! What every engine's integration tests need from a test server, as one trait: throwaway
//! databases, fixtures, URLs and fingerprints. `Databases` (SOURCE, DB_DATA, DB_FINAL of one test,
//! dropped when it ends) and the `rekey` helpers work on any implementation; MariaDB's is
//! `Mariadb` (the older `Dbs` API stays for the MySQL tests), PostgreSQL's is `pg::Postgres`,
//! SQLite's `sqlite::Sqlite` (a directory of database files). tests/every_engine.rs writes a
//! scenario once and runs it on all three.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{rekey, Fingerprint};

pub trait TestServer: Sized {
    /// A short name for database names and messages (`mysql`, `pg`).
    fn tag(&self) -> &'static str;
    /// The URL of database `db` (as rekey takes it).
    fn url(&self, db: &str) -> String;
    fn create_database(&self, db: &str);
    fn drop_database(&self, db: &str);
    fn exists(&self, db: &str) -> bool;
    /// Runs a fixture's statements in `db`.
    fn load(&self, db: &str, sql: &str);
    /// Every table's definition and rows, and the database's other objects: equal fingerprints
    /// mean unchanged contents.
    fn fingerprint(&self, db: &str) -> Fingerprint;
    /// The first column of every row of `sql` in `db`, as text (NULL as `None`).
    fn texts(&self, db: &str, sql: &str) -> Vec<Option<String>>;
    /// The names of `table`'s columns in `db`, in their order.
    fn columns(&self, db: &str, table: &str) -> Vec<String>;
    /// `name` quoted as an identifier in the engine's SQL.
    fn quote(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// SOURCE, DB_DATA and DB_FINAL names of one test (SOURCE and DB_FINAL created empty), a run
/// directory, all removed when the test ends.
pub struct Databases<S: TestServer> {
    pub server: S,
    pub source: String,
    pub data: String,
    pub final_db: String,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl<S: TestServer> Databases<S> {
    pub fn new(server: S, tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("rk_{}_{tag}_{}_{n}", server.tag(), std::process::id());
        let d = Databases {
            source: format!("{prefix}_src"),
            data: format!("{prefix}_data"),
            final_db: format!("{prefix}_final"),
            dir: tempfile::tempdir().unwrap(),
            extra: Vec::new(),
            server,
        };
        for db in [&d.source, &d.data, &d.final_db] {
            d.server.drop_database(db);
        }
        d.server.create_database(&d.source);
        d.server.create_database(&d.final_db);
        d
    }

    /// A database name dropped with the others.
    pub fn extra(&mut self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.source.trim_end_matches("_src"));
        self.server.drop_database(&name);
        self.extra.push(name.clone());
        name
    }

    pub fn src_url(&self) -> String {
        self.server.url(&self.source)
    }
    pub fn data_url(&self) -> String {
        self.server.url(&self.data)
    }
    pub fn final_url(&self) -> String {
        self.server.url(&self.final_db)
    }
    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// `rekey run` from SOURCE through DB_DATA into DB_FINAL, with extra arguments.
    pub fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "run".to_string(),
            "--source".into(),
            self.src_url(),
            "--data".into(),
            self.data_url(),
            "--final".into(),
            self.final_url(),
            "--run-dir".into(),
            self.run_dir().to_string_lossy().into_owned(),
            "--quiet".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        rekey(&args)
    }

    /// `rekey verify` of SOURCE against DB_FINAL with this run's map files.
    pub fn verify(&self, extra: &[&str]) -> Output {
        let dir = self.run_dir();
        let (src, fin) = (self.src_url(), self.final_url());
        let mut args = vec![
            "verify",
            "--source",
            &src,
            "--final",
            &fin,
            "--run-dir",
            dir.to_str().unwrap(),
            "-q",
        ];
        args.extend(extra);
        rekey(&args)
    }
}

impl<S: TestServer> Drop for Databases<S> {
    fn drop(&mut self) {
        for db in [&self.source, &self.data, &self.final_db]
            .into_iter()
            .chain(self.extra.iter())
        {
            self.server.drop_database(db);
        }
    }
}

/// The MariaDB test server behind the same trait (root URL without a database).
#[derive(Clone)]
pub struct Mariadb(pub String);

impl TestServer for Mariadb {
    fn tag(&self) -> &'static str {
        "mysql"
    }
    fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.0)
    }
    fn create_database(&self, db: &str) {
        use mysql::prelude::Queryable;
        super::conn(&self.0, None)
            .query_drop(format!(
                "CREATE DATABASE `{db}` DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci"
            ))
            .unwrap();
    }
    fn drop_database(&self, db: &str) {
        use mysql::prelude::Queryable;
        if let Ok(mut c) = mysql::Conn::new(super::opts(&self.0, None)) {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"));
        }
    }
    fn exists(&self, db: &str) -> bool {
        use mysql::prelude::Queryable;
        let n: u64 = super::conn(&self.0, None)
            .query_first(format!(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'"
            ))
            .unwrap()
            .unwrap();
        n > 0
    }
    fn load(&self, db: &str, sql: &str) {
        super::load_sql(&self.0, db, sql);
    }
    fn fingerprint(&self, db: &str) -> Fingerprint {
        super::fingerprint(&self.0, db)
    }
    fn texts(&self, db: &str, sql: &str) -> Vec<Option<String>> {
        use mysql::prelude::Queryable;
        // Without parameters the text protocol answers: every value is text or NULL.
        let rows: Vec<mysql::Row> = super::conn(&self.0, Some(db))
            .query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter()
            .map(|r| r.get::<Option<String>, _>(0).flatten())
            .collect()
    }
    fn quote(&self, name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }
    fn columns(&self, db: &str, table: &str) -> Vec<String> {
        self.texts(
            db,
            &format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
            ),
        )
        .into_iter()
        .flatten()
        .collect()
    }
}
