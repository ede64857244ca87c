//! A move to PostgreSQL in the same cutover (issue 24): MariaDB and SQLite SOURCEs converted into
//! PostgreSQL with `--derive-final`, each checked row by row and reference by reference by an
//! independent reader (`common::meaning`); refusals of what the move would change, before any
//! write; `rekey clean` afterwards.

mod common;

use common::engine::TestServer;
use common::moving::{Move, BLOG_ZERO_BYTES};
use common::*;
use mysql::prelude::Queryable;

const SHAPES: &str = include_str!("../fixtures/shapes/mysql/source.sql");
const SQLITE_BLOG: &str = include_str!("../fixtures/blog/sqlite/source.sql");
const SQLITE_SHAPES: &str = include_str!("../fixtures/shapes/sqlite/source.sql");

/// The shapes fixture's values a move cannot store made storable in SOURCE (the test's own copy),
/// as the refusals say: the zero byte removed, the unsigned keys past 2^63-1 gone. Its zero dates
/// stay, for `--zero-dates null`.
fn storable(m: &Move) {
    m.strip_zero_bytes(&["val.s"]);
    let mut c = conn(m.mysql.as_ref().unwrap(), Some(&m.source));
    c.query_drop("UPDATE k_refs SET big_k = 1 WHERE big_k > 9223372036854775807")
        .unwrap();
    c.query_drop("DELETE FROM k_big_unsigned WHERE actor_id > 9223372036854775807")
        .unwrap();
}

#[test]
fn mariadb_blog_moves_to_postgres_with_a_derived_final_schema() {
    let Some(m) = Move::from_mysql("blog", BLOG_SOURCE) else {
        return;
    };
    // The blog holds text with zero bytes, which PostgreSQL's text cannot store: refused, then
    // cleaned in SOURCE (the test's own copy), as the refusal says.
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    for column in BLOG_ZERO_BYTES {
        assert!(
            err.contains(&format!("{column}: 1 row(s) of text holding a zero byte")),
            "{err}"
        );
    }
    m.strip_zero_bytes(&BLOG_ZERO_BYTES);
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    // alembic_version is the new schema's own history: never loaded from SOURCE.
    let compared = m.compare(&["alembic_version"]);
    assert!(compared > 10_000, "{compared} values compared");
    let report = report(&m.run_dir());
    let transfer = stage(&report, "transfer");
    assert!(transfer["rows"].as_u64().unwrap() > 1000, "{transfer}");
    // DB_FINAL's keys are uuid, its references too, and SOURCE is untouched.
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'user' AND column_name = 'id'"
        ),
        "uuid"
    );
    assert!(m.pg.exists(&m.copy_db()));
    // `rekey clean` drops what the run made besides DB_FINAL, the copy included.
    let dir = m.run_dir();
    let out = rekey(&["clean", "--run-dir", dir.to_str().unwrap(), "-q"]);
    assert_exit(&out, 0);
    assert!(!m.pg.exists(&m.copy_db()), "the copy survived clean");
    assert!(!m.pg.exists(&m.data));
}

#[test]
fn sqlite_blog_moves_to_postgres_with_a_derived_final_schema() {
    let Some(m) = Move::from_sqlite("sqblog", SQLITE_BLOG) else {
        return;
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("user.bio: 1 row(s) of text holding a zero byte"),
        "{err}"
    );
    m.strip_zero_bytes(&BLOG_ZERO_BYTES);
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    let compared = m.compare(&["alembic_version"]);
    assert!(compared > 1000, "{compared} values compared");
}

#[test]
fn what_the_move_would_change_is_refused_before_anything_is_written() {
    let Some(m) = Move::from_mysql("refuse", SHAPES) else {
        return;
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("val.s: 1 row(s) of text holding a zero byte"),
        "{err}"
    );
    assert!(err.contains("val.zdt: 2 row(s) of zero dates"), "{err}");
    assert!(err.contains("val.zd: 2 row(s) of zero dates"), "{err}");
    assert!(err.contains("--zero-dates null"), "{err}");
    assert!(err.contains("bytea"), "{err}");
    for db in [m.copy_db(), m.data.clone(), m.final_db.clone()] {
        assert!(!m.pg.exists(&db), "{db} was created by a refused move");
    }
}

#[test]
fn a_key_past_bigint_is_refused_while_copying_and_nothing_reaches_data_or_final() {
    let Some(m) = Move::from_mysql("bigkey", SHAPES) else {
        return;
    };
    // The zero byte and the zero dates are dealt with; the unsigned keys past 2^63 are not.
    let mut c = conn(m.mysql.as_ref().unwrap(), Some(&m.source));
    c.query_drop("UPDATE val SET s = REPLACE(s, CHAR(0), '')")
        .unwrap();
    let out = m.run(&["--derive-final", "--zero-dates", "null"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("actor_id") || err.contains("big_k"), "{err}");
    assert!(
        err.contains("18446744073709551615") || err.contains("9223372036854775808"),
        "{err}"
    );
    assert!(!m.pg.exists(&m.data));
    assert!(!m.pg.exists(&m.final_db));
}

/// JSON text with a key twice in one object means its first value to MariaDB's JSON functions
/// and its last to PostgreSQL: refused while copying, naming the column and the row, before
/// DB_DATA or DB_FINAL exist; once the row keeps one value, it moves.
#[test]
fn json_with_a_key_twice_is_refused_while_copying() {
    let Some(m) = Move::from_mysql(
        "jsondup",
        "CREATE TABLE doc (id INT NOT NULL PRIMARY KEY, meta LONGTEXT CHECK (json_valid(meta))) ENGINE=InnoDB;\n\
         INSERT INTO doc VALUES (1, '{\"a\": [1, {\"b\": 2}]}'), (2, '{\"k\": 1, \"k\": 2}');\n",
    ) else {
        return;
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("meta") && err.contains("(2)") && err.contains("\"k\" twice"),
        "{err}"
    );
    assert!(!m.pg.exists(&m.data));
    assert!(!m.pg.exists(&m.final_db));
    let mut c = conn(m.mysql.as_ref().unwrap(), Some(&m.source));
    c.query_drop("UPDATE doc SET meta = '{\"k\": 1}' WHERE id = 2")
        .unwrap();
    assert_exit(&m.run(&["--derive-final", "--resume"]), 0);
    assert_eq!(
        m.pg.text(&m.final_db, "SELECT meta->>'k' FROM doc WHERE meta ? 'k'"),
        "1"
    );
}

/// The same from SQLite, whose JSON functions read a doubled key's first value too.
#[test]
fn sqlite_json_with_a_key_twice_is_refused_while_copying() {
    let Some(m) = Move::from_sqlite(
        "sqjsondup",
        "CREATE TABLE doc (id INTEGER PRIMARY KEY, meta JSON);\n\
         INSERT INTO doc VALUES (1, '{\"a\": 1}'), (2, '[{\"k\": 1, \"k\": 2}]');\n",
    ) else {
        return;
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("meta") && err.contains("\"k\" twice"), "{err}");
    assert!(!m.pg.exists(&m.data));
    assert!(!m.pg.exists(&m.final_db));
}

#[test]
fn the_shapes_fixture_moves_once_its_unstorable_values_are_dealt_with() {
    let Some(m) = Move::from_mysql("shapes", SHAPES) else {
        return;
    };
    let mut c = conn(m.mysql.as_ref().unwrap(), Some(&m.source));
    storable(&m);
    let out = m.run(&[
        "--derive-final",
        "--zero-dates",
        "null",
        "--reference",
        "node.parent_id=node.id",
        "--reference",
        "legacy_note.node_id=node.id",
    ]);
    assert_exit(&out, 0);
    // Zero dates became NULL, as asked.
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT count(*) FROM val WHERE zdt IS NULL AND zd IS NULL"
        ),
        m.pg.text(&m.final_db, "SELECT count(*) FROM val")
    );
    // Every other value by meaning (the zero dates' column compared above).
    c.query_drop("UPDATE val SET zdt = NULL, zd = NULL")
        .unwrap();
    let compared = m.compare_declared(
        &[],
        &[
            ("node", "parent_id", "node"),
            ("legacy_note", "node_id", "node"),
        ],
    );
    assert!(compared > 300, "{compared}");
    // Text in latin1, emoji, spatial values as MySQL's bytes, SET as text[].
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT count(*) FROM val WHERE l1 = 'café naïve ÿ'"
        ),
        "1"
    );
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT st::text FROM val WHERE st IS NOT NULL AND cardinality(st) = 3"
        ),
        "{x,y,z}"
    );
}

/// The SQLAlchemy site's v1 (integer keys) seeded in `m`'s SOURCE by its own models, moved into
/// the schema `alembic upgrade head` made on PostgreSQL (v2, uuid keys, an enum type, json,
/// timestamptz): the ORM's digest of SOURCE and of DB_FINAL are the same text, every row and
/// reference matches by meaning, and Alembic finds nothing to migrate afterwards.
fn site_moves_into_an_alembic_made_final_schema(m: Move) {
    let venv = alembic::venv();
    alembic::python(&venv, "seed_v1.py", &[&m.src_url()]);
    m.pg.create_database(&m.final_db);
    let fin = m.pg.url(&m.final_db);
    alembic::alembic(&venv, &fin, &["upgrade", "head"]);
    let before = alembic::python(&venv, "check_v2.py", &["--models", "v1", &m.src_url()]);
    let out = m.run(&[]);
    assert_exit(&out, 0);
    let after = alembic::python(&venv, "check_v2.py", &[&fin]);
    assert_eq!(before, after, "the site reads differently after the move");
    assert!(m.compare(&["alembic_version"]) > 500);
    assert!(
        alembic::alembic(&venv, &fin, &["check"]).contains("No new upgrade operations detected")
    );
}

#[test]
fn mariadb_site_moves_into_an_alembic_made_final_schema() {
    if let Some(m) = Move::from_mysql("alembic", "") {
        site_moves_into_an_alembic_made_final_schema(m);
    }
}

#[test]
fn sqlite_site_moves_into_an_alembic_made_final_schema() {
    if let Some(m) = Move::from_sqlite("sqalembic", "") {
        site_moves_into_an_alembic_made_final_schema(m);
    }
}

/// A dry run of a move shows the copy's statements and creates nothing; a DB_FINAL named like
/// the copy (DB_DATA's name plus _source) is refused before anything is done; `rekey check`
/// and a live run say they work within one engine.
#[test]
fn a_move_refuses_what_it_cannot_do_and_a_dry_run_writes_nothing() {
    let Some(m) = Move::from_mysql("dry", SHAPES) else {
        return;
    };
    conn(m.mysql.as_ref().unwrap(), Some(&m.source))
        .query_drop("UPDATE val SET s = REPLACE(s, CHAR(0), '')")
        .unwrap();
    let out = m.run(&["--derive-final", "--dry-run", "--zero-dates", "null"]);
    assert_exit(&out, 0);
    let said = stdout(&out);
    assert!(said.contains("CREATE TABLE \"val\""), "{said}");
    assert!(said.contains("-- transfer k_refs"), "{said}");
    for db in [m.copy_db(), m.data.clone(), m.final_db.clone()] {
        assert!(!m.pg.exists(&db), "a dry run created {db}");
    }
    let [s, d, _] = m.urls();
    let clash = m.pg.url(&m.copy_db());
    let dir = m.run_dir();
    let out = rekey(&[
        "run",
        "--source",
        &s,
        "--data",
        &d,
        "--final",
        &clash,
        "--derive-final",
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("_source"), "{}", stderr(&out));
    assert!(!m.pg.exists(&m.copy_db()));
    let out = rekey(&[
        "check",
        "--source",
        &s,
        "--data",
        &d,
        "--final",
        &m.urls()[2],
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("only `rekey run` changes engines"),
        "{}",
        stderr(&out)
    );
    let out = m.run(&["--follow"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("cannot change engines"),
        "{}",
        stderr(&out)
    );
}

/// A move of the shapes fixture (as `tag`) that stalls after clone, when every table has been
/// copied, runs `write` on SOURCE there, and goes on: the run must fail (exit 1). Its stderr.
fn run_with_a_late_write(tag: &str, write: &str) -> Option<String> {
    let m = Move::from_mysql(tag, SHAPES)?;
    let mut c = conn(m.mysql.as_ref().unwrap(), Some(&m.source));
    storable(&m);
    let child = m.stalled_in("clone", &["--derive-final", "--zero-dates", "null"], true);
    c.query_drop(write).unwrap();
    std::fs::write(m.run_dir().join("release"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 1);
    Some(stderr(&out))
}

/// The stages after the transfer read only SOURCE's copy: a row written to SOURCE after the
/// transfer copied its table is caught at the end (verify reads SOURCE itself again), and the
/// run fails naming the table instead of ending verified without that row.
#[test]
fn a_write_to_source_after_the_transfer_fails_the_run() {
    let Some(err) = run_with_a_late_write("late", "INSERT INTO chain1 (v) VALUES (99)") else {
        return;
    };
    assert!(
        err.contains("chain1 held 2 rows when the transfer copied it and holds 3 now"),
        "{err}"
    );
}

/// A table made in SOURCE after the transfer (DDL during the cutover) has none of its rows in
/// DB_FINAL: the run fails naming it.
#[test]
fn a_table_made_in_source_after_the_transfer_fails_the_run() {
    let Some(err) = run_with_a_late_write(
        "latetbl",
        "CREATE TABLE late_comer (id INT NOT NULL PRIMARY KEY, v INT)",
    ) else {
        return;
    };
    assert!(
        err.contains("late_comer was made after the transfer, which did not copy it"),
        "{err}"
    );
}

/// A write to SOURCE after the transfer that keeps every count (an UPDATE, or a row deleted and
/// another inserted) is caught too: verify reads SOURCE again by meaning, against the digest the
/// transfer journaled, and names the table and the column.
#[test]
fn an_update_to_source_after_the_transfer_fails_the_run() {
    let Some(err) = run_with_a_late_write("lateupd", "UPDATE chain1 SET v = 7 WHERE v = 2") else {
        return;
    };
    assert!(
        err.contains("chain1's values in v changed after the transfer copied it"),
        "{err}"
    );
}

/// `--zero-dates null` is how the transfer read SOURCE: a run killed after it and resumed without
/// the option still reads SOURCE the same way when verify compares it with what was copied.
#[test]
fn a_resume_without_zero_dates_null_reads_source_as_the_transfer_did() {
    let Some(m) = Move::from_mysql("zdresume", SHAPES) else {
        return;
    };
    storable(&m);
    m.killed_in("clone", &["--derive-final", "--zero-dates", "null"]);
    let out = m.run(&["--derive-final", "--resume"]);
    assert_exit(&out, 0);
    assert_eq!(report(&m.run_dir())["status"], "ok");
}

/// SQLite's shapes (fixtures/shapes/sqlite): the rowid alias, AUTOINCREMENT, INT and BIGINT
/// keys at their extremes, a text key, a self reference, a cycle, a WITHOUT ROWID many-to-many,
/// hostile names, every declared type an ORM writes, a generated column, a view and a trigger.
#[test]
fn the_sqlite_shapes_fixture_moves_to_postgres() {
    let Some(m) = Move::from_sqlite("sqshapes", SQLITE_SHAPES) else {
        return;
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    let compared = m.compare(&[]);
    assert!(compared > 150, "{compared}");
    let report = report(&m.run_dir());
    let detail = stage(&report, "transfer")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for listed in [
        "val.doubled: a generated column",
        "view node_view",
        "trigger node_label_upper",
    ] {
        assert!(detail.contains(listed), "{detail}");
    }
    // Values at their edges, as PostgreSQL holds them.
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT i::text FROM val WHERE flag AND d = 12345678.99"
        ),
        "-9223372036854775808"
    );
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS.US') FROM val WHERE s = ''"
        ),
        "2024-02-29 12:34:56.789012"
    );
}

/// A database named like the move's copy that the run did not create is refused, untouched.
#[test]
fn a_copy_database_the_run_did_not_create_is_refused() {
    let Some(m) = Move::from_mysql("foreign_copy", SHAPES) else {
        return;
    };
    storable(&m);
    m.pg.create_database(&m.copy_db());
    m.pg.exec(
        &m.copy_db(),
        "CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (7)",
    );
    let out = m.run(&["--derive-final", "--zero-dates", "null"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("already exists; a move to another engine copies SOURCE into it"),
        "{err}"
    );
    assert!(err.contains("DB_DATA's name plus _source"), "{err}");
    assert_eq!(m.pg.text(&m.copy_db(), "SELECT id FROM keep_me"), "7");
}

/// Text that is no character of its column's character set (an ascii column holding é's byte,
/// kept by a non-strict server) would move as the '?' the server sends in its place, and a
/// YEAR(2) as its last two digits: each is refused before anything is written, naming the
/// column, and the move goes through once SOURCE is corrected as the refusal says, cp1250's
/// Polish letters moving as themselves.
#[test]
fn text_outside_its_charset_and_two_digit_years_are_refused_before_anything_is_written() {
    let Some(m) = Move::from_mysql(
        "charset",
        "SET SESSION sql_mode = '';
CREATE TABLE city (id INT NOT NULL PRIMARY KEY, code VARCHAR(10) CHARACTER SET ascii NOT NULL, name VARCHAR(40) CHARACTER SET cp1250 NOT NULL, founded YEAR(2) NULL) ENGINE=InnoDB;
INSERT INTO city VALUES (1, 'LDZ', 'Łódź', 1970), (2, _binary 0xE9, 'Kraków', 2024), (3, 'WAW?', 'Warszawa', NULL);
",
    ) else {
        return;
    };
    let nothing_written = |m: &Move| {
        for db in [m.copy_db(), m.data.clone(), m.final_db.clone()] {
            assert!(!m.pg.exists(&db), "{db} was created by a refused move");
        }
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("table city, column founded: YEAR(2)")
            && err.contains("MODIFY `founded` YEAR"),
        "{err}"
    );
    nothing_written(&m);
    let mut c = conn(m.mysql.as_ref().unwrap(), Some(&m.source));
    c.query_drop("ALTER TABLE city MODIFY founded YEAR")
        .unwrap();
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("city.code: 1 row(s) of text whose bytes are no characters of the column's character set")
            && err.contains("(keys 2)")
            && err.contains("VARBINARY"),
        "{err}"
    );
    nothing_written(&m);
    c.query_drop("UPDATE city SET code = 'KRK' WHERE id = 2")
        .unwrap();
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    assert!(m.compare(&[]) >= 12);
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT string_agg(code || ' ' || name || ' ' || coalesce(founded::text, '-'), ', ' ORDER BY code) FROM city"
        ),
        "KRK Kraków 2024, LDZ Łódź 1970, WAW? Warszawa -"
    );
}

/// SQLite's CURRENT_TIMESTAMP and CURRENT_DATE are UTC's whatever the zone of the session that
/// inserts: so are the copy's and DB_FINAL's defaults made from them (PostgreSQL's own
/// CURRENT_TIMESTAMP on a timestamp without time zone, and CURRENT_DATE, are the session's).
#[test]
fn sqlite_current_timestamp_defaults_stay_utc_in_any_session_zone() {
    let Some(m) = Move::from_sqlite(
        "sqnow",
        "CREATE TABLE stamp (code TEXT PRIMARY KEY, at DATETIME DEFAULT CURRENT_TIMESTAMP, \
         day DATE DEFAULT CURRENT_DATE); INSERT INTO stamp (code) VALUES ('moved');",
    ) else {
        return;
    };
    let out = m.run(&["--derive-final"]);
    assert_exit(&out, 0);
    assert!(m.compare(&[]) > 0);
    for db in [m.copy_db(), m.final_db.clone()] {
        // +14 and -12 hours: at every hour one of the two is on another day than UTC.
        for zone in ["Pacific/Kiritimati", "Etc/GMT+12"] {
            let got = m.pg.text(
                &db,
                &format!(
                    "SET TimeZone = '{zone}'; INSERT INTO stamp (code) VALUES ('{zone}') \
                     RETURNING (abs(extract(epoch FROM at - (now() AT TIME ZONE 'UTC'))) < 60 \
                     AND day = (now() AT TIME ZONE 'UTC')::date)::text"
                ),
            );
            assert_eq!(got, "true", "{db}, a row inserted in {zone}");
        }
    }
}

/// SOURCE's defaults where DB_FINAL's column takes another exact type: a BIT(1)'s of a boolean
/// column is true or false (not a bit string PostgreSQL cannot cast), a DATETIME's of a
/// timestamptz column the same moment as the rows (UTC), whatever the inserting session's zone;
/// one the chosen type would change (a TINYINT(1)'s 2 of a boolean column) is not carried over,
/// and listed.
#[test]
fn defaults_take_the_type_db_finals_column_chooses() {
    let Some(m) = Move::from_mysql(
        "defaults",
        "CREATE TABLE flagged (code VARCHAR(10) NOT NULL PRIMARY KEY, \
         on_off BIT(1) NOT NULL DEFAULT b'1', \
         at DATETIME(3) NOT NULL DEFAULT '2020-06-01 12:00:00.000', \
         level TINYINT(1) NOT NULL DEFAULT 2) ENGINE=InnoDB; \
         INSERT INTO flagged VALUES ('moved', b'0', '2021-01-02 03:04:05.678', 1);",
    ) else {
        return;
    };
    m.pg.create_database(&m.final_db);
    m.pg.exec(
        &m.final_db,
        "CREATE TABLE flagged (code character varying(10) PRIMARY KEY, \
         on_off boolean NOT NULL DEFAULT true, \
         at timestamp(3) with time zone NOT NULL DEFAULT '2020-06-01 12:00:00+00', \
         level boolean NOT NULL DEFAULT false)",
    );
    // The statements a dry run shows say the zone, so they mean the same in any session.
    let out = m.run(&["--dry-run"]);
    assert_exit(&out, 0);
    let said = stdout(&out);
    assert!(
        said.contains("DEFAULT (true)::boolean")
            && said.contains(
                "DEFAULT ('2020-06-01 12:00:00.000000+00'::timestamp(3) with time zone)::timestamp(3) with time zone"
            ),
        "{said}"
    );
    let out = m.run(&[]);
    assert_exit(&out, 0);
    assert!(m.compare(&[]) > 0);
    let got = m.pg.text(
        &m.copy_db(),
        "SET TimeZone = 'Pacific/Kiritimati'; INSERT INTO flagged (code, level) \
         VALUES ('new', true) RETURNING on_off::text || ' ' || (at = '2020-06-01 12:00:00+00')::text",
    );
    assert_eq!(got, "true true");
    let detail = stage(&report(&m.run_dir()), "transfer")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("flagged.level: default not carried over, as the copy's type would change it: 2 is not a boolean"),
        "{detail}"
    );
    assert_eq!(
        m.pg.text(
            &m.copy_db(),
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'flagged' \
             AND column_name = 'level' AND column_default IS NULL"
        ),
        "1"
    );
}

/// A SQLite TEXT column that DB_FINAL keeps as jsonb: its JSON moves (its default too), and text
/// that is not JSON is refused before anything is written, naming the column and the row.
#[test]
fn sqlite_text_moves_into_a_json_column_when_it_is_json() {
    let Some(m) = Move::from_sqlite(
        "sqjson",
        "CREATE TABLE doc (code TEXT PRIMARY KEY, meta TEXT DEFAULT '{\"a\": 1}'); \
         INSERT INTO doc VALUES ('a', '{\"k\": [1, 2.5]}'), ('b', NULL), ('c', 'not json'), \
         ('d', '\"\"');",
    ) else {
        return;
    };
    m.pg.create_database(&m.final_db);
    m.pg.exec(
        &m.final_db,
        "CREATE TABLE doc (code text PRIMARY KEY, meta jsonb DEFAULT '{\"a\": 1}')",
    );
    let out = m.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("doc.meta: 1 row(s) of values of another type than the column's (keys 'c')"),
        "{err}"
    );
    assert!(!m.pg.exists(&m.copy_db()), "a refused move made the copy");
    rusqlite::Connection::open(m.sqlite_path().unwrap())
        .unwrap()
        .execute("UPDATE doc SET meta = '[\"fixed\"]' WHERE code = 'c'", [])
        .unwrap();
    let out = m.run(&[]);
    assert_exit(&out, 0);
    assert!(m.compare(&[]) > 0);
    assert_eq!(
        m.pg.text(
            &m.final_db,
            "SELECT meta->'k'->>1 FROM doc WHERE code = 'a'"
        ),
        "2.5"
    );
    assert_eq!(
        m.pg.text(
            &m.copy_db(),
            "INSERT INTO doc (code) VALUES ('e') RETURNING meta->>'a'"
        ),
        "1"
    );
}
