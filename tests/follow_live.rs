//! The live cutover end to end (`rekey run --follow`, `rekey status`, `rekey cutover`), written
//! once and run on both engines with a change stream: the private binlog MariaDB and the logical
//! PostgreSQL that `scripts/live.sh` starts. A writer keeps changing SOURCE during the whole run
//! (new parents and children, updates, references re-pointed, deletes that cascade, key
//! updates); DB_FINAL must end equal to SOURCE's final state by an independent check that joins
//! each side through its own keys and compares what the rows mean.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::engine::{Databases, Mariadb, TestServer};
use common::follow::*;
use common::pg::Postgres;
use common::*;

/// A private server with a change stream: `var`'s URL (scripts/test.sh sets it after
/// `scripts/live.sh up`). None (skipped, said) only where REKEY_REQUIRE_LIVE and CI are unset.
fn live(var: &str) -> Option<String> {
    let required = std::env::var("REKEY_REQUIRE_LIVE").is_ok() || std::env::var("CI").is_ok();
    match std::env::var(var) {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) if required => panic!("{var} is required: run scripts/live.sh up and set it"),
        Err(_) => {
            eprintln!("SKIPPED: {var} is not set; run scripts/live.sh up");
            None
        }
    }
}

fn live_mariadb() -> Option<Mariadb> {
    live("REKEY_TEST_LIVE_MYSQL_URL").map(Mariadb)
}

fn live_postgres() -> Option<Postgres> {
    live("REKEY_TEST_LIVE_POSTGRES_URL").map(|base| Postgres { base })
}

/// A whole live cutover with the application writing throughout: snapshot, convert, load,
/// verify, follow, `status` saying `following` with its lag, cutover; then DB_FINAL means what
/// SOURCE means, the follower exited 0 and the report holds the freeze.
fn a_live_cutover_keeps_every_change<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
    mapped: bool,
) {
    let dbs = live_databases(server.clone(), tag, 300);
    if mapped {
        // A negative key cannot derive its UUID: authors and posts get mapped keys, and every
        // row born during the follow a new random one, recorded in the map file first.
        dbs.server.load(
            &dbs.source,
            "INSERT INTO authors VALUES (-1, 'author-negative');
             INSERT INTO posts VALUES (-1, -1, 'post-negative', 'b');",
        );
    }
    let _leftovers = Leftovers(&dbs);
    let stop = Arc::new(AtomicBool::new(false));
    let app = writer(server.clone(), dbs.source.clone(), stop.clone());
    let mut child = spawn_follow(&dbs, &[]);
    let st = wait_following(&dbs, &mut child);
    assert!(st["follow"]["lag_seconds"].is_number(), "{st}");
    // The application keeps writing while DB_FINAL follows.
    std::thread::sleep(Duration::from_secs(2));
    let text = stdout(&rekey(&[
        "status",
        "--run-dir",
        dbs.run_dir().to_str().unwrap(),
    ]));
    assert!(text.contains("following SOURCE"), "{text}");
    assert!(text.contains("following: lag"), "{text}");
    stop.store(true, Ordering::SeqCst);
    let writes = app.join().unwrap();
    assert!(writes > 20, "the writer made only {writes} writes");
    let out = cutover(&dbs);
    assert_exit(&out, 0);
    let said = stdout(&out);
    assert!(said.contains("write freeze:"), "{said}");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(30)),
        Some(0),
        "{}",
        follower_output(&dbs)
    );
    assert_eq!(
        meaning(&dbs.server, &dbs.source),
        meaning(&dbs.server, &dbs.final_db),
        "DB_FINAL differs from SOURCE"
    );
    // Rows born during the follow are there with their new keys, not their old ones.
    let born = dbs.server.texts(
        &dbs.final_db,
        "SELECT CONCAT(p.title, '|', a.name) FROM posts p JOIN authors a ON a.id = p.author_id WHERE p.title = 'post-100003'",
    );
    assert_eq!(born, vec![Some("post-100003|author-100003".to_string())]);
    if mapped {
        // The keys were mapped indeed: shadow wrote a mapping table for them.
        assert!(
            !dbs.server
                .columns(&dbs.data, "_rekey_map_authors")
                .is_empty(),
            "authors' keys were not mapped"
        );
    }
    // The map files keep every old id, those born during the follow too.
    for table in ["authors", "posts", "comments"] {
        assert!(
            mapping(&dbs.run_dir(), table).contains_key("100003"),
            "{table}'s map file lacks the row born during the follow"
        );
    }
    let st = status(&dbs.run_dir());
    assert_eq!(st["state"], "finished", "{st}");
    assert!(!dbs.server.exists(&format!("{}_snapshot", dbs.data)));
}

/// The follower killed while the application writes, resumed with `--resume`, then cut over:
/// nothing applied twice, nothing lost. Then a cutover killed halfway and run again.
fn a_killed_follower_and_a_killed_cutover_resume<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
) {
    let dbs = live_databases(server.clone(), tag, 200);
    let _leftovers = Leftovers(&dbs);
    let stop = Arc::new(AtomicBool::new(false));
    let app = writer(server.clone(), dbs.source.clone(), stop.clone());
    let mut child = spawn_follow(&dbs, &[]);
    wait_following(&dbs, &mut child);
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let st = status(&dbs.run_dir());
    assert_eq!(st["state"], "stopped", "{st}");
    std::thread::sleep(Duration::from_millis(800));
    let mut child = spawn_follow(&dbs, &["--resume"]);
    wait_following(&dbs, &mut child);
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    app.join().unwrap();
    // The follower is gone: the cutover applies what it left, itself. Killed at three moments
    // (draining, checking, letting go), each time run again.
    for delay in [150, 400, 900] {
        let mut attempt = Command::new(env!("CARGO_BIN_EXE_rekey"))
            .args([
                "cutover",
                "--quiet",
                "--run-dir",
                dbs.run_dir().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = attempt.kill();
        let _ = attempt.wait();
    }
    // Run again, it finishes; or an attempt got to the end before its kill, and it says so.
    let out = cutover(&dbs);
    let done_before = out.status.code() == Some(2) && stderr(&out).contains("cut over already");
    if !done_before {
        assert_exit(&out, 0);
    }
    assert_eq!(status(&dbs.run_dir())["state"], "finished");
    assert_eq!(
        meaning(&dbs.server, &dbs.source),
        meaning(&dbs.server, &dbs.final_db),
        "DB_FINAL differs from SOURCE"
    );
}

/// A schema change on SOURCE during the follow stops the follower with exit 3, naming it: the
/// follow never diverges in silence.
fn ddl_during_the_follow_stops_it<S: TestServer + Clone + Send + 'static>(server: S, tag: &str) {
    let dbs = live_databases(server.clone(), tag, 50);
    let _leftovers = Leftovers(&dbs);
    let mut child = spawn_follow(&dbs, &[]);
    wait_following(&dbs, &mut child);
    dbs.server
        .load(&dbs.source, "ALTER TABLE posts ADD COLUMN extra INT NULL");
    dbs.server.load(
        &dbs.source,
        "INSERT INTO authors VALUES (900001, 'author-900001')",
    );
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(60)),
        Some(3),
        "{}",
        follower_output(&dbs)
    );
    let err = follower_output(&dbs);
    assert!(err.contains("posts"), "{err}");
}

/// A schema change between the snapshot and the follow's start (while the copy is converted and
/// loaded) is caught too: the follow never starts on a shape the snapshot did not have.
fn ddl_after_the_snapshot_stops_the_follow<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
) {
    let dbs = live_databases(server.clone(), tag, 50);
    let _leftovers = Leftovers(&dbs);
    let mut child = spawn_follow(&dbs, &[]);
    let start = Instant::now();
    loop {
        let st = status(&dbs.run_dir());
        let snapshot_done = st["stages"].as_array().is_some_and(|s| {
            s.iter()
                .any(|l| l["stage"] == "snapshot" && l["status"] == "done")
        });
        if snapshot_done {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{st}");
        std::thread::sleep(Duration::from_millis(5));
    }
    dbs.server.load(
        &dbs.source,
        "ALTER TABLE comments ADD COLUMN extra INT NULL",
    );
    dbs.server.load(
        &dbs.source,
        "INSERT INTO authors VALUES (900002, 'author-900002')",
    );
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(60)),
        Some(3),
        "{}",
        follower_output(&dbs)
    );
    let err = follower_output(&dbs);
    assert!(err.contains("comments"), "{err}");
}

/// A run killed while it copies SOURCE's snapshot (held there by a lock on SOURCE that the copy
/// waits for) is resumed with `--resume`: the snapshot is taken again, whole, and the live
/// cutover ends with DB_FINAL meaning what SOURCE means. `hold` takes the lock and returns what
/// holds it.
fn a_run_killed_in_its_snapshot_resumes<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
    hold: impl FnOnce(&Databases<S>) -> Box<dyn std::any::Any>,
) {
    let dbs = live_databases(server.clone(), tag, 100);
    let _leftovers = Leftovers(&dbs);
    let lock = hold(&dbs);
    let mut child = spawn_follow(&dbs, &[]);
    let start = Instant::now();
    loop {
        let st = status(&dbs.run_dir());
        let copying = st["stages"].as_array().is_some_and(|s| {
            s.iter()
                .any(|l| l["stage"] == "snapshot" && l["status"] == "running")
        });
        if copying {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Waiting for the lock inside the copy.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    // The dump rekey started dies with it: left waiting on the lock, it would write into the
    // snapshot copy that the resumed run makes again.
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("dump") && c.contains(&dbs.source))
        .collect();
    assert!(
        left.is_empty(),
        "left running after rekey was killed: {left:?}"
    );
    drop(lock);
    dbs.server.load(
        &dbs.source,
        "INSERT INTO authors VALUES (900003, 'author-900003')",
    );
    let mut child = spawn_follow(&dbs, &["--resume"]);
    wait_following(&dbs, &mut child);
    dbs.server.load(
        &dbs.source,
        "INSERT INTO authors VALUES (900004, 'author-900004')",
    );
    let out = cutover(&dbs);
    assert_exit(&out, 0);
    assert_eq!(
        meaning(&dbs.server, &dbs.source),
        meaning(&dbs.server, &dbs.final_db),
        "DB_FINAL differs from SOURCE"
    );
    let _ = wait_exit(&mut child, Duration::from_secs(30));
}

#[test]
fn mariadb_a_run_killed_in_its_snapshot_resumes() {
    let Some(s) = live_mariadb() else { return };
    let url = s.0.clone();
    a_run_killed_in_its_snapshot_resumes(s, "fsnapkill", move |dbs| {
        use mysql::prelude::Queryable;
        let mut c = conn(&url, Some(&dbs.source));
        c.query_drop("LOCK TABLES posts WRITE").unwrap();
        Box::new(c)
    });
}

#[test]
fn postgres_a_run_killed_in_its_snapshot_resumes() {
    let Some(s) = live_postgres() else { return };
    let pg = s.clone();
    a_run_killed_in_its_snapshot_resumes(s, "fsnapkill", move |dbs| {
        let mut c = pg.client(&dbs.source);
        c.batch_execute("BEGIN; LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        Box::new(c)
    });
}

/// DB_FINAL's triggers stay set aside while following (the rows they would write come in the
/// stream: an AFTER INSERT trigger's audit rows would be written twice, or, on a UUID key
/// without a default, fail) and are back after the cutover. `fixture` adds SOURCE's audit table
/// and trigger; `trigger_count` counts the trigger in a database.
fn triggers_stay_aside_while_following<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
    fixture: &str,
    trigger_count: &str,
) {
    let dbs = live_databases(server.clone(), tag, 50);
    dbs.server.load(&dbs.source, fixture);
    let _leftovers = Leftovers(&dbs);
    let mut child = spawn_follow(&dbs, &[]);
    wait_following(&dbs, &mut child);
    for i in 0..5 {
        dbs.server.load(
            &dbs.source,
            &format!(
                "INSERT INTO posts VALUES ({id}, 1, 'post-{id}', 'b')",
                id = 700_000 + i
            ),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let out = cutover(&dbs);
    assert_exit(&out, 0);
    let count = |db: &str, sql: &str| dbs.server.texts(db, sql);
    assert_eq!(
        count(&dbs.source, "SELECT COUNT(*) FROM audit"),
        count(&dbs.final_db, "SELECT COUNT(*) FROM audit"),
        "the audit rows the trigger wrote on SOURCE"
    );
    assert_eq!(
        meaning(&dbs.server, &dbs.source),
        meaning(&dbs.server, &dbs.final_db)
    );
    assert_eq!(count(&dbs.final_db, trigger_count), vec![Some("1".into())]);
    let _ = wait_exit(&mut child, Duration::from_secs(30));
}

#[test]
fn mariadb_triggers_stay_aside_while_following() {
    let Some(s) = live_mariadb() else { return };
    triggers_stay_aside_while_following(
        s,
        "ftrig",
        "CREATE TABLE audit (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, note VARCHAR(80) NOT NULL);
         CREATE TRIGGER posts_audit AFTER INSERT ON posts FOR EACH ROW INSERT INTO audit (note) VALUES (NEW.title);",
        "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'posts_audit'",
    );
}

#[test]
fn postgres_triggers_stay_aside_while_following() {
    let Some(s) = live_postgres() else { return };
    triggers_stay_aside_while_following(
        s,
        "ftrig",
        "CREATE TABLE audit (id serial PRIMARY KEY, note VARCHAR(80) NOT NULL);
         CREATE FUNCTION posts_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (note) VALUES (NEW.title); RETURN NEW; END $$;
         CREATE TRIGGER posts_audit AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION posts_audit();",
        "SELECT count(*) FROM pg_trigger WHERE tgname = 'posts_audit'",
    );
}

/// An application still writing during the cutover: refused (exit 3, nothing handed over), then
/// run again once it stopped.
fn writes_during_the_cutover_are_refused<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
) {
    let dbs = live_databases(server.clone(), tag, 100);
    let _leftovers = Leftovers(&dbs);
    let mut child = spawn_follow(&dbs, &[]);
    wait_following(&dbs, &mut child);
    let stop = Arc::new(AtomicBool::new(false));
    let app = writer(server.clone(), dbs.source.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    let out = cutover(&dbs);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("still being written"),
        "{}",
        stderr(&out)
    );
    stop.store(true, Ordering::SeqCst);
    app.join().unwrap();
    let out = cutover(&dbs);
    assert_exit(&out, 0);
    assert_eq!(
        meaning(&dbs.server, &dbs.source),
        meaning(&dbs.server, &dbs.final_db),
        "DB_FINAL differs from SOURCE"
    );
    let _ = wait_exit(&mut child, Duration::from_secs(30));
}

#[test]
fn mariadb_writes_during_the_cutover_are_refused() {
    let Some(s) = live_mariadb() else { return };
    writes_during_the_cutover_are_refused(s, "fwrite");
}

#[test]
fn postgres_writes_during_the_cutover_are_refused() {
    let Some(s) = live_postgres() else { return };
    writes_during_the_cutover_are_refused(s, "fwrite");
}

#[test]
fn mariadb_ddl_after_the_snapshot_stops_the_follow() {
    let Some(s) = live_mariadb() else { return };
    ddl_after_the_snapshot_stops_the_follow(s, "fsnap");
}

#[test]
fn postgres_ddl_after_the_snapshot_stops_the_follow() {
    let Some(s) = live_postgres() else { return };
    ddl_after_the_snapshot_stops_the_follow(s, "fsnap");
}

#[test]
fn mariadb_a_live_cutover_keeps_every_change() {
    let Some(s) = live_mariadb() else { return };
    a_live_cutover_keeps_every_change(s, "flive", false);
}

#[test]
fn mariadb_a_live_cutover_with_mapped_keys_keeps_every_change() {
    let Some(s) = live_mariadb() else { return };
    a_live_cutover_keeps_every_change(s, "fmap", true);
}

#[test]
fn postgres_a_live_cutover_with_mapped_keys_keeps_every_change() {
    let Some(s) = live_postgres() else { return };
    a_live_cutover_keeps_every_change(s, "fmap", true);
}

#[test]
fn postgres_a_live_cutover_keeps_every_change() {
    let Some(s) = live_postgres() else { return };
    a_live_cutover_keeps_every_change(s, "flive", false);
}

#[test]
fn mariadb_a_killed_follower_and_a_killed_cutover_resume() {
    let Some(s) = live_mariadb() else { return };
    a_killed_follower_and_a_killed_cutover_resume(s, "fkill");
}

#[test]
fn postgres_a_killed_follower_and_a_killed_cutover_resume() {
    let Some(s) = live_postgres() else { return };
    a_killed_follower_and_a_killed_cutover_resume(s, "fkill");
}

#[test]
fn mariadb_ddl_during_the_follow_stops_it() {
    let Some(s) = live_mariadb() else { return };
    ddl_during_the_follow_stops_it(s, "fddl");
}

#[test]
fn postgres_ddl_during_the_follow_stops_it() {
    let Some(s) = live_postgres() else { return };
    ddl_during_the_follow_stops_it(s, "fddl");
}

/// SQLite has no change stream another process can read: refused before anything is written.
#[test]
fn sqlite_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| format!("sqlite://{}", dir.path().join(f).display());
    let run_dir = dir.path().join("run");
    let out = rekey(&[
        "run",
        "--follow",
        "--source",
        &p("a.db"),
        "--data",
        &p("b.db"),
        "--final",
        &p("c.db"),
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("without --follow"),
        "{}",
        stderr(&out)
    );
    assert!(!run_dir.exists());
}

/// `rekey cutover` on a run that is not live, or on nothing, says what to do.
#[test]
fn cutover_of_a_run_that_is_not_live_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = rekey(&[
        "cutover",
        "--run-dir",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("rekey run --follow"),
        "{}",
        stderr(&out)
    );
}
