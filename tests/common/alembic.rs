//! The SQLAlchemy/Alembic site of fixtures/alembic_site, for the tests against an Alembic-made
//! DB_FINAL: its venv under target/ (made once from the fixture's pinned requirements, again when
//! they change), its scripts, and alembic itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/alembic_site")
}

/// The venv with SQLAlchemy, Alembic and psycopg, made on first use.
pub fn venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/alembic-venv");
    let python = dir.join("bin/python");
    // The marker holds the requirements it was made from: a venv made before they changed is
    // brought up to date.
    let ready = dir.join(".rekey-ready");
    let wanted = std::fs::read_to_string(site().join("requirements.txt")).unwrap();
    if std::fs::read_to_string(&ready).ok().as_deref() == Some(wanted.as_str()) {
        return dir;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .expect("python3 runs");
    assert!(
        made.status.success(),
        "python3 -m venv failed (apt-get install python3-venv): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(site().join("requirements.txt"))
        .output()
        .expect("pip runs");
    assert!(
        pip.status.success(),
        "pip could not install the Alembic site's requirements (is the package index reachable?): {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(&ready, &wanted).unwrap();
    dir
}

pub fn python(venv: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(venv.join("bin/python"))
        .arg(site().join(script))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn alembic(venv: &Path, url: &str, command: &[&str]) -> String {
    let out = Command::new(venv.join("bin/alembic"))
        .arg("-c")
        .arg(site().join("alembic.ini"))
        .args(["-x", &format!("url={url}")])
        .args(command)
        .output()
        .expect("alembic runs");
    assert!(
        out.status.success(),
        "alembic {command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
