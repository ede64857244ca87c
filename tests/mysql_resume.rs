//! Resume after a kill: a real `rekey run` (the binary) is killed with SIGKILL in each of clone,
//! link, swap and load, at the worst moment (a step's work done, its journal entry not written),
//! then `rekey run --resume` must finish with a verified DB_FINAL, nothing duplicated or lost.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use mysql::prelude::Queryable;

fn stage_status(dbs: &Dbs, stage: &str) -> Option<String> {
    let j = rusqlite::Connection::open(dbs.run_dir().join("journal.sqlite")).unwrap();
    j.query_row("SELECT status FROM stage WHERE name = ?1", [stage], |r| {
        r.get(0)
    })
    .ok()
}

fn table_counts(dbs: &Dbs, db: &str) -> Vec<(String, u64)> {
    let mut c = dbs.conn(db);
    let tables: Vec<String> = c.query(format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME NOT LIKE '\\_rekey\\_%' AND TABLE_NAME <> 'alembic_version' ORDER BY 1")).unwrap();
    tables
        .into_iter()
        .map(|t| {
            let n: u64 = c
                .query_first(format!("SELECT COUNT(*) FROM `{t}`"))
                .unwrap()
                .unwrap();
            (t, n)
        })
        .collect()
}

/// Killed inside `stage` of a run with `extra` arguments, then resumed with them.
fn kill_and_resume(stage: &str, extra: &[&str]) {
    let Some(server) = server() else { return };
    let dbs = Dbs::blog(&server, &format!("kill_{stage}"));
    let source_before = fingerprint(&server, &dbs.source);
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_args(&dbs, [&s, &d, &f], stage, extra);
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        stage_status(&dbs, stage).as_deref(),
        Some("running"),
        "the kill landed inside {stage}"
    );

    let out = dbs.run(&[&["--resume"], extra].concat());
    assert_exit(&out, 0);
    let report = report(&dbs.run_dir());
    assert_eq!(report["status"], "ok");
    let checks = report["verification"].as_array().unwrap();
    assert_eq!(checks.len(), 9);
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    // Nothing duplicated or lost: DB_FINAL has exactly SOURCE's rows.
    assert_eq!(
        table_counts(&dbs, &dbs.final_db),
        table_counts(&dbs, &dbs.source)
    );
    assert_eq!(
        fingerprint(&server, &dbs.source),
        source_before,
        "SOURCE changed"
    );
    let triggers: u64 = dbs
        .conn(&dbs.final_db)
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
        )
        .unwrap()
        .unwrap();
    assert_eq!(triggers, 1, "DB_FINAL's trigger is back");
}

#[test]
fn sigkill_during_clone_then_resume() {
    kill_and_resume("clone", &[]);
}

#[test]
fn sigkill_during_shadow_then_resume() {
    // The one-write route: clone made the tables converted and started the map files.
    kill_and_resume("shadow", &[]);
}

#[test]
fn sigkill_during_link_then_resume() {
    // The staged path a rehearsal takes: on the one-write route MariaDB's clone makes each table
    // converted and link has nothing to do.
    kill_and_resume("link", &["--full-data-copy"]);
}

#[test]
fn sigkill_during_swap_then_resume() {
    kill_and_resume("swap", &[]);
}

#[test]
fn sigkill_during_load_then_resume() {
    kill_and_resume("load", &[]);
}

/// The map files of tables with derived keys are written in the background while the stages
/// after clone (MariaDB's one-write route) or shadow run: a run killed before one was written (its
/// shadow step journaled done) writes it on `--resume`, and verify finds it exact.
#[test]
fn a_map_file_the_background_writer_did_not_write_is_written_on_resume() {
    let Some(server) = server() else { return };
    let dbs = Dbs::blog(&server, "kill_maps");
    let mut child = spawn_stalling(&dbs, "swap");
    wait_for_stall(&dbs, &mut child);
    // A table whose keys are derived (the journal names what they derive from).
    let table: String = journal_value(
        &dbs.run_dir(),
        "SELECT name FROM artifact WHERE kind = 'keys' AND detail <> '' ORDER BY name LIMIT 1",
    );
    let map = dbs.run_dir().join("map").join(format!("{table}.csv"));
    // Once the writer has finished (its files appear complete), the kill is made to look as if
    // it came first: the file is taken away.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !map.exists() {
        assert!(Instant::now() < deadline, "the map file was never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = std::fs::read_to_string(&map).unwrap();
    std::fs::remove_file(&map).unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(stage_status(&dbs, "shadow").as_deref(), Some("done"));

    let out = dbs.run(&["--resume"]);
    assert_exit(&out, 0);
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
    assert_eq!(std::fs::read_to_string(&map).unwrap(), written);
}

/// `rekey clean` keeps the map files and forgets the run's secret: a new run in the directory
/// that is killed while its own map files are still being written must not take the earlier
/// run's for its own on `--resume` (verify would then find every key different).
#[test]
fn a_map_file_an_earlier_run_left_is_not_taken_for_this_runs() {
    let Some(server) = server() else { return };
    let dbs = Dbs::blog(&server, "stale_maps");
    assert_exit(&dbs.run(&[]), 0);
    let map_dir = dbs.run_dir().join("map");
    let maps = || -> std::collections::BTreeMap<String, String> {
        std::fs::read_dir(&map_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.file_name().unwrap().to_string_lossy().into_owned(), text)
            })
            .collect()
    };
    let earlier = maps();
    assert!(earlier.values().any(|t| t.lines().count() > 1));
    let dir = dbs.run_dir();
    assert_exit(&rekey(&["clean", "--run-dir", dir.to_str().unwrap()]), 0);
    // DB_FINAL empty again, as the application's migrations leave it.
    let mut c = dbs.conn(&dbs.source);
    c.query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    c.query_drop(format!("CREATE DATABASE `{}`", dbs.final_db))
        .unwrap();
    load_sql(&server, &dbs.final_db, BLOG_FINAL);

    killed_in(&dbs, "shadow");
    let out = dbs.run(&["--resume"]);
    assert_exit(&out, 0);
    assert_eq!(report(&dir)["status"], "ok");
    let now = maps();
    // Every key is new (a table without rows has a map file of its header alone either way).
    for (name, text) in earlier.iter().filter(|(_, t)| t.lines().count() > 1) {
        assert_ne!(now.get(name), Some(text), "{name} is the earlier run's");
    }
}

#[test]
fn ctrl_c_stops_at_a_safe_point_and_says_how_to_resume() {
    let Some(server) = server() else { return };
    let dbs = Dbs::blog(&server, "ctrlc");
    // The staged path, whose shadow steps each change a table (on the one-write route they are
    // done before the signal comes).
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_args(&dbs, [&s, &d, &f], "shadow", &["--full-data-copy"]);
    wait_for_stall(&dbs, &mut child);
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interrupted at a safe point") && err.contains("--resume"),
        "{err}"
    );
    // The journal (and so the report and `rekey status`) says where the run was stopped: in
    // shadow, or, when the other worker finished shadow's last steps before the signal, at the
    // start of the next stage.
    let (shadow, link) = (stage_status(&dbs, "shadow"), stage_status(&dbs, "link"));
    assert!(
        shadow.as_deref() == Some("interrupted")
            || (shadow.as_deref() == Some("done") && link.as_deref() == Some("interrupted")),
        "shadow {shadow:?}, link {link:?}"
    );
    assert_exit(&dbs.run(&["--resume", "--full-data-copy"]), 0);
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
}

#[test]
fn resume_without_a_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = rekey(&[
        "convert",
        "--source",
        "sqlite://nowhere.db",
        "--data",
        "sqlite://nowhere2.db",
        "--run-dir",
        dir.path().join("x").to_str().unwrap(),
        "--resume",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("holds no run to resume"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn resume_stops_statements_the_killed_run_left_on_the_server() {
    let Some(server) = server() else { return };
    let dbs = Dbs::blog(&server, "leftover");
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
    // A statement of the killed run still running on the server, tagged as rekey tags its own.
    let mut leftover = dbs.conn(&dbs.source);
    let sleeper = std::thread::spawn(move || {
        let started = Instant::now();
        let result = leftover.query_drop(format!("/* rekey:{run_id} */ SELECT SLEEP(120)"));
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
