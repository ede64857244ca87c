//! Verify overlapped with the load (`stages::verify::after_load`), on SQLite files (the blog
//! fixture): each table is checked by the load step that loaded it; the verify stage trusts such
//! a check only from its own process and for the load the journal has done, so a run killed
//! between a table's load and its check, or after the check, verifies what it must on resume.

use std::path::PathBuf;
use std::process::{Command as Process, Output};

use rusqlite::Connection;

mod common;

const SOURCE_SQL: &str = include_str!("../fixtures/blog/sqlite/source.sql");
const FINAL_SQL: &str = include_str!("../fixtures/blog/sqlite/final.sql");

/// A directory with the blog fixture's SOURCE and the application's empty DB_FINAL.
struct Blog {
    dir: tempfile::TempDir,
}

impl Blog {
    fn new() -> Blog {
        let blog = Blog {
            dir: tempfile::tempdir().unwrap(),
        };
        Connection::open(blog.path("source.db"))
            .unwrap()
            .execute_batch(SOURCE_SQL)
            .unwrap();
        Connection::open(blog.path("final.db"))
            .unwrap()
            .execute_batch(FINAL_SQL)
            .unwrap();
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

    /// `rekey run` on one worker, optionally stalling at `stall` (REKEY_TEST_STALL_AFTER_STEP).
    fn run(&self, extra: &[&str], stall: Option<&str>) -> Process {
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_rekey"));
        cmd.args(["run", "--quiet", "--jobs", "1", "--source"])
            .arg(self.url("source.db"))
            .arg("--data")
            .arg(self.url("data.db"))
            .arg("--final")
            .arg(self.url("final.db"))
            .arg("--run-dir")
            .arg(self.run_dir())
            .args(extra);
        if let Some(point) = stall {
            cmd.env("REKEY_TEST_STALL_AFTER_STEP", point)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
        cmd
    }

    /// Runs until the stall point, then SIGKILL.
    fn killed_at(&self, point: &str) {
        let mut child = self.run(&[], Some(point)).spawn().unwrap();
        common::wait_for_stall_at(&self.run_dir(), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn journal(&self) -> Connection {
        Connection::open(self.run_dir().join("journal.sqlite")).unwrap()
    }

    fn report(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.run_dir().join("report.json")).unwrap())
            .unwrap()
    }
}

/// The tables whose in-load check the journal holds.
fn checked_in_load(journal: &Connection) -> Vec<String> {
    let mut st = journal
        .prepare("SELECT name FROM artifact WHERE kind = 'verify-in-load' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn verified_ok(report: &serde_json::Value, table: &str) -> bool {
    report["verification"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["table"] == table && v["ok"] == true)
}

/// Every table is checked by the load as soon as its rows are in; the verify stage of the same
/// run takes those checks instead of reading the tables again, and says so.
#[test]
fn the_load_checks_each_table_and_the_verify_stage_takes_its_checks() {
    let blog = Blog::new();
    let out = blog.run(&[], None).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let journal = blog.journal();
    let checked = checked_in_load(&journal);
    for table in ["tag", "comment", "page_request", "user"] {
        assert!(checked.iter().any(|t| t == table), "{checked:?}");
    }
    let detail: String = journal
        .query_row("SELECT detail FROM stage WHERE name = 'verify'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(detail.contains("by the load"), "{detail}");
    let report = blog.report();
    assert_eq!(report["status"], "ok");
    assert!(verified_ok(&report, "tag"));
}

/// A run killed after the load checked a table, then DB_FINAL changed before `--resume`: the
/// resumed process does not take the killed one's check, reads the table again and fails.
#[test]
fn a_table_changed_after_a_killed_runs_in_load_check_fails_the_resumed_verify() {
    let blog = Blog::new();
    // The load is done (every table checked by it), verify's first table is being journaled.
    blog.killed_at("verify");
    let checked = checked_in_load(&blog.journal());
    assert!(checked.iter().any(|t| t == "tag"), "{checked:?}");
    Connection::open(blog.path("final.db"))
        .unwrap()
        .execute("UPDATE tag SET label = 'rust!' WHERE label = 'rust'", [])
        .unwrap();
    let out = blog.run(&["--resume"], None).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("tag"), "{all}");
    assert!(!verified_ok(&blog.report(), "tag"));
}

/// A run killed after a table's rows were loaded and before the load checked them: on
/// `--resume` the table is loaded again and checked, by the load step that the journal has done.
#[test]
fn a_run_killed_between_a_tables_load_and_its_check_verifies_it_on_resume() {
    let blog = Blog::new();
    blog.killed_at("load-then-verify");
    let journal = blog.journal();
    let table: String = journal
        .query_row(
            "SELECT item FROM step WHERE stage = 'load' AND status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !checked_in_load(&journal).contains(&table),
        "{table} was checked before the kill"
    );
    drop(journal);
    let out = blog.run(&["--resume"], None).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(verified_ok(&blog.report(), &table));
    // Its check belongs to the load step the journal has done.
    let journal = blog.journal();
    let started: f64 = journal
        .query_row(
            "SELECT started_at FROM step WHERE stage = 'load' AND item = ?1 AND status = 'done'",
            [&table],
            |r| r.get(0),
        )
        .unwrap();
    let detail: String = journal
        .query_row(
            "SELECT detail FROM artifact WHERE kind = 'verify-in-load' AND name = ?1",
            [&table],
            |r| r.get(0),
        )
        .unwrap();
    let check: serde_json::Value = serde_json::from_str(&detail).unwrap();
    let checked_load: f64 = check["load_started"].as_str().unwrap().parse().unwrap();
    assert_eq!(checked_load, started, "{detail}");
}

/// A child row whose reference DB_FINAL points at no parent row is caught without the foreign
/// key's anti-join, which verify now skips where its own row checks imply the key: the row's
/// reference differs from its SOURCE row's mapped one.
#[test]
fn a_reference_to_no_parent_row_in_final_is_still_caught() {
    let blog = Blog::new();
    let out = blog.run(&[], None).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let fin = Connection::open(blog.path("final.db")).unwrap();
    // As a load with the server's checks off would store it.
    fin.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let changed = fin
        .execute(
            "UPDATE comment SET content_item_id = '00112233445566778899aabbccddeeff' WHERE rowid = (SELECT MIN(rowid) FROM comment)",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let out = verify(&blog);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("comment"), "{all}");
}

fn verify(blog: &Blog) -> Output {
    Process::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["verify", "--quiet", "--source"])
        .arg(blog.url("source.db"))
        .arg("--final")
        .arg(blog.url("final.db"))
        .arg("--run-dir")
        .arg(blog.run_dir())
        .output()
        .unwrap()
}

/// A converted table's map file must hold exactly SOURCE's keys (what makes a reference found in
/// it a parent row verify found in DB_FINAL): a row gone from SOURCE and DB_FINAL alike after
/// its key was mapped is named, not only counted.
#[test]
fn a_map_file_with_a_key_source_no_longer_holds_is_named() {
    let blog = Blog::new();
    let out = blog.run(&[], None).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let first: i64 = Connection::open(blog.path("source.db"))
        .unwrap()
        .query_row("SELECT MIN(id) FROM tag", [], |r| r.get(0))
        .unwrap();
    let map = std::fs::read_to_string(blog.run_dir().join("map/tag.csv")).unwrap();
    let new_key = map
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{first},")))
        .unwrap()
        .to_string();
    for (db, sql) in [
        ("source.db", format!("DELETE FROM tag WHERE id = {first}")),
        (
            "final.db",
            format!("DELETE FROM tag WHERE id = '{new_key}'"),
        ),
    ] {
        let changed = Connection::open(blog.path(db))
            .unwrap()
            .execute(&sql, [])
            .unwrap();
        assert_eq!(changed, 1, "{db}");
    }
    let out = verify(&blog);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("map/tag.csv holds"), "{all}");
}

/// SOURCE written after a table's in-load check (a forgotten cron job): the verify stage trusts
/// that check for the rows, but SOURCE's count is taken again at the end, so the run fails.
#[test]
fn a_source_write_after_a_tables_in_load_check_fails_the_run() {
    let blog = Blog::new();
    let mut child = blog
        .run(&[], Some("load"))
        .env("REKEY_TEST_STALL_RELEASE", "1")
        .spawn()
        .unwrap();
    common::wait_for_stall_at(&blog.run_dir(), &mut child);
    let checked = checked_in_load(&blog.journal());
    let table = checked.first().expect("the first loaded table was checked");
    let source = Connection::open(blog.path("source.db")).unwrap();
    let deleted = source
        .execute(
            &format!("DELETE FROM \"{table}\" WHERE rowid = (SELECT max(rowid) FROM \"{table}\")"),
            [],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    drop(source);
    std::fs::write(blog.run_dir().join("release"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = std::fs::read_to_string(blog.run_dir().join("report.json")).unwrap();
    assert!(
        report.contains(&format!("{table} held ")),
        "the report names the table SOURCE lost a row of: {report}"
    );
}
