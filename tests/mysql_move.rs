//! `--load-path move` on the real MariaDB: DB_DATA's tables are built with DB_FINAL's own
//! definitions, filled once by swap and renamed into DB_FINAL. DB_FINAL must come out with its
//! definitions, foreign keys (their rules included) and triggers exactly as its migrations made
//! them, every row verified; an interrupted move resumes; what cannot move is refused before any
//! write.

mod common;

use common::*;
use mysql::prelude::Queryable;

/// Every table's CREATE statement and every trigger's definition (not its creation time: a
/// trigger set aside during the load is created again).
fn definitions(dbs: &Dbs) -> Vec<String> {
    let mut c = dbs.conn(&dbs.final_db);
    let tables: Vec<String> = c.query("SHOW TABLES").unwrap();
    let mut out: Vec<String> = tables
        .iter()
        .map(|t| {
            let (_, create): (String, String) = c
                .query_first(format!("SHOW CREATE TABLE `{t}`"))
                .unwrap()
                .unwrap();
            create
        })
        .collect();
    let triggers: Vec<(String, String, String, String, String)> = c
        .query(format!(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}' ORDER BY 1",
            dbs.final_db
        ))
        .unwrap();
    out.extend(triggers.into_iter().map(|t| format!("{t:?}")));
    assert!(
        out.iter()
            .any(|d| d.contains("TRIGGER") || d.contains("comment_ai")),
        "the fixture has a trigger"
    );
    out
}

fn tables_in(dbs: &Dbs, db: &str) -> Vec<String> {
    dbs.conn(db).query("SHOW TABLES").unwrap()
}

fn killed_moving_in(dbs: &Dbs, stage: &str) {
    let (src, data, fin) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_args(dbs, [&src, &data, &fin], stage, &["--load-path", "move"]);
    wait_for_stall(dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Puts DB_FINAL's moved tables back into DB_DATA: the state between the move's two statements
/// (DB_FINAL's empty tables dropped, the filled ones not renamed yet).
fn move_back_to_data(dbs: &Dbs) {
    let back: Vec<String> = tables_in(dbs, &dbs.final_db)
        .into_iter()
        .filter(|t| t != "alembic_version")
        .map(|t| format!("`{}`.`{t}` TO `{}`.`{t}`", dbs.final_db, dbs.data))
        .collect();
    dbs.conn(&dbs.final_db)
        .query_drop(format!("RENAME TABLE {}", back.join(", ")))
        .unwrap();
}

#[test]
fn a_move_leaves_db_final_exactly_as_its_migrations_made_it_and_verified() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_exact");
    let before = definitions(&dbs);
    let out = dbs.run(&["--load-path", "move"]);
    assert_exit(&out, 0);
    assert_eq!(definitions(&dbs), before, "DB_FINAL's definitions changed");
    let detail = load_detail(&dbs);
    assert!(detail.contains("moved from DB_DATA by RENAME"), "{detail}");
    assert!(
        detail.contains("1 trigger set aside and restored"),
        "{detail}"
    );
    let report = report(&dbs.run_dir());
    assert_eq!(report["load_path"], "move");
    assert_eq!(stage(&report, "load")["rows"], 21_417);
    // A downtime estimate from this rehearsal says which cutover it predicts.
    let plan = rekey(&[
        "plan",
        "--source",
        &dbs.src_url(),
        "--estimate-from",
        dbs.run_dir().to_str().unwrap(),
    ]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains("The rehearsal ran with --load-path move"),
        "{}",
        stdout(&plan)
    );
    assert!(report["verification"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["ok"] == true));
    // DB_DATA gave its tables up: what is left is rekey's own and the bookkeeping table.
    let left = tables_in(&dbs, &dbs.data);
    assert!(
        left.iter()
            .all(|t| t.starts_with("_rekey_") || t == "alembic_version"),
        "{left:?}"
    );
    // The foreign keys work in DB_FINAL as declared: a user's comments lose their author.
    let mut c = dbs.conn(&dbs.final_db);
    let with_user: u64 = c
        .query_first("SELECT COUNT(*) FROM comment WHERE user_id IS NOT NULL")
        .unwrap()
        .unwrap();
    assert!(with_user > 0);
    c.query_drop("DELETE FROM mail_message").unwrap();
    c.query_drop("DELETE FROM user").unwrap();
    let after: u64 = c
        .query_first("SELECT COUNT(*) FROM comment WHERE user_id IS NOT NULL")
        .unwrap()
        .unwrap();
    assert_eq!(after, 0, "ON DELETE SET NULL did not follow the move");
}

#[test]
fn a_move_interrupted_before_its_rename_resumes_and_puts_the_triggers_back() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_resume");
    let before = definitions(&dbs);
    killed_moving_in(&dbs, "load");
    // The kill came after the move; put DB_DATA's tables back where they were between the move's
    // two statements.
    move_back_to_data(&dbs);
    let mut c = dbs.conn(&dbs.final_db);
    // The trigger is still aside: the journal holds the statements that restore it.
    let triggers: u64 = c
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}'",
            dbs.final_db
        ))
        .unwrap()
        .unwrap();
    assert_eq!(triggers, 0);
    // No --load-path: a resumed run takes the journal's.
    let out = dbs.run(&["--resume"]);
    assert_exit(&out, 0);
    assert_eq!(definitions(&dbs), before, "DB_FINAL's definitions changed");
    assert_exit(&dbs.verify(), 0);
}

#[test]
fn resuming_a_move_with_another_load_path_is_refused_and_without_one_finishes() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_other");
    killed_moving_in(&dbs, "swap");
    let out = dbs.run(&["--resume", "--load-path", "direct"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("--load-path move"), "{err}");
    assert!(err.contains("Resume with --load-path move"), "{err}");
    assert_exit(&dbs.run(&["--resume"]), 0);
    assert!(load_detail(&dbs).contains("RENAME"));
}

#[test]
fn a_run_started_as_a_copy_cannot_be_resumed_as_a_move() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_copy");
    // A full copy: the default run's DB_DATA (definitions only) is refused in one_write.rs.
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_args(&dbs, [&s, &d, &f], "swap", &["--full-data-copy"]);
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = dbs.run(&["--resume", "--load-path", "move"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("built them as SOURCE's copy"), "{err}");
    assert_exit(&dbs.run(&["--resume"]), 0);
}

#[test]
fn a_move_with_derive_final_is_refused_before_anything_is_written() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_derive");
    let out = dbs.run(&["--load-path", "move", "--derive-final"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("DB_FINAL must exist before the run"));
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
}

#[test]
fn a_db_final_that_cannot_hold_the_rows_is_refused_before_any_write() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_shape");
    dbs.conn(&dbs.final_db)
        .query_drop("ALTER TABLE tag DROP COLUMN label")
        .unwrap();
    // `rekey check` says it first.
    let check = dbs.check(&["--load-path", "move"]);
    assert_exit(&check, 2);
    assert!(
        stdout(&check).contains("tag.label: column only in DB_DATA"),
        "{}",
        stdout(&check)
    );
    let out = dbs.run(&["--load-path", "move"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("tag.label: column only in DB_DATA"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
}

#[test]
fn a_dry_run_of_a_move_shows_the_tables_built_like_db_final_and_the_rename() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_dry");
    let out = dbs.run(&["--load-path", "move", "--dry-run"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let like = format!("LIKE `{}`.`comment`", dbs.final_db);
    assert!(text.contains(&like), "{text}");
    assert!(
        text.contains(&format!(
            "`{}`.`comment` TO `{}`.`comment`",
            dbs.data, dbs.final_db
        )),
        "{text}"
    );
    assert!(!dbs.exists(&dbs.data), "a dry run created DB_DATA");
}

#[test]
fn an_account_that_cannot_replace_db_final_tables_is_told_the_grant_before_any_write() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_grant");
    // What the runbook grants for the default load path, and SET USER for the fixture's trigger.
    let account = Account::new(
        &server,
        "mvgrant",
        &[
            format!("GRANT SELECT ON `{}`.* TO {{user}}", dbs.source),
            format!("GRANT ALL PRIVILEGES ON `{}`.* TO {{user}}", dbs.data),
            format!(
                "GRANT SELECT, INSERT, DELETE, TRIGGER ON `{}`.* TO {{user}}",
                dbs.final_db
            ),
            "GRANT SET USER ON *.* TO {user}".into(),
        ],
    );
    let out = account.run(&dbs, &["--load-path", "move"]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("lacks CREATE, DROP"), "{err}");
    assert!(err.contains("GRANT CREATE, DROP ON"), "{err}");
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
}

#[test]
fn rows_written_into_db_final_during_a_resumed_move_are_never_dropped() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "mv_rows");
    killed_moving_in(&dbs, "load");
    move_back_to_data(&dbs);
    let mut c = dbs.conn(&dbs.final_db);
    // Someone creates a table of DB_FINAL again and writes into it before the resume.
    c.query_drop(format!("CREATE TABLE tag LIKE `{}`.tag", dbs.data))
        .unwrap();
    c.query_drop("INSERT INTO tag (id, label) VALUES ('someone', 'else')")
        .unwrap();
    let out = dbs.run(&["--resume"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("DB_FINAL's tag holds rows"), "{err}");
    let kept: u64 = c
        .query_first("SELECT COUNT(*) FROM tag WHERE id = 'someone'")
        .unwrap()
        .unwrap();
    assert_eq!(kept, 1);
    assert!(tables_in(&dbs, &dbs.data).contains(&"tag".to_string()));
}
