//! What the live cutover's tests share (tests/follow_live.rs on the private change-stream
//! servers, tests/galera_cluster.rs on a Galera node): a blog SOURCE with cascading foreign keys,
//! the application writing to it, `rekey run --follow` in the background, `rekey status` and
//! `rekey cutover`, and what both sides' rows mean.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Databases, TestServer};
use super::rekey;

pub const SCHEMA: &str = "
CREATE TABLE authors (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE);
CREATE TABLE posts (id INT NOT NULL PRIMARY KEY, author_id INT NOT NULL, title VARCHAR(80) NOT NULL UNIQUE, body TEXT,
  FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE comments (id INT NOT NULL PRIMARY KEY, post_id INT NOT NULL, author_id INT NULL, note VARCHAR(80) NOT NULL UNIQUE,
  FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE SET NULL ON UPDATE CASCADE);
";

/// SOURCE's first rows: `n` authors, two posts each, a comment per post by another author.
pub fn seed<S: TestServer>(dbs: &Databases<S>, n: u32) {
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

/// A live test's databases: SOURCE seeded with `authors` authors (`seed`), DB_FINAL left for
/// `--derive-final` to create, the snapshot copy's name dropped with the others.
pub fn live_databases<S: TestServer>(server: S, tag: &str, authors: u32) -> Databases<S> {
    let mut dbs = Databases::new(server, tag);
    dbs.extra("data_snapshot");
    dbs.server.drop_database(&dbs.final_db);
    seed(&dbs, authors);
    dbs
}

/// The application: keeps writing to SOURCE until told to stop. Returns the writes made.
pub fn writer<S: TestServer + Send + 'static>(
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
pub fn meaning<S: TestServer>(server: &S, db: &str) -> Vec<Vec<Option<String>>> {
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
pub fn spawn_follow<S: TestServer>(dbs: &Databases<S>, extra: &[&str]) -> Child {
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

pub fn follower_output<S: TestServer>(dbs: &Databases<S>) -> String {
    let read = |f: &str| std::fs::read_to_string(dbs.dir.path().join(f)).unwrap_or_default();
    format!(
        "stdout:\n{}\nstderr:\n{}",
        read("follow.out"),
        read("follow.err")
    )
}

/// `rekey status --json` of the run.
pub fn status(run_dir: &Path) -> serde_json::Value {
    let out = rekey(&["status", "--json", "--run-dir", run_dir.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Waits until `rekey status` says the run follows SOURCE, and returns that status.
pub fn wait_following<S: TestServer>(dbs: &Databases<S>, child: &mut Child) -> serde_json::Value {
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

pub fn cutover<S: TestServer>(dbs: &Databases<S>) -> std::process::Output {
    rekey(&["cutover", "--run-dir", dbs.run_dir().to_str().unwrap()])
}

pub fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
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
pub struct Leftovers<'a, S: TestServer>(pub &'a Databases<S>);

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
