//! `rekey audit` over the fixture applications of fixtures/apps/: every line marked
//! `audit: RULE` is found with that rule, nothing else is (the look-alikes are marked `ok`), the
//! outputs are snapshots, and `--source` / `plan --app` take SOURCE's plan into account.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const APPS: [&str; 6] = [
    "flask_sqlalchemy",
    "django",
    "rails",
    "laravel",
    "express_sequelize",
    "typeorm",
];

fn app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apps")
        .join(name)
}

fn rekey(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .output()
        .expect("rekey runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (file, line, rule) of every `audit: RULE...` comment under `dir`.
fn expected(dir: &Path) -> BTreeSet<(String, usize, String)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, line) in text.lines().enumerate() {
                if let Some((_, rules)) = line.split_once(" audit: ") {
                    for r in rules.split_whitespace() {
                        out.insert((rel.clone(), i + 1, r.to_string()));
                    }
                }
            }
        }
    }
    out
}

fn found(args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let (code, out, err) = rekey(args);
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v)
}

fn triple(f: &serde_json::Value) -> (String, usize, String) {
    (
        f["file"].as_str().unwrap().to_string(),
        f["line"].as_u64().unwrap() as usize,
        f["rule"].as_str().unwrap().to_string(),
    )
}

#[test]
fn every_marked_assumption_is_found_and_no_look_alike_is() {
    let mut rules_seen = BTreeSet::new();
    for name in APPS {
        let dir = app(name);
        let (code, findings) = found(&["audit", "--json", dir.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}: findings exit 1");
        let got: BTreeSet<_> = findings.iter().map(triple).collect();
        let want = expected(&dir);
        let missed: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missed.is_empty() && extra.is_empty(),
            "{name}: missed {missed:?}, reported look-alikes or unmarked {extra:?}"
        );
        for f in &findings {
            for key in ["file", "line", "rule", "message"] {
                assert!(!f[key].is_null(), "{name}: {key} missing in {f}");
            }
        }
        rules_seen.extend(want.into_iter().map(|(_, _, r)| r));
    }
    let all: BTreeSet<String> = [
        "route-integer-id",
        "cast-id-to-integer",
        "integer-check-on-id",
        "integer-key-column",
        "integer-reference-without-foreign-key",
        "polymorphic-id",
        "sql-formatted-id",
        "order-by-key",
        "max-key-as-latest",
        "keyset-pagination-on-key",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(rules_seen, all, "every rule has positives in the fixtures");
}

#[test]
fn outputs_are_snapshots() {
    for name in APPS {
        let dir = app(name);
        let dir = dir.to_str().unwrap();
        let (_, text, _) = rekey(&["audit", dir]);
        insta::assert_snapshot!(format!("{name}-text"), text);
        let (_, json, _) = rekey(&["audit", "--json", dir]);
        insta::assert_snapshot!(format!("{name}-json"), json);
        let (_, sarif, _) = rekey(&["audit", "--sarif", dir]);
        let doc: serde_json::Value = serde_json::from_str(&sarif).unwrap();
        assert_eq!(doc["version"], "2.1.0");
        insta::assert_snapshot!(
            format!("{name}-sarif"),
            sarif.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
        );
    }
}

#[test]
fn exit_codes() {
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(
        clean.path().join("app.py"),
        "page = int(request.args.get('page', 1))\nrows = db.execute(text('SELECT * FROM t WHERE id = :id'), {'id': i})\n",
    )
    .unwrap();
    let (code, out, _) = rekey(&["audit", clean.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 findings"), "{out}");
    let (code, out, _) = rekey(&["audit", "--json", clean.path().to_str().unwrap()]);
    assert_eq!((code, out.trim()), (0, "[]"));
    let (code, _, err) = rekey(&["audit", "/nonexistent/app"]);
    assert_eq!(code, 2, "{err}");
}

/// SOURCE: users and posts convert, logs is excluded, tags.category_id holds categories' keys
/// without a constraint.
fn source_db(dir: &Path) -> String {
    let path = dir.join("source.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), title TEXT);
         CREATE TABLE tags (id INTEGER PRIMARY KEY, category_id INTEGER, name TEXT);
         CREATE TABLE logs (id INTEGER PRIMARY KEY, message TEXT);",
    )
    .unwrap();
    format!("sqlite://{}", path.display())
}

#[test]
fn source_limits_findings_to_converted_tables_and_gives_reference_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let url = source_db(tmp.path());
    let code_dir = tmp.path().join("app");
    std::fs::create_dir(&code_dir).unwrap();
    std::fs::write(
        code_dir.join("models.py"),
        "class Tag(db.Model):\n    category_id = db.Column(db.Integer)\n\n\
         user = User.query.get(int(user_id))\n\
         log = Log.query.get(int(log_id))\n",
    )
    .unwrap();
    let dir = code_dir.to_str().unwrap();
    let (code, all) = found(&["audit", "--json", dir]);
    assert_eq!(code, 1);
    assert_eq!(all.len(), 3, "{all:?}");
    let (code, scoped) = found(&[
        "audit",
        "--json",
        "--source",
        &url,
        "--exclude",
        "logs",
        dir,
    ]);
    assert_eq!(code, 1);
    let lines: Vec<_> = scoped.iter().map(triple).collect();
    assert_eq!(
        lines,
        vec![
            (
                "models.py".into(),
                2,
                "integer-reference-without-foreign-key".into()
            ),
            ("models.py".into(), 4, "cast-id-to-integer".into()),
        ],
        "{scoped:?}"
    );
    assert_eq!(
        scoped[0]["reference"], "--reference tags.category_id=categories.id",
        "{scoped:?}"
    );
    let (_, text, _) = rekey(&["audit", "--source", &url, "--exclude", "logs", dir]);
    assert!(
        text.contains("give `rekey run` --reference tags.category_id=categories.id"),
        "{text}"
    );
}

#[test]
fn plan_app_includes_the_audit_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let url = source_db(tmp.path());
    let fixture = app("flask_sqlalchemy");
    let (code, out, err) = rekey(&["plan", "--source", &url, "--app", fixture.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Application audit: "), "{out}");
    assert!(out.contains("cast-id-to-integer"), "{out}");
    assert!(out.contains("app/routes.py"), "{out}");
    let (code, out, err) = rekey(&[
        "plan",
        "--source",
        &url,
        "--app",
        fixture.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["audit"]["findings"].as_u64().unwrap() > 0, "{out}");
    assert!(v["audit"]["per_rule"].is_array());
    let (_, plain, _) = rekey(&["plan", "--source", &url]);
    assert!(!plain.contains("Application audit"));
}

#[test]
fn run_app_puts_the_audit_summary_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let url = source_db(tmp.path());
    let data = format!("sqlite://{}", tmp.path().join("data.db").display());
    let fin = format!("sqlite://{}", tmp.path().join("final.db").display());
    let run_dir = tmp.path().join("run");
    let fixture = app("flask_sqlalchemy");
    let (code, out, err) = rekey(&[
        "run",
        "--source",
        &url,
        "--data",
        &data,
        "--final",
        &fin,
        "--derive-final",
        "--reference",
        "tags.category_id=categories.id",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--app",
        fixture.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("## Application audit"), "{md}");
    assert!(md.contains("| `cast-id-to-integer` |"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert!(json["audit"]["findings"].as_u64().unwrap() > 0, "{json}");
}

#[test]
fn run_with_an_app_that_is_not_a_directory_is_refused_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let url = source_db(tmp.path());
    let data = format!("sqlite://{}", tmp.path().join("data.db").display());
    let fin = format!("sqlite://{}", tmp.path().join("final.db").display());
    let run_dir = tmp.path().join("run");
    let (code, out, err) = rekey(&[
        "run",
        "--source",
        &url,
        "--data",
        &data,
        "--final",
        &fin,
        "--derive-final",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--app",
        "/nonexistent/app",
        "--quiet",
    ]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--app /nonexistent/app"), "{err}");
    assert!(!tmp.path().join("data.db").exists(), "DB_DATA was written");
    assert!(
        !tmp.path().join("final.db").exists(),
        "DB_FINAL was written"
    );
    assert!(!run_dir.exists(), "the run directory was made");
}

#[test]
fn audit_source_checks_source_as_a_run_does() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("empty.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 1;")
        .unwrap();
    let url = format!("sqlite://{}", path.display());
    let fixture = app("flask_sqlalchemy");
    let (code, out, err) = rekey(&["audit", "--source", &url, fixture.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("no tables"), "{err}");
}
