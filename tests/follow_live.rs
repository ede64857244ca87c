//! The live cutover end to end (`rekey run --follow`, `rekey status`, `rekey cutover`), written
//! once and run on both engines with a change stream: the private binlog MariaDB and the logical
//! PostgreSQL that `scripts/live.sh` starts. A writer keeps changing SOURCE during the whole run
//! (new parents and children, updates, references re-pointed, deletes that cascade, key
//! updates); DB_FINAL must end equal to SOURCE's final state by an independent check that joins
//! each side through its own keys and compares what the rows mean.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::engine::{Databases, Mariadb, TestServer};
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

const SCHEMA: &str = "
CREATE TABLE authors (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE);
CREATE TABLE posts (id INT NOT NULL PRIMARY KEY, author_id INT NOT NULL, title VARCHAR(80) NOT NULL UNIQUE, body TEXT,
  FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE comments (id INT NOT NULL PRIMARY KEY, post_id INT NOT NULL, author_id INT NULL, note VARCHAR(80) NOT NULL UNIQUE,
  FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE SET NULL ON UPDATE CASCADE);
";

/// SOURCE's first rows: `n` authors, two posts each, a comment per post by another author.
fn seed<S: TestServer>(dbs: &Databases<S>, n: u32) {
    dbs.server.load(&dbs.source, SCHEMA);
    let mut sql = String::new();
    let authors: Vec<String> = (1..=n).map(|i| format!("({i}, 'author-{i}')")).collect();
    sql.push_str(&format!(
        "INSERT INTO authors VALUES {};\n",
        authors.join(", ")
    ));
    let posts: Vec<String> = (1..=2 * n)
        .map(|p| format!("({p}, {}, 'post-{p}', 'body {p}')", (p - 1) / 2 + 1))
        .collect();
    sql.push_str(&format!("INSERT INTO posts VALUES {};\n", posts.join(", ")));
    let comments: Vec<String> = (1..=2 * n)
        .map(|c| format!("({c}, {c}, {}, 'comment-{c}')", c % n + 1))
        .collect();
    sql.push_str(&format!(
        "INSERT INTO comments VALUES {};\n",
        comments.join(", ")
    ));
    dbs.server.load(&dbs.source, &sql);
}

/// The application: keeps writing to SOURCE until told to stop. Returns the writes made.
fn writer<S: TestServer + Send + 'static>(
    server: S,
    db: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let first =
            |sql: &str| -> Option<String> { server.texts(&db, sql).into_iter().next().flatten() };
        let mut i = 0u32;
        while !stop.load(Ordering::SeqCst) {
            i += 1;
            let id = 100_000 + i;
            let sql = match i % 6 {
                // A new parent, its child, and a grandchild by an older author.
                0 | 3 => format!(
                    "INSERT INTO authors VALUES ({id}, 'author-{id}');
                     INSERT INTO posts VALUES ({id}, {id}, 'post-{id}', 'body {id}');
                     INSERT INTO comments VALUES ({id}, {id}, 1, 'comment-{id}');"
                ),
                // An update of content.
                1 => match first("SELECT id FROM posts ORDER BY id DESC LIMIT 1 OFFSET 2") {
                    Some(p) => format!("UPDATE posts SET body = 'edited {i}' WHERE id = {p}"),
                    None => continue,
                },
                // A reference re-pointed to another parent.
                2 => match (
                    first("SELECT id FROM comments ORDER BY id DESC LIMIT 1 OFFSET 1"),
                    first("SELECT id FROM posts ORDER BY id LIMIT 1 OFFSET 5"),
                ) {
                    (Some(c), Some(p)) => {
                        format!("UPDATE comments SET post_id = {p} WHERE id = {c}")
                    }
                    _ => continue,
                },
                // A delete that cascades to the children.
                4 => match first("SELECT id FROM posts ORDER BY id LIMIT 1 OFFSET 7") {
                    Some(p) => format!("DELETE FROM posts WHERE id = {p}"),
                    None => continue,
                },
                // A key update (ON UPDATE CASCADE) and, every other time, a parent's delete
                // (CASCADE and SET NULL).
                _ => match first(
                    "SELECT id FROM authors WHERE id < 1000000 ORDER BY id LIMIT 1 OFFSET 3",
                ) {
                    Some(a) if i % 12 == 5 => format!("DELETE FROM authors WHERE id = {a}"),
                    Some(a) => format!("UPDATE authors SET id = id + 1000000 WHERE id = {a}"),
                    None => continue,
                },
            };
            server.load(&db, &sql);
            std::thread::sleep(Duration::from_millis(5));
        }
        i
    })
}

/// What SOURCE's rows mean, each side joined through its own keys: equal on SOURCE and DB_FINAL
/// means every row and every reference arrived.
fn meaning<S: TestServer>(server: &S, db: &str) -> Vec<Vec<Option<String>>> {
    [
        "SELECT name FROM authors ORDER BY name",
        "SELECT CONCAT(p.title, '|', COALESCE(p.body, '-'), '|', a.name) FROM posts p JOIN authors a ON a.id = p.author_id ORDER BY p.title",
        "SELECT CONCAT(c.note, '|', p.title, '|', COALESCE(a.name, '-')) FROM comments c JOIN posts p ON p.id = c.post_id LEFT JOIN authors a ON a.id = c.author_id ORDER BY c.note",
    ]
    .iter()
    .map(|q| server.texts(db, q))
    .collect()
}

/// `rekey run --follow` in the background, its output in the run directory's parent.
fn spawn_follow<S: TestServer>(dbs: &Databases<S>, extra: &[&str]) -> Child {
    let out = std::fs::File::create(dbs.dir.path().join("follow.out")).unwrap();
    let err = std::fs::File::create(dbs.dir.path().join("follow.err")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "run",
            "--follow",
            "--derive-final",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.data_url(),
            "--final",
            &dbs.final_url(),
            "--run-dir",
            dbs.run_dir().to_str().unwrap(),
            "--quiet",
        ])
        .args(extra)
        .env_remove("DB_TYPE")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn rekey run --follow")
}

fn follower_output<S: TestServer>(dbs: &Databases<S>) -> String {
    let read = |f: &str| std::fs::read_to_string(dbs.dir.path().join(f)).unwrap_or_default();
    format!(
        "stdout:\n{}\nstderr:\n{}",
        read("follow.out"),
        read("follow.err")
    )
}

/// `rekey status --json` of the run.
fn status(run_dir: &Path) -> serde_json::Value {
    let out = rekey(&["status", "--json", "--run-dir", run_dir.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Waits until `rekey status` says the run follows SOURCE, and returns that status.
fn wait_following<S: TestServer>(dbs: &Databases<S>, child: &mut Child) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let st = status(&dbs.run_dir());
        if st["state"] == "following" && st["follow"]["lag_seconds"].is_number() {
            return st;
        }
        if let Ok(Some(code)) = child.try_wait() {
            panic!(
                "the follower ended ({code}) before following\n{}",
                follower_output(dbs)
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not following after 120 s: {st}\n{}",
            follower_output(dbs)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cutover<S: TestServer>(dbs: &Databases<S>) -> std::process::Output {
    rekey(&["cutover", "--run-dir", dbs.run_dir().to_str().unwrap()])
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

/// Drops what a failed test may leave on the server besides its databases (a slot).
struct Leftovers<'a, S: TestServer>(&'a Databases<S>);

impl<S: TestServer> Drop for Leftovers<'_, S> {
    fn drop(&mut self) {
        let _ = rekey(&[
            "clean",
            "--run-dir",
            self.0.run_dir().to_str().unwrap(),
            "--quiet",
        ]);
    }
}

/// A whole live cutover with the application writing throughout: snapshot, convert, load,
/// verify, follow, `status` saying `following` with its lag, cutover; then DB_FINAL means what
/// SOURCE means, the follower exited 0 and the report holds the freeze.
fn a_live_cutover_keeps_every_change<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
    mapped: bool,
) {
    let mut dbs = Databases::new(server.clone(), tag);
    dbs.extra("data_snapshot");
    dbs.server.drop_database(&dbs.final_db);
    seed(&dbs, 300);
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
    let mut dbs = Databases::new(server.clone(), tag);
    dbs.extra("data_snapshot");
    dbs.server.drop_database(&dbs.final_db);
    seed(&dbs, 200);
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
    let mut finished = false;
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
        finished |= attempt.wait().unwrap().success();
    }
    let out = cutover(&dbs);
    if finished {
        // One attempt ended before its kill: the run is cut over, and says so.
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("cut over already"),
            "{}",
            stderr(&out)
        );
    } else {
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
    let mut dbs = Databases::new(server.clone(), tag);
    dbs.extra("data_snapshot");
    dbs.server.drop_database(&dbs.final_db);
    seed(&dbs, 50);
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
    let mut dbs = Databases::new(server.clone(), tag);
    dbs.extra("data_snapshot");
    dbs.server.drop_database(&dbs.final_db);
    seed(&dbs, 50);
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

/// An application still writing during the cutover: refused (exit 3, nothing handed over), then
/// run again once it stopped.
fn writes_during_the_cutover_are_refused<S: TestServer + Clone + Send + 'static>(
    server: S,
    tag: &str,
) {
    let mut dbs = Databases::new(server.clone(), tag);
    dbs.extra("data_snapshot");
    dbs.server.drop_database(&dbs.final_db);
    seed(&dbs, 100);
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
