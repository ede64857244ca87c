//! The help of every command, as snapshots: what a new user reads first. A change to an option,
//! an example or an exit code shows up here for review (`cargo insta review`, or
//! INSTA_UPDATE=always). Also: completions and man pages come from the same definition.

use std::process::Command;

const COMMANDS: [&str; 15] = [
    "plan",
    "check",
    "convert",
    "derive-final",
    "compare",
    "load",
    "verify",
    "run",
    "cutover",
    "status",
    "clean",
    "demo",
    "audit",
    "completions",
    "man",
];

fn rekey(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        // Help wraps at the terminal's width (at most 100): fix it for the snapshots.
        .env("COLUMNS", "100")
        .env_remove("DB_TYPE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn top_level_help() {
    let (code, out, err) = rekey(&["--help"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("rekey--help", out);
    let (code, short, _) = rekey(&["-h"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("rekey-h", short);
}

#[test]
fn every_command_help() {
    for command in COMMANDS {
        let (code, out, err) = rekey(&[command, "--help"]);
        assert_eq!(code, 0, "{command}: {err}");
        insta::assert_snapshot!(format!("{command}--help"), out);
    }
}

#[test]
fn every_command_help_has_examples_and_says_what_it_writes() {
    for command in COMMANDS {
        let (_, long, _) = rekey(&[command, "--help"]);
        let (_, short, _) = rekey(&[command, "-h"]);
        for text in [&long, &short] {
            assert!(text.contains("Examples:\n  rekey "), "{command}:\n{text}");
            assert!(text.contains("\nWrites: "), "{command}:\n{text}");
        }
        assert!(long.contains("Exit codes:"), "{command}");
        if !["status", "demo", "completions", "man"].contains(&command) {
            for name in [
                "DB_TYPE",
                "DB_PASS",
                "MYSQL_PWD",
                "--password-file",
                "~/.my.cnf",
            ] {
                assert!(long.contains(name), "{command} --help lacks {name}");
            }
        }
    }
}

#[test]
fn required_databases_are_marked_and_options_appear_only_where_they_apply() {
    let usage = |command: &str| {
        let (_, out, _) = rekey(&[command, "--help"]);
        out.lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(usage("plan"), "Usage: rekey plan [OPTIONS] --source <URL>");
    assert_eq!(
        usage("run"),
        "Usage: rekey run [OPTIONS] --source <URL> --data <URL> --final <URL>"
    );
    assert_eq!(
        usage("compare"),
        "Usage: rekey compare [OPTIONS] --data <URL> --final <URL>"
    );
    let options = |command: &str| -> Vec<String> {
        let (_, out, _) = rekey(&[command, "--help"]);
        out.lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
            .map(|l| l.split([' ', '<']).next().unwrap().to_string())
            .collect()
    };
    let run = options("run");
    assert!(run.contains(&"resume".to_string()), "{run:?}");
    assert!(!run.contains(&"json".to_string()) && !run.contains(&"estimate-from".to_string()));
    let plan = options("plan");
    assert!(plan.contains(&"estimate-from".to_string()), "{plan:?}");
    for absent in [
        "resume",
        "uuid-format",
        "jobs",
        "dry-run",
        "quiet",
        "run-dir",
    ] {
        assert!(
            !plan.contains(&absent.to_string()),
            "plan offers --{absent}"
        );
    }
    let (code, _, err) = rekey(&["run", "--source", "sqlite://a.db", "--json"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--json'"), "{err}");
    let (code, _, err) = rekey(&["run", "--source", "sqlite://a.db"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--data <URL>") && err.contains("--final <URL>"),
        "{err}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_same_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = rekey(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in ["derive-final", "status", "run-dir", "uuid-format"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, man, _) = rekey(&["man"]);
    assert_eq!(code, 0);
    assert!(man.starts_with(".ie"), "{}", &man[..80.min(man.len())]);
    assert!(man.contains(".TH rekey 1"), "{man}");
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = rekey(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for page in [
        "rekey.1",
        "rekey-run.1",
        "rekey-status.1",
        "rekey-derive-final.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let run = std::fs::read_to_string(dir.path().join("rekey-run.1")).unwrap();
    assert!(
        run.contains("rehearsal\\-1"),
        "the run page has its examples"
    );
}

#[test]
fn the_help_names_every_engine_and_spelling_the_url_parser_accepts() {
    // Spelled out here, not read from the table: a scheme added to the parser must show up in
    // this list and in the help.
    let schemes = ["mysql", "mariadb", "postgres", "postgresql", "sqlite"];
    let db_types = [
        "mysql",
        "mariadb",
        "postgresql",
        "postgres",
        "sqlite",
        "sqlite3",
    ];
    for names in rekey::url::ENGINES {
        for s in names.schemes {
            assert!(
                schemes.contains(s),
                "the parser accepts {s}:// and this test lacks it"
            );
        }
        for t in names.db_types {
            assert!(
                db_types.contains(t),
                "the parser accepts DB_TYPE={t} and this test lacks it"
            );
        }
    }
    let (_, top, _) = rekey(&["--help"]);
    let (_, run, _) = rekey(&["help", "run"]);
    for text in [&top, &run] {
        for s in schemes {
            assert!(
                text.contains(&format!("{s}://")),
                "help lacks {s}://\n{text}"
            );
        }
        for t in db_types {
            assert!(text.contains(t), "help lacks DB_TYPE {t}");
        }
        assert!(text.contains("PostgreSQL"), "{text}");
        assert!(text.contains("login name"), "{text}");
        assert!(text.contains("Ctrl-C"), "{text}");
    }
}
