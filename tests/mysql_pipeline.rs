//! The cutover pipeline against a real MariaDB server, on the blog fixture: every test builds its
//! own throwaway databases and drops them afterwards.

mod common;

use common::*;
use mysql::prelude::Queryable;

#[test]
fn blog_run_ends_verified_and_source_is_unchanged() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "e2e");
    let before = fingerprint(&server, &dbs.source);
    let out = dbs.run(&[]);
    assert_exit(&out, 0);
    assert_eq!(fingerprint(&server, &dbs.source), before, "SOURCE changed");

    let report = report(&dbs.run_dir());
    assert_eq!(report["status"], "ok");
    let checks = report["verification"].as_array().unwrap();
    assert_eq!(
        checks.len(),
        9,
        "every table but the bookkeeping one is verified"
    );
    assert!(checks.iter().all(|c| c["ok"] == true));
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "introspect",
            "preflight",
            "clone",
            "shadow",
            "link",
            "unconstrain",
            "swap",
            "compare",
            "load",
            "verify"
        ]
    );
    let load = stage(&report, "load");
    assert_eq!(load["rows"], 21417);
    assert!(load["detail"]
        .as_str()
        .unwrap()
        .contains("kept DB_FINAL's own alembic_version"));

    // The new schema's own migration history is left as it was.
    let mut f = dbs.conn(&dbs.final_db);
    let versions: Vec<String> = f.query("SELECT version_num FROM alembic_version").unwrap();
    assert_eq!(versions, ["f00dfeed0001"]);
}

#[test]
fn every_value_and_reference_round_trips_through_the_mapping() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "values");
    assert_exit(&dbs.run(&[]), 0);
    let users = mapping(&dbs.run_dir(), "user");
    let items = mapping(&dbs.run_dir(), "content_item");
    let comments = mapping(&dbs.run_dir(), "comment");
    let map = |m: &std::collections::BTreeMap<String, String>, v: Option<String>| {
        v.map(|k| {
            m.get(&k)
                .unwrap_or_else(|| panic!("no mapping for {k}"))
                .clone()
        })
    };

    type Row = (String, String, Option<String>, Option<String>, Vec<u8>);
    let q = "SELECT CAST(comment_id AS CHAR), CAST(content_item_id AS CHAR), CAST(parent_comment_id AS CHAR), CAST(user_id AS CHAR), CAST(body AS BINARY) FROM comment";
    let mut s = dbs.conn(&dbs.source);
    let mut f = dbs.conn(&dbs.final_db);
    let source: Vec<Row> = s.query(q).unwrap();
    type Linked = (String, Option<String>, Option<String>, Vec<u8>);
    let fin: std::collections::BTreeMap<String, Linked> = f
        .query::<Row, _>(q)
        .unwrap()
        .into_iter()
        .map(|(id, item, parent, user, body)| (id, (item, parent, user, body)))
        .collect();
    assert_eq!(source.len(), fin.len());
    let mut tricky = 0;
    for (id, item, parent, user, body) in source {
        let (f_item, f_parent, f_user, f_body) = &fin[&comments[&id]];
        assert_eq!(f_item, &items[&item], "comment {id}: content item");
        assert_eq!(
            f_parent,
            &map(&comments, parent),
            "comment {id}: parent comment (self reference)"
        );
        assert_eq!(
            f_user,
            &map(&users, user),
            "comment {id}: user (nullable reference)"
        );
        assert_eq!(f_body, &body, "comment {id}: body bytes");
        if body.is_empty()
            || body == b"\\N"
            || body == b"NULL"
            || body.contains(&0)
            || body.contains(&b'\t')
        {
            tricky += 1;
        }
    }
    assert!(
        tricky >= 4,
        "the fixture carries the tricky values ({tricky})"
    );

    // BLOB bytes, emoji text and doubles, compared as the server stores them.
    let q = "SELECT CAST(id AS CHAR), HEX(payload), HEX(body), CAST(score AS CHAR), CAST(price AS CHAR) FROM content_item";
    type Opt = Option<String>;
    type ItemRow = (String, Opt, Opt, Opt, Opt);
    let src: Vec<ItemRow> = s.query(q).unwrap();
    let fin: std::collections::BTreeMap<String, (Opt, Opt, Opt, Opt)> = f
        .query::<ItemRow, _>(q)
        .unwrap()
        .into_iter()
        .map(|(a, b, c, d, e)| (a, (b, c, d, e)))
        .collect();
    for (id, payload, body, score, price) in src {
        assert_eq!(
            fin[&items[&id]],
            (payload, body, score, price),
            "content_item {id}"
        );
    }
}

#[test]
fn null_foreign_key_stays_null() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "nullfk");
    assert_exit(&dbs.run(&[]), 0);
    let count = |db: &str, sql: &str| -> u64 { dbs.conn(db).query_first(sql).unwrap().unwrap() };
    let q = "SELECT COUNT(*) FROM content_item WHERE author_id IS NULL AND parent_id IS NULL";
    let in_source = count(&dbs.source, q);
    assert!(in_source > 0, "fixture has NULL references");
    assert_eq!(count(&dbs.final_db, q), in_source);
    let q = "SELECT COUNT(*) FROM mail_message WHERE recipient_id IS NULL";
    assert_eq!(count(&dbs.final_db, q), count(&dbs.source, q));
}

#[test]
fn compare_reports_a_changed_column_type_and_exits_1() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "compare");
    dbs.conn(&dbs.final_db)
        .query_drop("ALTER TABLE content_item_translation MODIFY intro LONGTEXT NULL")
        .unwrap();
    let run_dir = dbs.run_dir();
    let dir = run_dir.to_str().unwrap();
    assert_exit(
        &rekey(&[
            "convert",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.data_url(),
            "--run-dir",
            dir,
            "-q",
        ]),
        0,
    );
    let out = rekey(&[
        "compare",
        "--data",
        &dbs.data_url(),
        "--final",
        &dbs.final_url(),
        "--run-dir",
        dir,
        "-q",
    ]);
    assert_exit(&out, 1);
    assert_eq!(
        stdout(&out).trim(),
        "content_item_translation.intro: data type text in DB_DATA, longtext in DB_FINAL"
    );
    // And the full run stops at compare: nothing is loaded.
    let out = dbs.run(&["--resume"]);
    assert_exit(&out, 1);
    let rows: u64 = dbs
        .conn(&dbs.final_db)
        .query_first("SELECT COUNT(*) FROM user")
        .unwrap()
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn load_refuses_a_non_empty_final() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "nonempty");
    dbs.conn(&dbs.final_db)
        .query_drop("INSERT INTO tag (id, label) VALUES (REPEAT('a', 32), 'left over')")
        .unwrap();
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("DB_FINAL") && stderr(&out).contains("not empty"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("tag"),
        "names the table: {}",
        stderr(&out)
    );
    // Refused before anything was written: DB_DATA was never created.
    assert!(!dbs.exists(&dbs.data));
}

#[test]
fn verify_detects_a_changed_value_in_final() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "tamper");
    assert_exit(&dbs.run(&[]), 0);
    dbs.conn(&dbs.final_db)
        .query_drop("UPDATE user SET name = CONCAT(name, '!') ORDER BY id LIMIT 1")
        .unwrap();
    let out = dbs.verify();
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("user: values differ in name"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_detects_a_reference_pointing_at_another_parent() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "repoint");
    assert_exit(&dbs.run(&[]), 0);
    // Swap the authors of two items: every value still exists, only the pairs changed.
    let mut f = dbs.conn(&dbs.final_db);
    // Two items of different authors (the keys are random per run, so the first two by key
    // may share one).
    let ids: Vec<(String, String)> = f
        .query("SELECT id, author_id FROM content_item WHERE author_id IS NOT NULL ORDER BY id")
        .unwrap();
    let a = &ids[0];
    let b = ids
        .iter()
        .find(|r| r.1 != a.1)
        .expect("the blog has items of two authors");
    f.exec_drop(
        "UPDATE content_item SET author_id = ? WHERE id = ?",
        (&b.1, &a.0),
    )
    .unwrap();
    f.exec_drop(
        "UPDATE content_item SET author_id = ? WHERE id = ?",
        (&a.1, &b.0),
    )
    .unwrap();
    let out = dbs.verify();
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("content_item"), "{}", stdout(&out));
}

#[test]
fn account_without_file_privilege_loads_through_the_client_side_stream() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "nofile");
    // DB_FINAL's trigger belongs to root: putting it back after the load needs SET USER (not FILE).
    let acct = Account::for_run(&dbs, "nofile", &["GRANT SET USER ON *.* TO {user}"]);
    let dir = dbs.run_dir();
    let out = acct.run(&dbs, &["--load-path", "stream"]);
    assert_exit(&out, 0);
    let report = report(&dir);
    let load = stage(&report, "load");
    assert!(
        load["detail"]
            .as_str()
            .unwrap()
            .contains("client-side stream"),
        "{load}"
    );
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap()
        + &std::fs::read_to_string(dir.join("report.md")).unwrap()
        + &stdout(&out)
        + &stderr(&out);
    assert!(!text.contains(&acct.password), "password leaked");
    let journal = std::fs::read(dir.join("journal.sqlite")).unwrap();
    assert!(
        !journal
            .windows(acct.password.len())
            .any(|w| w == acct.password.as_bytes()),
        "password in the journal"
    );
}

#[test]
fn the_default_load_on_one_server_is_a_direct_insert_select() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "direct");
    // The load path of the two-write route (a full DB_DATA); the default run writes once.
    assert_exit(&dbs.run(&["--full-data-copy"]), 0);
    let load = load_detail(&dbs);
    assert!(load.contains("direct INSERT ... SELECT"), "{load}");
}

#[test]
fn server_side_files_without_the_file_privilege_are_refused_with_the_grant() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "nofilegrant");
    let acct = Account::for_run(&dbs, "nofilegrant", &[]);
    let out = acct.run(&dbs, &["--load-path", "files"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("GRANT FILE ON *.* TO '{}'@'%'", acct.name)),
        "{}",
        stderr(&out)
    );
    assert!(
        !dbs.exists(&dbs.data),
        "refused in preflight, before DB_DATA was created"
    );
}

#[test]
fn root_loads_through_server_side_outfile() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "outfile");
    assert_exit(&dbs.run(&["--load-path", "files"]), 0);
    let load = load_detail(&dbs);
    assert!(load.contains("server-side OUTFILE/INFILE"), "{load}");
}

#[test]
fn final_triggers_do_not_fire_and_come_back_identical() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "trigger");
    let mut f = dbs.conn(&dbs.final_db);
    f.query_drop("CREATE TABLE audit (n INT)").unwrap();
    // final.sql's own schema plus a table for the trigger to write; compare must still pass, so
    // the audit table exists in SOURCE too.
    dbs.conn(&dbs.source)
        .query_drop("CREATE TABLE audit (n INT)")
        .unwrap();
    f.query_drop(
        "CREATE TRIGGER user_ai AFTER INSERT ON user FOR EACH ROW INSERT INTO audit VALUES (1)",
    )
    .unwrap();
    let show = |f: &mut mysql::Conn| -> Vec<(String, String, String)> {
        f.query("SELECT TRIGGER_NAME, ACTION_STATEMENT, SQL_MODE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1").unwrap()
    };
    let before = show(&mut f);
    assert_eq!(before.len(), 2);
    assert_exit(&dbs.run(&[]), 0);
    let mut f = dbs.conn(&dbs.final_db);
    assert_eq!(show(&mut f), before);
    let fired: u64 = f
        .query_first("SELECT COUNT(*) FROM audit")
        .unwrap()
        .unwrap();
    assert_eq!(fired, 0, "the INSERT trigger fired during the load");
}

#[test]
fn plan_lists_converted_tables_references_and_kept_tables() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "plan");
    let out = rekey(&["plan", "--source", &dbs.src_url(), "--json"]);
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let converted: Vec<String> = plan["converted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}.{}",
                c["table"].as_str().unwrap(),
                c["column"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(converted.len(), 8);
    assert!(
        converted.contains(&"comment.comment_id".to_string()),
        "keys named anything: {converted:?}"
    );
    let refs: Vec<String> = plan["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}.{}",
                r["table"].as_str().unwrap(),
                r["column"].as_str().unwrap()
            )
        })
        .collect();
    for r in [
        "content_item.parent_id",
        "comment.parent_comment_id",
        "user_mtm_user_group.user_id",
        "user_mtm_user_group.user_group_id",
    ] {
        assert!(refs.contains(&r.to_string()), "{r} in {refs:?}");
    }
    assert_eq!(plan["kept"][0]["table"], "alembic_version");

    let out = rekey(&[
        "plan",
        "--source",
        &dbs.src_url(),
        "--exclude",
        "page_request",
    ]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("Excluded tables: page_request"));
}

#[test]
fn plan_warns_about_integer_id_columns_without_constraint() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "warn");
    dbs.conn(&dbs.source)
        .query_drop("ALTER TABLE tag ADD COLUMN legacy_owner_id INT NULL")
        .unwrap();
    let out = rekey(&["plan", "--source", &dbs.src_url()]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("[undeclared-reference] integer column tag.legacy_owner_id"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn same_seed_gives_identical_mapping_files() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "seed");
    let run = |dir: &std::path::Path, data: &str| {
        rekey(&[
            "convert",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.url(data),
            "--run-dir",
            dir.to_str().unwrap(),
            "--seed",
            "42",
            "-q",
        ])
    };
    let (a, b) = (dbs.dir.path().join("a"), dbs.dir.path().join("b"));
    let mut dbs2 = Dbs::new(&server, "seed2");
    let data2 = dbs2.extra("data2");
    assert_exit(&run(&a, &dbs.data), 0);
    let data2_url = format!("{}/{data2}", server);
    assert_exit(
        &rekey(&[
            "convert",
            "--source",
            &dbs.src_url(),
            "--data",
            &data2_url,
            "--run-dir",
            b.to_str().unwrap(),
            "--seed",
            "42",
            "-q",
        ]),
        0,
    );
    for t in ["user", "content_item", "page_request"] {
        let fa = std::fs::read(a.join("map").join(format!("{t}.csv"))).unwrap();
        let fb = std::fs::read(b.join("map").join(format!("{t}.csv"))).unwrap();
        assert_eq!(
            fa, fb,
            "map/{t}.csv differs between two rehearsals with one seed"
        );
    }
    drop(dbs2);
}

#[test]
fn an_existing_data_database_of_another_run_is_refused() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "owner");
    let convert = |dir: &std::path::Path| {
        rekey(&[
            "convert",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.data_url(),
            "--run-dir",
            dir.to_str().unwrap(),
            "-q",
        ])
    };
    let first = dbs.dir.path().join("first");
    assert_exit(&convert(&first), 0);
    let out = convert(&dbs.dir.path().join("second"));
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("already exists from another rekey run"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("--run-dir DIR"), "{}", stderr(&out));
    // The same run directory without --resume is refused too: that run is finished, so the
    // message says so and names the directory to clean, not --resume.
    let out = convert(&first);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("holds a run that finished"), "{err}");
    assert!(
        err.contains(&format!("`rekey clean --run-dir {}`", first.display())),
        "{err}"
    );
}

#[test]
fn unreachable_server_is_retried_then_reported() {
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["plan", "--source", "mysql://root:secretpw99@127.0.0.1:1/x"])
        .env("DB_MAX_RETRIES", "2")
        .env("DB_RETRY_DELAY", "1")
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("Gave up after 2 retries"), "{err}");
    assert!(!err.contains("secretpw99"), "{err}");
    assert!(
        started.elapsed().as_secs() >= 2,
        "the retries waited DB_RETRY_DELAY"
    );
}

#[test]
fn wrong_credentials_fail_at_once_with_a_clear_message() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "creds");
    let url = dbs
        .src_url()
        .replacen("mysql://root@", "mysql://root:definitely-wrong-77@", 1);
    let out = rekey(&["plan", "--source", &url]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("refused the user name or password"), "{err}");
    assert!(!err.contains("definitely-wrong-77"), "{err}");
}

#[test]
fn bare_database_name_is_completed_from_the_environment() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "env");
    let opts = mysql::Opts::from_url(&format!("{server}/")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["plan", "--source", &dbs.source])
        .env("DB_TYPE", "mysql")
        .env("DB_HOST", opts.get_ip_or_hostname().to_string())
        .env("DB_PORT", opts.get_tcp_port().to_string())
        .env("DB_USER", opts.get_user().unwrap_or("root"))
        .env("DB_PASS", opts.get_pass().unwrap_or(""))
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("Converted tables (8)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn dry_run_prints_the_sql_and_writes_nothing() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "dry");
    let before_src = fingerprint(&server, &dbs.source);
    let before_final = fingerprint(&server, &dbs.final_db);
    let out = dbs.run(&["--dry-run"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("-- stage clone"), "{text}");
    // A one-write table is made converted in clone (`Dialect::converts_in_clone`), by one
    // CREATE TABLE written from SOURCE's definition (`Ddl::derive_table_at_once`).
    assert!(
        text.contains("CREATE TABLE `user` (\n  `id` CHAR(32) NOT NULL,"),
        "{text}"
    );
    assert!(!text.contains("CREATE TABLE `user` LIKE"), "{text}");
    assert_eq!(fingerprint(&server, &dbs.source), before_src);
    assert_eq!(fingerprint(&server, &dbs.final_db), before_final);
    assert!(!dbs.exists(&dbs.data), "dry run created DB_DATA");
    assert!(
        !dbs.run_dir().join("journal.sqlite").exists(),
        "dry run wrote a journal"
    );
}

#[test]
fn a_trigger_the_account_cannot_recreate_stops_the_load_before_anything_changes() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "definer");
    let acct = Account::for_run(&dbs, "definer", &[]);
    let out = acct.run(&dbs, &[]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("GRANT SET USER ON *.*"),
        "{}",
        stderr(&out)
    );
    let mut f = dbs.conn(&dbs.final_db);
    let triggers: u64 = f
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        triggers, 1,
        "the trigger was dropped although it could not be put back"
    );
    let rows: u64 = f.query_first("SELECT COUNT(*) FROM user").unwrap().unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn dry_run_of_every_command_writes_nothing() {
    let server = server_or_skip!();
    let mut dbs = Dbs::blog(&server, "dryall");
    let derived = dbs.extra("derived");
    let dir = dbs.run_dir();
    let d = dir.to_str().unwrap();
    let (src, data, fin) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let derived_url = dbs.url(&derived);
    let before = (
        fingerprint(&server, &dbs.source),
        fingerprint(&server, &dbs.final_db),
    );
    for args in [
        vec!["convert", "--source", &src, "--data", &data],
        vec!["derive-final", "--source", &src, "--final", &derived_url],
    ] {
        let out = rekey(&[args.as_slice(), &["--run-dir", d, "--dry-run", "-q"]].concat());
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("-- stage"), "{}", stdout(&out));
    }
    assert!(!dbs.exists(&dbs.data) && !dbs.exists(&derived));
    assert!(!dir.join("journal.sqlite").exists());

    // With DB_DATA built for real, the later commands' dry runs change nothing either.
    assert_exit(
        &rekey(&[
            "convert",
            "--source",
            &src,
            "--data",
            &data,
            "--run-dir",
            d,
            "-q",
        ]),
        0,
    );
    let data_before = fingerprint(&server, &dbs.data);
    for args in [
        vec!["compare", "--data", &data, "--final", &fin],
        vec!["load", "--data", &data, "--final", &fin],
        vec!["verify", "--source", &src, "--final", &fin],
        vec!["clean", "--data", &data, "--final", &fin],
    ] {
        let out = rekey(&[args.as_slice(), &["--run-dir", d, "--dry-run", "-q"]].concat());
        assert_exit(&out, 0);
    }
    assert_eq!(
        (
            fingerprint(&server, &dbs.source),
            fingerprint(&server, &dbs.final_db)
        ),
        before
    );
    assert_eq!(fingerprint(&server, &dbs.data), data_before);
    assert!(
        dir.join("map/user.csv").exists(),
        "clean --dry-run removed the map files"
    );
}

#[test]
fn clean_drops_what_the_run_created_and_nothing_else() {
    let server = server_or_skip!();
    let clean = |dbs: &Dbs| {
        rekey(&[
            "clean",
            "--run-dir",
            dbs.run_dir().to_str().unwrap(),
            "--data",
            &dbs.data_url(),
            "--final",
            &dbs.final_url(),
        ])
    };
    let dbs = Dbs::blog(&server, "clean");
    let source_before = fingerprint(&server, &dbs.source);
    assert_exit(&dbs.run(&[]), 0);
    let loaded = fingerprint(&server, &dbs.final_db);
    let dir = dbs.run_dir();
    let out = clean(&dbs);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("dropped DB_DATA"), "{}", stdout(&out));
    assert!(!dbs.exists(&dbs.data), "DB_DATA is gone");
    // The map files are the only record of old id -> new id: kept unless asked.
    assert!(dir.join("map/user.csv").exists(), "map files are gone");
    assert!(stdout(&out).contains("--remove-maps"), "{}", stdout(&out));
    assert_eq!(
        fingerprint(&server, &dbs.source),
        source_before,
        "SOURCE untouched"
    );
    assert_eq!(
        fingerprint(&server, &dbs.final_db),
        loaded,
        "a DB_FINAL the run did not create stays"
    );

    let out = rekey(&["clean", "--run-dir", dir.to_str().unwrap(), "--remove-maps"]);
    assert_exit(&out, 0);
    assert!(
        !dir.join("map").exists(),
        "--remove-maps left the map files"
    );

    // A DB_FINAL that derive-final created is the run's own until the run is verified; then
    // it is the application's (rekey's marker gone), and clean keeps it.
    let dbs = Dbs::blog(&server, "cleanderived");
    dbs.conn(&dbs.final_db)
        .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    assert_exit(&dbs.run(&["--derive-final"]), 0);
    let out = clean(&dbs);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("kept DB_FINAL"), "{}", stdout(&out));
    assert!(dbs.exists(&dbs.final_db) && !dbs.exists(&dbs.data));
    assert!(dbs.exists(&dbs.source));
}

#[test]
fn the_downtime_estimate_scales_a_rehearsal_to_a_bigger_snapshot() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "estimate");
    assert_exit(&dbs.run(&[]), 0);
    // Production grew: four times the page requests.
    let mut s = dbs.conn(&dbs.source);
    s.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    for _ in 0..2 {
        s.query_drop("INSERT INTO page_request (content_item_id, user_id, path, status, duration_ms, requested_at) SELECT content_item_id, user_id, path, status, duration_ms, requested_at FROM page_request").unwrap();
    }
    s.query_drop("ANALYZE TABLE page_request").unwrap();
    let dir = dbs.run_dir();
    let out = rekey(&[
        "plan",
        "--source",
        &dbs.src_url(),
        "--estimate-from",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let e = &plan["estimate"];
    assert!(
        e["production_rows"].as_u64().unwrap() > 2 * e["rehearsal_rows"].as_u64().unwrap(),
        "{e}"
    );
    assert!(
        e["estimated_seconds"].as_f64().unwrap() > e["rehearsal_seconds"].as_f64().unwrap(),
        "{e}"
    );
    let load = e["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "load")
        .unwrap();
    assert!(
        load["estimated_seconds"].as_f64().unwrap() > load["rehearsal_seconds"].as_f64().unwrap(),
        "{load}"
    );
}

/// A run reuses one connection per worker and database (it opened 1,135 at the benchmark's
/// scale). A reused connection must be what a new one would be: no transaction, no session or
/// user variables but rekey's settings, no temporary tables or named locks; and another account
/// never gets it.
#[test]
fn a_reused_connection_comes_back_as_a_new_one() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "pool");
    let url = rekey::url::DbUrl::parse(&dbs.src_url(), &rekey::url::ProcessEnv).unwrap();
    let backend = rekey::backend::open(&url).unwrap();
    type S = Box<dyn rekey::backend::Session>;
    let text = |s: &mut S, sql: &str| -> String {
        s.query_first(sql)
            .unwrap()
            .and_then(|v| v.as_string())
            .unwrap_or_else(|| "NULL".into())
    };
    let first = {
        let mut s = backend.connect().unwrap();
        for sql in [
            "SET SESSION foreign_key_checks = 0",
            "SET SESSION time_zone = '+05:00'",
            "SET SESSION sql_mode = ''",
            "SET @left_behind = 1",
            "CREATE TEMPORARY TABLE left_behind (x int)",
            "START TRANSACTION",
            "INSERT INTO left_behind VALUES (1)",
        ] {
            s.execute(sql).unwrap();
        }
        assert_eq!(text(&mut s, "SELECT GET_LOCK('rekey_pool_test', 0)"), "1");
        text(&mut s, "SELECT CONNECTION_ID()")
    };
    let mut s = backend.connect().unwrap();
    assert_eq!(text(&mut s, "SELECT CONNECTION_ID()"), first, "not reused");
    assert_eq!(text(&mut s, "SELECT @@foreign_key_checks"), "1");
    assert_eq!(
        text(&mut s, "SELECT @@time_zone"),
        "+00:00",
        "rekey's settings are back"
    );
    assert_eq!(
        text(&mut s, "SELECT @@sql_mode"),
        "NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
    );
    assert_eq!(text(&mut s, "SELECT @left_behind"), "NULL");
    assert!(s.query_all("SELECT * FROM left_behind").is_err());
    assert_eq!(
        text(&mut s, "SELECT IS_USED_LOCK('rekey_pool_test')"),
        "NULL"
    );
    let mut other = backend.connect().unwrap();
    assert_ne!(text(&mut other, "SELECT CONNECTION_ID()"), first);
    drop((s, other));

    let account = Account::new(
        &server,
        "pool",
        &[format!("GRANT SELECT ON `{}`.* TO {{user}}", dbs.source)],
    );
    let as_account =
        rekey::url::DbUrl::parse(&account.url(&dbs.source), &rekey::url::ProcessEnv).unwrap();
    let mut s = rekey::backend::open(&as_account)
        .unwrap()
        .connect()
        .unwrap();
    assert_ne!(text(&mut s, "SELECT CONNECTION_ID()"), first);
}

/// The estimate scales by exact counts on both sides: InnoDB's row count of a table is an
/// estimate from sampled pages (30,701 for 30,000 rows here), and a snapshot the same as the
/// rehearsal's must get the rehearsal's own figures back.
#[test]
fn the_downtime_estimate_of_the_rehearsals_own_snapshot_is_the_rehearsal() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "estimate_exact");
    for db in [&dbs.source, &dbs.final_db] {
        dbs.conn(db)
            .query_drop("CREATE TABLE wide (v VARCHAR(200))")
            .unwrap();
    }
    let mut s = dbs.conn(&dbs.source);
    s.query_drop("INSERT INTO wide (v) SELECT REPEAT(CHAR(65 + seq % 26), 1 + seq % 200) FROM seq_1_to_30000")
        .unwrap();
    s.query_drop("ANALYZE TABLE wide").unwrap();
    assert_exit(&dbs.run(&[]), 0);
    let dir = dbs.run_dir();
    let out = rekey(&[
        "plan",
        "--source",
        &dbs.src_url(),
        "--estimate-from",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let e = &plan["estimate"];
    assert_eq!(e["production_rows"], e["rehearsal_rows"], "{e}");
    let (estimated, rehearsal) = (
        e["estimated_seconds"].as_f64().unwrap(),
        e["rehearsal_seconds"].as_f64().unwrap(),
    );
    assert!(
        (estimated - rehearsal).abs() < 1e-6 * rehearsal.max(1.0),
        "{e}"
    );
}
