//! `rekey check --follow`: what a live cutover needs on SOURCE, checked for real on the shared
//! servers (no change stream: MariaDB log_bin off and MIXED, PostgreSQL wal_level=replica) and on
//! the private servers `scripts/live.sh` starts (binlog MariaDB on 3316, logical PostgreSQL on
//! 5442): each missing setting, grant, replica identity and forgotten slot named with its fix.

mod common;

use common::pg::*;
use common::*;
use mysql::prelude::Queryable;

/// A private server with a change stream: `var`'s URL (scripts/test.sh sets it after
/// `scripts/live.sh up`). None (skipped, said) only where REKEY_REQUIRE_LIVE and CI are unset.
fn live(var: &str, reachable: impl Fn(&str) -> bool) -> Option<String> {
    let required = std::env::var("REKEY_REQUIRE_LIVE").is_ok() || std::env::var("CI").is_ok();
    match std::env::var(var) {
        Ok(url) if reachable(url.trim_end_matches('/')) => Some(url.trim_end_matches('/').into()),
        Ok(url) if required => {
            panic!("{var}={url} is required but unreachable (scripts/live.sh up)")
        }
        Err(_) if required => panic!("{var} is required: run scripts/live.sh up and set it"),
        _ => {
            eprintln!("SKIPPED: {var} is not a reachable server; run scripts/live.sh up");
            None
        }
    }
}

fn live_mysql() -> Option<String> {
    live("REKEY_TEST_LIVE_MYSQL_URL", |u| {
        mysql::Conn::new(opts(u, None)).is_ok()
    })
}

fn live_postgres() -> Option<Postgres> {
    live("REKEY_TEST_LIVE_POSTGRES_URL", |u| {
        postgres::Client::connect(
            &Postgres { base: u.into() }.conninfo("postgres"),
            postgres::NoTls,
        )
        .is_ok()
    })
    .map(|base| Postgres { base })
}

fn check_follow(source: &str) -> std::process::Output {
    rekey(&["check", "--follow", "--source", source])
}

/// A one-table database on a MariaDB server, made afresh.
fn my_source(server: &str, db: &str) {
    let mut c = conn(server, None);
    c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .unwrap();
    c.query_drop(format!("CREATE DATABASE `{db}`")).unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, note VARCHAR(10))"
    ))
    .unwrap();
}

#[test]
fn a_mariadb_without_a_row_binlog_is_named_setting_by_setting() {
    let Some(server) = server() else { return };
    my_source(&server, "lc_nobinlog");
    let out = check_follow(&format!("{server}/lc_nobinlog"));
    let text = stdout(&out);
    // The shared server has no binlog and logs MIXED (FACTS.md): both named, each with its fix.
    assert_exit(&out, 3);
    assert!(text.contains("FAIL log_bin: log_bin = OFF"), "{text}");
    assert!(
        text.contains("fix: start the server with log_bin"),
        "{text}"
    );
    assert!(
        text.contains("FAIL binlog_format: binlog_format = MIXED"),
        "{text}"
    );
    assert!(text.contains("SET GLOBAL binlog_format = 'ROW'"), "{text}");
    // Without --follow the same database passes: the checks belong to the live cutover only.
    assert_exit(
        &rekey(&["check", "--source", &format!("{server}/lc_nobinlog")]),
        0,
    );
}

#[test]
fn a_row_binlog_passes_and_an_account_without_replication_grants_is_told_the_grant() {
    let Some(server) = live_mysql() else { return };
    my_source(&server, "lc_binlog");
    let out = check_follow(&format!("{server}/lc_binlog"));
    let text = stdout(&out);
    assert_exit(&out, 0);
    for line in [
        "ok   log_bin: log_bin = ON",
        "ok   binlog_format: binlog_format = ROW",
        "ok   binlog_row_image: binlog_row_image = FULL",
        "ok   binlog grants: REPLICATION SLAVE, BINLOG MONITOR",
        "ok   snapshot tools: mariadb-dump and mariadb copy SOURCE's snapshot",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    // An account that may read the database but not the binlog.
    let mut root = conn(&server, None);
    root.query_drop("DROP USER IF EXISTS 'lc_reader'@'%'")
        .unwrap();
    root.query_drop("CREATE USER 'lc_reader'@'%' IDENTIFIED BY 'pw-lc-7'")
        .unwrap();
    root.query_drop("GRANT SELECT ON `lc_binlog`.* TO 'lc_reader'@'%'")
        .unwrap();
    let reader = server.replacen("root@", "lc_reader:pw-lc-7@", 1);
    let out = check_follow(&format!("{reader}/lc_binlog"));
    let text = stdout(&out);
    assert_exit(&out, 3);
    assert!(
        text.contains(
            "FAIL binlog grants: 'lc_reader'@'%' lacks REPLICATION SLAVE, BINLOG MONITOR (global)"
        ),
        "{text}"
    );
    assert!(
        text.contains("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'lc_reader'@'%';"),
        "{text}"
    );
    // The password never reaches the output.
    assert!(!text.contains("pw-lc-7") && !stderr(&out).contains("pw-lc-7"));
    // The grant it names is the one that makes the check pass.
    root.query_drop("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'lc_reader'@'%'")
        .unwrap();
    assert_exit(&check_follow(&format!("{reader}/lc_binlog")), 0);
    root.query_drop("DROP USER 'lc_reader'@'%'").unwrap();
}

#[test]
fn a_postgresql_without_logical_decoding_is_named() {
    let pg = pg_or_skip!();
    pg.exec("postgres", "DROP DATABASE IF EXISTS lc_nological");
    pg.exec("postgres", "CREATE DATABASE lc_nological");
    pg.exec("lc_nological", "CREATE TABLE t (id int PRIMARY KEY)");
    let out = check_follow(&format!("{}/lc_nological", pg.base));
    let text = stdout(&out);
    assert_exit(&out, 3);
    assert!(
        text.contains("FAIL wal_level: wal_level = replica"),
        "{text}"
    );
    assert!(
        text.contains("ALTER SYSTEM SET wal_level = logical"),
        "{text}"
    );
}

#[test]
fn logical_decoding_passes_and_keyless_tables_and_forgotten_rekey_slots_are_named() {
    let Some(pg) = live_postgres() else { return };
    // The private server keeps its data between runs: a slot an interrupted run of this test
    // left would hold WAL and keep its database from being dropped.
    pg.exec(
        "postgres",
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'rekey_lc_left'",
    );
    pg.exec("postgres", "DROP DATABASE IF EXISTS lc_logical");
    pg.exec("postgres", "CREATE DATABASE lc_logical");
    pg.exec("lc_logical", "CREATE TABLE t (id int PRIMARY KEY)");
    let url = format!("{}/lc_logical", pg.base);
    let out = check_follow(&url);
    let text = stdout(&out);
    assert_exit(&out, 0);
    for line in [
        "ok   wal_level: wal_level = logical",
        "ok   replication role: postgres may replicate",
        "ok   replica identity: every table",
        "ok   snapshot tools: /usr/lib/postgresql/",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    // A table whose deletes would reach the stream without a key, and a slot a rekey run left.
    pg.exec(
        "lc_logical",
        "CREATE TABLE audit_log (at timestamptz, what text)",
    );
    pg.exec(
        "lc_logical",
        "SELECT pg_create_logical_replication_slot('rekey_lc_left', 'test_decoding')",
    );
    let out = check_follow(&url);
    let text = stdout(&out);
    pg.exec(
        "lc_logical",
        "SELECT pg_drop_replication_slot('rekey_lc_left')",
    );
    assert_exit(&out, 3);
    assert!(
        text.contains("FAIL replica identity: 1 table without a primary key or a replica identity")
            && text.contains(": audit_log"),
        "{text}"
    );
    assert!(
        text.contains("FAIL rekey slot: replication slot rekey_lc_left (database lc_logical"),
        "{text}"
    );
    assert!(
        text.contains("SELECT pg_drop_replication_slot('rekey_lc_left');"),
        "{text}"
    );
    // REPLICA IDENTITY FULL is the fix it names: with it (and the slot gone) the check passes.
    pg.exec("lc_logical", "ALTER TABLE audit_log REPLICA IDENTITY FULL");
    assert_exit(&check_follow(&url), 0);
}

#[test]
fn sqlite_is_refused_and_a_check_without_source_says_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(c);
    let out = check_follow(&format!("sqlite://{}", db.display()));
    let text = stdout(&out);
    assert_exit(&out, 3);
    assert!(
        text.contains("FAIL change stream: SQLite has no change stream"),
        "{text}"
    );
    assert!(text.contains("rekey run without --follow"), "{text}");

    let out = rekey(&[
        "check",
        "--follow",
        "--final",
        &format!("sqlite://{}", db.display()),
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("Add --source URL"),
        "{}",
        stderr(&out)
    );
}
