//! Snapshots of the SQL that `--dry-run` prints on MariaDB with the blog fixture (real server,
//! `--seed 1`): `run`, `run --load-path move`, `convert`, `derive-final`, `load` (after a real convert), and `run
//! --derive-final`. The per-test database names, the trigger's definer account and the server's
//! default sql_mode are redacted; each dry run is made twice and must print the same text.

mod common;

use common::{rekey, stderr, stdout, Dbs};

/// Runs rekey with `args`, then `--run-dir` and `-q`.
fn run(dbs: &Dbs, args: &[&str], run_dir: &str) -> std::process::Output {
    let dir = dbs.dir.path().join(run_dir);
    let dir = dir.to_str().unwrap();
    rekey(&[args, &["--run-dir", dir, "-q"]].concat())
}

fn success(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// A dry run's output, which must succeed and be the same when run again.
fn dry_run(dbs: &Dbs, args: &[&str]) -> String {
    let args = [args, &["--dry-run"]].concat();
    let text = success(&run(dbs, &args, "dry-run"));
    assert_eq!(
        text,
        success(&run(dbs, &args, "dry-run")),
        "two dry runs printed different SQL"
    );
    text
}

/// `text` as a regular expression that matches exactly it.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Snapshot settings that write this test's database names and temp dir as placeholders.
fn settings(dbs: &Dbs, derived: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (name, placeholder) in [
        (dbs.source.as_str(), "[SOURCE]"),
        (dbs.data.as_str(), "[DB_DATA]"),
        (dbs.final_db.as_str(), "[DB_FINAL]"),
        (derived, "[DERIVED]"),
    ] {
        s.add_filter(&regex_escape(name), placeholder);
    }
    s.add_filter(
        &regex_escape(&dbs.dir.path().display().to_string()),
        "[TMP]",
    );
    // The test server's address (REKEY_TEST_MYSQL_URL) in URLs that errors name.
    s.add_filter("mysql://[^/\\s]*/", "mysql://[SERVER]/");
    // The account that loaded the fixture, as the server saw it, and the server's default
    // sql_mode then: both belong to the test server, not to rekey.
    s.add_filter("DEFINER=`[^`]*`@`[^`]*`", "DEFINER=[account]");
    s.add_filter(
        "SET SESSION sql_mode = '[^']*';(\\n *CREATE DEFINER)",
        "SET SESSION sql_mode = '[server default]';$1",
    );
    s
}

#[test]
fn mysql_dry_runs_of_the_blog_fixture() {
    let server = server_or_skip!();
    let mut dbs = Dbs::blog(&server, "snapdry");
    let derived = dbs.extra("derived");
    let (src, data, fin) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let derived_url = dbs.url(&derived);
    let settings = settings(&dbs, &derived);
    let seed = ["--seed", "1"];

    let text = dry_run(
        &dbs,
        &[
            &["run", "--source", &src, "--data", &data, "--final", &fin][..],
            &seed,
        ]
        .concat(),
    );
    settings.bind(|| insta::assert_snapshot!("mysql_dry_run_run", text));

    // `--load-path move`: DB_DATA's tables built LIKE DB_FINAL's, filled once, renamed.
    let text = dry_run(
        &dbs,
        &[
            &["run", "--source", &src, "--data", &data, "--final", &fin][..],
            &["--load-path", "move"],
            &seed,
        ]
        .concat(),
    );
    settings.bind(|| insta::assert_snapshot!("mysql_dry_run_run_move", text));

    let text = dry_run(
        &dbs,
        &[&["convert", "--source", &src, "--data", &data][..], &seed].concat(),
    );
    settings.bind(|| insta::assert_snapshot!("mysql_dry_run_convert", text));

    let text = dry_run(
        &dbs,
        &[
            &["derive-final", "--source", &src, "--final", &derived_url][..],
            &seed,
        ]
        .concat(),
    );
    settings.bind(|| insta::assert_snapshot!("mysql_dry_run_derive_final", text));
    assert!(
        !dbs.exists(&dbs.data) && !dbs.exists(&derived),
        "a dry run created a database"
    );

    // `run --derive-final --dry-run`: what it prints from derive-final on, and how it ends.
    // Today compare looks for the derived DB_FINAL, which a dry run did not create, and fails.
    let o = run(
        &dbs,
        &[
            &[
                "run",
                "--source",
                &src,
                "--data",
                &data,
                "--final",
                &derived_url,
                "--derive-final",
                "--dry-run",
            ][..],
            &seed,
        ]
        .concat(),
        "dry-run",
    );
    let out = stdout(&o);
    let from_derive = out
        .find("-- stage derive-final")
        .map(|i| &out[i..])
        .unwrap_or(&out);
    let text = format!(
        "exit code: {:?}\nstderr: {}\nstdout from derive-final on:\n{from_derive}",
        o.status.code(),
        stderr(&o).trim_end()
    );
    settings.bind(|| insta::assert_snapshot!("mysql_dry_run_run_derive_final", text));

    // The load's dry run needs DB_DATA: a real (seeded) convert builds it first.
    success(&run(
        &dbs,
        &[&["convert", "--source", &src, "--data", &data][..], &seed].concat(),
        "run",
    ));
    let text = dry_run(&dbs, &["load", "--data", &data, "--final", &fin]);
    settings.bind(|| insta::assert_snapshot!("mysql_dry_run_load", text));
}
