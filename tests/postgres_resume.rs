//! Resume after a kill on PostgreSQL: a real `rekey run` is killed with SIGKILL in each of clone,
//! shadow, link, swap, load and verify, at the worst moment (a step's work done, its journal entry
//! not written), then `rekey run --resume` must finish verified, nothing duplicated or lost,
//! SOURCE unchanged and DB_FINAL's trigger back in its state; and a resumed run ends what the
//! killed one left running on the server.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::engine::{Databases, TestServer};
use common::pg::*;
use common::*;

fn spawn_stalling(dbs: &Databases<Postgres>, stage: &str) -> Child {
    spawn_stalling_with(dbs, stage, &[])
}

/// `spawn_stalling`, the run given `extra`.
fn spawn_stalling_with(dbs: &Databases<Postgres>, stage: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.data_url(),
            "--final",
            &dbs.final_url(),
        ])
        .args([
            "--run-dir",
            dbs.run_dir().to_str().unwrap(),
            "-q",
            "--jobs",
            "2",
            "--uuid-format",
            "native",
        ])
        .args(extra)
        .env("REKEY_TEST_STALL_AFTER_STEP", stage)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_stall(dbs: &Databases<Postgres>, child: &mut Child) {
    common::wait_for_stall_at(&dbs.run_dir(), child);
}

fn stage_status(dbs: &Databases<Postgres>, stage: &str) -> Option<String> {
    let j = rusqlite::Connection::open(dbs.run_dir().join("journal.sqlite")).unwrap();
    j.query_row("SELECT status FROM stage WHERE name = ?1", [stage], |r| {
        r.get(0)
    })
    .ok()
}

fn table_counts(pg: &Postgres, db: &str) -> Vec<(String, String)> {
    pg.texts(db, "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND relkind = 'r' AND relname NOT LIKE '\\_rekey\\_%' AND relname <> 'alembic_version' ORDER BY 1")
        .into_iter()
        .flatten()
        .map(|t| {
            let n = pg.text(db, &format!("SELECT count(*) FROM \"{t}\""));
            (t, n)
        })
        .collect()
}

fn kill_and_resume(stage: &str) {
    kill_and_resume_with(stage, &[]);
}

/// `kill_and_resume`, the run given `extra` (both the killed run and its resume).
fn kill_and_resume_with(stage: &str, extra: &[&str]) {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, &format!("kill_{stage}"));
    let source_before = pg.fingerprint(&dbs.source);
    let mut child = spawn_stalling_with(&dbs, stage, extra);
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        stage_status(&dbs, stage).as_deref(),
        Some("running"),
        "the kill landed inside {stage}"
    );

    let out = dbs.run(&[extra, &["--resume"]].concat());
    assert_exit(&out, 0);
    let report = report(&dbs.run_dir());
    assert_eq!(report["status"], "ok");
    let checks = report["verification"].as_array().unwrap();
    assert_eq!(checks.len(), 9);
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    assert_eq!(
        table_counts(&pg, &dbs.final_db),
        table_counts(&pg, &dbs.source)
    );
    assert_eq!(pg.fingerprint(&dbs.source), source_before, "SOURCE changed");
    assert_eq!(
        pg.text(&dbs.final_db, "SELECT string_agg(tgname || ':' || tgenabled::text, ',') FROM pg_trigger WHERE NOT tgisinternal"),
        "trg_content_item_title_upper:O",
        "DB_FINAL's trigger is back, enabled"
    );
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT count(*) FROM content_item WHERE title <> upper(title)"
        ),
        pg.text(
            &dbs.source,
            "SELECT count(*) FROM content_item WHERE title <> upper(title)"
        )
    );
}

#[test]
fn sigkill_during_clone_then_resume() {
    kill_and_resume("clone");
}

#[test]
fn sigkill_during_shadow_then_resume() {
    kill_and_resume("shadow");
}

/// Shadow and swap of the staged path a rehearsal takes, where they reshape DB_DATA's copy (on
/// the one-write route clone makes each table converted and they have nothing to do to it).
#[test]
fn sigkill_during_shadow_of_a_full_copy_then_resume() {
    kill_and_resume_with("shadow", &["--full-data-copy"]);
}

#[test]
fn sigkill_during_swap_of_a_full_copy_then_resume() {
    kill_and_resume_with("swap", &["--full-data-copy"]);
}

#[test]
fn sigkill_during_link_then_resume() {
    // The staged path a rehearsal takes: on the one-write route clone makes each table
    // converted and link has nothing to do.
    kill_and_resume_with("link", &["--full-data-copy"]);
}

#[test]
fn sigkill_during_swap_then_resume() {
    kill_and_resume("swap");
}

#[test]
fn sigkill_during_load_then_resume() {
    kill_and_resume("load");
}

#[test]
fn sigkill_during_verify_then_resume() {
    kill_and_resume("verify");
}

#[test]
fn resume_stops_statements_the_killed_run_left_on_the_server() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "leftover");
    let mut child = spawn_stalling(&dbs, "swap");
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id: String = rusqlite::Connection::open(dbs.run_dir().join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT value FROM run WHERE key = 'run_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // A statement of the killed run still running on DB_DATA, tagged as rekey tags its own.
    let mut leftover = pg.client(&dbs.data);
    let sleeper = std::thread::spawn(move || {
        let started = Instant::now();
        let result = leftover.batch_execute(&format!("/* rekey:{run_id} */ SELECT pg_sleep(120)"));
        (result.is_err(), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    let out = dbs.run(&["--resume"]);
    assert_exit(&out, 0);
    let (killed, took) = sleeper.join().unwrap();
    assert!(
        killed && took < Duration::from_secs(60),
        "the leftover statement was not stopped ({took:?})"
    );
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
}

#[test]
fn a_resume_takes_over_the_final_database_its_own_derive_final_created() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "retake");
    pg.drop_database(&dbs.final_db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--source", &dbs.src_url(), "--data", &dbs.data_url()])
        .args(["--final", &dbs.final_url(), "--derive-final", "-q"])
        .args(["--run-dir", dbs.run_dir().to_str().unwrap()])
        .env("REKEY_TEST_STALL_AFTER_STEP", "derive-final")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        pg.exists(&dbs.final_db),
        "derive-final had created DB_FINAL"
    );
    let out = dbs.run(&["--derive-final", "--resume"]);
    assert_exit(&out, 0);
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
    assert_eq!(
        table_counts(&pg, &dbs.final_db),
        table_counts(&pg, &dbs.source)
    );
}

#[test]
fn a_second_process_on_the_same_databases_is_refused_whatever_its_run_directory() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "srvlock");
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut first = spawn_stalling(&dbs, "clone");
    wait_for_stall(&dbs, &mut first);
    let native = ["--uuid-format", "native"];
    let out = run_in([&s, &d, &f], &dbs.dir.path().join("other"), &native);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("in use by another rekey process") && err.contains("rekey lock, pid"),
        "{err}"
    );
    let copy = dbs.dir.path().join("copy");
    copy_dir(&dbs.run_dir(), &copy);
    let out = run_in([&s, &d, &f], &copy, &["--resume"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("in use by another rekey process"),
        "{}",
        stderr(&out)
    );
    assert!(first.try_wait().unwrap().is_none(), "the live run ended");
    first.kill().unwrap();
    first.wait().unwrap();
    assert_exit(&dbs.run(&["--resume"]), 0);
}
