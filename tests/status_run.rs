//! `rekey status` on the blog fixture in SQLite files: a finished run, a run that is stalled in
//! swap (status must answer while the run holds its run directory's lock, and change nothing),
//! and the same run once killed. The text is compared with snapshots, times and PIDs masked.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SOURCE_SQL: &str = include_str!("../fixtures/blog/sqlite/source.sql");
const FINAL_SQL: &str = include_str!("../fixtures/blog/sqlite/final.sql");

struct Blog {
    dir: tempfile::TempDir,
}

impl Blog {
    fn new() -> Blog {
        let dir = tempfile::tempdir().unwrap();
        for (file, sql) in [("source.db", SOURCE_SQL), ("final.db", FINAL_SQL)] {
            let conn = rusqlite::Connection::open(dir.path().join(file)).unwrap();
            conn.execute_batch(sql).unwrap();
        }
        Blog { dir }
    }
    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    fn url(&self, file: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(file).display())
    }
    /// `rekey run` with one worker (so which tables are done is the same every time).
    fn run(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rekey"));
        cmd.args(["run", "--quiet", "--jobs", "1", "--seed", "7", "--source"])
            .arg(self.url("source.db"))
            .arg("--data")
            .arg(self.url("data.db"))
            .arg("--final")
            .arg(self.url("final.db"))
            .arg("--run-dir")
            .arg(self.run_dir());
        cmd
    }
    fn status(&self, extra: &[&str]) -> Output {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
            .arg("status")
            .arg("--run-dir")
            .arg(self.run_dir())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "status waited for the run"
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
    /// The status text with what changes from run to run masked.
    fn status_text(&self) -> String {
        let text = String::from_utf8(self.status(&[]).stdout).unwrap();
        text.replace(&self.dir.path().display().to_string(), "[dir]")
    }
}

fn masked(name: &str, text: &str) {
    insta::with_settings!({filters => vec![
        (r"rekey run [0-9a-f]{16}", "rekey run [run-id]"),
        (r"PID \d+", "PID [pid]"),
        (r"(?m) +\d+\.\d\d$", " [seconds]"),
        (r"\d+(\.\d+)? (s|min|h)( \d+ (s|min))?\b", "[duration]"),
    ]}, {
        insta::assert_snapshot!(name, text);
    });
}

/// The bytes of the journal and its write-ahead log.
fn journal_bytes(run_dir: &Path) -> Vec<Vec<u8>> {
    ["journal.sqlite", "journal.sqlite-wal"]
        .iter()
        .map(|f| std::fs::read(run_dir.join(f)).unwrap_or_default())
        .collect()
}

#[test]
fn status_of_a_finished_run() {
    let blog = Blog::new();
    let out = blog.run().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = journal_bytes(&blog.run_dir());
    let text = blog.status_text();
    assert_eq!(
        journal_bytes(&blog.run_dir()),
        before,
        "status wrote the journal"
    );
    assert!(text.contains(": finished\n"), "{text}");
    masked("finished", &text);

    let json: serde_json::Value = serde_json::from_slice(&blog.status(&["--json"]).stdout).unwrap();
    assert_eq!(json["state"], "finished");
    assert_eq!(json["fraction"], 1.0);
    assert_eq!(json["stages"].as_array().unwrap().len(), 10);
    assert_eq!(json["eta_seconds"], serde_json::Value::Null);
}

fn wait_for_stall(child: &mut Child, run_dir: &Path) {
    let started = Instant::now();
    while !run_dir.join("stalled").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("rekey ended ({status}) before stalling");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no stall");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_of_a_live_run_then_of_the_same_run_killed() {
    let rehearsal = Blog::new();
    let out = rehearsal.run().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rehearsal_dir = rehearsal.run_dir();

    let blog = Blog::new();
    let mut child = blog
        .run()
        .env("REKEY_TEST_STALL_AFTER_STEP", "swap")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_stall(&mut child, &blog.run_dir());

    // The run holds its directory's lock: status must neither need it nor wait for it.
    let live = blog.status_text();
    assert!(
        live.contains(&format!("running stage swap (PID {})", child.id())),
        "{live}"
    );
    assert!(
        live.contains("in flight: swap page_request on worker 1 for"),
        "{live}"
    );
    assert!(live.contains(" · ETA "), "{live}");
    let json: serde_json::Value = serde_json::from_slice(
        &blog
            .status(&["--json", "--rehearsal", rehearsal_dir.to_str().unwrap()])
            .stdout,
    )
    .unwrap();
    assert_eq!(json["state"], "running");
    assert_eq!(json["process_alive"], true);
    assert!(json["eta_seconds"].as_f64().unwrap() >= 0.0, "{json}");
    assert!(
        json["eta_basis"].as_str().unwrap().contains("rehearsal"),
        "{json}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let before = journal_bytes(&blog.run_dir());
    let killed = blog.status_text();
    assert_eq!(
        journal_bytes(&blog.run_dir()),
        before,
        "status wrote the journal"
    );
    assert!(killed.contains("--resume"), "{killed}");
    masked("killed", &killed);
    let json: serde_json::Value = serde_json::from_slice(&blog.status(&["--json"]).stdout).unwrap();
    assert_eq!(json["state"], "stopped");
    assert_eq!(json["process_alive"], false);
    assert_eq!(json["eta_seconds"], serde_json::Value::Null);
}

#[test]
fn status_without_a_journal_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["status", "--run-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no run journal"), "{err}");
    assert!(
        !dir.path().join("journal.sqlite").exists(),
        "status created a journal"
    );
}
