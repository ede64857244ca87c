//! Preflight against a real MariaDB server: `rekey check`, privileges with the exact GRANT that
//! fixes them, and orphan references found before anything is written.

mod common;

use common::*;
use mysql::prelude::Queryable;

#[test]
fn check_passes_on_a_ready_environment() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "checkok");
    let out = dbs.check(&[]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    for line in [
        "ok   SOURCE privileges: SELECT",
        "ok   DB_DATA privileges:",
        "ok   load path: direct INSERT ... SELECT",
        "ok   orphans: none in 12 references",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn missing_privileges_are_named_with_the_grant_that_fixes_them() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "grants");
    let acct = Account::new(
        &server,
        "grants",
        &[
            format!("GRANT SELECT ON `{}`.* TO {{user}}", dbs.source),
            format!("GRANT SELECT, INSERT ON `{}`.* TO {{user}}", dbs.data),
        ],
    );
    let out = rekey(&[
        "check",
        "--source",
        &acct.url(&dbs.source),
        "--data",
        &acct.url(&dbs.data),
    ]);
    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(text.contains("ok   SOURCE privileges: SELECT"), "{text}");
    let expected = format!(
        "GRANT DELETE, CREATE, DROP, ALTER, INDEX ON `{}`.* TO '{}'@'%';",
        dbs.data, acct.name
    );
    assert!(text.contains(&expected), "{expected} in\n{text}");

    // convert refuses in preflight, before DB_DATA exists.
    let dir = dbs.run_dir();
    let out = rekey(&[
        "convert",
        "--source",
        &acct.url(&dbs.source),
        "--data",
        &acct.url(&dbs.data),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(!dbs.exists(&dbs.data));
}

fn add_orphans(dbs: &Dbs) {
    let mut s = dbs.conn(&dbs.source);
    s.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    // Two comments by users who no longer exist (nullable column), one translation of a missing item (NOT NULL).
    s.query_drop("UPDATE comment SET user_id = 90001 ORDER BY comment_id LIMIT 2")
        .unwrap();
}

#[test]
fn orphans_fail_the_run_with_a_listing_before_anything_is_written() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "orphans");
    add_orphans(&dbs);
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("comment.user_id -> user.id: 2 rows, e.g. 90001"),
        "{err}"
    );
    assert!(err.contains("--orphans null"), "{err}");
    assert!(
        !dbs.exists(&dbs.data),
        "DB_DATA was created although preflight failed"
    );
    // SOURCE's counts are taken while the checks run, and journaled only once they all passed:
    // a run that resumes after the orphans are fixed takes them anew.
    let snapshots: i64 = journal_value(
        &dbs.run_dir(),
        "SELECT COUNT(*) FROM artifact WHERE kind = 'source-snapshot'",
    );
    assert_eq!(
        snapshots, 0,
        "a failed preflight journaled SOURCE's snapshot"
    );
    let out = rekey(&["check", "--source", &dbs.src_url()]);
    assert_exit(&out, 2);
    assert!(
        stdout(&out).contains(
            "FAIL orphans: comment.user_id -> user.id: 2 rows without a parent, e.g. 90001"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn orphans_null_stores_null_and_lists_every_one_in_the_report() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "orphnull");
    add_orphans(&dbs);
    let null_before: u64 = dbs
        .conn(&dbs.source)
        .query_first("SELECT COUNT(*) FROM comment WHERE user_id IS NULL")
        .unwrap()
        .unwrap();
    let out = dbs.run(&["--orphans", "null"]);
    assert_exit(&out, 0);
    let null_after: u64 = dbs
        .conn(&dbs.final_db)
        .query_first("SELECT COUNT(*) FROM comment WHERE user_id IS NULL")
        .unwrap()
        .unwrap();
    assert_eq!(null_after, null_before + 2);
    let report = report(&dbs.run_dir());
    let orphans = report["orphans_nulled"].as_array().unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0]["reference"], "comment.user_id -> user.id");
    assert_eq!(orphans[0]["rows"], 2);
    let listed =
        std::fs::read_to_string(dbs.run_dir().join("orphans/comment.user_id.csv")).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], "comment_id,user_id");
    assert_eq!(lines.len(), 3, "every orphan listed: {listed}");
    assert!(lines[1..].iter().all(|l| l.ends_with(",90001")), "{listed}");
    assert!(std::fs::read_to_string(dbs.run_dir().join("report.md"))
        .unwrap()
        .contains("Orphans stored as NULL"));
}

#[test]
fn orphans_in_a_not_null_column_cannot_be_nulled() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "orphnn");
    let mut s = dbs.conn(&dbs.source);
    s.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    s.query_drop("UPDATE mail_message SET sender_id = 777777 ORDER BY id LIMIT 1")
        .unwrap();
    let out = dbs.run(&["--orphans", "null"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("mail_message.sender_id cannot hold NULL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn derive_final_into_a_database_with_tables_is_refused_by_check_and_before_any_write() {
    let server = server_or_skip!();
    // Dbs::blog gives DB_FINAL the application's tables: derive-final cannot create it.
    let dbs = Dbs::blog(&server, "derivefull");
    let check = dbs.check(&["--derive-final"]);
    assert_exit(&check, 2);
    let text = stdout(&check);
    assert!(
        text.contains("FAIL DB_FINAL") && text.contains("already exists and has"),
        "{text}"
    );
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--derive-final creates DB_FINAL"),
        "{}",
        stderr(&out)
    );
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
    // An empty DB_FINAL is fine, as derive-final has always taken it.
    dbs.conn(&dbs.final_db)
        .query_drop(format!(
            "DROP DATABASE `{0}`; CREATE DATABASE `{0}`",
            dbs.final_db
        ))
        .unwrap();
    assert_exit(&dbs.check(&["--derive-final"]), 0);
}

const FK_SOURCE: &str = "
CREATE TABLE countries (code CHAR(2) NOT NULL PRIMARY KEY);
CREATE TABLE users (id INT NOT NULL PRIMARY KEY, country CHAR(2) NULL);
CREATE TABLE posts (id INT NOT NULL PRIMARY KEY);
CREATE TABLE articles (id INT NOT NULL PRIMARY KEY);
CREATE TABLE comments (id INT NOT NULL PRIMARY KEY, post_id INT NULL,
  CONSTRAINT fk_comments_post FOREIGN KEY (post_id) REFERENCES posts (id));
INSERT INTO countries VALUES ('FR');
INSERT INTO users VALUES (1, 'FR'), (2, 'XX'), (3, NULL), (4, 'XX');
INSERT INTO posts VALUES (1), (2);
INSERT INTO articles VALUES (1);
INSERT INTO comments VALUES (1, 1), (2, 2), (3, NULL);
CREATE TABLE audit (id INT NOT NULL PRIMARY KEY, actor INT NULL);
INSERT INTO audit VALUES (1, 1), (2, NULL);
";

/// The application's schema adds a foreign key on an unconverted column and gives a converted
/// one a second foreign key to another converted table; an integer column without a foreign key in
/// SOURCE gets one to a converted table.
const FK_FINAL: &str = "
CREATE TABLE countries (code CHAR(2) NOT NULL PRIMARY KEY);
CREATE TABLE users (id CHAR(32) NOT NULL PRIMARY KEY, country CHAR(2) NULL,
  CONSTRAINT fk_users_country FOREIGN KEY (country) REFERENCES countries (code));
CREATE TABLE posts (id CHAR(32) NOT NULL PRIMARY KEY);
CREATE TABLE articles (id CHAR(32) NOT NULL PRIMARY KEY);
CREATE TABLE comments (id CHAR(32) NOT NULL PRIMARY KEY, post_id CHAR(32) NULL,
  CONSTRAINT fk_comments_post FOREIGN KEY (post_id) REFERENCES posts (id),
  CONSTRAINT fk_comments_article FOREIGN KEY (post_id) REFERENCES articles (id));
CREATE TABLE audit (id CHAR(32) NOT NULL PRIMARY KEY, actor CHAR(32) NULL,
  CONSTRAINT fk_audit_actor FOREIGN KEY (actor) REFERENCES users (id));
";

#[test]
fn rows_that_would_break_final_foreign_keys_are_refused_before_any_write() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "finalfk");
    load_sql(&server, &dbs.source, FK_SOURCE);
    load_sql(&server, &dbs.final_db, FK_FINAL);
    let check = dbs.check(&[]);
    assert_exit(&check, 2);
    assert!(
        stdout(&check).contains("FAIL DB_FINAL foreign keys"),
        "{}",
        stdout(&check)
    );
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    for part in [
        "users.country: DB_FINAL's foreign key fk_users_country (country) -> countries(code) would be broken by 2 SOURCE rows",
        "'XX'",
        "comments.post_id: DB_FINAL's foreign key fk_comments_article (post_id) -> articles(id) retargets the column and would be broken by all 2 rows",
        "holds keys of posts",
        "audit.actor: DB_FINAL's foreign key fk_audit_actor (actor) -> users(id) retargets the column and would be broken by all 1 rows with a value: SOURCE's audit.actor is not a reference rekey converts",
        "declare it with --reference audit.actor=users.id",
    ] {
        assert!(err.contains(part), "{part} in\n{err}");
    }
    assert!(!err.contains("fk_comments_post "), "{err}");
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");

    // With the data fixed and the retargeted key dropped, the same databases convert.
    dbs.conn(&dbs.source)
        .query_drop("UPDATE users SET country = 'FR' WHERE country = 'XX'")
        .unwrap();
    dbs.conn(&dbs.final_db)
        .query_drop("ALTER TABLE comments DROP FOREIGN KEY fk_comments_article")
        .unwrap();
    let declared = ["--reference", "audit.actor=users.id"];
    assert_exit(&dbs.check(&declared), 0);
    std::fs::remove_dir_all(dbs.run_dir()).ok();
    assert_exit(&dbs.run(&declared), 0);
}

#[test]
fn a_declared_reference_holding_text_is_refused_before_any_write() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "textref");
    load_sql(
        &server,
        &dbs.source,
        "CREATE TABLE users (id INT NOT NULL PRIMARY KEY);
         CREATE TABLE notes (id INT NOT NULL PRIMARY KEY, owner VARCHAR(10) NULL);
         INSERT INTO users VALUES (1), (2), (3);
         INSERT INTO notes VALUES (1, '1'), (2, '3abc'), (3, NULL);",
    );
    load_sql(
        &server,
        &dbs.final_db,
        "CREATE TABLE users (id CHAR(32) NOT NULL PRIMARY KEY);
         CREATE TABLE notes (id CHAR(32) NOT NULL PRIMARY KEY, owner CHAR(32) NULL);",
    );
    let out = dbs.run(&["--reference", "notes.owner=users.id"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("notes.owner (varchar(10), a reference to users.id): 1 rows hold a value that is not an integer key, e.g. '3abc'"),
        "{err}"
    );
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
    let check = dbs.check(&["--reference", "notes.owner=users.id"]);
    assert_exit(&check, 2);
    assert!(
        stdout(&check).contains("FAIL reference values"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn conflicting_reference_declarations_are_refused() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "conflict");
    let plan = |extra: &[&str]| {
        let src = dbs.src_url();
        let mut args = vec!["plan", "--source", &src];
        args.extend(extra);
        rekey(&args)
    };
    let out = plan(&["--reference", "comment.user_id=tag.id"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("--reference comment.user_id=tag.id contradicts its foreign key fk_comment_user, which points the column at user.id"),
        "{err}"
    );
    assert_exit(&plan(&["--reference", "comment.user_id=user.id"]), 0);
}

#[test]
fn derive_final_on_another_server_than_source_is_refused_before_db_data_is_built() {
    let server = server_or_skip!();
    let Some(second) = SecondServer::start() else {
        return;
    };
    let dbs = Dbs::blog(&server, "derivefar");
    let far = format!("{}/{}", second.url, dbs.final_db);
    let check = rekey(&[
        "check",
        "--source",
        &dbs.src_url(),
        "--data",
        &dbs.data_url(),
        "--final",
        &far,
        "--derive-final",
    ]);
    assert_exit(&check, 2);
    assert!(
        stdout(&check).contains("different servers"),
        "{}",
        stdout(&check)
    );
    let out = run_in(
        [&dbs.src_url(), &dbs.data_url(), &far],
        &dbs.run_dir(),
        &["--derive-final"],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("derive-final cannot create DB_FINAL's tables"),
        "{}",
        stderr(&out)
    );
    assert!(!dbs.exists(&dbs.data), "DB_DATA was built");
}
