//! rekey against a DB_FINAL made by an application's own migrations: the SQLAlchemy/Alembic site
//! of fixtures/alembic_site. SOURCE is seeded with the v1 models (integer keys), DB_FINAL is
//! `alembic upgrade head` (v2, native uuid keys, alembic_version holding 0001), then `rekey run`;
//! the ORM digests of SOURCE (read with v1 models) and DB_FINAL (v2) must be the same text, and
//! Alembic must find nothing to migrate afterwards. Python packages come from a venv under
//! target/ (made once, from the fixture's pinned requirements); a machine where pip cannot reach
//! the package index fails this test with that reason.

mod common;

use common::alembic::{alembic, python, venv};
use common::engine::{Databases, TestServer};
use common::*;

#[test]
fn an_alembic_made_final_schema_gets_the_same_site() {
    let pg = pg_or_skip!();
    let venv = venv();
    let dbs = Databases::new(pg.clone(), "alembic");
    python(&venv, "seed_v1.py", &[&dbs.src_url()]);
    alembic(&venv, &dbs.final_url(), &["upgrade", "head"]);
    let before = python(&venv, "check_v2.py", &["--models", "v1", &dbs.src_url()]);
    let source = pg.fingerprint(&dbs.source);
    let out = dbs.run(&["--uuid-format", "native"]);
    assert_exit(&out, 0);
    assert_eq!(pg.fingerprint(&dbs.source), source, "SOURCE changed");
    let after = python(&venv, "check_v2.py", &[&dbs.final_url()]);
    assert_eq!(
        before, after,
        "the site reads differently after the conversion"
    );
    assert!(after.contains("counts users=12"), "{after}");
    assert_eq!(
        pg.text(&dbs.final_db, "SELECT version_num FROM alembic_version"),
        "0001"
    );
    let check = alembic(&venv, &dbs.final_url(), &["check"]);
    assert!(
        check.contains("No new upgrade operations detected"),
        "{check}"
    );
}
