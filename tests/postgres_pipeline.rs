//! PostgreSQL end to end on the blog fixture: a verified run into the application's schema and
//! into a derived one, SOURCE unchanged (rows and catalog), every tricky value the same, DB_FINAL's
//! trigger not fired and back in its state, the migration tool's table kept; a read-only SOURCE
//! account; row-level security failing the run; dry run; `check` naming the GRANTs.

mod common;

use common::engine::{Databases, TestServer};
use common::pg::*;
use common::*;

/// The converted columns of the blog fixture, which differ between SOURCE and DB_FINAL by design.
const CONVERTED: &[(&str, &[&str])] = &[
    ("user", &["id"]),
    ("user_group", &["id"]),
    ("user_mtm_user_group", &["user_id", "user_group_id"]),
    ("content_item", &["id", "parent_id", "author_id"]),
    ("content_item_translation", &["id", "content_item_id"]),
    (
        "comment",
        &[
            "comment_id",
            "content_item_id",
            "parent_comment_id",
            "user_id",
        ],
    ),
    ("mail_message", &["id", "sender_id", "recipient_id"]),
    ("page_request", &["id", "content_item_id", "user_id"]),
    ("tag", &["id"]),
];

/// Every row's unconverted columns as PostgreSQL prints them (sorted), read independently of
/// rekey: the same multiset on both sides means every value arrived exactly.
fn plain_rows(pg: &Postgres, db: &str, table: &str) -> Vec<Option<String>> {
    let skip = CONVERTED
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, c)| *c)
        .unwrap_or(&[]);
    let columns: Vec<String> = pg
        .texts(
            db,
            &format!("SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = '\"{table}\"'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
        )
        .into_iter()
        .flatten()
        .filter(|c| !skip.contains(&c.trim_matches('"')))
        .collect();
    let mut rows = pg.texts(
        db,
        &format!("SELECT ROW({})::text FROM \"{table}\"", columns.join(", ")),
    );
    rows.sort();
    rows
}

fn assert_values_arrived(pg: &Postgres, dbs: &Databases<Postgres>) {
    for (table, _) in CONVERTED {
        let source = plain_rows(pg, &dbs.source, table);
        let fin = plain_rows(pg, &dbs.final_db, table);
        assert_eq!(source.len(), fin.len(), "{table}: row counts");
        assert!(
            source == fin,
            "{table}: values differ between SOURCE and DB_FINAL"
        );
    }
}

#[test]
fn blog_runs_verified_into_the_application_schema() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "blog");
    let before = pg.fingerprint(&dbs.source);
    // No --uuid-format: PostgreSQL's default is its own uuid type, which DB_FINAL uses.
    let out = dbs.run(&["--seed", "7"]);
    assert_exit(&out, 0);
    assert_eq!(pg.fingerprint(&dbs.source), before, "SOURCE changed");
    assert_values_arrived(&pg, &dbs);
    // Keys and references are native UUIDs, each pair the same as in SOURCE (verify checked
    // it; here one pair by hand through the map files).
    let users = mapping(&dbs.run_dir(), "user");
    let items = mapping(&dbs.run_dir(), "content_item");
    let author = pg.text(
        &dbs.final_db,
        &format!(
            "SELECT author_id::text FROM content_item WHERE id = '{}'",
            items["3"]
        ),
    );
    assert_eq!(author, users["3"]);
    assert_eq!(pg.text(&dbs.final_db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'comment'::regclass AND attname = 'parent_comment_id'"), "uuid");
    // Every loaded table has statistics (reltuples is -1 until a table is first analyzed).
    assert_eq!(
        pg.texts(&dbs.final_db, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND reltuples < 0 AND relname <> 'alembic_version'"),
        Vec::<Option<String>>::new()
    );
    // The trigger that uppercases titles did not fire, and is enabled again.
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT count(*) FROM content_item WHERE title = 'Control characters'"
        ),
        "1"
    );
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'trg_content_item_title_upper'"
        ),
        "O"
    );
    // The migration tool's history is DB_FINAL's own.
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT string_agg(version_num, ',') FROM alembic_version"
        ),
        "f00dfeed0001"
    );
    // The default keys are random, and every table is written once, straight from SOURCE (a
    // large table's key set aside and built after its rows, a small one's taking them at
    // random): none waits for DB_DATA's copy to be sorted by the new keys.
    let routes = reported_routes(&dbs.run_dir());
    assert!(
        !routes.is_empty() && routes.iter().all(|r| r == "one write"),
        "{routes:?}"
    );
    let detail = stage(&report(&dbs.run_dir()), "load")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("alembic_version") && detail.contains("1 trigger set aside and restored"),
        "{detail}"
    );
    // DB_DATA: the data in bare tables, nothing tied to SOURCE's sequences.
    assert_eq!(pg.text(&dbs.data, "SELECT count(*) FROM pg_attrdef"), "0");
    assert_eq!(
        pg.text(
            &dbs.data,
            "SELECT count(*) FROM pg_attribute WHERE attidentity <> ''"
        ),
        "0"
    );
    assert_eq!(
        pg.text(
            &dbs.data,
            "SELECT count(*) FROM pg_class WHERE relkind = 'S'"
        ),
        "0"
    );
    // An independent verify of the finished run passes too.
    assert_exit(&dbs.verify(&[]), 0);
}

#[test]
fn blog_derives_its_final_schema_with_char32_keys() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "derive");
    pg.drop_database(&dbs.final_db);
    let before = pg.fingerprint(&dbs.source);
    let out = dbs.run(&["--derive-final", "--uuid-format", "char32"]);
    assert_exit(&out, 0);
    assert_eq!(pg.fingerprint(&dbs.source), before, "SOURCE changed");
    assert_values_arrived(&pg, &dbs);
    let f = &dbs.final_db;
    assert_eq!(pg.text(f, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '\"user\"'::regclass AND attname = 'id'"), "character(32)");
    // Constraints, rules of references, indexes, views and generated columns as in SOURCE.
    assert_eq!(pg.text(f, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_content_item_author'"), "FOREIGN KEY (author_id) REFERENCES \"user\"(id) ON DELETE SET NULL");
    assert_eq!(pg.text(f, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('ix_content_item_meta', 'ix_content_item_lower_title', 'uq_content_item_slug')"), "3");
    assert_eq!(
        pg.text(f, "SELECT count(*) FROM content_item_public"),
        pg.text(&dbs.source, "SELECT count(*) FROM content_item_public")
    );
    assert_eq!(
        pg.text(
            f,
            "SELECT count(*) FROM content_item WHERE title_length <> char_length(title)"
        ),
        "0"
    );
    // The derived schema takes new rows with UUID keys, and its identities are gone.
    pg.exec(f, "INSERT INTO \"user\" (id, email, name) VALUES (replace(gen_random_uuid()::text, '-', ''), 'new@example.com', 'New')");
    assert_eq!(pg.text(f, "SELECT count(*) FROM pg_attribute WHERE attidentity <> '' AND attrelid = '\"user\"'::regclass"), "0");
    // The migration tool's table is never loaded, derived or not (as on MariaDB).
    assert_eq!(pg.text(f, "SELECT count(*) FROM alembic_version"), "0");
    // The verified DB_FINAL holds nothing of rekey's: it is the application's now.
    assert_eq!(
        pg.text(
            f,
            "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_rekey%'"
        ),
        "0"
    );
    // clean drops what the run created and still owns (DB_DATA), keeps the handed-over
    // DB_FINAL and the maps, never touches SOURCE.
    let dir = dbs.run_dir();
    // A dry run lists what clean would do, and does none of it.
    let out = rekey(&["clean", "--run-dir", dir.to_str().unwrap(), "--dry-run"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("would drop DB_DATA {}", dbs.data_url())),
        "{text}"
    );
    assert!(
        text.contains("kept DB_FINAL") && text.contains("--remove-maps"),
        "{text}"
    );
    assert!(pg.exists(&dbs.data));
    let out = rekey(&["clean", "--run-dir", dir.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("kept DB_FINAL"), "{}", stdout(&out));
    assert!(!pg.exists(&dbs.data) && pg.exists(&dbs.final_db));
    assert!(dir.join("map/user.csv").exists());
    assert_eq!(pg.fingerprint(&dbs.source), before, "SOURCE changed");
}

#[test]
fn derived_keys_agree_with_the_map_files_in_every_format_and_version() {
    let pg = pg_or_skip!();
    // Keys from 0 up are derived from the old key: by rekey in the fill's COPY stream, by
    // PostgreSQL's SQL where the fill also joins a mapping table, and by rekey for the map files
    // that verify compares DB_FINAL with. All three must agree exactly. A negative key sends
    // user_group through a mapping table, so user_mtm_user_group is filled through the staging
    // table with user_id derived in SQL and user_group_id joined.
    for format in ["native", "char32", "char36", "binary16"] {
        for version in ["v7", "v4"] {
            let dbs = blog(&pg, &format!("derive_{format}_{version}"));
            pg.exec(
                &dbs.source,
                "INSERT INTO user_group (id, name) VALUES (-1, 'below zero'); INSERT INTO user_mtm_user_group (user_id, user_group_id) SELECT min(id), -1 FROM \"user\"",
            );
            pg.drop_database(&dbs.final_db);
            let out = dbs.run(&[
                "--derive-final",
                "--uuid-format",
                format,
                "--uuid-version",
                version,
            ]);
            assert_exit(&out, 0);
            let checks = report(&dbs.run_dir())["verification"].clone();
            let checks = checks.as_array().unwrap();
            assert!(
                checks.iter().all(|c| c["ok"] == true),
                "{format} {version}: {checks:?}"
            );
            // Only the table with a negative key has a mapping table.
            assert_eq!(
                pg.texts(
                    &dbs.data,
                    "SELECT relname FROM pg_class WHERE relname LIKE '\\_rekey\\_map\\_%' AND relkind = 'r' ORDER BY 1"
                ),
                vec![Some("_rekey_map_user_group".to_string())],
                "{format} {version}"
            );
            assert_eq!(
                pg.text(&dbs.final_db, "SELECT count(*) FROM user_mtm_user_group"),
                pg.text(&dbs.source, "SELECT count(*) FROM user_mtm_user_group"),
            );
        }
    }
}

#[test]
fn a_read_only_source_account_suffices() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "readonly");
    let reader = PgRole::new(
        &pg,
        "reader",
        &[
            ("postgres", format!("GRANT CONNECT ON DATABASE \"{}\" TO {{role}}", dbs.source)),
            (&dbs.source, "GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}".to_string()),
        ],
    );
    let before = pg.fingerprint(&dbs.source);
    let src = reader.url(&dbs.source);
    let dir = dbs.run_dir();
    let out = rekey(&[
        "run",
        "--source",
        &src,
        "--data",
        &dbs.data_url(),
        "--final",
        &dbs.final_url(),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
        "--uuid-format",
        "native",
    ]);
    assert_exit(&out, 0);
    assert_eq!(pg.fingerprint(&dbs.source), before, "SOURCE changed");
    assert!(
        !stderr(&out).contains(&reader.password),
        "password in output"
    );
    reader.forget_in(&dbs.source);
}

#[test]
fn row_level_security_stops_the_run_instead_of_skipping_rows() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "rls");
    pg.exec(
        &dbs.source,
        "ALTER TABLE tag ENABLE ROW LEVEL SECURITY; CREATE POLICY tag_some ON tag USING (id < 10)",
    );
    let reader = PgRole::new(
        &pg,
        "rlsreader",
        &[
            ("postgres", format!("GRANT CONNECT ON DATABASE \"{}\" TO {{role}}", dbs.source)),
            (&dbs.source, "GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}".to_string()),
        ],
    );
    let src = reader.url(&dbs.source);
    let dir = dbs.run_dir();
    let args = |cmd: &str| -> Vec<String> {
        [
            cmd,
            "--source",
            &src,
            "--data",
            &dbs.data_url(),
            "--final",
            &dbs.final_url(),
            "--run-dir",
            dir.to_str().unwrap(),
            "-q",
            "--uuid-format",
            "native",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // check names the fix before anything is written ...
    let src_url = reader.url(&dbs.source);
    let check = rekey(&[
        "check",
        "--source",
        &src_url,
        "--data",
        &dbs.data_url(),
        "--final",
        &dbs.final_url(),
    ]);
    assert_ne!(check.status.code(), Some(0));
    assert!(stdout(&check).contains("BYPASSRLS"), "{}", stdout(&check));
    // ... and a run fails in preflight, writing nothing.
    let out = rekey(&args("run"));
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("row-level security")
            || err.contains("row level security")
            || err.contains("BYPASSRLS"),
        "{err}"
    );
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");
    assert_eq!(pg.text(&dbs.final_db, "SELECT count(*) FROM tag"), "0");
    reader.forget_in(&dbs.source);
}

#[test]
fn a_read_under_row_level_security_fails_instead_of_returning_fewer_rows() {
    // verify runs no preflight: its own read of SOURCE must fail (row_security = off on every
    // session), not hash the rows a policy lets through.
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "rlsread");
    assert_exit(&dbs.run(&["--uuid-format", "native"]), 0);
    pg.exec(
        &dbs.source,
        "ALTER TABLE tag ENABLE ROW LEVEL SECURITY; CREATE POLICY tag_some ON tag USING (id < 10)",
    );
    let reader = PgRole::new(
        &pg,
        "rlsverify",
        &[
            ("postgres", format!("GRANT CONNECT ON DATABASE \"{}\" TO {{role}}", dbs.source)),
            (&dbs.source, "GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}".to_string()),
        ],
    );
    let src = reader.url(&dbs.source);
    let dir = dbs.run_dir();
    let out = rekey(&[
        "verify",
        "--source",
        &src,
        "--final",
        &dbs.final_url(),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("row-level security") && err.contains("table tag"),
        "{err}"
    );
    reader.forget_in(&dbs.source);
}

#[test]
fn dry_run_writes_nothing() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "dry");
    let source = pg.fingerprint(&dbs.source);
    let fin = pg.fingerprint(&dbs.final_db);
    let out = dbs.run(&["--dry-run", "--uuid-format", "native"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("COPY") && text.contains("CREATE TABLE"),
        "{text}"
    );
    let normalized = text
        .replace(&dbs.source, "SOURCE")
        .replace(&dbs.data, "DB_DATA")
        .replace(&dbs.final_db, "DB_FINAL");
    insta::assert_snapshot!(normalized);
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");
    assert_eq!(pg.fingerprint(&dbs.source), source);
    assert_eq!(pg.fingerprint(&dbs.final_db), fin);
    assert!(!dbs.run_dir().join("journal.sqlite").exists());
}

#[test]
fn check_names_the_exact_grants() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "grants");
    let loader = PgRole::new(
        &pg,
        "loader",
        &[
            ("postgres", format!("GRANT CONNECT ON DATABASE \"{}\" TO {{role}}", dbs.final_db)),
            (&dbs.final_db, "GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}".to_string()),
        ],
    );
    let fin = loader.url(&dbs.final_db);
    let out = rekey(&[
        "check",
        "--source",
        &dbs.src_url(),
        "--data",
        &dbs.data_url(),
        "--final",
        &fin,
    ]);
    assert_ne!(out.status.code(), Some(0));
    let text = stdout(&out);
    let role = &loader.name;
    assert!(
        text.contains(&format!(
            "GRANT SET ON PARAMETER session_replication_role TO \"{role}\";"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ALTER TABLE \"public\".\"content_item\" OWNER TO \"{role}\";"
        )),
        "{text}"
    );
    assert!(!text.contains(&loader.password));
    loader.forget_in(&dbs.final_db);
}

#[test]
fn a_source_that_does_not_exist_is_an_input_error() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "nosource");
    pg.drop_database(&dbs.source);
    let out = dbs.run(&["--uuid-format", "native"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn one_database_has_one_identity_under_any_host_name() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "identity");
    let identity = |url: &str| {
        let parsed = rekey::url::DbUrl::parse(url, &rekey::url::ProcessEnv).unwrap();
        rekey::backend::open(&parsed).unwrap().identity().unwrap()
    };
    let by_ip = pg.url(&dbs.source);
    let by_name = identity(&by_ip.replace("127.0.0.1", "localhost"));
    let source = identity(&by_ip);
    assert!(source.server.starts_with("postgres:"), "{source:?}");
    assert!(source.same_database(&by_name), "{source:?} {by_name:?}");
    assert!(!source.same_database(&identity(&pg.url(&dbs.final_db))));
    assert!(!source.same_database(&identity(&format!("{by_ip}?schema=other"))));
    assert!(source.same_server(&identity(&pg.url(&dbs.final_db))));
}

/// A run opens one connection per worker and database and reuses it (a new one costs about
/// 7 ms; a run at the benchmark's scale opened 1,219). A reused connection must be what a new one
/// would be: no transaction (not even a failed one), no session settings but rekey's, no
/// temporary tables or advisory locks; and a database rekey drops leaves none behind.
#[test]
fn a_reused_connection_comes_back_as_a_new_one() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "pool");
    let url = rekey::url::DbUrl::parse(&dbs.src_url(), &rekey::url::ProcessEnv).unwrap();
    let backend = rekey::backend::open(&url).unwrap();
    let pid_of =
        |s: &mut Box<dyn rekey::backend::Session>| s.query_u64("SELECT pg_backend_pid()").unwrap();
    let show = |s: &mut Box<dyn rekey::backend::Session>, name: &str| {
        s.query_first(&format!("SHOW {name}"))
            .unwrap()
            .and_then(|v| v.as_string())
            .unwrap()
    };
    let fresh_work_mem = pg.text(&dbs.source, "SHOW work_mem");
    let first = {
        let mut s = backend.connect().unwrap();
        let pid = pid_of(&mut s);
        for sql in [
            "SET work_mem = '77MB'",
            "SET session_replication_role = replica",
            "SET TIME ZONE 'Europe/Paris'",
            "CREATE TEMP TABLE left_behind (x int)",
            "SELECT pg_advisory_lock(4242)",
            "BEGIN",
        ] {
            s.execute(sql).unwrap();
        }
        assert!(s.execute("SELECT 1 / 0").is_err());
        pid
    };
    let mut s = backend.connect().unwrap();
    assert_eq!(pid_of(&mut s), first, "the idle connection was not reused");
    assert_eq!(show(&mut s, "work_mem"), fresh_work_mem);
    assert_eq!(show(&mut s, "session_replication_role"), "origin");
    assert_eq!(show(&mut s, "TimeZone"), "UTC", "rekey's settings are back");
    assert_eq!(show(&mut s, "row_security"), "off");
    let temp = s
        .query_first("SELECT count(*) FROM pg_class WHERE relname = 'left_behind'")
        .unwrap();
    assert_eq!(temp.as_ref().and_then(|v| v.as_u64()), Some(0), "{temp:?}");
    let locks = pg.text(
        &dbs.source,
        &format!("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = {first}"),
    );
    assert_eq!(locks, "0");
    // Two sessions at once are two connections.
    let mut other = backend.connect().unwrap();
    assert_ne!(pid_of(&mut other), first);
    drop((s, other));

    // Another account never gets this account's connection.
    let role = PgRole::new(&pg, "pool", &[]);
    let as_role =
        rekey::url::DbUrl::parse(&role.url(&dbs.source), &rekey::url::ProcessEnv).unwrap();
    let mut s = rekey::backend::open(&as_role).unwrap().connect().unwrap();
    assert_ne!(pid_of(&mut s), first);
    drop(s);

    // A database rekey dropped has no connection left, and one made again under the same name
    // is reached by a new connection.
    let data = rekey::url::DbUrl::parse(&dbs.data_url(), &rekey::url::ProcessEnv).unwrap();
    let data = rekey::backend::open(&data).unwrap();
    data.create_database(None, false).unwrap();
    drop(data.connect().unwrap());
    data.drop_database().unwrap();
    let left = pg.text(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
            dbs.data
        ),
    );
    assert_eq!(left, "0");
    data.create_database(None, false).unwrap();
    let mut s = data.connect().unwrap();
    assert!(pid_of(&mut s) > 0);
}

#[test]
fn a_schema_that_does_not_exist_is_refused_naming_the_ones_that_do() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "pubic");
    let dir = dbs.run_dir();
    let out = rekey(&[
        "run",
        "--source",
        &format!("{}?schema=pubic", dbs.src_url()),
        "--data",
        &format!("{}?schema=pubic", dbs.data_url()),
        "--final",
        &format!("{}?schema=pubic", dbs.final_url()),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("pubic") && err.contains("public"), "{err}");
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");
    // A schema without tables is an empty SOURCE.
    pg.exec(&dbs.source, "CREATE SCHEMA empty");
    let plan = rekey(&[
        "plan",
        "--source",
        &format!("{}?schema=empty", dbs.src_url()),
    ]);
    assert_exit(&plan, 2);
    assert!(stderr(&plan).contains("no tables"), "{}", stderr(&plan));
}

#[test]
fn the_report_keeps_the_urls_schema() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "keepschema");
    let with_schema = |url: String| format!("{url}?schema=public");
    let dir = dbs.run_dir();
    let out = rekey(&[
        "run",
        "--source",
        &with_schema(dbs.src_url()),
        "--data",
        &with_schema(dbs.data_url()),
        "--final",
        &with_schema(dbs.final_url()),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 0);
    let report = report(&dir);
    for key in ["source", "data", "final"] {
        let url = report[key].as_str().unwrap_or_default();
        assert!(url.ends_with("?schema=public"), "{key}: {report}");
    }
}

#[test]
fn a_table_partitioned_by_a_converted_key_or_reference_is_refused_when_planned() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "partkey");
    pg.exec(
        &dbs.source,
        "CREATE TABLE account (id integer PRIMARY KEY, name text);
         CREATE TABLE event (id integer NOT NULL, account_id integer NOT NULL REFERENCES account (id), at date NOT NULL, PRIMARY KEY (id, account_id)) PARTITION BY LIST (account_id);
         CREATE TABLE event_a PARTITION OF event FOR VALUES IN (1);
         CREATE TABLE ledger (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
         CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES FROM (0) TO (1000);
         INSERT INTO account VALUES (1, 'a'); INSERT INTO event VALUES (1, 1, '2024-01-01'); INSERT INTO ledger VALUES (5, 'x');",
    );
    pg.drop_database(&dbs.final_db);
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("partitioned by") && err.contains("--exclude"),
        "{err}"
    );
    assert!(
        !pg.exists(&dbs.data) && !pg.exists(&dbs.final_db),
        "written"
    );
    // The RANGE-partitioned key alone is refused as well.
    pg.exec(&dbs.source, "DROP TABLE event");
    let plan = rekey(&["plan", "--source", &dbs.src_url()]);
    assert_exit(&plan, 2);
    assert!(stderr(&plan).contains("ledger"), "{}", stderr(&plan));
    // A HASH partition's bounds take UUIDs: it converts.
    pg.exec(
        &dbs.source,
        "DROP TABLE ledger; CREATE TABLE ledger (id integer PRIMARY KEY, v text) PARTITION BY HASH (id);
         CREATE TABLE ledger_0 PARTITION OF ledger FOR VALUES WITH (MODULUS 2, REMAINDER 0);
         CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES WITH (MODULUS 2, REMAINDER 1);
         INSERT INTO ledger SELECT g, 'x' FROM generate_series(1, 100) g;",
    );
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let out = run_in(
        [&s, &d, &f],
        &dbs.dir.path().join("hash"),
        &["--derive-final"],
    );
    assert_exit(&out, 0);
    assert_eq!(pg.text(&dbs.final_db, "SELECT count(*) FROM ledger"), "100");
}

#[test]
fn derive_final_into_a_database_with_tables_is_refused_by_check_and_before_any_write() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "derivefull");
    let (src, data, fin) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let check = rekey(&[
        "check",
        "--source",
        &src,
        "--data",
        &data,
        "--final",
        &fin,
        "--derive-final",
    ]);
    assert_exit(&check, 2);
    assert!(
        stdout(&check).contains("already exists and has"),
        "{}",
        stdout(&check)
    );
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 2);
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");
}

#[test]
fn plan_warns_that_another_schema_references_a_converted_table() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "otherschema");
    pg.exec(
        &dbs.source,
        "CREATE SCHEMA billing; CREATE TABLE billing.invoice (id integer PRIMARY KEY, customer_id integer REFERENCES public.\"user\" (id))",
    );
    let plan = rekey(&["plan", "--source", &dbs.src_url()]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(
        text.contains("billing.invoice.customer_id") && text.contains("outside-reference"),
        "{text}"
    );
}

#[test]
fn a_final_foreign_key_retargeted_to_another_table_is_refused_and_verified() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "retarget");
    pg.load(
        &dbs.source,
        "CREATE TABLE users (id int PRIMARY KEY);
         CREATE TABLE customers (id int PRIMARY KEY);
         CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users (id));
         INSERT INTO users VALUES (1), (2);
         INSERT INTO customers VALUES (1);
         INSERT INTO orders VALUES (1, 1), (2, 2), (3, NULL);",
    );
    pg.load(
        &dbs.final_db,
        "CREATE TABLE users (id uuid PRIMARY KEY);
         CREATE TABLE customers (id uuid PRIMARY KEY);
         CREATE TABLE orders (id uuid PRIMARY KEY,
           user_id uuid CONSTRAINT orders_user_id_fkey REFERENCES customers (id));",
    );
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("orders.user_id: DB_FINAL's foreign key orders_user_id_fkey (user_id) -> customers(id) retargets the column and would be broken by all 2 rows with a value: SOURCE's orders.user_id holds keys of users"),
        "{err}"
    );
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");

    // Pointed back at users, the run converts; a key added afterwards without checking the
    // rows (NOT VALID) is one that verify finds broken.
    pg.exec(
        &dbs.final_db,
        "ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
         ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);",
    );
    std::fs::remove_dir_all(dbs.run_dir()).ok();
    assert_exit(&dbs.run(&[]), 0);
    pg.exec(
        &dbs.final_db,
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (user_id) REFERENCES customers (id) NOT VALID;",
    );
    let out = dbs.verify(&[]);
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("orders: 2 rows break DB_FINAL's foreign key orders_customer_fkey (user_id) -> customers(id)"),
        "{text}"
    );
}

#[test]
fn the_run_secret_never_appears_in_a_dry_run_or_the_reports() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "secret");
    // A negative key sends user_group through a mapping table, so the fill of
    // user_mtm_user_group computes user_id's keys in SQL, from the session's setting.
    pg.exec(
        &dbs.source,
        "INSERT INTO user_group (id, name) VALUES (-1, 'below zero'); INSERT INTO user_mtm_user_group (user_id, user_group_id) SELECT min(id), -1 FROM \"user\"",
    );
    let longest_hex = |text: &str| {
        text.split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0)
    };
    let dry = dbs.run(&["--dry-run"]);
    assert_exit(&dry, 0);
    let text = format!("{}{}", stdout(&dry), stderr(&dry));
    assert!(
        text.contains("SELECT set_config('rekey.k', $1, false)")
            && text.contains(
                "md5(convert_to(current_setting('rekey.k'), 'UTF8') || decode('3a75736572"
            ),
        "{text}"
    );
    assert!(longest_hex(&text) < 64, "{text}");
    let out = dbs.run(&[]);
    assert_exit(&out, 0);
    let dir = dbs.run_dir();
    let secret: String = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT value FROM run WHERE key = 'secret'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(secret.len(), 64);
    for (what, text) in [
        ("stdout", stdout(&out)),
        ("stderr", stderr(&out)),
        (
            "report.json",
            std::fs::read_to_string(dir.join("report.json")).unwrap(),
        ),
        (
            "report.md",
            std::fs::read_to_string(dir.join("report.md")).unwrap(),
        ),
    ] {
        assert!(!text.contains(&secret), "the secret is in {what}");
    }
}

#[test]
fn check_measures_the_disk_of_a_server_on_a_loopback_address() {
    let pg = pg_or_skip!();
    let dbs = blog(&pg, "disk");
    let out = rekey(&[
        "check",
        "--source",
        &dbs.src_url(),
        "--data",
        &dbs.data_url(),
        "--final",
        &dbs.final_url(),
    ]);
    let text = stdout(&out);
    let disk = text
        .lines()
        .find(|l| l.contains("disk space"))
        .unwrap_or_else(|| panic!("{text}"));
    // The test server runs on this machine (127.0.0.1): its data directory is measured.
    assert!(!disk.contains("remote server"), "{disk}");
    assert!(disk.contains(" free in "), "{disk}");
}

#[test]
fn a_declared_reference_in_a_text_column_converts_by_its_integer_value() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "textref");
    // '+1' and '02' name parents 1 and 2 (as MariaDB compares them); '7' has no parent, and
    // '99999999999999999999' spells an integer no key can be (past bigint).
    pg.load(
        &dbs.source,
        "CREATE TABLE p (id int PRIMARY KEY, name text);
         CREATE TABLE c (id int PRIMARY KEY, p_ref varchar(30), n int);
         INSERT INTO p VALUES (1, 'one'), (2, 'two'), (3, 'three');
         INSERT INTO c VALUES (1, '3', 1), (2, NULL, 2), (3, '+1', 3), (4, '02', 4), (5, '7', 5),
           (6, '99999999999999999999', 6);",
    );
    pg.drop_database(&dbs.final_db);
    let declared = ["--derive-final", "--reference", "c.p_ref=p.id"];
    let out = dbs.run(&declared);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("c.p_ref") && err.contains("2 rows"), "{err}");
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");
    std::fs::remove_dir_all(dbs.run_dir()).ok();
    let mut args = declared.to_vec();
    args.extend(["--orphans", "null"]);
    assert_exit(&dbs.run(&args), 0);
    assert_eq!(
        pg.texts(
            &dbs.final_db,
            "SELECT coalesce(p.name, '-') FROM c LEFT JOIN p ON p.id = c.p_ref ORDER BY c.n"
        ),
        ["three", "-", "one", "two", "-", "-"].map(|s| Some(s.to_string()))
    );
    assert_exit(&dbs.verify(&[]), 0);
}

/// PostgreSQL's foreign key looks in the parent's own rows (ONLY): a value held only by an
/// inheritance child of the parent breaks it, so preflight refuses it.
#[test]
fn a_final_foreign_key_value_held_only_by_an_inheritance_child_is_refused() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "inhfk");
    let tables = |id: &str| {
        format!(
            "CREATE TABLE codes (code text PRIMARY KEY);
             CREATE TABLE codes_extra (note text) INHERITS (codes);
             CREATE TABLE items (id {id} PRIMARY KEY, code text{});",
            if id == "uuid" {
                " REFERENCES codes (code)"
            } else {
                ""
            }
        )
    };
    pg.load(
        &dbs.source,
        &format!(
            "{}
             INSERT INTO codes VALUES ('a');
             INSERT INTO codes_extra VALUES ('b', 'child');
             INSERT INTO items VALUES (1, 'a'), (2, 'b');",
            tables("int")
        ),
    );
    pg.load(&dbs.final_db, &tables("uuid"));
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("items.code: DB_FINAL's foreign key") && err.contains("'b'"),
        "{err}"
    );
    assert!(!pg.exists(&dbs.data), "DB_DATA was created");
}

/// Every table's route as the report lists it (`one write`, or the reason for two).
fn reported_routes(run_dir: &std::path::Path) -> Vec<String> {
    report(run_dir)["routes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["route"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A large read (`Session::scan`) runs on a connection of its own, in one async loop: it sees
/// what is committed, not the session's own uncommitted rows, and gives the same values as the
/// session's `query` for every type.
#[test]
fn a_scan_reads_on_a_connection_of_its_own_with_the_same_values() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "scan");
    pg.exec(
        &dbs.source,
        "CREATE TYPE mood AS ENUM ('calm', 'busy');
         CREATE TABLE sample (id bigint PRIMARY KEY, n integer, t text, b bytea, u uuid,
           d numeric(12,3), f double precision, ok boolean, a integer[], j jsonb,
           at timestamptz, m mood);
         INSERT INTO sample SELECT g, g % 7, 'row ' || g, decode(md5(g::text), 'hex'),
           md5(g::text)::uuid, g / 3.0, g / 7.0, g % 2 = 0, ARRAY[g, g + 1], jsonb_build_object('g', g),
           timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
           CASE WHEN g % 2 = 0 THEN 'calm'::mood ELSE 'busy'::mood END
           FROM generate_series(1, 3000) g;
         INSERT INTO sample (id) VALUES (0);",
    );
    let url = rekey::url::DbUrl::parse(&dbs.src_url(), &rekey::url::ProcessEnv).unwrap();
    let backend = rekey::backend::open(&url).unwrap();
    let mut s = backend.connect().unwrap();
    s.execute("BEGIN").unwrap();
    s.execute("INSERT INTO sample (id, t) VALUES (-1, 'not committed')")
        .unwrap();
    let sql = "SELECT * FROM sample ORDER BY id";
    let read = |s: &mut Box<dyn rekey::backend::Session>, scan: bool| {
        let mut rows: Vec<Vec<rekey::backend::Value>> = Vec::new();
        let mut each = |row: &[rekey::backend::Value]| {
            rows.push(row.to_vec());
            Ok(())
        };
        if scan {
            s.scan(sql, &mut each).unwrap();
        } else {
            s.query(sql, &mut each).unwrap();
        }
        rows
    };
    let queried = read(&mut s, false);
    let scanned = read(&mut s, true);
    s.execute("ROLLBACK").unwrap();
    assert_eq!(queried.len(), 3002, "the session sees its own row");
    assert_eq!(scanned.len(), 3001, "the scan's connection does not");
    assert_eq!(queried[1..], scanned[..]);
}

/// A table large enough for the large-read paths (the load's COPY on a reader of its own,
/// verify's and the map file's scans: 50,000 rows and more) converts, verified, nothing lost.
#[test]
fn a_large_table_converts_through_its_own_readers() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "large");
    pg.exec(
        &dbs.source,
        "CREATE TABLE shop (id serial PRIMARY KEY, name text NOT NULL);
         INSERT INTO shop (name) SELECT 's' || g FROM generate_series(1, 300) g;
         CREATE TABLE sale (id bigserial PRIMARY KEY, shop_id integer REFERENCES shop (id),
           note text, amount numeric(10,2));
         INSERT INTO sale (shop_id, note, amount) SELECT CASE WHEN g % 9 = 0 THEN NULL ELSE 1 + g % 300 END,
           repeat('n', g % 40), g / 100.0 FROM generate_series(1, 60000) g;",
    );
    pg.drop_database(&dbs.final_db);
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 0);
    let report = report(&dbs.run_dir());
    assert_eq!(report["status"], "ok", "{report}");
    let checks = report["verification"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    assert_eq!(pg.text(&dbs.final_db, "SELECT count(*) FROM sale"), "60000");
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT count(*) FROM sale s JOIN shop p ON p.id = s.shop_id"
        ),
        pg.text(
            &dbs.source,
            "SELECT count(*) FROM sale WHERE shop_id IS NOT NULL"
        )
    );
    let map = std::fs::read_to_string(dbs.run_dir().join("map").join("sale.csv")).unwrap();
    assert_eq!(map.lines().count(), 60001, "a header and every key");
    // Its key was set aside and built after the rows; the restore gathered its statistics.
    assert_ne!(
        pg.text(
            &dbs.final_db,
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'sale'"
        ),
        "0"
    );
}

/// A one-write table's check takes SOURCE's side from the rows the load streamed through rekey
/// (`verify::source_tap`), and writes the map file of a table nothing references as it derives
/// the keys: the run reads SOURCE's rows once for the load and the check together.
#[test]
fn a_one_write_tables_check_takes_sources_side_from_the_loads_stream() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "tapped");
    pg.exec(
        &dbs.source,
        "CREATE TABLE shop (id serial PRIMARY KEY, name text NOT NULL);
         INSERT INTO shop (name) SELECT 's' || g FROM generate_series(1, 30) g;
         CREATE TABLE note (id bigserial PRIMARY KEY, body text, at timestamptz, score float8);
         INSERT INTO note (body, at, score) SELECT CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('b', g % 50) END,
           '2024-01-01'::timestamptz + g * interval '1 minute', g / 3.0 FROM generate_series(1, 3000) g;
         DELETE FROM note WHERE id % 10 = 3;",
    );
    pg.drop_database(&dbs.final_db);
    let out = dbs.run(&["--derive-final", "--jobs", "1"]);
    assert_exit(&out, 0);
    let report = report(&dbs.run_dir());
    assert_eq!(report["status"], "ok", "{report}");
    let verify = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "verify")
        .unwrap();
    let detail = verify["detail"].as_str().unwrap();
    assert!(
        detail.contains("SOURCE's side of 2 from the rows the load streamed through rekey"),
        "{detail}"
    );
    // Nothing references shop or note: their map files are written by their checks, not by a
    // read of SOURCE's keys of their own.
    let shadow = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shadow")
        .unwrap();
    let detail = shadow["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the map files of 2 tables that nothing references written by each table's check in the load")
            && !detail.contains("in the background"),
        "{detail}"
    );
    // note's map file, written by its check, holds every key once, each as derived (the same as
    // what DB_FINAL stores for the row).
    let map = mapping(&dbs.run_dir(), "note");
    assert_eq!(map.len(), 2700);
    let some: Vec<String> = map.values().take(50).map(|u| format!("'{u}'")).collect();
    assert_eq!(
        pg.text(
            &dbs.final_db,
            &format!(
                "SELECT count(*) FROM note WHERE id IN ({})",
                some.join(", ")
            )
        ),
        "50",
        "each new key of the map file is a row of DB_FINAL"
    );
    // Statistics, beside the check (its key stayed in place: too few rows to set it aside).
    assert_ne!(
        pg.text(
            &dbs.final_db,
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'note'"
        ),
        "0"
    );
}

/// A table changed in DB_FINAL between its load and its check: the check made from the load's
/// stream finds it, the verify stage reads both sides again and names the column.
#[test]
fn a_row_changed_in_final_before_a_streamed_check_fails_the_run() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "tapped_changed");
    pg.exec(
        &dbs.source,
        "CREATE TABLE note (id bigserial PRIMARY KEY, body text NOT NULL);
         INSERT INTO note (body) SELECT 'b' || g FROM generate_series(1, 2000) g;",
    );
    pg.drop_database(&dbs.final_db);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--derive-final", "--jobs", "1", "-q", "--source"])
        .arg(dbs.src_url())
        .arg("--data")
        .arg(dbs.data_url())
        .arg("--final")
        .arg(dbs.final_url())
        .arg("--run-dir")
        .arg(dbs.run_dir())
        .env("REKEY_TEST_STALL_AFTER_STEP", "load-then-verify")
        .env("REKEY_TEST_STALL_RELEASE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for_stall_at(&dbs.run_dir(), &mut child);
    pg.exec(
        &dbs.final_db,
        "UPDATE note SET body = 'changed' WHERE ctid = (SELECT min(ctid) FROM note)",
    );
    std::fs::write(dbs.run_dir().join("release"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_values_differ(&dbs.run_dir(), "note", "body");
}

/// The report of the run in `dir` says `table` failed verify, its values differing in `column`.
fn assert_values_differ(dir: &std::path::Path, table: &str, column: &str) {
    let report = report(dir);
    let check = report["verification"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["table"] == table)
        .unwrap()
        .clone();
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["problems"]
            .to_string()
            .contains(&format!("values differ in {column}")),
        "{check}"
    );
}

/// DB_FINAL's native uuid columns are read as their 16 bytes (`uuid_send`, not their text): a
/// reference changed there to another parent's key, well formed and satisfying the foreign
/// key, still fails verify, naming the column, and the untouched run verifies.
#[test]
fn a_native_uuid_changed_in_final_fails_verify() {
    let pg = pg_or_skip!();
    let dbs = Databases::new(pg.clone(), "uuid_bytes");
    pg.exec(
        &dbs.source,
        "CREATE TABLE parent (id bigserial PRIMARY KEY, name text NOT NULL);
         INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 50) g;
         CREATE TABLE child (id bigserial PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent (id));
         INSERT INTO child (parent_id) SELECT 1 + g % 50 FROM generate_series(1, 60000) g;",
    );
    pg.drop_database(&dbs.final_db);
    assert_exit(&dbs.run(&["--derive-final", "--uuid-format", "native"]), 0);
    assert_exit(&dbs.verify(&[]), 0);
    pg.exec(
        &dbs.final_db,
        "UPDATE child SET parent_id = (SELECT id FROM parent WHERE id <> child.parent_id LIMIT 1)
         WHERE ctid = (SELECT min(ctid) FROM child)",
    );
    assert_exit(&dbs.verify(&[]), 1);
    assert_values_differ(&dbs.run_dir(), "child", "parent_id");
}
