//! DB_FINAL's secondary indexes set aside for each table's load and built again after its rows
//! (`run/indexes.rs`): the definitions are byte-identical after a run (MariaDB's SHOW CREATE
//! TABLE of every table, PostgreSQL's `pg_dump -s`), and after a SIGKILL while a table's indexes
//! are aside, `--resume` and `rekey clean` each build them again exactly. On PostgreSQL a large
//! table's primary key goes aside too, with its self-reference and its comment.

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
    mysql_killed_at_stall(&dbs, then_clean, &mut |_| {
        assert_ne!(mysql_definitions(&dbs), before, "no index was set aside");
    });
}

/// `rekey run` on `dbs` killed while the first table's load has what it sets aside aside
/// (`at_stall` is handed that table's name, to look at it then); `--resume` (or, `then_clean`,
/// `rekey clean`) puts it all back: SHOW CREATE TABLE of every table as before.
fn mysql_killed_at_stall(dbs: &Dbs, then_clean: bool, at_stall: &mut dyn FnMut(&str)) {
    let before = mysql_definitions(dbs);
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_aside([&s, &d, &f], &dbs.run_dir());
    wait_for_stall_at(&dbs.run_dir(), &mut child);
    let stalled = std::fs::read_to_string(dbs.run_dir().join("stalled")).unwrap();
    at_stall(&stalled);
    child.kill().unwrap();
    child.wait().unwrap();
    if then_clean {
        let out = clean(&dbs.run_dir());
        assert_exit(&out, 0);
        assert!(
            stdout(&out)
                .contains("restored what a load set aside (secondary indexes, settings) of "),
            "{}",
            stdout(&out)
        );
        assert!(!dbs.exists(&dbs.data), "clean drops DB_DATA");
    } else {
        assert_exit(&dbs.run(&["--resume"]), 0);
        assert_exit(&dbs.verify(), 0);
    }
    assert_eq!(mysql_definitions(dbs), before);
}

/// `rekey run --jobs 1` stalled at REKEY_TEST_STALL_AFTER_STEP=`point`, where `in_final` names
/// the tables of `candidates` that hold rows (`loaded`) or not, and whose SHOW CREATE TABLE
/// contains their text (or not: `contains`); then killed, finished by `--resume`, verified, and
/// every definition back byte for byte. Returns the tables that matched at the stall.
fn mysql_one_job_stalled_at(
    dbs: &Dbs,
    point: &str,
    candidates: &[(&str, &str)],
    loaded: bool,
    contains: bool,
) -> Vec<String> {
    let before = mysql_definitions(dbs);
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let dir = dbs.run_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--source", &s, "--data", &d, "--final", &f])
        .args(["--run-dir", dir.to_str().unwrap(), "-q", "--jobs", "1"])
        .env("REKEY_TEST_STALL_AFTER_STEP", point)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_stall_at(&dir, &mut child);
    let now = mysql_definitions(dbs);
    let mut c = dbs.conn(&dbs.final_db);
    let matched: Vec<String> = candidates
        .iter()
        .filter(|(t, text)| {
            let rows: u64 = c
                .query_first(format!("SELECT COUNT(*) FROM `{t}`"))
                .unwrap()
                .unwrap();
            (rows > 0) == loaded && now[*t].contains(text) == contains
        })
        .map(|(t, _)| t.to_string())
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_exit(&dbs.run(&["--resume"]), 0);
    assert_exit(&dbs.verify(), 0);
    assert_eq!(mysql_definitions(dbs), before);
    matched
}

/// Every table's indexes go aside before the first row of any table: an ALTER waits for the
/// statements writing the table's foreign-key neighbours. With one job, while the first table's
/// rows are checked, a table not loaded yet has its unique key aside already; killed there,
/// `--resume` brings every definition back byte for byte.
#[test]
fn mysql_every_tables_indexes_go_aside_before_the_first_row() {
    let server = server_or_skip!();
    let dbs = mysql_blog(&server, "hi_early");
    let keys = [
        ("content_item", "uq_ci_title_id"),
        ("comment", "uq_comment_id_user"),
    ];
    let unloaded_aside = mysql_one_job_stalled_at(&dbs, "load-then-verify", &keys, false, false);
    assert!(!unloaded_aside.is_empty());
}

#[test]
fn mysql_indexes_aside_at_a_kill_come_back_on_resume() {
    mysql_killed_aside("hi_kres", false);
}

#[test]
fn mysql_indexes_aside_at_a_kill_come_back_on_clean() {
    mysql_killed_aside("hi_kcln", true);
}

/// Two tables large enough (60,000 rows) that MariaDB loads them with InnoDB's automatic
/// statistics off: `log` leaves the option to the server, `tally` says STATS_AUTO_RECALC=1 in
/// DB_FINAL; `note` (3 rows) is too small to bother. ANALYZE on SOURCE so its estimates, which
/// decide, are the rows.
fn mysql_large(server: &str, tag: &str) -> Dbs {
    let dbs = Dbs::new(server, tag);
    load_sql(
        server,
        &dbs.source,
        "CREATE TABLE note (id INT NOT NULL PRIMARY KEY, body VARCHAR(20) NOT NULL);\n\
INSERT INTO note VALUES (1, 'a'), (2, 'b'), (3, 'c');\n\
CREATE TABLE log (id INT NOT NULL PRIMARY KEY, note_id INT NULL, seen INT NOT NULL, CONSTRAINT fk_log_note FOREIGN KEY (note_id) REFERENCES note (id));\n\
INSERT INTO log SELECT seq, 1 + seq % 3, seq FROM seq_1_to_60000;\n\
CREATE TABLE tally (id INT NOT NULL PRIMARY KEY, n INT NOT NULL);\n\
INSERT INTO tally SELECT seq, seq % 7 FROM seq_1_to_60000;\n\
ANALYZE TABLE note, log, tally;\n",
    );
    let dir = dbs.run_dir();
    assert_exit(
        &rekey(&[
            "derive-final",
            "--source",
            &dbs.src_url(),
            "--final",
            &dbs.final_url(),
            "--run-dir",
            dir.to_str().unwrap(),
            "-q",
        ]),
        0,
    );
    load_sql(
        server,
        &dbs.final_db,
        "ALTER TABLE tally STATS_AUTO_RECALC=1;\n",
    );
    dbs
}

/// information_schema's CREATE_OPTIONS of DB_FINAL's `table`.
fn mysql_options(dbs: &Dbs, table: &str) -> String {
    dbs.conn(&dbs.final_db)
        .query_first(format!("SELECT CREATE_OPTIONS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"))
        .unwrap()
        .unwrap()
}

/// InnoDB's persistent statistics' row count of DB_FINAL's `table`.
fn mysql_stats_rows(dbs: &Dbs, table: &str) -> u64 {
    dbs.conn(&dbs.final_db)
        .query_first(format!(
            "SELECT n_rows FROM mysql.innodb_table_stats WHERE database_name = '{}' AND table_name = '{table}'",
            dbs.final_db
        ))
        .unwrap()
        .unwrap_or(0)
}

#[test]
fn mysql_large_tables_load_without_automatic_statistics_and_get_them_once() {
    let server = server_or_skip!();
    let dbs = mysql_large(&server, "st_run");
    let before = mysql_definitions(&dbs);
    assert!(
        before["tally"].contains("STATS_AUTO_RECALC=1"),
        "{}",
        before["tally"]
    );
    assert_exit(&dbs.run(&[]), 0);
    let detail = load_detail(&dbs);
    assert!(
        detail.contains("statistics of 2 tables gathered once, after every table's rows"),
        "{detail}"
    );
    assert_eq!(mysql_definitions(&dbs), before);
    // ANALYZE ran: the statistics count the rows (InnoDB estimates from sampled pages).
    for table in ["log", "tally"] {
        let n = mysql_stats_rows(&dbs, table);
        assert!((50_000..70_000).contains(&n), "{table}: n_rows {n}");
    }
}

/// A large table's automatic statistics come back once every table's rows are in, not right
/// after its own: their ALTER would wait for the statements writing the table's foreign-key
/// neighbours. With one job, when the first table's step has done its work, its rows are in and
/// its statistics still aside; killed there, `--resume` puts everything back byte for byte.
#[test]
fn mysql_statistics_come_back_once_every_table_is_loaded() {
    let server = server_or_skip!();
    let dbs = mysql_large(&server, "st_end");
    let off = [
        ("log", "STATS_AUTO_RECALC=0"),
        ("tally", "STATS_AUTO_RECALC=0"),
    ];
    let loaded_aside = mysql_one_job_stalled_at(&dbs, "load", &off, true, true);
    assert_eq!(loaded_aside.len(), 1);
}

/// `log` (60,000 rows) references `note` (3): the load computes note's 3 keys once, into a
/// temporary MEMORY table of DB_DATA its session joins, instead of deriving one per row of log;
/// the run verifies every row. An account that may not create temporary tables in DB_DATA
/// gets the statement that derives them in the row, and its run verifies too.
#[test]
fn mysql_a_large_tables_references_to_a_small_parent_join_its_keys_computed_once() {
    let server = server_or_skip!();
    let dbs = mysql_large(&server, "st_keys");
    let dry = dbs.run(&["--dry-run"]);
    assert_exit(&dry, 0);
    let text = stdout(&dry);
    let keys = format!("`{}`.`rekey_keys_1`", dbs.data);
    assert!(
        text.contains(&format!(
            "CREATE TEMPORARY TABLE {keys} (old_id BIGINT NOT NULL PRIMARY KEY, new_id char(32)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("LEFT JOIN {keys} k1 ON k1.old_id = s.`note_id`")),
        "{text}"
    );
    assert!(!text.contains("rekey_keys_0"), "{text}");
    assert_exit(&dbs.run(&[]), 0);
    assert_exit(&dbs.verify(), 0);

    let dbs = mysql_large(&server, "st_nokeys");
    let data_grants = "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, LOCK TABLES ON `{db}`.* TO {user}";
    let account = Account::new(
        &dbs.server,
        "st_nokeys",
        &[
            format!("GRANT ALL PRIVILEGES ON `{}`.* TO {{user}}", dbs.source),
            format!("GRANT ALL PRIVILEGES ON `{}`.* TO {{user}}", dbs.final_db),
            data_grants.replace("{db}", &dbs.data),
        ],
    );
    assert_exit(&account.run(&dbs, &[]), 0);
    assert_exit(&dbs.verify(), 0);
}

/// SIGKILL while a large table loads with its automatic statistics off: `--resume` (or
/// `rekey clean`) puts the option back as it was, byte for byte in SHOW CREATE TABLE.
fn mysql_killed_statistics_aside(tag: &str, then_clean: bool) {
    let server = server_or_skip!();
    let dbs = mysql_large(&server, tag);
    mysql_killed_at_stall(&dbs, then_clean, &mut |stalled| {
        assert!(["log", "tally"].contains(&stalled), "{stalled}");
        let options = mysql_options(&dbs, stalled);
        assert!(
            options.contains("stats_auto_recalc=0"),
            "{stalled}: {options}"
        );
    });
}

#[test]
fn mysql_statistics_aside_at_a_kill_come_back_on_resume() {
    mysql_killed_statistics_aside("st_kres", false);
}

#[test]
fn mysql_statistics_aside_at_a_kill_come_back_on_clean() {
    mysql_killed_statistics_aside("st_kcln", true);
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

/// SOURCE's rows that make two tables large enough for the load to set their primary keys aside
/// (10,000 rows): `page_request` (referenced by no table) and `comment` (referenced only by
/// itself, so its self-reference goes aside and comes back with it).
const PG_LARGE_SOURCE: &str = "INSERT INTO page_request (id, content_item_id, user_id, path, status, duration_ms, requested_at)\n\
OVERRIDING SYSTEM VALUE SELECT 8000000000 + n, 1 + n % 300, NULL, '/bulk/' || n, 200, n / 7.0, timestamptz '2024-01-01 00:00+00' + n * interval '1 second' FROM generate_series(1, 16000) n;\n\
INSERT INTO comment (comment_id, content_item_id, parent_comment_id, user_id, body)\n\
SELECT n, 1 + n % 300, CASE WHEN n % 3 = 0 AND n > 1001 THEN n - 1 END, NULL, 'bulk ' || n FROM generate_series(1001, 13000) n;\n";

/// DB_FINAL's comment on a primary key that is set aside (it comes back with the key).
const PG_LARGE_FINAL: &str =
    "COMMENT ON CONSTRAINT comment_pkey ON comment IS 'the comment''s key';\n";

/// The blog with `PG_EXTRA`, and two tables large enough for their primary keys to go aside.
fn pg_blog_large(pg: &Postgres, tag: &str) -> Databases<Postgres> {
    let dbs = pg_blog_indexed(pg, tag);
    pg.exec(&dbs.source, PG_LARGE_SOURCE);
    pg.exec(&dbs.final_db, PG_LARGE_FINAL);
    dbs
}

/// Whether DB_FINAL's `table` has its primary key now.
fn pg_has_primary_key(pg: &Postgres, dbs: &Databases<Postgres>, table: &str) -> bool {
    pg.text(
        &dbs.final_db,
        &format!("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = '\"{table}\"'::regclass"),
    ) == "1"
}

#[test]
fn postgres_definitions_are_identical_after_a_run() {
    let pg = pg_or_skip!();
    let dbs = pg_blog_large(&pg, "hi_idx");
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

/// A large table's primary key with storage parameters stays in place (a rebuild from
/// `pg_get_constraintdef` would lose them); one without is rebuilt where the original was, in
/// the database's default tablespace, whatever `default_tablespace` DB_FINAL's sessions get.
#[test]
fn postgres_rebuilt_keys_keep_their_storage_and_tablespace() {
    let pg = pg_or_skip!();
    let dbs = pg_blog_large(&pg, "hi_store");
    pg.exec(
        &dbs.final_db,
        "ALTER INDEX page_request_pkey SET (fillfactor = 70)",
    );
    // pg_global holds only shared catalogs: an index built there fails, so a rebuild that
    // followed the database's default_tablespace would stop the run.
    pg.exec(
        "postgres",
        &format!(
            "ALTER DATABASE \"{}\" SET default_tablespace = 'pg_global'",
            dbs.final_db
        ),
    );
    let before = pg_definitions(&dbs);
    assert!(before.contains("fillfactor"), "{before}");
    assert_exit(&dbs.run(&[]), 0);
    assert_eq!(pg_definitions(&dbs), before);
    // The other large table's key and the secondary indexes did go aside and came back.
    let detail = stage(&report(&dbs.run_dir()), "load")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("built after their rows"), "{detail}");
}

/// A large table's key is rebuilt as a unique index first, which the table's check can read
/// during the build, then made the key (the dry-run snapshot shows the statements). A deferrable
/// key stays in place: its recheck trigger depends on it (`set_aside_primary_key.sql`), and it
/// comes out of the run as it was.
#[test]
fn postgres_a_deferrable_key_stays_in_place_and_deferrable() {
    let pg = pg_or_skip!();
    let dbs = pg_blog_large(&pg, "hi_defer");
    pg.exec(
        &dbs.final_db,
        "ALTER TABLE page_request DROP CONSTRAINT page_request_pkey, \
         ADD CONSTRAINT page_request_pkey PRIMARY KEY (id) DEFERRABLE INITIALLY DEFERRED",
    );
    let before = pg_definitions(&dbs);
    assert!(before.contains("DEFERRABLE INITIALLY DEFERRED"), "{before}");
    let index_oid = || {
        pg.text(
            &dbs.final_db,
            "SELECT conindid::text FROM pg_constraint WHERE conname = 'page_request_pkey'",
        )
    };
    let built_before = index_oid();
    assert_exit(&dbs.run(&[]), 0);
    assert_eq!(pg_definitions(&dbs), before);
    // Its index is the one it had (not set aside, not rebuilt), still deferrable.
    assert_eq!(index_oid(), built_before);
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT condeferrable::text FROM pg_constraint WHERE conname = 'page_request_pkey'"
        ),
        "true"
    );
}

fn pg_killed_aside(tag: &str, then_clean: bool) {
    let pg = pg_or_skip!();
    let dbs = pg_blog_large(&pg, tag);
    let before = pg_definitions(&dbs);
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_aside([&s, &d, &f], &dbs.run_dir());
    wait_for_stall_at(&dbs.run_dir(), &mut child);
    assert_ne!(pg_definitions(&dbs), before, "no index was set aside");
    // The largest table loads first: its primary key is aside with its indexes, and with it
    // its self-reference where it has one.
    let stalled = std::fs::read_to_string(dbs.run_dir().join("stalled")).unwrap();
    let stalled = stalled.trim();
    assert!(["page_request", "comment"].contains(&stalled), "{stalled}");
    assert!(
        !pg_has_primary_key(&pg, &dbs, stalled),
        "{stalled}'s primary key is in place"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    if then_clean {
        let out = clean(&dbs.run_dir());
        assert_exit(&out, 0);
        assert!(
            stdout(&out)
                .contains("restored what a load set aside (secondary indexes, settings) of "),
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

/// `rekey run` on the PostgreSQL blog that stalls at `var`'s stall point and is killed there
/// with SIGKILL. Returns the name of the table it stalled on.
fn pg_killed_at(dbs: &Databases<Postgres>, var: &str) -> String {
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    killed_at_stall([&s, &d, &f], &dbs.run_dir(), var)
        .trim()
        .to_string()
}

/// PostgreSQL's twin of `mysql_killed_with_indexes_in_place`, on a table whose primary key goes
/// aside too: killed after the journal's record, before the drop (window A), or with the
/// record's own restore run by hand after a kill while aside (window B: the key, its
/// self-reference and the indexes are back, the journal says they are aside). `--resume` drops
/// them again (the ALTER's IF EXISTS) and adds them back (the DO block adds what is missing).
fn pg_killed_with_key_in_place(tag: &str, window_b: bool) {
    let pg = pg_or_skip!();
    let dbs = pg_blog_large(&pg, tag);
    let before = pg_definitions(&dbs);
    let journal = |table: &str| {
        let journal = rusqlite::Connection::open(dbs.run_dir().join("journal.sqlite")).unwrap();
        let detail: String = journal
            .query_row(
                "SELECT detail FROM artifact WHERE kind = 'indexes' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&detail).unwrap()
    };
    let table = if window_b {
        let table = pg_killed_at(&dbs, "REKEY_TEST_STALL_INDEXES_ASIDE");
        assert!(!pg_has_primary_key(&pg, &dbs, &table), "{table}");
        for sql in journal(&table)["restore"].as_array().unwrap() {
            pg.exec(&dbs.final_db, sql.as_str().unwrap());
        }
        table
    } else {
        pg_killed_at(&dbs, "REKEY_TEST_STALL_INDEXES_JOURNALED")
    };
    assert!(
        journal(&table)["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str() == Some(&format!("{table}_pkey"))),
        "{table}'s key is not in the record"
    );
    // The key is in place (the triggers are still aside: the load set them aside first).
    assert!(pg_has_primary_key(&pg, &dbs, &table), "{table}");
    assert_exit(&dbs.run(&["--resume"]), 0);
    assert_exit(&dbs.verify(&[]), 0);
    assert_eq!(pg_definitions(&dbs), before);
}

#[test]
fn postgres_killed_between_the_journal_and_the_drop_resumes() {
    pg_killed_with_key_in_place("hi_kja", false);
}

#[test]
fn postgres_killed_between_the_rebuild_and_the_journal_resumes() {
    pg_killed_with_key_in_place("hi_kjb", true);
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

/// `rekey run` that stalls at `var`'s stall point (REKEY_TEST_STALL_INDEXES_ASIDE or
/// REKEY_TEST_STALL_INDEXES_JOURNALED) and is killed there with SIGKILL. Returns the name of the
/// table it stalled on.
fn killed_at(dbs: &Dbs, var: &str) -> String {
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    killed_at_stall([&s, &d, &f], &dbs.run_dir(), var)
}

/// The journal's record of `table`'s indexes set aside: its restoring statements.
fn journaled_restore(dbs: &Dbs, table: &str) -> Vec<String> {
    let journal = rusqlite::Connection::open(dbs.run_dir().join("journal.sqlite")).unwrap();
    let detail: String = journal
        .query_row(
            "SELECT detail FROM artifact WHERE kind = 'indexes' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let record: serde_json::Value = serde_json::from_str(&detail).unwrap();
    record["restore"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Killed after the journal's record was written, before the indexes were dropped (window A), or
/// after they were built again, before the record was removed (window B: here the record's own
/// restore run by hand after a kill while aside): the indexes are in place and the journal says
/// they are aside. `--resume` drops them again before the rows (else the bulk path loads into a
/// unique key with unique checks off) and builds them again, so does `rekey clean`: byte for byte.
fn mysql_killed_with_indexes_in_place(tag: &str, window_b: bool, then_clean: bool) {
    let server = server_or_skip!();
    let dbs = mysql_blog(&server, tag);
    let before = mysql_definitions(&dbs);
    if window_b {
        let table = killed_at(&dbs, "REKEY_TEST_STALL_INDEXES_ASIDE");
        assert_ne!(mysql_definitions(&dbs), before, "no index was set aside");
        let mut c = dbs.conn(&dbs.final_db);
        for sql in journaled_restore(&dbs, &table) {
            c.query_drop(sql).unwrap();
        }
    } else {
        let table = killed_at(&dbs, "REKEY_TEST_STALL_INDEXES_JOURNALED");
        assert!(!journaled_restore(&dbs, &table).is_empty());
    }
    assert_eq!(mysql_definitions(&dbs), before, "the indexes are in place");
    if then_clean {
        let out = clean(&dbs.run_dir());
        assert_exit(&out, 0);
        assert!(!dbs.exists(&dbs.data), "clean drops DB_DATA");
    } else {
        assert_exit(&dbs.run(&["--resume"]), 0);
        assert_exit(&dbs.verify(), 0);
    }
    assert_eq!(mysql_definitions(&dbs), before);
}

#[test]
fn mysql_killed_between_the_journal_and_the_drop_resumes() {
    mysql_killed_with_indexes_in_place("hf_kja", false, false);
}

#[test]
fn mysql_killed_between_the_rebuild_and_the_journal_resumes() {
    mysql_killed_with_indexes_in_place("hf_kjb", true, false);
}

#[test]
fn mysql_killed_between_the_rebuild_and_the_journal_cleans() {
    mysql_killed_with_indexes_in_place("hf_kjc", true, true);
}

/// Killed while a table's unique key was aside, after rows that break it were written (here
/// inserted by hand during the stall). Into an application-made DB_FINAL, `rekey clean` empties
/// that table (its rows were rekey's partial load), builds its indexes again and goes on; a
/// DB_FINAL derive-final created is dropped without building them first.
fn mysql_clean_after_duplicates_aside(tag: &str, derived: bool) {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, tag);
    if derived {
        dbs.conn(&dbs.final_db)
            .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
            .unwrap();
    }
    let before = (!derived).then(|| mysql_definitions(&dbs));
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--source", &s, "--data", &d, "--final", &f])
        .args([
            "--run-dir",
            dbs.run_dir().to_str().unwrap(),
            "-q",
            "--jobs",
            "2",
        ])
        .args(if derived {
            &["--derive-final"][..]
        } else {
            &[][..]
        })
        .env("REKEY_TEST_STALL_INDEXES_ASIDE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_stall_at(&dbs.run_dir(), &mut child);
    let table = std::fs::read_to_string(dbs.run_dir().join("stalled")).unwrap();
    // Two rows alike in the table's unique key (the blog's tables with one).
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    let insert = match table.as_str() {
        "user" => format!("INSERT INTO `user` (id, email, name) VALUES ('{a}', 'd@x', 'a'), ('{b}', 'd@x', 'b')"),
        "user_group" => format!("INSERT INTO `user_group` (id, name) VALUES ('{a}', 'dup'), ('{b}', 'dup')"),
        "content_item_translation" => format!("INSERT INTO `content_item_translation` (id, content_item_id, lang) VALUES ('{a}', '{a}', 'en'), ('{b}', '{a}', 'en')"),
        other => panic!("stalled on {other}, which has no unique key to break"),
    };
    let mut c = dbs.conn(&dbs.final_db);
    c.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    c.query_drop(insert).unwrap();
    drop(c);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = clean(&dbs.run_dir());
    assert_exit(&out, 0);
    assert!(!dbs.exists(&dbs.data), "clean drops DB_DATA");
    let Some(before) = before else {
        assert!(!dbs.exists(&dbs.final_db), "clean drops a derived DB_FINAL");
        return;
    };
    assert!(
        stdout(&out).contains(&format!("emptied DB_FINAL's table {table}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(mysql_definitions(&dbs), before);
    let stored: u64 = dbs
        .conn(&dbs.final_db)
        .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
        .unwrap()
        .unwrap();
    assert_eq!(stored, 0);
}

#[test]
fn mysql_clean_empties_a_table_whose_rows_break_a_unique_key_aside() {
    mysql_clean_after_duplicates_aside("hf_kdup", false);
}

#[test]
fn mysql_clean_drops_a_derived_final_whose_rows_break_a_unique_key_aside() {
    mysql_clean_after_duplicates_aside("hf_kder", true);
}

/// Window A with rows that break the unique key: `rekey load` (after `convert`, so no preflight
/// saw DB_FINAL) killed after the journal's record of `page_request`'s indexes, before the drop.
/// `--resume` must drop them again before the rows: left in place, the bulk path (unique checks
/// off) would store none of the rows while reporting them all, and the rebuild find nothing to
/// do. With the drop, the rebuild meets the duplicate: exit 2 naming the key, the table empty and
/// indexed as before.
#[test]
fn mysql_resume_after_a_kill_before_the_drop_still_meets_the_duplicate() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "hf_kjdup");
    load_sql(
        &server,
        &dbs.final_db,
        "ALTER TABLE `page_request` ADD UNIQUE KEY `uq_page_request_status` (`status`);\n",
    );
    let before = mysql_definitions(&dbs);
    let run_dir = dbs.run_dir();
    let dir = run_dir.to_str().unwrap();
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    assert_exit(
        &rekey(&[
            "convert",
            "--source",
            &s,
            "--data",
            &d,
            "--run-dir",
            dir,
            "-q",
        ]),
        0,
    );
    let load = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rekey"));
        c.args(["load", "--data", &d, "--final", &f, "--run-dir", dir, "-q"])
            .args(["--jobs", "1"])
            .args(extra);
        c
    };
    let mut child = load(&[])
        .env("REKEY_TEST_STALL_INDEXES_JOURNALED", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_stall_at(&run_dir, &mut child);
    let table = std::fs::read_to_string(run_dir.join("stalled")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(table, "page_request", "the largest table loads first");
    assert_eq!(mysql_definitions(&dbs), before, "the indexes are in place");
    let out = load(&["--resume"]).output().unwrap();
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
