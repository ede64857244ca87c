//! A public sample nobody on this project wrote, moved to PostgreSQL (issue 24): Chinook 1.4.5
//! (MIT, lerocha/chinook-database, commit 7f67772, scripts/samples/README.md) from MariaDB and from
//! SQLite, with `--derive-final`, checked row by row and reference by reference by the independent
//! reader. The sample is not committed: these tests need its repository and say so (ignored by
//! default, never passing without it):
//!
//!     REKEY_CHINOOK=/path/to/chinook-database cargo test --test move_samples -- --ignored

mod common;

use std::path::PathBuf;

use common::moving::Move;
use common::*;

fn chinook() -> PathBuf {
    let repo = std::env::var("REKEY_CHINOOK")
        .expect("REKEY_CHINOOK must name a checkout of lerocha/chinook-database");
    PathBuf::from(repo).join("ChinookDatabase/DataSources")
}

#[test]
#[ignore = "needs the Chinook repository: REKEY_CHINOOK=/path cargo test --test move_samples -- --ignored"]
fn chinook_moves_from_mariadb_to_postgres() {
    let sql = std::fs::read_to_string(chinook().join("Chinook_MySql.sql")).unwrap();
    // The script makes its own database; it goes into the test's.
    let sql: String = sql
        .lines()
        .filter(|l| {
            !(l.starts_with("DROP DATABASE")
                || l.starts_with("CREATE DATABASE")
                || l.starts_with("USE "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let Some(m) = Move::from_mysql("chinook", "") else {
        return;
    };
    let out = std::process::Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            "-uroot",
            "--default-character-set=utf8mb4",
            &m.source,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(sql.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "loading Chinook failed");
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    let compared = m.compare(&[]);
    assert!(compared > 50_000, "{compared}");
    eprintln!("chinook MariaDB -> PostgreSQL: {compared} values compared by meaning");
}

#[test]
#[ignore = "needs the Chinook repository: REKEY_CHINOOK=/path cargo test --test move_samples -- --ignored"]
fn chinook_moves_from_sqlite_to_postgres() {
    let Some(m) = Move::from_sqlite("sqchinook", "") else {
        return;
    };
    std::fs::copy(
        chinook().join("Chinook_Sqlite.sqlite"),
        m.sqlite_path().unwrap(),
    )
    .unwrap();
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    let compared = m.compare(&[]);
    assert!(compared > 50_000, "{compared}");
    eprintln!("chinook SQLite -> PostgreSQL: {compared} values compared by meaning");
}
