//! Resume after a kill in every stage of a move to PostgreSQL (issue 24): a real `rekey run` from
//! MariaDB is killed with SIGKILL in each stage, at the worst moment (a step's work done, its
//! journal entry not written), then `rekey run --resume` must finish verified, DB_FINAL equal to
//! SOURCE by meaning (the independent reader), SOURCE unchanged.

mod common;

use common::moving::{Move, BLOG_ZERO_BYTES};
use common::*;

/// The blog without the zero bytes PostgreSQL's text cannot hold.
fn blog(tag: &str) -> Option<Move> {
    let m = Move::from_mysql(tag, BLOG_SOURCE)?;
    m.strip_zero_bytes(&BLOG_ZERO_BYTES);
    Some(m)
}

fn kill_and_resume(stage: &str) {
    kill_and_resume_with(stage, &[]);
}

/// `kill_and_resume`, the run given `extra` (both the killed run and its resume).
fn kill_and_resume_with(stage: &str, extra: &[&str]) {
    let Some(m) = blog(&format!("kill_{}", stage.replace('-', "_"))) else {
        return;
    };
    let server = m.mysql.clone().unwrap();
    let before = fingerprint(&server, &m.source);
    let args = [&["--derive-final"], extra].concat();
    m.killed_in(stage, &args);
    let dir = m.run_dir();
    let j = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let status: String = j
        .query_row("SELECT status FROM stage WHERE name = ?1", [stage], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "running", "the kill landed inside {stage}");

    let out = m.run(&[args.as_slice(), &["--resume"]].concat());
    assert_exit(&out, 0);
    let report = report(&dir);
    assert_eq!(report["status"], "ok");
    let checks = report["verification"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    assert!(m.compare(&["alembic_version"]) > 10_000);
    assert_eq!(fingerprint(&server, &m.source), before, "SOURCE changed");
}

#[test]
fn sigkill_during_transfer_then_resume() {
    kill_and_resume("transfer");
}

#[test]
fn sigkill_during_clone_then_resume() {
    kill_and_resume("clone");
}

#[test]
fn sigkill_during_shadow_then_resume() {
    kill_and_resume("shadow");
}

#[test]
fn sigkill_during_link_then_resume() {
    // A full copy: on the one-write route clone makes every table of a move in its converted
    // definition, and link has nothing to do.
    kill_and_resume_with("link", &["--full-data-copy"]);
}

#[test]
fn sigkill_during_swap_then_resume() {
    kill_and_resume("swap");
}

#[test]
fn sigkill_during_derive_final_then_resume() {
    kill_and_resume("derive-final");
}

#[test]
fn sigkill_during_load_then_resume() {
    kill_and_resume("load");
}

#[test]
fn sigkill_during_verify_then_resume() {
    kill_and_resume("verify");
}

/// A SQLite SOURCE's move killed while its transfer copies, then resumed.
#[test]
fn sigkill_during_a_sqlite_transfer_then_resume() {
    let Some(m) = Move::from_sqlite(
        "kill_sqlite",
        include_str!("../fixtures/shapes/sqlite/source.sql"),
    ) else {
        return;
    };
    let before = std::fs::read(m.sqlite_path().unwrap()).unwrap();
    m.killed_in("transfer", &["--derive-final"]);
    let out = m.run(&["--derive-final", "--resume"]);
    assert_exit(&out, 0);
    assert!(m.compare(&[]) > 150);
    assert_eq!(
        std::fs::read(m.sqlite_path().unwrap()).unwrap(),
        before,
        "SOURCE changed"
    );
}

/// Killed after the copy's foreign keys were committed and before the journal knew: the resumed
/// run does not add them again (SQLite's are nameless: they would be doubled).
#[test]
fn sigkill_after_the_copys_foreign_keys_then_resume() {
    let Some(m) = Move::from_sqlite(
        "kill_links",
        include_str!("../fixtures/shapes/sqlite/source.sql"),
    ) else {
        return;
    };
    m.killed_in("transfer-links", &["--derive-final"]);
    let count = |db: &str| {
        m.pg.text(db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
    };
    let added = count(&m.copy_db());
    assert_ne!(added, "0", "the kill came before the foreign keys");
    let out = m.run(&["--derive-final", "--resume"]);
    assert_exit(&out, 0);
    assert_eq!(count(&m.copy_db()), added, "foreign keys added twice");
    assert!(m.compare(&[]) > 150);
}

/// A run killed between the copy's CREATE SEQUENCE and its OWNED BY (a BIGINT UNSIGNED
/// AUTO_INCREMENT that is not a key numbers rows by a sequence: numeric(20,0) cannot be an
/// identity) left a sequence that dropping the table does not remove. That moment is made here
/// from the kill after the table's copy (the sequence set loose from its table); the resumed run
/// makes the table again over it.
#[test]
fn a_sequence_left_loose_by_a_killed_transfer_does_not_stop_the_resume() {
    let Some(m) = Move::from_mysql(
        "kill_seq",
        "CREATE TABLE counted (code VARCHAR(10) NOT NULL PRIMARY KEY, \
         n BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, UNIQUE KEY (n)) ENGINE=InnoDB; \
         INSERT INTO counted (code) VALUES ('a'), ('b');",
    ) else {
        return;
    };
    m.killed_in("transfer", &["--derive-final"]);
    m.pg.exec(
        &m.copy_db(),
        "DO $$ BEGIN \
         IF to_regclass('counted_n_seq') IS NULL THEN CREATE SEQUENCE counted_n_seq; \
         ELSE ALTER SEQUENCE counted_n_seq OWNED BY NONE; END IF; END $$",
    );
    let out = m.run(&["--derive-final", "--resume"]);
    assert_exit(&out, 0);
    assert!(m.compare(&[]) > 0);
    assert_eq!(
        m.pg.text(
            &m.copy_db(),
            "SELECT pg_get_serial_sequence('counted', 'n') IS NOT NULL"
        ),
        "t"
    );
}
