//! The whole pipeline on real SQLite files (the embedded default): the blog fixture converted,
//! loaded and verified, every value compared between SOURCE and DB_FINAL through the map files,
//! SOURCE byte-identical afterwards, derive-final, and a tampered DB_FINAL caught by verify.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command as Process;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rusqlite::types::Value as Sql;
use rusqlite::Connection;

mod common;
use common::tree;

use rekey::commands::{execute, Command, Invocation};
use rekey::options::{ConversionOptions, RunOptions};
use rekey::progress::Progress;

const SOURCE_SQL: &str = include_str!("../fixtures/blog/sqlite/source.sql");
const FINAL_SQL: &str = include_str!("../fixtures/blog/sqlite/final.sql");

/// Tables of the blog fixture whose integer key becomes a UUID.
const CONVERTED: [&str; 8] = [
    "user",
    "user_group",
    "content_item",
    "content_item_translation",
    "comment",
    "mail_message",
    "page_request",
    "tag",
];

/// What a command wrote to its result writer.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A directory with the blog fixture's SOURCE (and, unless derived, the application's DB_FINAL).
struct Blog {
    dir: tempfile::TempDir,
}

impl Blog {
    fn new(with_final: bool) -> Blog {
        let blog = Blog {
            dir: tempfile::tempdir().unwrap(),
        };
        Connection::open(blog.path("source.db"))
            .unwrap()
            .execute_batch(SOURCE_SQL)
            .unwrap();
        if with_final {
            Connection::open(blog.path("final.db"))
                .unwrap()
                .execute_batch(FINAL_SQL)
                .unwrap();
        }
        blog
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, name: &str) -> String {
        format!("sqlite://{}", self.path(name).display())
    }

    fn run_dir(&self) -> PathBuf {
        self.path("run")
    }

    /// Runs a command through the library; returns what it printed, or its error.
    fn execute(&self, command: Command) -> Result<String, rekey::Error> {
        self.execute_with(command, false)
    }

    fn execute_with(&self, command: Command, resume: bool) -> Result<String, rekey::Error> {
        let out = Output::default();
        let invocation = Invocation {
            command,
            prompt: None,
            source: Some(self.url("source.db")),
            data: Some(self.url("data.db")),
            final_db: Some(self.url("final.db")),
            conversion: ConversionOptions {
                seed: Some(7),
                ..ConversionOptions::default()
            },
            run: RunOptions {
                run_dir: self.run_dir(),
                resume,
                ..RunOptions::default()
            },
        };
        execute(
            invocation,
            Box::new(out.clone()),
            Progress::quiet(),
            Arc::new(AtomicBool::new(false)),
        )
        .map(|()| out.text())
    }

    /// `rekey run` on the fixture, which must succeed.
    fn converted(derive_final: bool) -> Blog {
        let blog = Blog::new(!derive_final);
        let out = blog
            .execute(Command::Run {
                derive_final,
                follow: false,
            })
            .unwrap_or_else(|e| panic!("rekey run failed: {e}"));
        assert!(out.contains("status: **ok**"), "{out}");
        blog
    }

    fn open(&self, name: &str) -> Connection {
        Connection::open(self.path(name)).unwrap()
    }

    /// `map/<table>.csv`: old key -> new key.
    fn map(&self, table: &str) -> HashMap<i64, String> {
        let text = std::fs::read_to_string(self.run_dir().join("map").join(format!("{table}.csv")))
            .unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("old_id,new_id"));
        lines
            .map(|l| {
                let (old, new) = l.split_once(',').unwrap();
                assert_eq!(new.len(), 32, "{l}");
                assert!(new
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                (old.parse().unwrap(), new.to_string())
            })
            .collect()
    }

    fn report_status(&self) -> String {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.run_dir().join("report.json")).unwrap(),
        )
        .unwrap();
        json["status"].as_str().unwrap().to_string()
    }
}

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Sql>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |r| (0..width).map(|i| r.get::<_, Sql>(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    rows(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
    )
    .into_iter()
    .map(|r| match &r[0] {
        Sql::Text(s) => s.clone(),
        other => panic!("{other:?}"),
    })
    .collect()
}

/// The same value, REAL compared bit for bit (so -0.0, subnormals and extremes count).
fn same(a: &Sql, b: &Sql) -> bool {
    match (a, b) {
        (Sql::Real(x), Sql::Real(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

/// Every row of SOURCE, keys and references put through the map files, must be a row of
/// DB_FINAL with the same values, and DB_FINAL must have no other row.
fn assert_all_values_round_trip(blog: &Blog) {
    let src = blog.open("source.db");
    let fin = blog.open("final.db");
    let maps: HashMap<&str, HashMap<i64, String>> =
        CONVERTED.iter().map(|t| (*t, blog.map(t))).collect();
    for table in CONVERTED.iter().copied().chain(["user_mtm_user_group"]) {
        let cols = columns(&src, table);
        assert_eq!(cols, columns(&fin, table), "{table}: columns");
        let mut uuid_cols: HashMap<String, &str> = HashMap::new();
        if CONVERTED.contains(&table) {
            let key = if table == "comment" {
                "comment_id"
            } else {
                "id"
            };
            uuid_cols.insert(key.to_string(), table);
        }
        for fk in rows(
            &src,
            &format!("SELECT \"from\", \"table\" FROM pragma_foreign_key_list('{table}')"),
        ) {
            let (Sql::Text(from), Sql::Text(parent)) = (&fk[0], &fk[1]) else {
                panic!()
            };
            let parent = CONVERTED.iter().find(|c| *c == parent).unwrap();
            uuid_cols.insert(from.clone(), parent);
        }
        let list = cols
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let select = format!("SELECT {list} FROM \"{table}\"");
        let expected: Vec<Vec<Sql>> = rows(&src, &select)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&cols)
                    .map(|(v, c)| match (uuid_cols.get(c), v) {
                        (Some(parent), Sql::Integer(k)) => text(&maps[parent][&k]),
                        (Some(_), Sql::Null) => Sql::Null,
                        (Some(_), other) => panic!("{table}.{c}: {other:?} is not a key"),
                        (None, v) => v,
                    })
                    .collect()
            })
            .collect();
        let mut actual = rows(&fin, &select);
        assert_eq!(expected.len(), actual.len(), "{table}: row count");
        assert!(!expected.is_empty(), "{table} is empty");
        for want in &expected {
            let at = actual
                .iter()
                .position(|got| {
                    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| same(g, w))
                })
                .unwrap_or_else(|| panic!("{table}: no row {want:?} in DB_FINAL"));
            actual.swap_remove(at);
        }
    }
}

/// One value of DB_FINAL, found through the old key of SOURCE.
fn final_value(blog: &Blog, table: &str, old_id: i64, column: &str) -> Sql {
    let new = &blog.map(table)[&old_id];
    let key = if table == "comment" {
        "comment_id"
    } else {
        "id"
    };
    let fin = blog.open("final.db");
    let mut found = rows(
        &fin,
        &format!("SELECT \"{column}\" FROM \"{table}\" WHERE \"{key}\" = '{new}'"),
    );
    assert_eq!(found.len(), 1, "{table} {old_id}");
    found.remove(0).remove(0)
}

#[test]
fn run_on_the_blog_fixture_verifies_and_every_value_round_trips() {
    let blog = Blog::converted(false);
    assert_eq!(blog.report_status(), "ok");
    assert_all_values_round_trip(&blog);

    // The tricky values, one by one.
    let v = |t: &str, id: i64, c: &str| final_value(&blog, t, id, c);
    assert_eq!(v("user", 1, "bio"), Sql::Null);
    assert_eq!(v("user", 2, "bio"), text(""));
    assert_eq!(v("user", 3, "bio"), text("\\N"));
    assert_eq!(v("user", 4, "bio"), text("NULL"));
    assert_eq!(v("user", 2, "avatar"), Sql::Blob(Vec::new()));
    assert_eq!(v("user", 5, "avatar"), Sql::Blob((0..=255).collect()));
    assert_eq!(v("user", 5, "bio"), text("line1\nline2\r\ncr\ronly\ttab"));
    assert_eq!(v("user", 7, "bio"), text("before\0after"));
    assert_eq!(v("user", 8, "name"), text("Emoji 😀"));
    assert_eq!(v("comment", 4, "body"), text("tab\tlf\ncr\rcrlf\r\nend"));
    assert_eq!(v("comment", 6, "body"), text("nul\0inside\0text"));
    let real = |t: &str, id: i64, c: &str| match v(t, id, c) {
        Sql::Real(r) => r.to_bits(),
        other => panic!("{other:?}"),
    };
    assert_eq!(real("content_item", 3, "score"), f64::MAX.to_bits());
    assert_eq!(real("content_item", 4, "score"), 4.9e-324f64.to_bits());
    assert_eq!(real("content_item", 8, "score"), f64::MIN.to_bits());
    // Keys above 2^32 convert like any other.
    assert_eq!(blog.map("page_request").len(), 5000);
    assert!(blog.map("page_request").contains_key(&4_294_972_296));
}

#[test]
fn final_database_passes_foreign_key_and_integrity_checks() {
    let blog = Blog::converted(false);
    let fin = blog.open("final.db");
    assert!(rows(&fin, "PRAGMA foreign_key_check").is_empty());
    assert_eq!(rows(&fin, "PRAGMA integrity_check"), [[text("ok")]]);
    // Foreign keys are really there to check: a dangling reference is reported.
    fin.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    fin.execute("UPDATE comment SET user_id = 'ffffffffffffffffffffffffffffffff' WHERE user_id IS NOT NULL AND rowid = (SELECT MIN(rowid) FROM comment WHERE user_id IS NOT NULL)", [])
        .unwrap();
    assert_eq!(rows(&fin, "PRAGMA foreign_key_check").len(), 1);
    // The trigger set aside for the load is back, exactly as it was.
    let trigger = rows(&fin, "SELECT sql FROM sqlite_schema WHERE type = 'trigger'");
    assert_eq!(
        trigger,
        [[text("CREATE TRIGGER comment_ai AFTER INSERT ON comment BEGIN UPDATE tag SET label = label WHERE 0; END")]]
    );
    // DB_FINAL's own migration history is kept, not SOURCE's.
    assert_eq!(
        rows(&fin, "SELECT version_num FROM alembic_version"),
        [[text("f00dfeed0001")]]
    );
}

/// (old child key, old parent key) pairs of SOURCE, as (new, new) keys.
fn mapped_pairs(
    blog: &Blog,
    table: &str,
    key: &str,
    column: &str,
    parent: &str,
) -> BTreeSet<(String, String)> {
    let own = blog.map(table);
    let parents = blog.map(parent);
    rows(
        &blog.open("source.db"),
        &format!("SELECT \"{key}\", \"{column}\" FROM \"{table}\" WHERE \"{column}\" IS NOT NULL"),
    )
    .into_iter()
    .map(|r| match (&r[0], &r[1]) {
        (Sql::Integer(k), Sql::Integer(p)) => (own[k].clone(), parents[p].clone()),
        other => panic!("{other:?}"),
    })
    .collect()
}

fn final_pairs(blog: &Blog, table: &str, key: &str, column: &str) -> BTreeSet<(String, String)> {
    rows(
        &blog.open("final.db"),
        &format!("SELECT \"{key}\", \"{column}\" FROM \"{table}\" WHERE \"{column}\" IS NOT NULL"),
    )
    .into_iter()
    .map(|r| match (&r[0], &r[1]) {
        (Sql::Text(k), Sql::Text(p)) => (k.clone(), p.clone()),
        other => panic!("{other:?}"),
    })
    .collect()
}

#[test]
fn self_references_many_to_many_and_unreferenced_tables_keep_their_pairs() {
    let blog = Blog::converted(false);
    // Self references: every parent link is the same link, through the new keys.
    for (table, key, column) in [
        ("content_item", "id", "parent_id"),
        ("comment", "comment_id", "parent_comment_id"),
    ] {
        let expected = mapped_pairs(&blog, table, key, column, table);
        assert!(expected.len() > 100, "{table}: {}", expected.len());
        assert_eq!(expected, final_pairs(&blog, table, key, column), "{table}");
    }
    // The many-to-many table with a composite key made of two references.
    let users = blog.map("user");
    let groups = blog.map("user_group");
    let expected: BTreeSet<(String, String)> = rows(
        &blog.open("source.db"),
        "SELECT user_id, user_group_id FROM user_mtm_user_group",
    )
    .into_iter()
    .map(|r| match (&r[0], &r[1]) {
        (Sql::Integer(u), Sql::Integer(g)) => (users[u].clone(), groups[g].clone()),
        other => panic!("{other:?}"),
    })
    .collect();
    assert_eq!(expected.len(), 100);
    assert_eq!(
        expected,
        final_pairs(&blog, "user_mtm_user_group", "user_id", "user_group_id")
    );
    let fin = blog.open("final.db");
    assert_eq!(
        rows(
            &fin,
            "SELECT COUNT(*) FROM pragma_index_list('user_mtm_user_group') WHERE origin = 'pk'"
        ),
        [[Sql::Integer(1)]],
        "the composite primary key is DB_FINAL's own"
    );
    // A table nothing references: new keys, same labels (the default v4 keys do not keep the
    // old-key order, so the labels are compared as sets here and key by key below).
    let tags = blog.map("tag");
    let old: Vec<i64> = vec![1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
    let mut keys: Vec<&i64> = tags.keys().collect();
    keys.sort();
    assert_eq!(keys, old.iter().collect::<Vec<_>>());
    let src_labels: Vec<Sql> = rows(
        &blog.open("source.db"),
        "SELECT label FROM tag ORDER BY label",
    )
    .into_iter()
    .map(|mut r| r.remove(0))
    .collect();
    let fin_labels: Vec<Sql> = rows(&fin, "SELECT label FROM tag ORDER BY label")
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect();
    assert_eq!(src_labels, fin_labels);
    for (old_id, new_id) in &tags {
        let label = final_value(&blog, "tag", *old_id, "label");
        let want = rows(
            &blog.open("source.db"),
            &format!("SELECT label FROM tag WHERE id = {old_id}"),
        );
        assert_eq!(label, want[0][0], "tag {old_id} -> {new_id}");
    }
}

#[test]
fn source_file_is_byte_identical_after_runs_that_succeed_and_fail() {
    let blog = Blog::new(true);
    let before = std::fs::read(blog.path("source.db")).unwrap();
    blog.execute(Command::Run {
        derive_final: false,
        follow: false,
    })
    .unwrap();
    assert_eq!(blog.report_status(), "ok");
    assert!(before == std::fs::read(blog.path("source.db")).unwrap());
    // A second run into the now loaded DB_FINAL fails, and still only reads SOURCE.
    std::fs::remove_dir_all(blog.run_dir()).unwrap();
    std::fs::remove_file(blog.path("data.db")).unwrap();
    let err = blog
        .execute(Command::Run {
            derive_final: false,
            follow: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(before == std::fs::read(blog.path("source.db")).unwrap());
    for side in ["source.db-journal", "source.db-wal", "source.db-shm"] {
        assert!(!blog.path(side).exists(), "{side}");
    }
}

#[test]
fn resumed_run_redoes_nothing_already_done_and_verifies() {
    let blog = Blog::new(true);
    blog.execute(Command::Convert).unwrap();
    // A crash after unconstrain and swap committed, before the journal recorded them: resume
    // runs them again on tables that are already done.
    let journal = blog.open("run/journal.sqlite");
    journal
        .execute_batch(
            "DELETE FROM stage WHERE name IN ('unconstrain', 'swap');
             DELETE FROM step WHERE stage IN ('unconstrain', 'swap');",
        )
        .unwrap();
    drop(journal);
    let data_schema = || {
        rows(
            &blog.open("data.db"),
            "SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite%' ORDER BY name",
        )
    };
    let before = data_schema();
    let out = blog
        .execute_with(
            Command::Run {
                derive_final: false,
                follow: false,
            },
            true,
        )
        .unwrap();
    assert!(out.contains("status: **ok**"), "{out}");
    assert_eq!(before, data_schema(), "nothing rebuilt twice");
    assert_all_values_round_trip(&blog);
}

#[test]
fn derive_final_builds_a_final_schema_that_matches_and_verifies() {
    let blog = Blog::converted(true);
    assert_eq!(blog.report_status(), "ok");
    assert_all_values_round_trip(&blog);
    // compare, run on its own, finds DB_DATA and the derived DB_FINAL equal.
    blog.execute(Command::Compare).unwrap();
    let fin = blog.open("final.db");
    let key = rows(
        &fin,
        "SELECT type, \"notnull\", pk FROM pragma_table_info('comment') WHERE name = 'comment_id'",
    );
    assert_eq!(key, [[text("CHAR(32)"), Sql::Integer(1), Sql::Integer(1)]]);
    let fks = rows(
        &fin,
        "SELECT \"table\", \"from\", on_delete FROM pragma_foreign_key_list('comment') ORDER BY \"from\"",
    );
    assert_eq!(
        fks,
        [
            [
                text("content_item"),
                text("content_item_id"),
                text("CASCADE")
            ],
            [text("comment"), text("parent_comment_id"), text("CASCADE")],
            [text("user"), text("user_id"), text("SET NULL")],
        ]
    );
    let unique = rows(
        &fin,
        "SELECT COUNT(*) FROM pragma_index_list('content_item_translation') WHERE origin = 'u'",
    );
    assert_eq!(unique, [[Sql::Integer(1)]]);
    let indexes = rows(
        &fin,
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'comment' AND sql IS NOT NULL ORDER BY name",
    );
    assert_eq!(indexes.len(), 3);
    let autoincrement = rows(
        &fin,
        "SELECT COUNT(*) FROM sqlite_schema WHERE sql LIKE '%AUTOINCREMENT%'",
    );
    assert_eq!(autoincrement, [[Sql::Integer(0)]]);
    assert!(rows(&fin, "PRAGMA foreign_key_check").is_empty());
    assert_eq!(rows(&fin, "PRAGMA integrity_check"), [[text("ok")]]);
}

/// A finished process's exit code, and its stdout followed by its stderr.
fn code_and_text(out: &std::process::Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn verify_with_binary(blog: &Blog) -> (i32, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["verify", "--quiet", "--source"])
        .arg(blog.url("source.db"))
        .arg("--final")
        .arg(blog.url("final.db"))
        .arg("--run-dir")
        .arg(blog.run_dir())
        .output()
        .unwrap();
    code_and_text(&out)
}

#[test]
fn verify_detects_a_value_changed_in_final() {
    let blog = Blog::converted(false);
    let (code, out) = verify_with_binary(&blog);
    assert_eq!(code, 0, "{out}");
    blog.open("final.db")
        .execute("UPDATE tag SET label = 'rust!' WHERE label = 'rust'", [])
        .unwrap();
    let (code, out) = verify_with_binary(&blog);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tag: values differ in label"), "{out}");
    assert_eq!(blog.report_status(), "failed");
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    std::fs::write(demo.join("keep.txt"), "not the demo's").unwrap();
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["demo", "--quiet", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --quiet prints nothing on success; the report is in the run directory.
    assert_eq!(stdout, "");
    assert!(out.stderr.is_empty());
    let report = std::fs::read_to_string(demo.join("run/report.md")).unwrap();
    assert!(report.contains("status: **ok**"), "{report}");
    assert!(report.contains("9 of 9 tables identical"), "{report}");
    // A few thousand rows in well under a second: no rate per million rows to extrapolate from.
    assert!(!report.contains(" s per million rows"), "{report}");
    assert!(
        report.contains("too small a run for a figure per million rows"),
        "{report}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo.join("run/report.json")).unwrap())
            .unwrap();
    assert!(json["seconds_per_million_rows"].is_null(), "{json}");
    assert!(demo.join("keep.txt").exists());
    // A second demo in the same directory starts afresh.
    let again = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["demo", "--quiet", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// Row counts of every table of a file, rekey's own and the bookkeeping table left out.
fn table_counts(conn: &Connection) -> Vec<(String, i64)> {
    rows(
        conn,
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_rekey\\_%' ESCAPE '\\' AND name <> 'alembic_version' ORDER BY name",
    )
    .into_iter()
    .map(|r| match &r[0] {
        Sql::Text(t) => {
            let n = conn
                .query_row(&format!("SELECT COUNT(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap();
            (t.clone(), n)
        }
        other => panic!("{other:?}"),
    })
    .collect()
}

/// The binary is killed (SIGKILL) in `stage` after a step's work and before its journal entry,
/// then `rekey run --resume` must end verified with exactly SOURCE's rows in DB_FINAL.
fn kill_and_resume(stage: &str) {
    let blog = Blog::new(true);
    let source_before = std::fs::read(blog.path("source.db")).unwrap();
    let args = |cmd: &mut Process| {
        cmd.args(["run", "--quiet", "--source"])
            .arg(blog.url("source.db"))
            .arg("--data")
            .arg(blog.url("data.db"))
            .arg("--final")
            .arg(blog.url("final.db"))
            .arg("--run-dir")
            .arg(blog.run_dir());
    };
    let mut cmd = Process::new(env!("CARGO_BIN_EXE_rekey"));
    args(&mut cmd);
    let mut child = cmd
        .env("REKEY_TEST_STALL_AFTER_STEP", stage)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_stall_at(&blog.run_dir(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let status: String = blog
        .open("run/journal.sqlite")
        .query_row("SELECT status FROM stage WHERE name = ?1", [stage], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "running", "the kill landed inside {stage}");

    let mut cmd = Process::new(env!("CARGO_BIN_EXE_rekey"));
    args(&mut cmd);
    let out = cmd.arg("--resume").output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(blog.report_status(), "ok");
    assert_eq!(
        table_counts(&blog.open("final.db")),
        table_counts(&blog.open("source.db"))
    );
    assert_all_values_round_trip(&blog);
    assert!(source_before == std::fs::read(blog.path("source.db")).unwrap());
    let triggers = rows(
        &blog.open("final.db"),
        "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'trigger'",
    );
    assert_eq!(triggers, [[Sql::Integer(1)]], "DB_FINAL's trigger is back");
}

#[test]
fn sigkill_in_each_stage_then_resume_ends_verified() {
    for stage in ["clone", "shadow", "link", "unconstrain", "swap", "load"] {
        kill_and_resume(stage);
    }
}

#[test]
fn integer_keys_holding_other_values_are_refused_before_any_write() {
    let blog = Blog::new(true);
    // A key declared INT (not INTEGER) is no rowid: SQLite stores text or reals in it.
    Connection::open(blog.path("source.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE legacy (id INT PRIMARY KEY, note TEXT);
             INSERT INTO legacy VALUES (1, 'a'), ('2b', 'b'), (3.5, 'c');",
        )
        .unwrap();
    let err = blog
        .execute(Command::Run {
            derive_final: false,
            follow: false,
        })
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("legacy.id: 2 rows"), "{text}");
    assert!(!blog.path("data.db").exists(), "DB_DATA was written");
}

#[test]
fn one_file_under_another_name_is_never_a_write_target() {
    let blog = Blog::new(true);
    std::os::unix::fs::symlink(blog.path("source.db"), blog.path("alias.db")).unwrap();
    let before = std::fs::read(blog.path("source.db")).unwrap();
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run",
            "--source",
            &blog.url("source.db"),
            "--data",
            &blog.url("data.db"),
            "--final",
            &blog.url("alias.db"),
            "--run-dir",
            blog.run_dir().to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("same database as SOURCE"), "{err}");
    assert!(before == std::fs::read(blog.path("source.db")).unwrap());
}

#[test]
fn a_later_command_on_the_run_directory_must_name_the_same_files() {
    let blog = Blog::new(true);
    blog.execute(Command::Convert).unwrap();
    std::fs::copy(blog.path("final.db"), blog.path("other.db")).unwrap();
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "load",
            "--data",
            &blog.url("source.db"),
            "--final",
            &blog.url("other.db"),
            "--run-dir",
            blog.run_dir().to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DB_DATA")
            && err.contains("not the database this run directory's run works on"),
        "{err}"
    );
}

#[test]
fn check_constraints_on_converted_columns_do_not_reject_uuids() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    Connection::open(&source)
        .unwrap()
        .execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY CHECK (id > 0), v INT, CHECK (id < 1000000000));
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INT REFERENCES parent (id), n INT CHECK (n >= 0 AND parent_id <> 0));
             INSERT INTO parent VALUES (1, 1), (2, 2);
             INSERT INTO child VALUES (1, 1, 0), (2, 2, 5);",
        )
        .unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run",
            "--source",
            &url("source.db"),
            "--data",
            &url("data.db"),
            "--final",
            &url("final.db"),
            "--derive-final",
            "--uuid-format",
            "binary16",
            "--run-dir",
            dir.path().join("run").to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fin = Connection::open(dir.path().join("final.db")).unwrap();
    let child: String = fin
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'child'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!child.contains("parent_id <> 0"), "{child}");
}

#[test]
fn a_move_load_is_refused_on_sqlite_before_anything_is_written() {
    let blog = Blog::new(true);
    let invocation = Invocation {
        command: Command::Run {
            derive_final: false,
            follow: false,
        },
        prompt: None,
        source: Some(blog.url("source.db")),
        data: Some(blog.url("data.db")),
        final_db: Some(blog.url("final.db")),
        conversion: ConversionOptions::default(),
        run: RunOptions {
            run_dir: blog.run_dir(),
            load_path: rekey::options::LoadChoice::Move,
            ..RunOptions::default()
        },
    };
    let err = execute(
        invocation,
        Box::new(Output::default()),
        Progress::quiet(),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(text.contains("--load-path move cannot be used"), "{text}");
    assert!(text.contains("drop --load-path"), "{text}");
    assert!(!blog.path("data.db").exists(), "DB_DATA was created");
}

/// `rekey ARGS --source SOURCE --data data.db --final final.db` in `dir`, SOURCE built by `sql`.
fn run_on_sqlite(dir: &std::path::Path, sql: &str, args: &[&str]) -> std::process::Output {
    Connection::open(dir.join("source.db"))
        .unwrap()
        .execute_batch(sql)
        .unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
    Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .args(["--source", &url("source.db")])
        .args(["--data", &url("data.db"), "--final", &url("final.db")])
        .args(["--run-dir", dir.join("run").to_str().unwrap(), "-q"])
        .output()
        .unwrap()
}

/// `rekey plan` on the fixture's SOURCE through the binary, with extra arguments.
fn plan_with_binary(blog: &Blog, extra: &[&str]) -> (i32, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["plan", "--source"])
        .arg(blog.url("source.db"))
        .args(extra)
        .output()
        .unwrap();
    code_and_text(&out)
}

#[test]
fn a_reference_declared_against_its_constraint_or_twice_is_refused() {
    let blog = Blog::new(true);
    // comment.user_id has a foreign key to user: another target contradicts it.
    let (code, text) = plan_with_binary(&blog, &["--reference", "comment.user_id=tag.id"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("comment.user_id=tag.id") && text.contains("user.id"),
        "{text}"
    );
    // The same target as the constraint stays accepted.
    let (code, text) = plan_with_binary(&blog, &["--reference", "comment.user_id=user.id"]);
    assert_eq!(code, 0, "{text}");
    // Two targets for one column without a constraint (a polymorphic id).
    Connection::open(blog.path("source.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE vote (id INTEGER PRIMARY KEY, votable_type TEXT, votable_id INTEGER);",
        )
        .unwrap();
    let (code, text) = plan_with_binary(
        &blog,
        &[
            "--reference",
            "vote.votable_id=comment.comment_id",
            "--reference",
            "vote.votable_id=content_item.id",
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("content_item.id") && text.contains("comment.comment_id"),
        "{text}"
    );
    // Undeclared, plan warns about the pair.
    let (code, text) = plan_with_binary(&blog, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("polymorphic votable_id"), "{text}");
}

/// Runs the rekey binary; returns its exit code, stdout and stderr.
fn rekey_bin(args: &[&str]) -> (i32, String, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env_remove("DB_TYPE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn table_names_never_steer_a_file_outside_the_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    // A relative escape, and an absolute path (what a PostgreSQL table name may hold).
    let absolute = format!("{}/ABS", outside.display());
    let src = tmp.path().join("source.db");
    Connection::open(&src)
        .unwrap()
        .execute_batch(&format!(
            r#"PRAGMA foreign_keys = OFF;
            CREATE TABLE "../../escaped" (id INTEGER PRIMARY KEY, name TEXT);
            INSERT INTO "../../escaped" VALUES (1, 'a'), (2, 'b');
            CREATE TABLE "{absolute}" (id INTEGER PRIMARY KEY, name TEXT);
            INSERT INTO "{absolute}" VALUES (1, 'x');
            CREATE TABLE "../../orph" (id INTEGER PRIMARY KEY,
                parent_id INTEGER REFERENCES "../../escaped" (id));
            INSERT INTO "../../orph" VALUES (1, 1), (2, 99);"#
        ))
        .unwrap();
    let url = |name: &str| format!("sqlite://{}", tmp.path().join(name).display());
    let run_dir = tmp.path().join("work/run");
    let dir = run_dir.to_str().unwrap();
    let (code, out, err) = rekey_bin(&[
        "run",
        "--source",
        &url("source.db"),
        "--data",
        &url("data.db"),
        "--final",
        &url("final.db"),
        "--derive-final",
        "--orphans",
        "null",
        "--run-dir",
        dir,
        "-q",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Only the databases and the run directory: nothing beside them, nothing in `outside`.
    let top: Vec<String> = tree(tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with("work/run/"))
        .collect();
    assert_eq!(
        top,
        ["data.db", "final.db", "source.db", "work", "work/run"],
        "{top:?}"
    );
    assert!(!outside.exists());
    let files = tree(&run_dir);
    for want in [
        "map/%2E%2E%2F%2E%2E%2Fescaped.csv".to_string(),
        format!(
            "map/{}.csv",
            absolute
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                })
                .collect::<String>()
        ),
        "orphans/%2E%2E%2F%2E%2E%2Forph.parent_id.csv".to_string(),
    ] {
        assert!(files.contains(&want), "{want} not in {files:?}");
    }
    // verify reads the encoded map files.
    let (code, out, err) = rekey_bin(&[
        "verify",
        "--source",
        &url("source.db"),
        "--final",
        &url("final.db"),
        "--run-dir",
        dir,
        "-q",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // clean --remove-maps removes them; nothing was ever left outside.
    let (code, out, err) = rekey_bin(&["clean", "--run-dir", dir, "--remove-maps"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!run_dir.join("map").exists() && !run_dir.join("orphans").exists());
    assert!(!outside.exists());
}

/// The `map/user.csv` of a fresh `rekey run --derive-final` of the blog fixture, with extra
/// arguments; also returns the run directory's journal secret (if any).
fn blog_keys(blog: &Blog, tag: &str, extra: &[&str]) -> (String, Option<String>) {
    let dir = blog.path(&format!("run-{tag}"));
    let mut args = vec![
        "run".to_string(),
        "--source".into(),
        blog.url("source.db"),
        "--data".into(),
        blog.url(&format!("data-{tag}.db")),
        "--final".into(),
        blog.url(&format!("final-{tag}.db")),
        "--derive-final".into(),
        "--run-dir".into(),
        dir.display().to_string(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = rekey_bin(&args);
    assert_eq!(code, 0, "{out}{err}");
    let map = std::fs::read_to_string(dir.join("map/user.csv")).unwrap();
    let secret = Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT value FROM run WHERE key = 'secret'", [], |r| {
            r.get(0)
        })
        .ok();
    (map, secret)
}

#[test]
fn keys_differ_between_runs_unless_the_seed_is_given() {
    let blog = Blog::new(false);
    let (a, secret_a) = blog_keys(&blog, "a", &[]);
    let (b, secret_b) = blog_keys(&blog, "b", &[]);
    assert_ne!(a, b, "two runs without --seed gave the same keys");
    let (secret_a, secret_b) = (secret_a.unwrap(), secret_b.unwrap());
    assert_eq!(secret_a.len(), 64, "256 bits as hex");
    assert_ne!(secret_a, secret_b);
    let (c, none) = blog_keys(&blog, "c", &["--seed", "5"]);
    let (d, _) = blog_keys(&blog, "d", &["--seed", "5"]);
    assert_eq!(c, d, "the same --seed gave other keys");
    assert_eq!(none, None, "a seeded run stores its seed, no secret");
    assert_ne!(a, c);
}

#[cfg(unix)]
#[test]
fn the_run_directory_is_private_and_the_secret_is_never_shown() {
    use std::os::unix::fs::PermissionsExt;
    let blog = Blog::new(false);
    let dir = blog.run_dir();
    let args = |dry: bool| {
        let mut a = vec![
            "run".to_string(),
            "--source".into(),
            blog.url("source.db"),
            "--data".into(),
            blog.url("data.db"),
            "--final".into(),
            blog.url("final.db"),
            "--derive-final".into(),
            "--orphans".into(),
            "null".into(),
            "--run-dir".into(),
            dir.display().to_string(),
        ];
        if dry {
            a.push("--dry-run".into());
        }
        a
    };
    let dry = args(true);
    let (code, dry_out, dry_err) = rekey_bin(&dry.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{dry_out}{dry_err}");
    let real = args(false);
    let (code, out, err) = rekey_bin(&real.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}{err}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let files = tree(&dir);
    assert!(files.iter().any(|f| f.starts_with("map/")), "{files:?}");
    for f in &files {
        let p = dir.join(f);
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p), want, "{f}: {:o}", mode(&p));
    }
    let secret: String = blog
        .open("run/journal.sqlite")
        .query_row("SELECT value FROM run WHERE key = 'secret'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let reports = ["report.json", "report.md", "report.html"]
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap());
    for (what, text) in [("stdout", &out), ("stderr", &err)]
        .into_iter()
        .chain(reports.iter().map(|r| ("a report", r)))
    {
        assert!(!text.contains(&secret), "the secret is in {what}");
    }
    // A dry run draws a secret it never stores: no 64 hex digits in a row may appear.
    for text in [&dry_out, &dry_err] {
        let longest = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest < 64, "{text}");
    }
}

#[test]
fn clean_keeps_the_maps_and_a_handed_over_final_and_its_dry_run_lists_the_rest() {
    let blog = Blog::converted(true);
    // The derived DB_FINAL holds nothing of rekey's once the run is verified.
    let marker = rows(
        &blog.open("final.db"),
        "SELECT COUNT(*) FROM sqlite_schema WHERE name LIKE '\\_rekey%' ESCAPE '\\'",
    );
    assert_eq!(marker, [[Sql::Integer(0)]]);
    let dir = blog.run_dir();
    let dir = dir.to_str().unwrap();
    // SQLite reading the WAL journal may leave its -wal and -shm files: not the dry run's doing.
    let files = || -> Vec<String> {
        tree(blog.dir.path())
            .into_iter()
            .filter(|f| !f.starts_with("run/journal.sqlite-"))
            .collect()
    };
    let before = files();
    let (code, out, err) = rekey_bin(&["clean", "--run-dir", dir, "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("would drop DB_DATA"), "{out}");
    assert!(out.contains("data.db"), "{out}");
    assert!(out.contains("kept DB_FINAL"), "{out}");
    assert!(out.contains("map (8 files)"), "{out}");
    assert!(out.contains("--remove-maps"), "{out}");
    assert_eq!(files(), before, "a dry run changed files");
    let (code, out, err) = rekey_bin(&["clean", "--run-dir", dir, "--remove-maps", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("would remove"), "{out}");
    assert_eq!(files(), before, "a dry run changed files");
    // The real clean: DB_DATA goes, DB_FINAL (the application's now) and the maps stay.
    let (code, out, err) = rekey_bin(&["clean", "--run-dir", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dropped DB_DATA"), "{out}");
    assert!(out.contains("kept DB_FINAL"), "{out}");
    assert!(!blog.path("data.db").exists());
    assert!(blog.path("final.db").exists());
    assert_eq!(blog.map("user").len(), 50);
    let (code, out, err) = rekey_bin(&["clean", "--run-dir", dir, "--remove-maps"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("removed"), "{out}");
    assert!(!blog.run_dir().join("map").exists());
    assert!(blog.path("final.db").exists());
}

/// `rekey run` on the blog's files through the binary, with `extra` arguments.
fn run_binary(blog: &Blog, extra: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--quiet", "--source"])
        .arg(blog.url("source.db"))
        .arg("--data")
        .arg(blog.url("data.db"))
        .arg("--final")
        .arg(blog.url("final.db"))
        .arg("--run-dir")
        .arg(blog.run_dir())
        .args(extra)
        .output()
        .unwrap()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_finished_run_is_said_to_be_finished_and_names_its_directory() {
    let blog = Blog::new(true);
    let out = run_binary(&blog, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let again = run_binary(&blog, &[]);
    assert_eq!(again.status.code(), Some(2));
    let err = stderr_of(&again);
    assert!(err.contains("holds a run that finished"), "{err}");
    assert!(!err.contains("Add --resume"), "{err}");
    let dir = blog.run_dir().display().to_string();
    assert!(
        err.contains(&format!("`rekey clean --run-dir {dir}`")),
        "{err}"
    );
    assert!(!err.contains("--run-dir DIR"), "{err}");
}

#[test]
fn a_plain_rerun_after_a_preflight_failure_starts_afresh() {
    let blog = Blog::new(true);
    // DB_FINAL holds a row: preflight refuses before anything is written.
    blog.open("final.db")
        .execute_batch(
            "INSERT INTO tag (id, label) VALUES ('00000000000000000000000000000001', 'x')",
        )
        .unwrap();
    let nonempty: i64 = blog
        .open("final.db")
        .query_row("SELECT COUNT(*) FROM tag", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nonempty, 1, "the fixture's tag table takes the row");
    let out = run_binary(&blog, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("[stage preflight") && err.contains("then run again"),
        "{err}"
    );
    assert!(!blog.path("data.db").exists() || table_counts(&blog.open("data.db")).is_empty());
    // The fix, then the plain rerun the message asks for.
    blog.open("final.db")
        .execute_batch("DELETE FROM tag")
        .unwrap();
    let out = run_binary(&blog, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(blog.report_status(), "ok");
}

#[test]
fn a_second_ctrl_c_exits_3_and_the_run_resumes() {
    let blog = Blog::new(true);
    let mut child = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--quiet", "--source"])
        .arg(blog.url("source.db"))
        .arg("--data")
        .arg(blog.url("data.db"))
        .arg("--final")
        .arg(blog.url("final.db"))
        .arg("--run-dir")
        .arg(blog.run_dir())
        .env("REKEY_TEST_STALL_AFTER_STEP", "swap")
        .env("REKEY_TEST_STALL_THROUGH_CTRL_C", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for_stall_at(&blog.run_dir(), &mut child);
    // Two Ctrl-C, the second while the run still works towards its safe point.
    let pid = child.id().to_string();
    for _ in 0..2 {
        assert!(Process::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("stopped at once") && err.contains("--resume"),
        "{err}"
    );
    // The journal says where the run stood: swap unfinished, every earlier stage done.
    let swap: String = blog
        .open("run/journal.sqlite")
        .query_row("SELECT status FROM stage WHERE name = 'swap'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_ne!(swap, "done");
    let status = Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["status", "--run-dir"])
        .arg(blog.run_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("swap") && text.contains("--resume"), "{text}");
    let out = run_binary(&blog, &["--resume"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(blog.report_status(), "ok");
}

#[test]
fn the_first_failing_write_is_the_error_reported() {
    let blog = Blog::new(true);
    // Neither map/ nor report.json can be written: the map write fails first, in shadow, and
    // the reports after it.
    std::fs::create_dir_all(blog.run_dir()).unwrap();
    std::fs::write(blog.run_dir().join("map"), "not a directory").unwrap();
    std::fs::create_dir_all(blog.run_dir().join("report.json")).unwrap();
    let out = run_binary(&blog, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("map"), "{err}");
    assert!(!err.contains("report.json"), "{err}");
}

/// A differing table's verify step is journaled done before the stage marks it failed: a run
/// killed in between (SIGKILL, a second Ctrl-C) must still fail verify on `run --resume`.
#[test]
fn a_differing_table_journaled_done_still_fails_a_resumed_verify() {
    let blog = Blog::new(true);
    let run = |extra: &[&str], stall: bool| {
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_rekey"));
        cmd.args(["run", "--quiet", "--source"])
            .arg(blog.url("source.db"))
            .arg("--data")
            .arg(blog.url("data.db"))
            .arg("--final")
            .arg(blog.url("final.db"))
            .arg("--run-dir")
            .arg(blog.run_dir())
            .args(extra);
        if stall {
            cmd.env("REKEY_TEST_STALL_AFTER_STEP", "verify")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
        cmd
    };
    // Stopped in verify's first table, after load: DB_FINAL is complete, and then made to
    // differ. One worker, so no other table is checked (and journaled equal) before the kill.
    let mut child = run(&["--jobs", "1"], true).spawn().unwrap();
    common::wait_for_stall_at(&blog.run_dir(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    blog.open("final.db")
        .execute("UPDATE tag SET label = 'rust!' WHERE label = 'rust'", [])
        .unwrap();
    let out = run(&["--resume"], false).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    // What a kill after tag's step was journaled done, before it was marked failed, leaves.
    let changed = blog
        .open("run/journal.sqlite")
        .execute(
            "UPDATE step SET status = 'done' WHERE stage = 'verify' AND item = 'tag'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let out = run(&["--resume"], false).output().unwrap();
    let text = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("tag"), "{text}");
    assert_eq!(blog.report_status(), "failed");
}

/// A table named like migration bookkeeping that a foreign key ties to another is loaded, so
/// DB_FINAL's foreign keys from it and to it are checked against SOURCE's rows in preflight.
#[test]
fn final_foreign_keys_from_and_to_a_linked_migrations_table_are_checked_in_preflight() {
    let dir = tempfile::tempdir().unwrap();
    Connection::open(dir.path().join("final.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE codes (id BLOB PRIMARY KEY, code TEXT UNIQUE);
             CREATE TABLE migrations (id BLOB PRIMARY KEY, code TEXT REFERENCES codes (code), version TEXT UNIQUE);
             CREATE TABLE notes (id BLOB PRIMARY KEY, version TEXT REFERENCES migrations (version));",
        )
        .unwrap();
    let out = run_on_sqlite(
        dir.path(),
        "CREATE TABLE codes (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
         CREATE TABLE migrations (id INTEGER PRIMARY KEY, code TEXT, version TEXT UNIQUE);
         CREATE TABLE notes (id INTEGER PRIMARY KEY, version TEXT);
         INSERT INTO codes VALUES (1, 'a');
         INSERT INTO migrations VALUES (1, 'a', 'v1'), (2, 'zz', 'v2');
         INSERT INTO notes VALUES (1, 'v1'), (2, 'v9');",
        &["run"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("migrations.code: DB_FINAL's foreign key"),
        "{err}"
    );
    assert!(
        err.contains("notes.version: DB_FINAL's foreign key"),
        "{err}"
    );
    assert!(!dir.path().join("data.db").exists(), "DB_DATA was written");
}

/// `clean` forgets the run's key secret and id along with what the run created: a new run in the
/// same directory (without --seed) gets keys of its own, not those of the cleaned rehearsal,
/// whose DB_FINAL may have been kept.
#[test]
fn a_run_after_clean_in_the_same_directory_gets_new_keys() {
    let blog = Blog::new(true);
    let out = run_binary(&blog, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let first = blog.map("user");
    let dir = blog.run_dir();
    let (code, out, err) = rekey_bin(&["clean", "--run-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // The rehearsal's DB_FINAL is set aside; the new run gets an empty one.
    std::fs::rename(blog.path("final.db"), blog.path("kept.db")).unwrap();
    Connection::open(blog.path("final.db"))
        .unwrap()
        .execute_batch(FINAL_SQL)
        .unwrap();
    let out = run_binary(&blog, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let second = blog.map("user");
    assert_eq!(first.len(), second.len());
    let shared = first
        .iter()
        .filter(|(k, v)| second.get(k) == Some(v))
        .count();
    assert_eq!(shared, 0, "the new run reproduced the cleaned run's keys");
}
