//! DB_FINAL's secondary indexes set aside for each table's load and built again after its rows
//! (`stages/indexes.rs`): the definitions are byte-identical after a run (MariaDB's SHOW CREATE
//! TABLE of every table, PostgreSQL's `pg_dump -s`), and after a SIGKILL while a table's indexes
//! are aside, `--resume` and `rekey clean` each build them again exactly.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mysql::prelude::Queryable;

use common::engine::{Databases, TestServer};
use common::pg::*;
use common::*;

/// What DB_FINAL gets besides the blog fixture's own keys (a unique key that backs a foreign key,
/// plain and composite ones, already there): a unique key, a prefix with a comment, a
/// descending IGNORED key, on a table with a trigger and foreign keys.
const MYSQL_EXTRA: &str = "ALTER TABLE `content_item` ADD UNIQUE KEY `uq_ci_title_id` (`title`, `id`), ADD KEY `ix_ci_body` (`body`(20)) COMMENT 'a prefix', ADD KEY `ix_ci_score` (`score` DESC) IGNORED;\n\
ALTER TABLE `comment` ADD UNIQUE KEY `uq_comment_id_user` (`comment_id`, `user_id`) USING HASH;\n";

/// Every table's SHOW CREATE TABLE in DB_FINAL, by name.
fn mysql_definitions(dbs: &Dbs) -> BTreeMap<String, String> {
    let mut c = dbs.conn(&dbs.final_db);
    let tables: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'")
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let row: (String, String) = c
                .query_first(format!("SHOW CREATE TABLE `{t}`"))
                .unwrap()
                .unwrap();
            (t, row.1)
        })
        .collect()
}

fn mysql_blog(server: &str, tag: &str) -> Dbs {
    let dbs = Dbs::blog(server, tag);
    load_sql(server, &dbs.final_db, MYSQL_EXTRA);
    dbs
}

/// `rekey run` that stalls once the first table's indexes are aside, before its rows are written.
fn spawn_stalling_aside(urls: [&str; 3], run_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run", "--source", urls[0], "--data", urls[1], "--final", urls[2],
        ])
        .args(["--run-dir", run_dir.to_str().unwrap(), "-q", "--jobs", "2"])
        .env("REKEY_TEST_STALL_INDEXES_ASIDE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn clean(run_dir: &Path) -> std::process::Output {
    rekey(&["clean", "--run-dir", run_dir.to_str().unwrap()])
}

#[test]
fn mysql_definitions_are_byte_identical_after_a_run() {
    let server = server_or_skip!();
    let dbs = mysql_blog(&server, "hi_idx");
    let before = mysql_definitions(&dbs);
    assert!(before["content_item"].contains("KEY `ix_ci_body` (`body`(20)) COMMENT 'a prefix'"));
    assert_exit(&dbs.run(&[]), 0);
    let detail = load_detail(&dbs);
    assert!(
        detail.contains("secondary indexes of") && detail.contains("built after their rows"),
        "{detail}"
    );
    assert_eq!(mysql_definitions(&dbs), before);
}

/// SIGKILL while a table's indexes are aside: `--resume` (or, on `clean`, `rekey clean`) builds
/// them again, byte for byte.
fn mysql_killed_aside(tag: &str, then_clean: bool) {
    let server = server_or_skip!();
    let dbs = mysql_blog(&server, tag);
    let before = mysql_definitions(&dbs);
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_aside([&s, &d, &f], &dbs.run_dir());
    wait_for_stall_at(&dbs.run_dir(), &mut child);
    assert_ne!(mysql_definitions(&dbs), before, "no index was set aside");
    child.kill().unwrap();
    child.wait().unwrap();
    if then_clean {
        let out = clean(&dbs.run_dir());
        assert_exit(&out, 0);
        assert!(
            stdout(&out).contains("restored the secondary indexes of "),
            "{}",
            stdout(&out)
        );
        assert!(!dbs.exists(&dbs.data), "clean drops DB_DATA");
    } else {
        assert_exit(&dbs.run(&["--resume"]), 0);
        assert_exit(&dbs.verify(), 0);
    }
    assert_eq!(mysql_definitions(&dbs), before);
}

#[test]
fn mysql_indexes_aside_at_a_kill_come_back_on_resume() {
    mysql_killed_aside("hi_kres", false);
}

#[test]
fn mysql_indexes_aside_at_a_kill_come_back_on_clean() {
    mysql_killed_aside("hi_kcln", true);
}

/// What DB_FINAL gets besides the blog fixture's indexes (plain, composite, expression, partial
/// unique, GIN, unique constraints): a partial composite index, a unique index that is no
/// constraint, a comment on an index, and an index the table is clustered on (stays in place: no
/// load may drop and rebuild it, which would forget the CLUSTER mark).
const PG_EXTRA: &str =
    "CREATE INDEX ix_ci_partial ON content_item (author_id, title) WHERE price IS NOT NULL;\n\
CREATE UNIQUE INDEX uq_comment_id_user ON comment (comment_id, user_id);\n\
COMMENT ON INDEX ix_content_item_published_on IS 'it''s for the archive';\n\
CREATE INDEX ix_comment_clustered ON comment (user_id);\n\
ALTER TABLE comment CLUSTER ON ix_comment_clustered;\n";

/// `pg_dump -s --no-owner` of DB_FINAL.
fn pg_definitions(dbs: &Databases<Postgres>) -> String {
    let out = Command::new("pg_dump")
        .args([
            "-s",
            "--no-owner",
            "-d",
            &dbs.server.conninfo(&dbs.final_db),
        ])
        .output()
        .expect("pg_dump is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pg_dump 15.14+ brackets its output with a random \restrict key, different every time.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pg_blog_indexed(pg: &Postgres, tag: &str) -> Databases<Postgres> {
    let dbs = blog(pg, tag);
    pg.exec(&dbs.final_db, PG_EXTRA);
    dbs
}

#[test]
fn postgres_definitions_are_identical_after_a_run() {
    let pg = pg_or_skip!();
    let dbs = pg_blog_indexed(&pg, "hi_idx");
    let before = pg_definitions(&dbs);
    assert!(before.contains("ix_ci_partial"), "{before}");
    assert_exit(&dbs.run(&[]), 0);
    let report = report(&dbs.run_dir());
    let detail = stage(&report, "load")["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("secondary indexes of") && detail.contains("built after their rows"),
        "{detail}"
    );
    assert_eq!(pg_definitions(&dbs), before);
}

fn pg_killed_aside(tag: &str, then_clean: bool) {
    let pg = pg_or_skip!();
    let dbs = pg_blog_indexed(&pg, tag);
    let before = pg_definitions(&dbs);
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_aside([&s, &d, &f], &dbs.run_dir());
    wait_for_stall_at(&dbs.run_dir(), &mut child);
    assert_ne!(pg_definitions(&dbs), before, "no index was set aside");
    child.kill().unwrap();
    child.wait().unwrap();
    if then_clean {
        let out = clean(&dbs.run_dir());
        assert_exit(&out, 0);
        assert!(
            stdout(&out).contains("restored the secondary indexes of "),
            "{}",
            stdout(&out)
        );
        assert!(!pg.exists(&dbs.data), "clean drops DB_DATA");
    } else {
        assert_exit(&dbs.run(&["--resume"]), 0);
        assert_exit(&dbs.verify(&[]), 0);
    }
    assert_eq!(pg_definitions(&dbs), before);
}

#[test]
fn postgres_indexes_aside_at_a_kill_come_back_on_resume() {
    pg_killed_aside("hi_kres", false);
}

#[test]
fn postgres_indexes_aside_at_a_kill_come_back_on_clean() {
    pg_killed_aside("hi_kcln", true);
}

/// `rekey load` after `rekey convert` (no preflight saw DB_FINAL) into a DB_FINAL whose
/// `page_request` has a unique key the rows break.
fn load_into(src: &str, data: &str, fin: &str, run_dir: &Path) -> std::process::Output {
    let convert = rekey(&[
        "convert",
        "--source",
        src,
        "--data",
        data,
        "--run-dir",
        run_dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&convert, 0);
    rekey(&[
        "load",
        "--data",
        data,
        "--final",
        fin,
        "--run-dir",
        run_dir.to_str().unwrap(),
        "-q",
    ])
}

#[test]
fn mysql_rows_that_break_a_unique_key_set_aside_leave_the_table_empty_and_indexed() {
    let server = server_or_skip!();
    let dbs = mysql_blog(&server, "hi_dup");
    load_sql(
        &server,
        &dbs.final_db,
        "ALTER TABLE `page_request` ADD UNIQUE KEY `uq_page_request_status` (`status`);\n",
    );
    let before = mysql_definitions(&dbs);
    let out = load_into(
        &dbs.src_url(),
        &dbs.data_url(),
        &dbs.final_url(),
        &dbs.run_dir(),
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("uq_page_request_status"), "{err}");
    let stored: u64 = dbs
        .conn(&dbs.final_db)
        .query_first("SELECT COUNT(*) FROM page_request")
        .unwrap()
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(mysql_definitions(&dbs), before);
}

#[test]
fn postgres_rows_that_break_a_unique_index_set_aside_leave_the_table_empty_and_indexed() {
    let pg = pg_or_skip!();
    let dbs = pg_blog_indexed(&pg, "hi_dup");
    pg.exec(
        &dbs.final_db,
        "CREATE UNIQUE INDEX uq_page_request_status ON page_request (status);",
    );
    let before = pg_definitions(&dbs);
    let out = load_into(
        &dbs.src_url(),
        &dbs.data_url(),
        &dbs.final_url(),
        &dbs.run_dir(),
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("uq_page_request_status"), "{err}");
    assert_eq!(
        pg.text(&dbs.final_db, "SELECT count(*) FROM page_request"),
        "0"
    );
    assert_eq!(pg_definitions(&dbs), before);
}
