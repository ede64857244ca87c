//! Command-line refusals that need no server: engines that cannot work together, unknown schemes,
//! bad options. Each one exits 2 with a message that says what to do.

use std::process::Command;

fn rekey(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env_remove("DB_TYPE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn databases_of_different_engines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = rekey(&[
        "convert",
        "--source",
        "sqlite://a.db",
        "--data",
        "mysql://u:topsecret@127.0.0.1:1/d",
        "--run-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("SOURCE is sqlite but DB_DATA is mysql"),
        "{err}"
    );
    assert!(err.contains("no other pair"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    // A pair that moves (SQLite to PostgreSQL) is only for `rekey run`.
    let (code, err) = rekey(&[
        "convert",
        "--source",
        "sqlite://a.db",
        "--data",
        "postgres://u:topsecret@127.0.0.1:1/d",
        "--run-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only `rekey run` changes engines"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    // DB_DATA and DB_FINAL of two engines are refused whatever SOURCE is.
    let (code, err) = rekey(&[
        "run",
        "--source",
        "sqlite://a.db",
        "--data",
        "postgres://u@127.0.0.1:1/d",
        "--final",
        "mysql://u@127.0.0.1:1/f",
        "--run-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("DB_DATA is postgres but DB_FINAL is mysql"),
        "{err}"
    );
}

#[test]
fn postgres_urls_take_only_a_schema_parameter() {
    let (code, err) = rekey(&[
        "plan",
        "--source",
        "postgres://u:topsecret@127.0.0.1/db?sslmode=x",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("?schema=NAME"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
}

#[test]
fn a_bare_name_without_db_type_is_refused() {
    let (code, err) = rekey(&["plan", "--source", "shop"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("DB_TYPE is not set"), "{err}");
}

#[test]
fn an_unknown_uuid_format_is_refused() {
    let (code, err) = rekey(&[
        "convert",
        "--source",
        "sqlite://x.db",
        "--data",
        "sqlite://y.db",
        "--uuid-format",
        "hex",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("invalid value 'hex' for '--uuid-format")
            && err.contains("char32, char36, binary16, native"),
        "{err}"
    );
}
