//! The one-write route (issue 21): a default `rekey run` writes every row once, from SOURCE
//! straight into DB_FINAL in the load, while DB_DATA keeps the converted definitions, the mapping
//! tables and the map files; `--full-data-copy` and `rekey convert` still leave the full DB_DATA;
//! a table the engine cannot fill from SOURCE takes two writes and the report says why; a run
//! killed in the load resumes without a duplicated or lost row; a resumed run may not change its
//! shape. On MariaDB and PostgreSQL (SQLite keeps two writes and says so).

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use common::engine::{Mariadb, TestServer};
use common::pg::{Postgres, PG_BLOG_FINAL, PG_BLOG_SOURCE};
use common::*;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// SOURCE, DB_DATA and DB_FINAL of one test, named `hw_...` (this suite's own prefix), dropped
/// when the test ends.
struct Trio<S: TestServer> {
    server: S,
    source: String,
    data: String,
    final_db: String,
    dir: tempfile::TempDir,
}

impl<S: TestServer> Trio<S> {
    /// SOURCE from `source_sql`; DB_FINAL from `final_sql`, or absent (for --derive-final).
    fn new(server: S, tag: &str, source_sql: &str, final_sql: Option<&str>) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("hw_{tag}_{}_{n}", std::process::id());
        let t = Trio {
            source: format!("{prefix}_src"),
            data: format!("{prefix}_data"),
            final_db: format!("{prefix}_final"),
            dir: tempfile::tempdir().unwrap(),
            server,
        };
        for db in [&t.source, &t.data, &t.final_db] {
            t.server.drop_database(db);
        }
        t.server.create_database(&t.source);
        t.server.load(&t.source, source_sql);
        if let Some(sql) = final_sql {
            t.server.create_database(&t.final_db);
            t.server.load(&t.final_db, sql);
        }
        t
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn urls(&self) -> [String; 3] {
        [
            self.server.url(&self.source),
            self.server.url(&self.data),
            self.server.url(&self.final_db),
        ]
    }

    fn run(&self, extra: &[&str]) -> Output {
        let [s, d, f] = self.urls();
        run_in([&s, &d, &f], &self.run_dir(), extra)
    }

    /// `rekey run` (with `extra`) that marks each description of DB_DATA's catalog
    /// (REKEY_TEST_MARK_DESCRIBES), and how many there were, once it succeeded and verified.
    fn run_counting_describes(&self, extra: &[&str]) -> usize {
        let [s, d, f] = self.urls();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
            .args(["run", "--source", &s, "--data", &d, "--final", &f])
            .args(["--run-dir", self.run_dir().to_str().unwrap(), "-q"])
            .args(extra)
            .env("REKEY_TEST_MARK_DESCRIBES", "1")
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_verified(&self.run_dir());
        std::fs::read_to_string(self.run_dir().join("data-described"))
            .unwrap()
            .lines()
            .count()
    }

    fn spawn_stalling(&self, stage: &str, extra: &[&str]) -> std::process::Child {
        self.stalling(stage, extra).spawn().unwrap()
    }

    /// `rekey run` on two workers (with `extra`) that stalls after the first step of `stage`
    /// (REKEY_TEST_STALL_AFTER_STEP), not yet started.
    fn stalling(&self, stage: &str, extra: &[&str]) -> std::process::Command {
        let [s, d, f] = self.urls();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"));
        command
            .args(["run", "--source", &s, "--data", &d, "--final", &f])
            .args(["--run-dir", self.run_dir().to_str().unwrap(), "-q"])
            .args(["--jobs", "2"])
            .args(extra)
            .env("REKEY_TEST_STALL_AFTER_STEP", stage)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    }
}

impl<S: TestServer> Drop for Trio<S> {
    fn drop(&mut self) {
        for db in [&self.source, &self.data, &self.final_db] {
            self.server.drop_database(db);
        }
    }
}

/// Counts rows and lists tables in one database: what each engine's assertions need.
trait Rows {
    fn tables(&self, db: &str) -> Vec<String>;
    fn rows(&self, db: &str, table: &str) -> u64;
    /// The data type of a column as the catalog names it.
    fn column_type(&self, db: &str, table: &str, column: &str) -> String;
}

impl Rows for Mariadb {
    fn tables(&self, db: &str) -> Vec<String> {
        use mysql::prelude::Queryable;
        conn(&self.0, None)
            .query(format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY 1"
            ))
            .unwrap()
    }
    fn rows(&self, db: &str, table: &str) -> u64 {
        use mysql::prelude::Queryable;
        conn(&self.0, None)
            .query_first(format!("SELECT COUNT(*) FROM `{db}`.`{table}`"))
            .unwrap()
            .unwrap()
    }
    fn column_type(&self, db: &str, table: &str, column: &str) -> String {
        use mysql::prelude::Queryable;
        conn(&self.0, None)
            .query_first(format!(
                "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}' AND COLUMN_NAME = '{column}'"
            ))
            .unwrap()
            .unwrap_or_default()
    }
}

impl Rows for Postgres {
    fn tables(&self, db: &str) -> Vec<String> {
        self.texts(
            db,
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
        )
        .into_iter()
        .flatten()
        .collect()
    }
    fn rows(&self, db: &str, table: &str) -> u64 {
        self.text(db, &format!("SELECT count(*) FROM \"{table}\""))
            .parse()
            .unwrap()
    }
    fn column_type(&self, db: &str, table: &str, column: &str) -> String {
        self.text(
            db,
            &format!("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '\"{table}\"'::regclass AND attname = '{column}'"),
        )
    }
}

/// Tables rekey converts (not its own, not the migration tool's bookkeeping).
fn user_tables<S: TestServer + Rows>(t: &Trio<S>, db: &str) -> Vec<String> {
    t.server
        .tables(db)
        .into_iter()
        .filter(|n| !n.starts_with("_rekey") && n != "alembic_version")
        .collect()
}

/// Each table's route as report.json names it.
fn routes(run_dir: &std::path::Path) -> Vec<(String, String)> {
    report(run_dir)["routes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["table"].as_str().unwrap().to_string(),
                        r["route"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_verified(run_dir: &std::path::Path) {
    let report = report(run_dir);
    assert_eq!(report["status"], "ok", "{report}");
    let checks = report["verification"].as_array().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
}

/// Every table of DB_FINAL holds SOURCE's row count: nothing duplicated, nothing lost.
fn assert_same_counts<S: TestServer + Rows>(t: &Trio<S>) {
    for table in user_tables(t, &t.source) {
        assert_eq!(
            t.server.rows(&t.final_db, &table),
            t.server.rows(&t.source, &table),
            "{table}: DB_FINAL's rows against SOURCE's"
        );
    }
}

/// A default run (with `extra`): every table written once but `twice` (which take two writes,
/// `why` in the report), DB_DATA with the converted definitions and no rows of the tables written
/// once, map files written, DB_FINAL verified; the report names the route.
fn default_run_writes_once<S: TestServer + Rows>(
    t: Trio<S>,
    extra: &[&str],
    key_type: &str,
    twice: &[&str],
    why: &str,
) {
    // The dry run prints the one write's statements (in a run directory of its own).
    let [s, d, f] = t.urls();
    let dry_dir = t.dir.path().join("dry");
    let mut dry_args = vec!["--dry-run"];
    dry_args.extend(extra);
    let dry = rekey(
        &[
            vec!["run", "--source", &s, "--data", &d, "--final", &f],
            vec!["--run-dir", dry_dir.to_str().unwrap()],
            dry_args,
        ]
        .concat(),
    );
    assert_exit(&dry, 0);
    let text = stdout(&dry);
    assert!(
        text.contains("-- load page_request (") && text.contains("from SOURCE, one write"),
        "{text}"
    );
    assert!(!t.server.exists(&t.data), "the dry run created DB_DATA");
    let out = t.run(extra);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    let routes = routes(&t.run_dir());
    assert_eq!(routes.len(), 9, "{routes:?}");
    for (table, route) in &routes {
        if twice.contains(&table.as_str()) {
            assert!(
                route.starts_with(&format!("two writes: {why}")),
                "{table}: {route}"
            );
        } else {
            assert_eq!(route, "one write", "{table}");
        }
    }
    let report = report(&t.run_dir());
    let load = stage(&report, "load")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        load.contains("written once, straight from SOURCE"),
        "{load}"
    );
    // Each table checked by the load right after its rows were in, while others loaded.
    let verify = stage(&report, "verify")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(verify.contains("of them by the load"), "{verify}");
    let once = 9 - twice.len();
    let md = std::fs::read_to_string(t.run_dir().join("report.md")).unwrap();
    assert!(
        md.contains(&format!(
            "{once} tables written once, from SOURCE straight into DB_FINAL"
        )),
        "{md}"
    );
    // DB_DATA: every converted table, in its converted definition, rows only where written twice.
    let data_tables = user_tables(&t, &t.data);
    assert_eq!(data_tables, user_tables(&t, &t.source));
    for table in &data_tables {
        let expected = if twice.contains(&table.as_str()) {
            t.server.rows(&t.source, table)
        } else {
            0
        };
        assert_eq!(
            t.server.rows(&t.data, table),
            expected,
            "{table} in DB_DATA"
        );
    }
    assert_eq!(
        t.server.column_type(&t.data, "page_request", "id"),
        key_type
    );
    // Preflight's snapshot counted each converted table's range of old keys, from which the run
    // decided that its new keys are derived (no query of its own).
    let min: String = journal_value(
        &t.run_dir(),
        "SELECT json_extract(detail, '$.min_key') FROM artifact \
         WHERE kind = 'source-snapshot' AND name = 'page_request'",
    );
    assert_eq!(
        Some(min),
        t.server
            .texts(&t.source, "SELECT MIN(id) FROM page_request")
            .remove(0)
    );
    // The map files are there for redirects and audits.
    let map = mapping(&t.run_dir(), "page_request");
    assert_eq!(map.len() as u64, t.server.rows(&t.source, "page_request"));
}

#[test]
fn mariadb_default_run_writes_every_row_once() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "once", BLOG_SOURCE, Some(BLOG_FINAL));
    default_run_writes_once(t, &[], "char(32)", &[], "");
}

#[test]
fn postgres_default_run_writes_every_row_once() {
    let pg = pg_or_skip!();
    let t = Trio::new(pg, "once", PG_BLOG_SOURCE, Some(PG_BLOG_FINAL));
    // v7 keys ascend with the old ones, so SOURCE's order appends to each new primary key; the
    // many-to-many table's key is made of references, whose new keys do not ascend: a small
    // table's key takes them at random (a large one's is set aside for the load).
    default_run_writes_once(t, &["--uuid-version", "v7"], "uuid", &[], "");
}

/// `--full-data-copy` and `rekey convert` leave the full converted DB_DATA.
fn full_copies<S: TestServer + Rows>(t: Trio<S>, convert_data: &str) {
    let out = t.run(&["--full-data-copy"]);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    let routes = routes(&t.run_dir());
    assert!(
        routes
            .iter()
            .all(|(_, r)| r.starts_with("two writes: DB_DATA is kept as the full converted copy")),
        "{routes:?}"
    );
    for table in user_tables(&t, &t.source) {
        assert_eq!(
            t.server.rows(&t.data, &table),
            t.server.rows(&t.source, &table),
            "{table} in DB_DATA"
        );
    }
    // rekey convert: DB_DATA alone, full.
    t.server.drop_database(convert_data);
    let dir = t.dir.path().join("convert");
    let out = rekey(&[
        "convert",
        "--source",
        &t.server.url(&t.source),
        "--data",
        &t.server.url(convert_data),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 0);
    for table in user_tables(&t, &t.source) {
        assert_eq!(
            t.server.rows(convert_data, &table),
            t.server.rows(&t.source, &table),
            "{table} in rekey convert's DB_DATA"
        );
    }
    t.server.drop_database(convert_data);
}

#[test]
fn mariadb_full_data_copy_and_convert_keep_the_full_data() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "full", BLOG_SOURCE, Some(BLOG_FINAL));
    let convert = format!("{}_conv", t.source.trim_end_matches("_src"));
    full_copies(t, &convert);
}

#[test]
fn postgres_full_data_copy_and_convert_keep_the_full_data() {
    let pg = pg_or_skip!();
    let t = Trio::new(pg, "full", PG_BLOG_SOURCE, Some(PG_BLOG_FINAL));
    let convert = format!("{}_conv", t.source.trim_end_matches("_src"));
    full_copies(t, &convert);
}

/// A parent with a negative key keeps a mapping table (derived keys need 0..2^59), and so does
/// every reference to it.
const MAPPED_MYSQL: &str = "
CREATE TABLE parent (id INT NOT NULL PRIMARY KEY, label VARCHAR(20) NOT NULL);
CREATE TABLE child (id INT NOT NULL PRIMARY KEY, parent_id INT NULL, note VARCHAR(20) NULL,
  CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
CREATE TABLE other (id INT NOT NULL PRIMARY KEY, v INT NOT NULL);
INSERT INTO parent VALUES (-5, 'negative'), (1, 'one'), (2, 'two');
INSERT INTO child VALUES (1, -5, 'a'), (2, 1, NULL), (3, NULL, 'c');
INSERT INTO other VALUES (1, 10), (2, 20);
";

const MAPPED_PG: &str = "
CREATE TABLE parent (id integer PRIMARY KEY, label text NOT NULL);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id), note text);
CREATE TABLE other (id integer PRIMARY KEY, v integer NOT NULL);
CREATE TABLE tagged (label text PRIMARY KEY, other_id integer REFERENCES other (id));
INSERT INTO parent VALUES (-5, 'negative'), (1, 'one'), (2, 'two');
INSERT INTO child VALUES (1, -5, 'a'), (2, 1, NULL), (3, NULL, 'c');
INSERT INTO other VALUES (1, 10), (2, 20);
INSERT INTO tagged VALUES ('x', 1), ('y', NULL), ('z', 2);
";

/// PostgreSQL: `other` large (500,000 rows) and referenced by other tables (its key stays in
/// place during the load: v4 keys at random into it cost more than two writes), `log` large
/// enough for its key to go aside and referenced by none (one write), `note` small.
const MAPPED_PG_LARGE: &str = "
INSERT INTO other SELECT g, g * 10 FROM generate_series(3, 500000) g;
CREATE TABLE log (id integer PRIMARY KEY, other_id integer REFERENCES other (id), at integer NOT NULL);
INSERT INTO log SELECT g, 1 + g % 1000, g FROM generate_series(1, 100000) g;
CREATE TABLE note (id integer PRIMARY KEY, other_id integer REFERENCES other (id));
INSERT INTO note VALUES (1, 1), (2, NULL);
";

fn data_rows<S: TestServer + Rows>(t: &Trio<S>, table: &str) -> u64 {
    t.server.rows(&t.data, table)
}

#[test]
fn mariadb_mapped_keys_are_joined_from_db_data_in_the_one_write() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "mapped", MAPPED_MYSQL, None);
    let out = t.run(&["--derive-final"]);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    let routes = routes(&t.run_dir());
    assert_eq!(routes.len(), 3);
    assert!(routes.iter().all(|(_, r)| r == "one write"), "{routes:?}");
    // The parent's mapping table is in DB_DATA, read by the load's join; no converted rows.
    assert!(t
        .server
        .tables(&t.data)
        .iter()
        .any(|n| n.starts_with("_rekey_map") && n.contains("parent")));
    for table in ["parent", "child", "other"] {
        assert_eq!(data_rows(&t, table), 0, "{table} in DB_DATA");
    }
}

#[test]
fn postgres_mapped_and_unordered_keys_take_two_writes_and_the_report_says_why() {
    let pg = pg_or_skip!();
    let t = Trio::new(pg, "mapped", &format!("{MAPPED_PG}{MAPPED_PG_LARGE}"), None);
    // Default options: v4 keys, which SOURCE's order does not give.
    let out = t.run(&["--derive-final"]);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    let routes: std::collections::BTreeMap<String, String> =
        routes(&t.run_dir()).into_iter().collect();
    // A primary key that holds no new key, a large table whose key is set aside for its load,
    // a small table whose key takes its v4 keys at random: one write, keys derived on the way.
    for table in ["tagged", "log", "note"] {
        assert_eq!(routes[table], "one write", "{table}");
        assert_eq!(data_rows(&t, table), 0);
    }
    for table in ["parent", "child"] {
        assert!(
            routes[table].starts_with(
                "two writes: a key or reference comes from a mapping table in DB_DATA"
            ),
            "{table}: {}",
            routes[table]
        );
    }
    assert!(
        routes["other"].starts_with("two writes: DB_FINAL's primary key holds new keys")
            && routes["other"].contains("stays in place during the load"),
        "{}",
        routes["other"]
    );
    for table in ["parent", "child", "other"] {
        assert_eq!(data_rows(&t, table), t.server.rows(&t.source, table));
    }
    let md = std::fs::read_to_string(t.run_dir().join("report.md")).unwrap();
    assert!(md.contains("2 tables written twice"), "{md}");
    assert!(md.contains("1 table written twice"), "{md}");
    assert!(md.contains("3 tables written once"), "{md}");
}

/// Killed with SIGKILL after the load wrote a table (before its journal entry): the resumed run
/// empties it and fills it again, once.
fn sigkill_in_the_load_then_resume<S: TestServer + Rows>(t: Trio<S>, extra: &[&str]) {
    let source_before = t.server.fingerprint(&t.source);
    let mut child = t.spawn_stalling("load", extra);
    wait_for_stall_at(&t.run_dir(), &mut child);
    // The stall is after the first table's rows are in DB_FINAL: the half-loaded state.
    let loaded: u64 = user_tables(&t, &t.source)
        .iter()
        .map(|table| t.server.rows(&t.final_db, table))
        .sum();
    assert!(loaded > 0, "the kill lands after rows reached DB_FINAL");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = t.run(&["--resume"]);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    let routes = routes(&t.run_dir());
    // The largest table loads first (the one the kill interrupted): written once.
    assert!(
        routes
            .iter()
            .any(|(table, r)| table == "page_request" && r == "one write"),
        "{routes:?}"
    );
    for (table, route) in &routes {
        if route == "one write" {
            assert_eq!(t.server.rows(&t.data, table), 0, "{table} in DB_DATA");
        }
    }
    assert_eq!(
        t.server.fingerprint(&t.source),
        source_before,
        "SOURCE changed"
    );
}

#[test]
fn mariadb_sigkill_during_a_one_write_load_then_resume() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "kill", BLOG_SOURCE, Some(BLOG_FINAL));
    sigkill_in_the_load_then_resume(t, &[]);
}

#[test]
fn postgres_sigkill_during_a_one_write_load_then_resume() {
    let pg = pg_or_skip!();
    let t = Trio::new(pg, "kill", PG_BLOG_SOURCE, Some(PG_BLOG_FINAL));
    sigkill_in_the_load_then_resume(t, &["--uuid-version", "v7"]);
}

/// A run whose clone made every table converted: link and unconstrain found nothing to do.
fn assert_link_and_unconstrain_had_nothing_to_do(report: &serde_json::Value) {
    for (name, nothing) in [("link", "0 references"), ("unconstrain", "0 tables")] {
        let detail = stage(report, name)["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(detail.starts_with(nothing), "{name}: {detail}");
    }
}

/// DB_DATA's `page_request` as MariaDB's catalog describes it: each column with its type and key.
fn data_columns(t: &Trio<Mariadb>, table: &str) -> Vec<(String, String, String)> {
    use mysql::prelude::Queryable;
    conn(&t.server.0, None)
        .query(format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION",
            t.data
        ))
        .unwrap()
}

/// On MariaDB, clone makes a one-write table in its converted definition at once (derive-final's
/// statements: its keys and indexes on the UUID columns), instead of five statements that
/// reshape an empty copy (whose unconstrain leaves it without any key). Also after a kill in
/// clone and a resume.
fn clone_converts<F: Fn(&Trio<Mariadb>)>(tag: &str, run: F) {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), tag, BLOG_SOURCE, Some(BLOG_FINAL));
    let source_before = t.server.fingerprint(&t.source);
    run(&t);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    let columns = data_columns(&t, "page_request");
    let id = columns.iter().find(|(name, _, _)| name == "id").unwrap();
    assert_eq!(
        (id.1.as_str(), id.2.as_str()),
        ("char(32)", "PRI"),
        "{columns:?}"
    );
    assert!(
        columns.iter().all(|(name, _, _)| !name.ends_with("_copy")),
        "{columns:?}"
    );
    // Link and unconstrain had nothing to do on it.
    let report = report(&t.run_dir());
    let clone = stage(&report, "clone")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        clone.contains("of them in their converted definition")
            && clone.contains("written in the background"),
        "{clone}"
    );
    assert_link_and_unconstrain_had_nothing_to_do(&report);
    assert_eq!(
        t.server.fingerprint(&t.source),
        source_before,
        "SOURCE changed"
    );
}

#[test]
fn mariadb_clone_makes_one_write_tables_in_their_converted_definition() {
    clone_converts("conv", |t| assert_exit(&t.run(&[]), 0));
}

#[test]
fn mariadb_sigkill_in_a_converting_clone_then_resume() {
    clone_converts("convkill", |t| {
        let mut child = t.spawn_stalling("clone", &[]);
        wait_for_stall_at(&t.run_dir(), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_exit(&t.run(&["--resume"]), 0);
    });
}

#[test]
fn a_resumed_run_keeps_its_shape_or_is_refused() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "shape", BLOG_SOURCE, Some(BLOG_FINAL));
    // A one-write run killed in swap (DB_DATA's tables built without rows)...
    let mut child = t.spawn_stalling("swap", &[]);
    wait_for_stall_at(&t.run_dir(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    // ...cannot be resumed as a full copy, nor moved, nor loaded from DB_DATA.
    for other in [
        vec!["--resume", "--full-data-copy"],
        vec!["--resume", "--load-path", "move"],
        vec!["--resume", "--load-path", "stream"],
    ] {
        let out = t.run(&other);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("writes each row once, from SOURCE straight into DB_FINAL"),
            "{other:?}: {err}"
        );
        assert!(
            err.contains("Resume it as it started") && err.contains("rekey clean"),
            "{other:?}: {err}"
        );
    }
    // As it started, it finishes: one write, verified.
    let out = t.run(&["--resume"]);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    assert!(routes(&t.run_dir()).iter().all(|(_, r)| r == "one write"));
}

#[test]
fn full_data_copy_and_move_together_are_refused() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "both", BLOG_SOURCE, Some(BLOG_FINAL));
    let out = t.run(&["--full-data-copy", "--load-path", "move"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("Choose one"), "{}", stderr(&out));
}

/// SQLite has no one-write fill (the default capability): the default run takes two writes for
/// every table, leaves the full DB_DATA, and the report says so.
#[test]
fn sqlite_takes_two_writes_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    rusqlite::Connection::open(path("source.db"))
        .unwrap()
        .execute_batch(include_str!("../fixtures/blog/sqlite/source.sql"))
        .unwrap();
    rusqlite::Connection::open(path("final.db"))
        .unwrap()
        .execute_batch(include_str!("../fixtures/blog/sqlite/final.sql"))
        .unwrap();
    let url = |name: &str| format!("sqlite://{}", path(name).display());
    let run_dir = path("run");
    let out = run_in(
        [&url("source.db"), &url("data.db"), &url("final.db")],
        &run_dir,
        &[],
    );
    assert_exit(&out, 0);
    assert_verified(&run_dir);
    let routes = routes(&run_dir);
    assert!(!routes.is_empty());
    assert!(
        routes
            .iter()
            .all(|(_, r)| r == "two writes: this engine fills DB_FINAL from DB_DATA only"),
        "{routes:?}"
    );
    let data = rusqlite::Connection::open(path("data.db")).unwrap();
    let rows: i64 = data
        .query_row("SELECT count(*) FROM page_request", [], |r| r.get(0))
        .unwrap();
    assert!(rows > 0, "DB_DATA holds the converted rows");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("written twice"), "{md}");
}

/// `rekey load` without --source on a run whose tables take the one-write route is refused
/// before DB_FINAL changes: no trigger or index set aside, no load begun.
#[test]
fn a_one_write_load_without_source_is_refused_before_any_write() {
    let server = server_or_skip!();
    let t = Trio::new(Mariadb(server), "nosrc", BLOG_SOURCE, Some(BLOG_FINAL));
    let mut child = t.spawn_stalling("swap", &[]);
    wait_for_stall_at(&t.run_dir(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let [_, data, fin] = t.urls();
    let run_dir = t.run_dir();
    let out = rekey(&[
        "load",
        "--data",
        &data,
        "--final",
        &fin,
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("needs --source") && err.contains("nothing was changed"),
        "{err}"
    );
    let journal = rusqlite::Connection::open(run_dir.join("journal.sqlite")).unwrap();
    let begun: i64 = journal
        .query_row(
            "SELECT COUNT(*) FROM artifact WHERE kind IN ('load-started', 'trigger', 'indexes')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(begun, 0, "the load changed DB_FINAL before refusing");
}

/// A large log table nobody references (60,000 rows: over the 50,000 from which a table's
/// check reads SOURCE on a connection of its own; even keys, so a key can move below the
/// largest) and its small parent.
const LOG_SOURCE: &str = "
CREATE TABLE parent (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL) ENGINE=InnoDB;
INSERT INTO parent (id, name) SELECT seq, CONCAT('p', seq) FROM seq_1_to_100;
CREATE TABLE log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id INT NULL, note VARCHAR(20) NOT NULL,
  CONSTRAINT fk_log_parent FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;
INSERT INTO log (id, parent_id, note) SELECT 2 * seq, IF(seq % 10 = 0, NULL, 1 + seq % 100), CONCAT('n', seq) FROM seq_1_to_60000;
";

/// LOG_SOURCE's log table with a one-to-one table beside it: its key is a log's key, so its new
/// keys are the log's (its map file written by shadow, not by its check).
const LOG_DETAIL: &str = "
CREATE TABLE log_detail (log_id BIGINT NOT NULL PRIMARY KEY, extra VARCHAR(20) NOT NULL,
  CONSTRAINT fk_detail_log FOREIGN KEY (log_id) REFERENCES log (id)) ENGINE=InnoDB;
INSERT INTO log_detail (log_id, extra) SELECT 2 * seq, CONCAT('x', seq) FROM seq_1_to_60000;
";

/// A Trio of `source_sql` with DB_FINAL made by `rekey derive-final` first, as the application's
/// migrations would have made it before the cutover.
fn log_trio(tag: &str, source_sql: &str) -> Option<Trio<Mariadb>> {
    let server = common::server()?;
    let t = Trio::new(Mariadb(server), tag, source_sql, None);
    let [s, _, f] = t.urls();
    let out = rekey(&[
        "derive-final",
        "--source",
        &s,
        "--final",
        &f,
        "--run-dir",
        t.dir.path().join("derive").to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 0);
    Some(t)
}

fn verify_detail(run_dir: &std::path::Path) -> String {
    stage(&report(run_dir), "verify")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Where the load fills DB_FINAL inside the server (MariaDB's INSERT ... SELECT hands rekey no
/// row), a large table's check has SOURCE's side read ahead after clone: the load's check then
/// reads DB_FINAL alone, the run is verified, and the map files hold every key: the one-to-one
/// table's as shadow wrote it, the log's as the background writer wrote it (the passes check
/// them), with no file of the passes left.
#[test]
fn mariadb_a_large_tables_check_reads_source_ahead() {
    let Some(t) = log_trio("ahead", &format!("{LOG_SOURCE}{LOG_DETAIL}")) else {
        eprintln!("skipped: no MariaDB");
        return;
    };
    let out = t.run(&["--jobs", "2"]);
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    assert_same_counts(&t);
    let detail = verify_detail(&t.run_dir());
    assert!(
        detail.contains("SOURCE's side of 2 read ahead"),
        "the two large tables' checks took SOURCE's side read ahead: {detail}"
    );
    for table in ["log", "log_detail"] {
        assert_eq!(mapping(&t.run_dir(), table).len(), 60_000, "{table}");
    }
    assert_eq!(
        tree(&t.run_dir().join("map")),
        ["log.csv", "log_detail.csv", "parent.csv"]
    );
}

/// On the one-write route clone makes every table in its converted definition, and the stages
/// after it until compare have nothing to do to DB_DATA: they do not describe its catalog (nine
/// queries on MariaDB). DB_DATA's catalog is read by clone (to find what an interrupted run
/// left), by compare and by the load, and by nobody else.
#[test]
fn mariadb_one_write_stages_leave_data_s_catalog_alone() {
    let Some(t) = log_trio(
        "described",
        "CREATE TABLE parent (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL) ENGINE=InnoDB;
INSERT INTO parent (id, name) SELECT seq, CONCAT('p', seq) FROM seq_1_to_20;
CREATE TABLE child (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, parent_id INT NULL,
  CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;
INSERT INTO child (id, parent_id) SELECT seq, 1 + seq % 20 FROM seq_1_to_50;",
    ) else {
        eprintln!("skipped: no MariaDB");
        return;
    };
    let described = t.run_counting_describes(&[]);
    assert_same_counts(&t);
    assert_eq!(
        described, 3,
        "DB_DATA's catalog described by clone, compare and the load only"
    );
}

/// On PostgreSQL, clone makes a one-write table as swap would have left it: each UUID column
/// where its integer column was, no defaults, constraints or indexes (compare reads columns
/// only). Shadow, link, unconstrain and swap then have nothing to do, and only clone, compare
/// and the load describe DB_DATA's catalog. Also after a kill in clone and a resume.
fn postgres_clone_converts(tag: &str, kill: bool) {
    let pg = pg_or_skip!();
    let t = Trio::new(pg, tag, PG_BLOG_SOURCE, Some(PG_BLOG_FINAL));
    let source_before = t.server.fingerprint(&t.source);
    if kill {
        let mut child = t.spawn_stalling("clone", &[]);
        wait_for_stall_at(&t.run_dir(), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let described = t.run_counting_describes(if kill { &["--resume"] } else { &[] });
    assert_same_counts(&t);
    let columns = t.server.texts(
        &t.data,
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_name = 'page_request' ORDER BY ordinal_position",
    );
    let columns: Vec<String> = columns.into_iter().flatten().collect();
    assert_eq!(columns.first().map(String::as_str), Some("id uuid"));
    assert!(columns.iter().all(|c| !c.contains("_copy")), "{columns:?}");
    for (what, sql) in [
        ("defaults", "SELECT count(*) FROM pg_attrdef"),
        ("constraints", "SELECT count(*) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = 'public' AND r.relname <> '_rekey_run'"),
        ("indexes", "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_rekey_run'"),
    ] {
        assert_eq!(
            t.server.texts(&t.data, sql),
            vec![Some("0".to_string())],
            "{what} in DB_DATA"
        );
    }
    let report = report(&t.run_dir());
    assert_link_and_unconstrain_had_nothing_to_do(&report);
    if !kill {
        assert_eq!(
            described, 3,
            "DB_DATA's catalog described by clone, compare and the load only"
        );
    }
    assert_eq!(
        t.server.fingerprint(&t.source),
        source_before,
        "SOURCE changed"
    );
}

#[test]
fn postgres_clone_makes_one_write_tables_in_their_converted_definition() {
    postgres_clone_converts("pgconv", false);
}

#[test]
fn postgres_sigkill_in_a_converting_clone_then_resume() {
    postgres_clone_converts("pgconvkill", true);
}

/// A key of SOURCE changed after its table was loaded and checked, keeping its row count and
/// largest key (the smallest key moved): verify's end count of SOURCE names the change, since the
/// run decided from preflight's range that the table's keys are derived, and the run fails.
#[test]
fn mariadb_a_smallest_key_changed_during_the_run_fails_it() {
    let Some(t) = log_trio("min_changed", LOG_SOURCE) else {
        eprintln!("skipped: no MariaDB");
        return;
    };
    let mut child = t
        .stalling("verify", &[])
        .env("REKEY_TEST_STALL_RELEASE", "1")
        .spawn()
        .unwrap();
    wait_for_stall_at(&t.run_dir(), &mut child);
    {
        use mysql::prelude::Queryable;
        conn(&t.server.0, Some(&t.source))
            .query_drop("UPDATE log SET id = 1 WHERE id = 2")
            .unwrap();
    }
    std::fs::write(t.run_dir().join("release"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("SOURCE changed during the run")
            && text.contains("log's smallest key was 2 at preflight and is 1 now"),
        "{text}"
    );
}

/// SOURCE changed after its side was read ahead and before the load read it (a write the
/// operator did not stop; neither the row count nor the largest key changes): DB_FINAL holds
/// SOURCE as the load read it, the load's check differs from the pass read ahead and is not
/// trusted, the map file the pass wrote is not kept, and the verify stage writes the map file
/// anew and reads both sides again: equal. Nothing is lost, and the read-ahead never vouches
/// for rows it did not see.
#[test]
fn mariadb_source_changed_after_the_read_ahead_is_verified_as_loaded() {
    let Some(t) = log_trio("ahead_changed", LOG_SOURCE) else {
        eprintln!("skipped: no MariaDB");
        return;
    };
    let mut child = t
        .stalling("swap", &[])
        .env("REKEY_TEST_STALL_RELEASE", "1")
        .env("REKEY_TEST_MARK_READ_AHEAD", "1")
        .spawn()
        .unwrap();
    wait_for_stall_at(&t.run_dir(), &mut child);
    let marked = t.run_dir().join("read-ahead");
    let started = std::time::Instant::now();
    while !marked.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no read-ahead ended within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&marked).unwrap(), "log");
    {
        use mysql::prelude::Queryable;
        let mut c = conn(&t.server.0, Some(&t.source));
        c.query_drop("UPDATE log SET note = 'changed' WHERE id = 8")
            .unwrap();
        c.query_drop("UPDATE log SET id = 13 WHERE id = 14")
            .unwrap();
    }
    std::fs::write(t.run_dir().join("release"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_verified(&t.run_dir());
    let changed = t.server.texts(
        &t.final_db,
        "SELECT COUNT(*) FROM log WHERE note = 'changed'",
    );
    assert_eq!(
        changed,
        [Some("1".to_string())],
        "DB_FINAL holds SOURCE as loaded"
    );
    let detail = verify_detail(&t.run_dir());
    assert!(
        !detail.contains("read ahead"),
        "a pass that differs from DB_FINAL is not the table's check: {detail}"
    );
    let map = mapping(&t.run_dir(), "log");
    assert!(
        map.contains_key("13") && !map.contains_key("14"),
        "the map file holds SOURCE's keys as loaded"
    );
    assert_eq!(
        tree(&t.run_dir().join("map")),
        ["log.csv", "parent.csv"],
        "no map file of the pass read ahead is left"
    );
}
