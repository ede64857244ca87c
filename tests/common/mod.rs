//! Shared helpers of the integration tests (`engine` is the engine-neutral part, `pg` PostgreSQL's,
//! `sqlite` SQLite's);
//! here MariaDB's: a reachable server (or a loud failure in CI),
//! throwaway databases per test, fixtures, running the binary, and table fingerprints.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

pub mod alembic;
pub mod engine;
pub mod follow;
pub mod meaning;
pub mod moving;
pub mod pg;
pub mod sqlite;

/// The test server's URL, or return from the test (only outside CI; see `server`).
#[macro_export]
macro_rules! server_or_skip {
    () => {
        match $crate::common::server() {
            Some(s) => s,
            None => return,
        }
    };
}

pub const BLOG_SOURCE: &str = include_str!("../../fixtures/blog/mysql/source.sql");
pub const BLOG_FINAL: &str = include_str!("../../fixtures/blog/mysql/final.sql");

/// The server under test: REKEY_TEST_MYSQL_URL, or root on 127.0.0.1:3306. Returns None (test
/// skipped, said on stderr) only when neither REKEY_REQUIRE_MYSQL nor CI is set; scripts/test.sh
/// sets REKEY_REQUIRE_MYSQL, so in CI an unreachable server fails every test.
pub fn server() -> Option<String> {
    let url = std::env::var("REKEY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let url = url.trim_end_matches('/').to_string();
    match Conn::new(opts(&url, None)) {
        Ok(_) => Some(url),
        Err(e) => {
            let required =
                std::env::var("REKEY_REQUIRE_MYSQL").is_ok() || std::env::var("CI").is_ok();
            if required {
                panic!("MariaDB is required but unreachable at {url}: {e}");
            }
            eprintln!("SKIPPED: no MariaDB at {url} ({e}); run scripts/test.sh to start one");
            None
        }
    }
}

pub fn opts(server: &str, db: Option<&str>) -> Opts {
    let base = Opts::from_url(&format!("{server}/")).expect("valid test server URL");
    OptsBuilder::from_opts(base)
        .db_name(db)
        .prefer_socket(false)
        .into()
}

pub fn conn(server: &str, db: Option<&str>) -> Conn {
    let mut c = Conn::new(opts(server, db)).expect("connect to the test server");
    c.query_drop("SET NAMES utf8mb4").unwrap();
    c
}

/// Runs a fixture: statements end with `;` at the end of a line.
pub fn load_sql(server: &str, db: &str, sql: &str) {
    let mut c = conn(server, Some(db));
    for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let stmt = stmt.trim_end_matches(';');
        let body: String = stmt
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if body.trim().is_empty() {
            continue;
        }
        c.query_drop(stmt)
            .unwrap_or_else(|e| panic!("fixture statement failed: {e}\n{stmt}"));
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Three database names for one test (source, data, final), dropped when the test ends, and a
/// run directory.
pub struct Dbs {
    pub server: String,
    pub source: String,
    pub data: String,
    pub final_db: String,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Dbs {
    pub fn new(server: &str, tag: &str) -> Dbs {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("rk_{tag}_{}_{n}", std::process::id());
        let d = Dbs {
            server: server.to_string(),
            source: format!("{prefix}_src"),
            data: format!("{prefix}_data"),
            final_db: format!("{prefix}_final"),
            dir: tempfile::tempdir().unwrap(),
            extra: Vec::new(),
        };
        let mut c = conn(server, None);
        for db in [&d.source, &d.data, &d.final_db] {
            c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .unwrap();
        }
        c.query_drop(format!(
            "CREATE DATABASE `{}` DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
            d.source
        ))
        .unwrap();
        c.query_drop(format!(
            "CREATE DATABASE `{}` DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
            d.final_db
        ))
        .unwrap();
        d
    }

    /// The blog fixture in SOURCE and the application's schema in DB_FINAL.
    pub fn blog(server: &str, tag: &str) -> Dbs {
        let d = Dbs::new(server, tag);
        load_sql(server, &d.source, BLOG_SOURCE);
        load_sql(server, &d.final_db, BLOG_FINAL);
        d
    }

    pub fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.server)
    }
    pub fn src_url(&self) -> String {
        self.url(&self.source)
    }
    pub fn data_url(&self) -> String {
        self.url(&self.data)
    }
    pub fn final_url(&self) -> String {
        self.url(&self.final_db)
    }
    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn conn(&self, db: &str) -> Conn {
        conn(&self.server, Some(db))
    }
    /// Whether a database of this name exists on the server.
    pub fn exists(&self, name: &str) -> bool {
        let n: u64 = conn(&self.server, None)
            .query_first(format!(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"
            ))
            .unwrap()
            .unwrap();
        n > 0
    }

    /// A database name dropped with the others.
    pub fn extra(&mut self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.source.trim_end_matches("_src"));
        self.extra.push(name.clone());
        name
    }

    /// `rekey verify` of SOURCE against DB_FINAL with this run's map files.
    pub fn verify(&self) -> Output {
        let dir = self.run_dir();
        rekey(&[
            "verify",
            "--source",
            &self.src_url(),
            "--final",
            &self.final_url(),
            "--run-dir",
            dir.to_str().unwrap(),
            "-q",
        ])
    }

    /// `rekey check` of SOURCE, DB_DATA and DB_FINAL, with extra arguments.
    pub fn check(&self, extra: &[&str]) -> Output {
        let (src, data, fin) = (self.src_url(), self.data_url(), self.final_url());
        let mut args = vec!["check", "--source", &src, "--data", &data, "--final", &fin];
        args.extend(extra);
        rekey(&args)
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
}

impl Drop for Dbs {
    fn drop(&mut self) {
        if let Ok(mut c) = Conn::new(opts(&self.server, None)) {
            for db in [&self.source, &self.data, &self.final_db]
                .into_iter()
                .chain(self.extra.iter())
            {
                let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"));
            }
        }
    }
}

/// Runs the rekey binary.
pub fn rekey<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env_remove("DB_TYPE")
        .output()
        .expect("run rekey")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts an exit code, showing the output when it differs.
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Per table: its CREATE statement and every row's bytes.
pub type Fingerprint = BTreeMap<String, (String, Vec<Vec<Option<Vec<u8>>>>)>;

/// A fingerprint of a whole database: every table's definition and every row's bytes, in key
/// order. Equal fingerprints mean byte-for-byte equal contents.
pub fn fingerprint(server: &str, db: &str) -> Fingerprint {
    let mut c = conn(server, Some(db));
    c.query_drop("SET SESSION character_set_results = binary")
        .unwrap();
    let tables: Vec<Vec<u8>> = c.query(format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY 1")).unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let t = String::from_utf8(t).unwrap();
        let create: (Vec<u8>, Vec<u8>) = c
            .query_first(format!("SHOW CREATE TABLE `{t}`"))
            .unwrap()
            .unwrap();
        let rows: Vec<mysql::Row> = c
            .query(format!("SELECT * FROM `{t}` ORDER BY 1, 2"))
            .unwrap_or_else(|_| c.query(format!("SELECT * FROM `{t}` ORDER BY 1")).unwrap());
        let rows = rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(cell).collect())
            .collect();
        out.insert(t, (String::from_utf8_lossy(&create.1).into_owned(), rows));
    }
    out
}

/// One value as the server sent it: its bytes, or None for NULL.
pub fn cell(v: mysql::Value) -> Option<Vec<u8>> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(b),
        other => Some(other.as_sql(true).into_bytes()),
    }
}

/// `map/<table>.csv` as old id -> new id (the name encoded as rekey encodes it).
pub fn mapping(run_dir: &Path, table: &str) -> BTreeMap<String, String> {
    let file = format!("{}.csv", rekey::run_files::file_stem(table));
    let mut r = csv::Reader::from_path(run_dir.join("map").join(file)).unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[0].to_string(), rec[1].to_string())
        })
        .collect()
}

/// The first column of `sql`'s first row in the run directory's journal.
pub fn journal_value<T: rusqlite::types::FromSql>(run_dir: &Path, sql: &str) -> T {
    rusqlite::Connection::open(run_dir.join("journal.sqlite"))
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

pub fn report(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap()).unwrap()
}

/// A MySQL account of one test (not root), dropped when the test ends.
pub struct Account {
    server: String,
    pub name: String,
    pub password: String,
}

impl Account {
    /// Creates the account; `{user}` in each grant stands for it.
    pub fn new(server: &str, tag: &str, grants: &[String]) -> Account {
        let name = format!("rk_{tag}_{}", std::process::id());
        let password = format!("pw-{tag}-9");
        let mut root = conn(server, None);
        root.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
            .unwrap();
        root.query_drop(format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"
        ))
        .unwrap();
        for g in grants {
            root.query_drop(g.replace("{user}", &format!("'{name}'@'%'")))
                .unwrap();
        }
        assert!(
            server.contains("mysql://root@"),
            "the test server URL must use root@: {server}"
        );
        Account {
            server: server.to_string(),
            name,
            password,
        }
    }

    /// ALL PRIVILEGES on the test's three databases, plus `extra` grants.
    pub fn for_run(dbs: &Dbs, tag: &str, extra: &[&str]) -> Account {
        let mut grants: Vec<String> = [&dbs.source, &dbs.data, &dbs.final_db]
            .iter()
            .map(|db| format!("GRANT ALL PRIVILEGES ON `{db}`.* TO {{user}}"))
            .collect();
        grants.extend(extra.iter().map(|g| g.to_string()));
        Account::new(&dbs.server, tag, &grants)
    }

    pub fn url(&self, db: &str) -> String {
        self.server.replacen(
            "mysql://root@",
            &format!("mysql://{}:{}@", self.name, self.password),
            1,
        ) + "/"
            + db
    }

    /// `rekey run` on the test's databases as this account.
    pub fn run(&self, dbs: &Dbs, extra: &[&str]) -> Output {
        let (src, data, fin) = (
            self.url(&dbs.source),
            self.url(&dbs.data),
            self.url(&dbs.final_db),
        );
        let dir = dbs.run_dir();
        let mut args = vec![
            "run",
            "--source",
            &src,
            "--data",
            &data,
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

impl Drop for Account {
    fn drop(&mut self) {
        if let Ok(mut c) = Conn::new(opts(&self.server, None)) {
            let _ = c.query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.name));
        }
    }
}

/// One stage's entry in report.json.
pub fn stage<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no stage {name} in the report"))
}

/// The load stage's detail line of a finished run (it names the load path).
pub fn load_detail(dbs: &Dbs) -> String {
    let report = report(&dbs.run_dir());
    stage(&report, "load")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `rekey run` on `dbs` (with `urls` = SOURCE, DB_DATA, DB_FINAL) that stalls after the first step
/// of `stage` (REKEY_TEST_STALL_AFTER_STEP), for kill and resume tests.
pub fn spawn_stalling_with(dbs: &Dbs, urls: [&str; 3], stage: &str) -> std::process::Child {
    spawn_stalling_args(dbs, urls, stage, &[])
}

/// `spawn_stalling_with`, with `extra` arguments for the run.
pub fn spawn_stalling_args(
    dbs: &Dbs,
    urls: [&str; 3],
    stage: &str,
    extra: &[&str],
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run", "--source", urls[0], "--data", urls[1], "--final", urls[2],
        ])
        .args([
            "--run-dir",
            dbs.run_dir().to_str().unwrap(),
            "-q",
            "--jobs",
            "2",
        ])
        .args(extra)
        .env("REKEY_TEST_STALL_AFTER_STEP", stage)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `rekey run` on the test's own databases, stalling after the first step of `stage`.
pub fn spawn_stalling(dbs: &Dbs, stage: &str) -> std::process::Child {
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    spawn_stalling_with(dbs, [&s, &d, &f], stage)
}

/// Every path under `dir`, relative to it, sorted.
pub fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `rekey run` of `urls` (SOURCE, DB_DATA, DB_FINAL) into `run_dir` that stalls at the stall
/// point `var` names (set to 1) and is killed there with SIGKILL. Returns what the run wrote in
/// its `stalled` file (the table it stalled on).
pub fn killed_at_stall(urls: [&str; 3], run_dir: &Path, var: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run", "--source", urls[0], "--data", urls[1], "--final", urls[2],
        ])
        .args(["--run-dir", run_dir.to_str().unwrap(), "-q", "--jobs", "2"])
        .env(var, "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_stall_at(run_dir, &mut child);
    let table = std::fs::read_to_string(run_dir.join("stalled")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    table
}

/// Waits until a stalling run has reached its stall point.
pub fn wait_for_stall(dbs: &Dbs, child: &mut std::process::Child) {
    wait_for_stall_at(&dbs.run_dir(), child);
}

/// Waits until the stalling run in `run_dir` has reached its stall point (its `stalled` file),
/// failing the test if it ends first or takes more than 120 s.
pub fn wait_for_stall_at(run_dir: &Path, child: &mut std::process::Child) {
    let started = std::time::Instant::now();
    while !run_dir.join("stalled").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("rekey ended ({status}) before reaching the stall point");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no stall after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A stalling run killed with SIGKILL at its stall point in `stage`.
pub fn killed_in(dbs: &Dbs, stage: &str) {
    let mut child = spawn_stalling(dbs, stage);
    wait_for_stall(dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Rows `stage` recorded for `table` in a finished run's report (`None`: the stage has no step
/// for it, so it never touched the table).
pub fn stage_rows(run_dir: &Path, stage_name: &str, table: &str) -> Option<u64> {
    let report = report(run_dir);
    stage(&report, stage_name)["tables"]
        .as_array()?
        .iter()
        .find(|t| t["item"] == table)
        .and_then(|t| t["rows"].as_u64())
}

/// A copy of a run directory's files (what an operator's `cp -r` of a live run gives).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `rekey run` on SOURCE, DB_DATA, DB_FINAL (`urls`) with the run directory `dir`, and `extra`.
pub fn run_in(urls: [&str; 3], dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run", "--source", urls[0], "--data", urls[1], "--final", urls[2],
    ];
    args.extend(["--run-dir", dir.to_str().unwrap(), "-q"]);
    args.extend(extra);
    rekey(&args)
}

/// A second MariaDB server of this test alone (a fresh data directory on a free port), stopped and
/// removed when dropped: what "another server" means to rekey (its own host name, port and data
/// directory). `None` (said on stderr) where no `mariadbd` is installed, unless MariaDB is
/// required (REKEY_REQUIRE_MYSQL or CI), where that fails the test.
pub struct SecondServer {
    pub url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl SecondServer {
    pub fn start() -> Option<SecondServer> {
        let bin = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(bin) = bin else {
            // As `server`: where MariaDB is required, a test that cannot run must fail.
            if std::env::var("REKEY_REQUIRE_MYSQL").is_ok() || std::env::var("CI").is_ok() {
                panic!("MariaDB is required but no mariadbd is installed to start a second server");
            }
            eprintln!("SKIPPED: no mariadbd to start a second server");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // A tmpdir of its own, for the installer's bootstrap server too: mariadbd deletes every
        // #sql* file in its tmpdir when it starts, and /tmp holds the shared server's internal
        // temporary tables (a CI run's catalog query on the shared server failed on one).
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let installed = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg("--skip-test-db")
            .output()
            .expect("mariadb-install-db");
        assert!(installed.status.success(), "{}", stderr(&installed));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| stdout(&o).trim() == "0")
            .unwrap_or(false);
        let mut server = Command::new(bin);
        server
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg("--skip-log-bin")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if root {
            server.arg("--user=root");
        }
        let child = server.spawn().unwrap();
        let second = SecondServer {
            url: format!("mysql://root@127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        let started = std::time::Instant::now();
        while Conn::new(opts(&second.url, None)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the second server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(second)
    }
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
