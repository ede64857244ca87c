//! Operator safety on the real MariaDB: whatever an operator types, a run only touches the
//! databases it started on, `clean` drops only what its run created, one process owns a run
//! directory, stored state comes back exactly, passwords stay off the command line, and what would
//! fail mid-run is refused before any write with the fix named.

mod common;

use common::*;
use mysql::prelude::Queryable;

/// The same server under another host name: what a run must recognise as the same database.
fn via_localhost(url: &str) -> String {
    url.replacen("@127.0.0.1:", "@localhost:", 1)
}

fn run_with(dbs: &Dbs, urls: [&str; 3], extra: &[&str]) -> std::process::Output {
    let dir = dbs.run_dir();
    let mut args = vec![
        "run",
        "--source",
        urls[0],
        "--data",
        urls[1],
        "--final",
        urls[2],
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ];
    args.extend(extra);
    rekey(&args)
}

#[test]
fn resume_naming_source_as_final_after_a_kill_in_load_is_refused() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "rs_final");
    let before = fingerprint(&server, &dbs.source);
    killed_in(&dbs, "load");
    // SOURCE reached under another host name: URL text differs, the database is the same.
    let source_again = via_localhost(&dbs.src_url());
    let out = run_with(
        &dbs,
        [&dbs.src_url(), &dbs.data_url(), &source_again],
        &["--resume"],
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("same database as SOURCE"), "{err}");
    assert!(err.contains("never writes SOURCE"), "{err}");
    assert_eq!(fingerprint(&server, &dbs.source), before, "SOURCE changed");
}

#[test]
fn resume_naming_source_as_data_after_a_kill_in_swap_is_refused() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "rs_data");
    let before = fingerprint(&server, &dbs.source);
    killed_in(&dbs, "swap");
    let out = run_with(
        &dbs,
        [
            &dbs.src_url(),
            &via_localhost(&dbs.src_url()),
            &dbs.final_url(),
        ],
        &["--resume"],
    );
    assert_exit(&out, 2);
    assert_eq!(fingerprint(&server, &dbs.source), before, "SOURCE changed");
}

#[test]
fn resume_naming_another_database_than_the_journal_recorded_is_refused() {
    let server = server_or_skip!();
    let mut dbs = Dbs::blog(&server, "rs_other");
    killed_in(&dbs, "load");
    // Another loaded database: a copy of SOURCE with the same tables and rows.
    let other = dbs.extra("other");
    let mut c = dbs.conn(&dbs.source);
    c.query_drop(format!("CREATE DATABASE `{other}`")).unwrap();
    load_sql(&server, &other, BLOG_SOURCE);
    let other_before = fingerprint(&server, &other);
    for urls in [
        [dbs.src_url(), dbs.data_url(), dbs.url(&other)],
        [dbs.src_url(), dbs.url(&other), dbs.final_url()],
        [dbs.url(&other), dbs.data_url(), dbs.final_url()],
    ] {
        let out = run_with(&dbs, [&urls[0], &urls[1], &urls[2]], &["--resume"]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("not the database this run directory's run works on"),
            "{err}"
        );
    }
    assert_eq!(fingerprint(&server, &other), other_before);
    // The same databases under another host name are the run's own: it finishes, verified.
    let out = run_with(
        &dbs,
        [
            &via_localhost(&dbs.src_url()),
            &via_localhost(&dbs.data_url()),
            &via_localhost(&dbs.final_url()),
        ],
        &["--resume"],
    );
    assert_exit(&out, 0);
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
}

#[test]
fn clean_drops_only_what_its_run_created_and_marked() {
    let server = server_or_skip!();
    let mut dbs = Dbs::blog(&server, "cl_guard");
    assert_exit(&dbs.run(&[]), 0);
    let dir = dbs.run_dir();
    let foreign = dbs.extra("foreign");
    dbs.conn(&dbs.source)
        .query_drop(format!("CREATE DATABASE `{foreign}`"))
        .unwrap();
    load_sql(&server, &foreign, BLOG_SOURCE);
    // Another database named as DB_DATA: refused, both databases stay.
    let out = rekey(&[
        "clean",
        "--run-dir",
        dir.to_str().unwrap(),
        "--data",
        &dbs.url(&foreign),
    ]);
    assert_exit(&out, 2);
    assert!(dbs.exists(&foreign) && dbs.exists(&dbs.data));
    // DB_DATA replaced by a database of the same name that the run did not create: refused.
    let mut c = dbs.conn(&dbs.source);
    c.query_drop(format!("DROP DATABASE `{}`", dbs.data))
        .unwrap();
    c.query_drop(format!("CREATE DATABASE `{}`", dbs.data))
        .unwrap();
    c.query_drop(format!("CREATE TABLE `{}`.keep (x INT)", dbs.data))
        .unwrap();
    let out = rekey(&["clean", "--run-dir", dir.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("does not carry this run's marker"),
        "{}",
        stderr(&out)
    );
    assert!(
        dbs.exists(&dbs.data),
        "a database the run did not create stays"
    );
}

#[test]
fn clean_needs_no_urls_and_empties_an_adopted_database_instead_of_dropping_it() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "cl_adopt");
    // The operator made an empty DB_DATA for the run (an account without CREATE DATABASE).
    dbs.conn(&dbs.source)
        .query_drop(format!("CREATE DATABASE `{}`", dbs.data))
        .unwrap();
    assert_exit(&dbs.run(&[]), 0);
    let out = rekey(&["clean", "--run-dir", dbs.run_dir().to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("emptied"), "{}", stdout(&out));
    assert!(dbs.exists(&dbs.data), "the adopted database stays");
    let tables: u64 = dbs
        .conn(&dbs.data)
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        )
        .unwrap()
        .unwrap();
    assert_eq!(tables, 0, "the run's tables are gone");
    // The run directory serves a new run now, even on other databases.
    assert_exit(&dbs.run(&[]), 2); // DB_FINAL is loaded: refused as not empty
}

#[test]
fn a_second_process_on_a_run_directory_is_refused_with_the_holders_pid() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "lock");
    let mut first = spawn_stalling(&dbs, "swap");
    wait_for_stall(&dbs, &mut first);
    let pid = first.id();
    for extra in [&[][..], &["--resume"][..]] {
        let out = dbs.run(extra);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(&format!("PID {pid}")), "{err}");
    }
    // The refused --resume stopped nothing of the live run: it finishes once released.
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run is alive"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    assert_exit(&dbs.run(&["--resume"]), 0);
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
}

#[test]
fn usage_errors_leave_no_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("never");
    let out = rekey(&[
        "run",
        "--data",
        "sqlite://d.db",
        "--final",
        "sqlite://f.db",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--source"), "{}", stderr(&out));
    assert!(!run_dir.exists(), "a run directory was left behind");
}

#[test]
fn a_trigger_whose_definer_is_named_like_the_password_comes_back_exactly() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "ncpw");
    // User name and password are the same word: redacting stored text would rewrite the
    // trigger's DEFINER and lose it.
    let name = format!("nc_pw_{}", std::process::id());
    let mut root = conn(&server, None);
    root.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
        .unwrap();
    root.query_drop(format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{name}'"))
        .unwrap();
    for db in [&dbs.source, &dbs.data, &dbs.final_db] {
        root.query_drop(format!("GRANT ALL PRIVILEGES ON `{db}`.* TO '{name}'@'%'"))
            .unwrap();
    }
    let mut f = dbs.conn(&dbs.final_db);
    f.query_drop("DROP TRIGGER comment_ai").unwrap();
    f.query_drop(format!(
        "CREATE DEFINER = '{name}'@'%' TRIGGER comment_ai AFTER INSERT ON comment FOR EACH ROW SET @rekey_fired = 1"
    ))
    .unwrap();
    let show = |f: &mut mysql::Conn| -> String {
        let row: mysql::Row = f
            .query_first("SHOW CREATE TRIGGER comment_ai")
            .unwrap()
            .unwrap();
        let create: Vec<u8> = row.get(2).unwrap();
        String::from_utf8(create).unwrap()
    };
    let before = show(&mut f);
    let url = |db: &str| {
        server.replacen("mysql://root@", &format!("mysql://{name}:{name}@"), 1) + "/" + db
    };
    let urls = [url(&dbs.source), url(&dbs.data), url(&dbs.final_db)];
    // Killed while the trigger is set aside: only the journal knows it now.
    let mut child = spawn_stalling_with(&dbs, [&urls[0], &urls[1], &urls[2]], "load");
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = run_with(&dbs, [&urls[0], &urls[1], &urls[2]], &["--resume"]);
    assert_exit(&out, 0);
    assert_eq!(show(&mut f), before, "the trigger came back changed");
    root.query_drop(format!("DROP USER '{name}'@'%'")).unwrap();
}

#[test]
fn passwords_come_from_the_environment_a_file_or_the_option_file() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "pwsrc");
    let acct = Account::new(
        &server,
        "pwsrc",
        &[format!("GRANT SELECT ON `{}`.* TO {{user}}", dbs.source)],
    );
    let bare = acct
        .url(&dbs.source)
        .replacen(&format!(":{}@", acct.password), "@", 1);
    assert!(!bare.contains(&acct.password));
    let home = tempfile::tempdir().unwrap();
    let plan = |envs: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"));
        cmd.args(["plan", "--source", &bare])
            .args(extra)
            .env_remove("DB_PASS")
            .env_remove("MYSQL_PWD")
            .env("HOME", home.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let refused = plan(&[], &[]);
    assert_exit(&refused, 3);
    assert!(
        stderr(&refused).contains("--password-file"),
        "{}",
        stderr(&refused)
    );
    assert_exit(&plan(&[("DB_PASS", &acct.password)], &[]), 0);
    assert_exit(&plan(&[("MYSQL_PWD", &acct.password)], &[]), 0);
    let file = home.path().join("pw");
    std::fs::write(&file, format!("{}\n", acct.password)).unwrap();
    assert_exit(&plan(&[], &["--password-file", file.to_str().unwrap()]), 0);
    std::fs::write(
        home.path().join(".my.cnf"),
        format!("[client]\nskip-ssl\npassword=\"{}\"\n", acct.password),
    )
    .unwrap();
    let out = plan(&[], &[]);
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains(&acct.password) && !stderr(&out).contains(&acct.password));
}

#[test]
fn long_key_and_reference_column_names_get_short_work_columns() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "longnames");
    let key = format!("k{}", "e".repeat(58)); // 59 characters: + "_upk_copy" is 68
    let reference = format!("r{}", "f".repeat(60));
    load_sql(
        &server,
        &dbs.source,
        &format!(
            "CREATE TABLE parent (`{key}` INT PRIMARY KEY, v INT);\n\
             CREATE TABLE child (id INT PRIMARY KEY, `{reference}` INT NULL, CONSTRAINT fk_c FOREIGN KEY (`{reference}`) REFERENCES parent (`{key}`));\n\
             INSERT INTO parent VALUES (1, 10), (2, 20);\n\
             INSERT INTO child VALUES (1, 1), (2, 2), (3, NULL);\n"
        ),
    );
    dbs.conn(&dbs.final_db)
        .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 0);
    assert_eq!(report(&dbs.run_dir())["status"], "ok");
}

#[test]
fn references_between_character_sets_are_refused_before_derive_final_writes() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "charsets");
    load_sql(
        &server,
        &dbs.source,
        "CREATE TABLE parent (id INT PRIMARY KEY) DEFAULT CHARSET utf8mb4;\n\
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, FOREIGN KEY (parent_id) REFERENCES parent (id)) DEFAULT CHARSET latin1;\n\
         INSERT INTO parent VALUES (1);\n\
         INSERT INTO child VALUES (1, 1);\n",
    );
    dbs.conn(&dbs.final_db)
        .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("child.parent_id") && err.contains("binary16"),
        "{err}"
    );
    assert!(
        !dbs.exists(&dbs.data) && !dbs.exists(&dbs.final_db),
        "something was written"
    );
    std::fs::remove_dir_all(dbs.run_dir()).unwrap();
    let out = dbs.run(&["--derive-final", "--uuid-format", "binary16"]);
    assert_exit(&out, 0);
}

#[test]
fn a_row_beyond_max_allowed_packet_is_refused_naming_the_setting() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "packet");
    let mut c = dbs.conn(&dbs.source);
    c.query_drop("CREATE TABLE big (id INT PRIMARY KEY, a MEDIUMTEXT, b MEDIUMTEXT, c MEDIUMTEXT)")
        .unwrap();
    c.query_drop("INSERT INTO big (id) VALUES (1)").unwrap();
    // Each value fits a packet on its own; the row (18 MB) does not fit the 16 MB limit.
    for col in ["a", "b", "c"] {
        c.query_drop(format!("UPDATE big SET {col} = REPEAT('x', 6000000)"))
            .unwrap();
    }
    dbs.conn(&dbs.final_db)
        .query_drop(
            "CREATE TABLE big (id CHAR(32) PRIMARY KEY, a MEDIUMTEXT, b MEDIUMTEXT, c MEDIUMTEXT)",
        )
        .unwrap();
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("max_allowed_packet") && err.contains("big"),
        "{err}"
    );
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
}

#[test]
fn a_final_unique_key_the_data_breaks_is_refused_before_any_write() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "uqpre");
    dbs.conn(&dbs.final_db)
        .query_drop("ALTER TABLE page_request ADD UNIQUE KEY uq_page_request_status (status)")
        .unwrap();
    let check = dbs.check(&[]);
    assert_exit(&check, 2);
    assert!(
        stdout(&check).contains("FAIL DB_FINAL unique keys"),
        "{}",
        stdout(&check)
    );
    let out = dbs.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("uq_page_request_status") && err.contains("page_request"),
        "{err}"
    );
    assert!(!dbs.exists(&dbs.data), "DB_DATA was created");
}

#[test]
fn the_load_never_counts_rows_a_unique_key_refused() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "uqload");
    let dir = dbs.run_dir();
    let convert = rekey(&[
        "convert",
        "--source",
        &dbs.src_url(),
        "--data",
        &dbs.data_url(),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&convert, 0);
    // A key that preflight never saw: the bulk path must not report the rows as stored.
    let mut f = dbs.conn(&dbs.final_db);
    f.query_drop("ALTER TABLE page_request ADD UNIQUE KEY uq_page_request_status (status)")
        .unwrap();
    let out = rekey(&[
        "load",
        "--data",
        &dbs.data_url(),
        "--final",
        &dbs.final_url(),
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("page_request") && err.contains("uq_page_request_status"),
        "{err}"
    );
    let stored: u64 = f
        .query_first("SELECT COUNT(*) FROM page_request")
        .unwrap()
        .unwrap();
    assert_eq!(stored, 0);
    let report = report(&dir);
    let load = stage(&report, "load");
    assert_ne!(load["status"], "done", "{load}");
}

#[test]
fn a_source_that_does_not_exist_is_an_input_error() {
    let server = server_or_skip!();
    let out = rekey(&[
        "plan",
        "--source",
        &format!("{server}/rk_no_such_db_at_all"),
    ]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!err.contains("MySqlError {"), "driver debug text: {err}");
}

#[test]
fn an_unusable_run_directory_says_what_to_do_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = rekey(&[
        "convert",
        "--source",
        "sqlite://a.db",
        "--data",
        "sqlite://b.db",
        "--run-dir",
        file.join("run").to_str().unwrap(),
    ]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("--run-dir"), "{err}");
    assert!(!err.contains("--resume"), "{err}");
}

#[test]
fn a_server_that_resets_connections_is_retried_as_db_max_retries_says() {
    // A port that accepts connections and closes them at once, as a server still starting does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args([
            "plan",
            "--source",
            &format!("mysql://root@127.0.0.1:{port}/x"),
        ])
        .env("DB_MAX_RETRIES", "2")
        .env("DB_RETRY_DELAY", "1")
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("Gave up after 2 retries"), "{err}");
    assert!(
        !err.contains("IoError {") && !err.contains("CodecError {"),
        "{err}"
    );
}

#[test]
fn check_constraints_on_columns_that_become_uuids_are_dropped_and_named_in_the_plan() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "checks");
    load_sql(
        &server,
        &dbs.source,
        "CREATE TABLE parent (id INT PRIMARY KEY CHECK (id > 0), v INT, CONSTRAINT ck_parent CHECK (id < 1000000000 AND v >= 0));\n\
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, CONSTRAINT ck_child CHECK (parent_id <> 0), CONSTRAINT fk_child FOREIGN KEY (parent_id) REFERENCES parent (id));\n\
         INSERT INTO parent VALUES (1, 1), (2, 2);\n\
         INSERT INTO child VALUES (1, 1), (2, 2);\n",
    );
    let plan = rekey(&["plan", "--source", &dbs.src_url()]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(
        text.contains("CHECK constraint ck_parent") && text.contains("ck_child"),
        "{text}"
    );
    dbs.conn(&dbs.final_db)
        .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    // Without dropping them, swap's DROP COLUMN fails (1054) and the derived DB_FINAL refuses
    // every UUID (1292).
    let out = dbs.run(&["--derive-final", "--uuid-format", "char36"]);
    assert_exit(&out, 0);
    let checks: Vec<String> = dbs
        .conn(&dbs.final_db)
        .query("SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1")
        .unwrap();
    assert!(checks.is_empty(), "{checks:?}");
}

#[test]
fn a_second_process_on_the_same_databases_is_refused_whatever_its_run_directory() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "srvlock");
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut first = spawn_stalling(&dbs, "clone");
    wait_for_stall(&dbs, &mut first);
    let out = run_in([&s, &d, &f], &dbs.dir.path().join("other"), &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    // The holder is named by its connection id, which the hint's KILL takes.
    let holder = err
        .split("KILL ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_default();
    assert!(
        err.contains("in use by another rekey process")
            && !holder.is_empty()
            && err.contains(&format!("connection {holder}")),
        "{err}"
    );
    // A copy of the live run's directory cannot resume it (it would stop the live run's
    // statements and write beside it).
    let copy = dbs.dir.path().join("copy");
    copy_dir(&dbs.run_dir(), &copy);
    let out = run_in([&s, &d, &f], &copy, &["--resume"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("in use by another rekey process"),
        "{}",
        stderr(&out)
    );
    assert!(first.try_wait().unwrap().is_none(), "the live run ended");
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its process: the run resumes.
    assert_exit(&dbs.run(&["--resume"]), 0);
}

/// A lock whose holder goes within a moment (a run killed just before) is waited for, not named
/// as a live run: here the holder is killed while the second process waits for its lock.
#[test]
fn a_lock_released_a_moment_later_is_waited_for() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "srvwait");
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut first = spawn_stalling(&dbs, "clone");
    wait_for_stall(&dbs, &mut first);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["run", "--source", &s, "--data", &d, "--final", &f, "-q"])
        .args(["--run-dir", dbs.dir.path().join("other").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first run is killed while the second waits for its lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut c = dbs.conn(&dbs.source);
    loop {
        let waiting: u64 = c
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT GET_LOCK(%'",
            )
            .unwrap()
            .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second run never asked for the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let out = second.wait_with_output().unwrap();
    // Past the lock, the second run meets the first one's DB_DATA (another run's): refused for
    // that, not for a live run.
    assert!(
        !stderr(&out).contains("in use by another rekey process"),
        "{}",
        stderr(&out)
    );
    assert_exit(&dbs.run(&["--resume"]), 0);
}

#[test]
fn verify_checks_final_foreign_keys_lists_every_differing_table_and_sees_source_change() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "verifyall");
    load_sql(
        &server,
        &dbs.source,
        "CREATE TABLE countries (code CHAR(2) NOT NULL PRIMARY KEY);\n\
         CREATE TABLE users (id INT NOT NULL PRIMARY KEY, country CHAR(2) NULL);\n\
         CREATE TABLE notes (id INT NOT NULL PRIMARY KEY, body VARCHAR(20));\n\
         CREATE TABLE tags (id INT NOT NULL PRIMARY KEY, name VARCHAR(20));\n\
         INSERT INTO countries VALUES ('FR');\n\
         INSERT INTO users VALUES (1, 'FR'), (2, 'XX');\n\
         INSERT INTO notes VALUES (1, 'a'), (2, 'b');\n\
         INSERT INTO tags VALUES (1, 'x');\n",
    );
    load_sql(
        &server,
        &dbs.final_db,
        "CREATE TABLE countries (code CHAR(2) NOT NULL PRIMARY KEY);\n\
         CREATE TABLE users (id CHAR(32) NOT NULL PRIMARY KEY, country CHAR(2) NULL);\n\
         CREATE TABLE notes (id CHAR(32) NOT NULL PRIMARY KEY, body VARCHAR(20));\n\
         CREATE TABLE tags (id CHAR(32) NOT NULL PRIMARY KEY, name VARCHAR(20));\n",
    );
    assert_exit(&dbs.run(&[]), 0);
    // A foreign key that preflight never saw, added without checking the rows; two tables
    // changed in DB_FINAL; a row written to SOURCE after the run's snapshot.
    let mut f = dbs.conn(&dbs.final_db);
    f.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    f.query_drop("ALTER TABLE users ADD CONSTRAINT fk_users_country FOREIGN KEY (country) REFERENCES countries (code)")
        .unwrap();
    f.query_drop("UPDATE notes SET body = 'changed'").unwrap();
    f.query_drop("UPDATE tags SET name = 'changed'").unwrap();
    dbs.conn(&dbs.source)
        .query_drop("INSERT INTO countries VALUES ('DE')")
        .unwrap();
    let dir = dbs.run_dir();
    let out = rekey(&[
        "verify",
        "--source",
        &dbs.src_url(),
        "--final",
        &dbs.final_url(),
        "--run-dir",
        dir.to_str().unwrap(),
        "--jobs",
        "1",
    ]);
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    for part in [
        "users: 1 rows break DB_FINAL's foreign key fk_users_country (country) -> countries(code)",
        "notes: values differ in body",
        "tags: values differ in name",
        "differ between SOURCE and DB_FINAL: countries, notes, tags, users",
        "SOURCE changed during the run",
        "countries held 1 rows at preflight and holds 2 now",
    ] {
        assert!(text.contains(part), "{part} in\n{text}");
    }
}

/// The journal's key secret of a run directory.
fn journal_secret(dir: &std::path::Path) -> String {
    rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT value FROM run WHERE key = 'secret'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// The longest run of hex digits in `text` (a secret is 64, hex-encoded 128).
fn longest_hex(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[test]
fn the_run_secret_never_appears_in_output_or_reports() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "secret");
    // A dry run prints the fill's SQL, which hashes with the secret: it names the session's
    // variable, set by a statement whose parameter is the secret.
    let dry = dbs.run(&["--dry-run"]);
    assert_exit(&dry, 0);
    let text = format!("{}{}", stdout(&dry), stderr(&dry));
    assert!(
        text.contains("SET @rekey_k = CAST(? AS BINARY)")
            && text.contains("MD5(CONCAT(@rekey_k, _binary ':user:'"),
        "{text}"
    );
    assert!(longest_hex(&text) < 64, "{text}");
    let out = dbs.run(&[]);
    assert_exit(&out, 0);
    let dir = dbs.run_dir();
    let secret = journal_secret(&dir);
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
        (
            "report.html",
            std::fs::read_to_string(dir.join("report.html")).unwrap(),
        ),
    ] {
        assert!(!text.contains(&secret), "the secret is in {what}");
    }
    let status = rekey(&["status", "--run-dir", dir.to_str().unwrap()]);
    assert!(!stdout(&status).contains(&secret));
}

#[test]
fn default_keys_hide_the_old_ids_and_v7_keeps_their_order() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "keyed");
    assert_exit(&dbs.run(&[]), 0);
    let user = mapping(&dbs.run_dir(), "user");
    let mut pairs: Vec<(u64, String)> = user
        .iter()
        .map(|(o, n)| (o.parse().unwrap(), n.clone()))
        .collect();
    pairs.sort();
    assert!(pairs.iter().all(|(_, n)| n.as_bytes()[12] == b'4'), "v4");
    // Neither ordered by the old key nor carrying it in v7's counter digits.
    assert!(pairs.windows(2).any(|w| w[1].1 < w[0].1));
    let counters = pairs
        .iter()
        .filter(|(o, n)| u64::from_str_radix(&n[13..16], 16).unwrap() == o & 4095)
        .count();
    assert!(counters < 3, "{counters}");
    // --uuid-version v7: ordered by the old key, as its help says.
    let dbs7 = Dbs::blog(&server, "ordered");
    assert_exit(&dbs7.run(&["--uuid-version", "v7"]), 0);
    let mut pairs: Vec<(u64, String)> = mapping(&dbs7.run_dir(), "user")
        .into_iter()
        .map(|(o, n)| (o.parse().unwrap(), n))
        .collect();
    pairs.sort();
    assert!(pairs.windows(2).all(|w| w[1].1 > w[0].1));
    assert!(pairs
        .iter()
        .all(|(o, n)| u64::from_str_radix(&n[13..16], 16).unwrap() == o & 4095));
}

#[test]
fn clean_dry_run_lists_each_drop_and_a_verified_final_is_handed_over() {
    let server = server_or_skip!();
    let dbs = Dbs::blog(&server, "cl_dry");
    dbs.conn(&dbs.source)
        .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    // A derived run killed in load: DB_DATA and DB_FINAL are both the run's, both marked.
    let (s, d, f) = (dbs.src_url(), dbs.data_url(), dbs.final_url());
    let mut child = spawn_stalling_args(&dbs, [&s, &d, &f], "load", &["--derive-final"]);
    wait_for_stall(&dbs, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = dbs.run_dir();
    let dir = dir.to_str().unwrap();
    let out = rekey(&["clean", "--run-dir", dir, "--dry-run"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("would drop DB_DATA {}", dbs.data_url())),
        "{text}"
    );
    assert!(
        text.contains(&format!("would drop DB_FINAL {}", dbs.final_url())),
        "{text}"
    );
    assert!(
        dbs.exists(&dbs.data) && dbs.exists(&dbs.final_db),
        "a dry run dropped"
    );
    // Resumed to the end: DB_FINAL loses rekey's marker and is the application's.
    assert_exit(&dbs.run(&["--derive-final", "--resume"]), 0);
    let marker: u64 = dbs
        .conn(&dbs.final_db)
        .query_first("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '\\_rekey%'")
        .unwrap()
        .unwrap();
    assert_eq!(marker, 0, "DB_FINAL keeps rekey's tables");
    assert_exit(&dbs.verify(), 0);
    let out = rekey(&["clean", "--run-dir", dir, "--dry-run"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("would drop DB_DATA"), "{text}");
    assert!(text.contains("kept DB_FINAL"), "{text}");
    assert!(
        text.contains("kept ") && text.contains("--remove-maps"),
        "{text}"
    );
    let out = rekey(&["clean", "--run-dir", dir]);
    assert_exit(&out, 0);
    assert!(!dbs.exists(&dbs.data), "DB_DATA stays");
    assert!(
        dbs.exists(&dbs.final_db),
        "the handed-over DB_FINAL was dropped"
    );
    assert!(
        dbs.run_dir().join("map/user.csv").exists(),
        "clean removed the maps"
    );
}

#[test]
fn a_wrong_user_gets_a_credentials_hint_at_once_not_a_retry() {
    let server = server_or_skip!();
    let dbs = Dbs::new(&server, "wrong_user");
    // An account that must log in through the server's socket: over TCP MariaDB answers
    // ERROR 1698, as for root@localhost on a Debian-style install.
    let socket_user = format!("rk_sock_{}", std::process::id());
    let mut root = conn(&server, None);
    root.query_drop(format!("DROP USER IF EXISTS '{socket_user}'@'%'"))
        .unwrap();
    root.query_drop(format!(
        "CREATE USER '{socket_user}'@'%' IDENTIFIED VIA unix_socket"
    ))
    .unwrap();
    // An unknown user answers 1045, with a password or without.
    for (user, password) in [
        (socket_user.as_str(), None),
        ("rekey_nobody_here", None),
        ("rekey_nobody_here", Some("not-the-password")),
    ] {
        let source = dbs
            .src_url()
            .replacen("://root@", &format!("://{user}@"), 1);
        assert_ne!(source, dbs.src_url(), "the test server's URL names root");
        let started = std::time::Instant::now();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"));
        cmd.args(["plan", "--source", &source])
            .env("DB_MAX_RETRIES", "3")
            .env("DB_RETRY_DELAY", "2")
            .env_remove("DB_PASS")
            .env_remove("MYSQL_PWD")
            .env("HOME", dbs.dir.path());
        if let Some(p) = password {
            cmd.env("MYSQL_PWD", p);
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains(user), "{err}");
        assert!(err.contains("refused the user name or password"), "{err}");
        assert!(!err.contains("still starting"), "{err}");
        // Refused credentials are never retried (3 retries of 2 s would take 6 s).
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }
    root.query_drop(format!("DROP USER IF EXISTS '{socket_user}'@'%'"))
        .unwrap();
}

/// A table name is only ever SQL as a quoted identifier: one holding a line break and a
/// statement, which would end a `--` comment around a placeholder of a statement rekey reads
/// from its `.sql` files, converts (clone, derive-final, the load's indexes set aside) and runs
/// nothing of it.
#[test]
fn a_table_name_with_a_line_break_and_a_statement_runs_nothing() {
    let server = server_or_skip!();
    let mut dbs = Dbs::new(&server, "linebreak");
    let canary = dbs.extra("canary");
    let hostile = format!("note\nDROP DATABASE {canary}; #");
    let mut c = dbs.conn(&dbs.source);
    c.query_drop(format!("CREATE DATABASE `{canary}`")).unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{hostile}` (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(10), UNIQUE KEY ub (body))"
    ))
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO `{hostile}` (body) VALUES ('a'), ('b'), ('c')"
    ))
    .unwrap();
    c.query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    let out = dbs.run(&["--derive-final"]);
    assert_exit(&out, 0);
    assert!(dbs.exists(&canary), "a statement in a table name ran");
    let rows: Vec<String> = dbs
        .conn(&dbs.final_db)
        .query(format!("SELECT body FROM `{hostile}` ORDER BY body"))
        .unwrap();
    assert_eq!(rows, ["a", "b", "c"]);
}
