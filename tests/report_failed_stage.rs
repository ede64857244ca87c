//! A run that fails marks the stage that failed as failed, with its error, in report.json,
//! report.md and report.html; `rekey status` names it; and with --quiet the run prints nothing
//! but what explains the failure.

use std::process::Command;

const SOURCE_SQL: &str = include_str!("../fixtures/blog/sqlite/source.sql");
const FINAL_SQL: &str = include_str!("../fixtures/blog/sqlite/final.sql");

#[test]
fn a_failed_stage_is_marked_failed_with_its_error_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let url = |f: &str| format!("sqlite://{}", dir.path().join(f).display());
    for (file, sql) in [("source.db", SOURCE_SQL), ("final.db", FINAL_SQL)] {
        let conn = rusqlite::Connection::open(dir.path().join(file)).unwrap();
        conn.execute_batch(sql).unwrap();
    }
    // DB_FINAL has a column DB_DATA will not have: compare stops the run.
    rusqlite::Connection::open(dir.path().join("final.db"))
        .unwrap()
        .execute_batch("ALTER TABLE tag ADD COLUMN colour TEXT")
        .unwrap();
    let run_dir = dir.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--quiet", "--source"])
        .arg(url("source.db"))
        .arg("--data")
        .arg(url("data.db"))
        .arg("--final")
        .arg(url("final.db"))
        .arg("--run-dir")
        .arg(&run_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    // Quiet: only the differences (held back, shown because the run failed) and the error.
    assert_eq!(
        stdout.trim(),
        "tag.colour: column only in DB_FINAL (NULL, no default)",
        "{stdout}"
    );
    assert!(stderr.starts_with("rekey: [stage compare]"), "{stderr}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["status"], "failed");
    let compare = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "compare")
        .unwrap();
    assert_eq!(compare["status"], "failed", "{compare}");
    let error = compare["error"].as_str().unwrap();
    assert!(error.starts_with("[stage compare]"), "{error}");

    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("| compare | **failed** |"), "{md}");
    assert!(md.contains(error), "{md}");
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("<span class=\"status failed\">failed</span>"));
    assert!(
        html.contains(r#"<rect class="stage-span" data-stage="compare" data-status="failed""#),
        "the timeline marks the failed stage"
    );
    assert!(html.contains("<tr class=\"failed\">"));

    let status = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["status", "--run-dir"])
        .arg(&run_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(": failed in stage compare\n"), "{text}");
    assert!(text.contains(&format!("  error: {error}")), "{text}");
}
