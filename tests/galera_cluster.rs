//! rekey on a real 3-node MariaDB Galera cluster (scripts/galera.sh up; scripts/test.sh starts it
//! and stops it around the suite): fixtures converted on node 1 under small write-set limits and
//! verified on node 3, a SIGKILL between chunks then resume, SOURCE and DB_FINAL on different
//! nodes, and what `check` reports. The tests change the cluster's global settings, so they run
//! one at a time and put every setting back when they end.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use mysql::prelude::Queryable;
use mysql::Conn;

/// The nodes' URLs: REKEY_TEST_GALERA_URLS (comma-separated) or the cluster of scripts/galera.sh.
fn nodes() -> Vec<String> {
    std::env::var("REKEY_TEST_GALERA_URLS")
        .unwrap_or_else(|_| {
            "mysql://root@127.0.0.1:4401,mysql://root@127.0.0.1:4402,mysql://root@127.0.0.1:4403"
                .into()
        })
        .split(',')
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .collect()
}

/// One test at a time: they set the cluster's global limits.
static CLUSTER: Mutex<()> = Mutex::new(());

/// The cluster, locked for this test, with its global settings put back when the test ends.
struct Cluster {
    nodes: Vec<String>,
    saved: Vec<(String, String, String)>,
    _lock: MutexGuard<'static, ()>,
}

/// The cluster of three Synced nodes, or return from the test. Skipped (said on stderr) only
/// when neither REKEY_REQUIRE_GALERA nor CI is set: scripts/test.sh starts the cluster and sets
/// REKEY_REQUIRE_GALERA, so in CI a cluster that is not up fails every test.
fn cluster() -> Option<Cluster> {
    let lock = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let nodes = nodes();
    let up = nodes.iter().all(|n| {
        Conn::new(opts(n, None))
            .ok()
            .and_then(|mut c| {
                c.query_first::<(String, String), _>("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")
                    .ok()
                    .flatten()
            })
            .is_some_and(|(_, size)| size == nodes.len().to_string())
    });
    if !up {
        let required = std::env::var("REKEY_REQUIRE_GALERA").is_ok() || std::env::var("CI").is_ok();
        if required {
            panic!("the Galera cluster is required but not up at {nodes:?}: scripts/galera.sh up");
        }
        eprintln!("SKIPPED: no Galera cluster at {nodes:?}; scripts/galera.sh up starts one");
        return None;
    }
    let mut saved = Vec::new();
    for n in &nodes {
        let mut c = conn(n, None);
        for var in ["wsrep_max_ws_rows", "wsrep_max_ws_size", "wsrep_mode"] {
            let v: String = c
                .query_first(format!("SELECT CAST(@@GLOBAL.{var} AS CHAR)"))
                .unwrap()
                .unwrap_or_default();
            saved.push((n.clone(), var.to_string(), v));
        }
    }
    Some(Cluster {
        nodes,
        saved,
        _lock: lock,
    })
}

impl Cluster {
    fn node(&self, i: usize) -> &str {
        &self.nodes[i]
    }
    /// Sets a global variable on every node (wsrep limits are per node).
    fn set_global(&self, var: &str, value: &str) {
        for n in &self.nodes {
            conn(n, None)
                .query_drop(format!("SET GLOBAL {var} = {value}"))
                .unwrap();
        }
    }
    fn limits(&self, rows: u64, bytes: u64) {
        self.set_global("wsrep_max_ws_rows", &rows.to_string());
        self.set_global("wsrep_max_ws_size", &bytes.to_string());
    }
    /// A connection to node `i` that sees every write committed anywhere in the cluster.
    fn synced(&self, i: usize, db: &str) -> Conn {
        let mut c = conn(self.node(i), Some(db));
        c.query_drop("SET SESSION wsrep_sync_wait = 15").unwrap();
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (n, var, value) in &self.saved {
            if let Ok(mut c) = Conn::new(opts(n, None)) {
                let v = if var == "wsrep_mode" {
                    format!("'{value}'")
                } else {
                    value.clone()
                };
                let _ = c.query_drop(format!("SET GLOBAL {var} = {v}"));
            }
        }
    }
}

fn url_on(node: &str, db: &str) -> String {
    format!("{node}/{db}")
}

/// `rekey verify` of SOURCE (on node 1) against DB_FINAL read on `final_node`.
fn verify_on(dbs: &Dbs, final_node: &str) -> std::process::Output {
    rekey(&[
        "verify",
        "--source",
        &dbs.src_url(),
        "--final",
        &url_on(final_node, &dbs.final_db),
        "--run-dir",
        dbs.run_dir().to_str().unwrap(),
        "-q",
    ])
}

/// Per table of `db` on node `i` (causal reads): its row count.
fn counts(c: &Cluster, i: usize, db: &str) -> Vec<(String, u64)> {
    let mut s = c.synced(i, db);
    let tables: Vec<String> = s
        .query(format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE '\\_rekey\\_%' AND TABLE_NAME <> 'alembic_version' ORDER BY 1"
        ))
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let n: u64 = s
                .query_first(format!("SELECT COUNT(*) FROM `{t}`"))
                .unwrap()
                .unwrap();
            (t, n)
        })
        .collect()
}

fn detail(dbs: &Dbs, stage_name: &str) -> String {
    let r = report(&dbs.run_dir());
    stage(&r, stage_name)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The number in "Galera: N chunked write-sets" of a stage's detail.
fn write_sets(detail: &str) -> u64 {
    detail
        .split("Galera: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn all_verified(dbs: &Dbs, tables: usize) {
    let r = report(&dbs.run_dir());
    assert_eq!(r["status"], "ok");
    let checks = r["verification"].as_array().unwrap();
    assert_eq!(checks.len(), tables, "{checks:?}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
}

#[test]
fn blog_converts_on_node_1_under_1000_row_write_sets_and_verifies_on_node_3() {
    let Some(c) = cluster() else { return };
    let dbs = Dbs::blog(c.node(0), "gblog");
    let before = fingerprint(c.node(0), &dbs.source);
    c.limits(1000, 1 << 20);
    let out = dbs.run(&[]);
    assert_exit(&out, 0);
    all_verified(&dbs, 9);
    // page_request's 20,000 rows need 20 write-sets in swap and in the load; every stage says
    // what its DDL cost. (The blog's keys are derived from its old keys: no mapping tables.)
    let swap = detail(&dbs, "swap");
    assert!(swap.contains("of at most 1000 rows"), "{swap}");
    assert!(write_sets(&swap) >= 20 + 9, "{swap}");
    let load = detail(&dbs, "load");
    assert!(write_sets(&load) >= 20, "{load}");
    for s in ["clone", "shadow", "link", "unconstrain", "swap"] {
        let d = detail(&dbs, s);
        assert!(
            d.contains("DDL statements") && d.contains("s of TOI"),
            "{s}: {d}"
        );
    }
    // Another node holds the same data: verify reads DB_FINAL on node 3 (causal reads).
    let out = verify_on(&dbs, c.node(2));
    assert_exit(&out, 0);
    all_verified(&dbs, 9);
    assert_eq!(counts(&c, 2, &dbs.final_db), counts(&c, 0, &dbs.source));
    assert_eq!(
        fingerprint(c.node(0), &dbs.source),
        before,
        "SOURCE changed"
    );
    // DB_DATA's tables kept a primary key, now over the UUIDs.
    let keyed: u64 = c
        .synced(1, &dbs.data)
        .query_first(format!("SELECT COUNT(DISTINCT TABLE_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{}' AND INDEX_NAME = 'PRIMARY' AND TABLE_NAME NOT LIKE '\\_rekey\\_%'", dbs.data))
        .unwrap()
        .unwrap();
    assert_eq!(keyed, 10);
}

#[test]
fn shapes_derive_and_convert_under_2_row_write_sets_and_verify_on_node_3() {
    let Some(c) = cluster() else { return };
    let dbs = Dbs::new(c.node(0), "gshapes");
    load_sql(
        c.node(0),
        &dbs.source,
        include_str!("../fixtures/shapes/mysql/source.sql"),
    );
    dbs.conn(&dbs.final_db)
        .query_drop(format!("DROP DATABASE `{}`", dbs.final_db))
        .unwrap();
    // Two rows per write-set: composite, character, unsigned 64-bit and unicode keys all go
    // through several ranges.
    c.limits(2, 1 << 20);
    let out = dbs.run(&[
        "--derive-final",
        "--reference",
        "node.parent_id=node.id",
        "--reference",
        "legacy_note.node_id=node.id",
        "--exclude",
        "visit_log",
    ]);
    assert_exit(&out, 0);
    // Negative and 64-bit keys need mapping tables, inserted two rows at a time.
    let shadow = detail(&dbs, "shadow");
    assert!(shadow.contains("of at most 2 rows"), "{shadow}");
    let r = report(&dbs.run_dir());
    assert_eq!(r["status"], "ok");
    assert!(r["verification"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    // The MyISAM table's rows replicate now: DB_FINAL's copy is InnoDB, read on node 3.
    let mut f = c.synced(2, &dbs.final_db);
    let engine: String = f
        .query_first(format!("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'legacy_note'", dbs.final_db))
        .unwrap()
        .unwrap();
    assert_eq!(engine, "InnoDB");
    let warned = r["warnings"].to_string();
    assert!(
        warned.contains("not-replicated") && warned.contains("legacy_note"),
        "{warned}"
    );
    let out = verify_on(&dbs, c.node(2));
    assert_exit(&out, 0);
    assert_eq!(counts(&c, 2, &dbs.final_db), counts(&c, 0, &dbs.source));
}

#[test]
fn sigkill_between_chunks_of_swap_and_of_load_then_resume() {
    let Some(c) = cluster() else { return };
    for stage_name in ["swap", "load"] {
        c.limits(0, 2147483647);
        let dbs = Dbs::blog(c.node(0), &format!("gkill_{stage_name}"));
        c.limits(1000, 1 << 20);
        let mut child = Command::new(env!("CARGO_BIN_EXE_rekey"))
            .args(["run", "--source", &dbs.src_url(), "--data", &dbs.data_url()])
            .args(["--final", &url_on(c.node(2), &dbs.final_db)])
            .args(["--run-dir", dbs.run_dir().to_str().unwrap(), "-q"])
            .env("REKEY_TEST_STALL_AFTER_CHUNK", stage_name)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !dbs.run_dir().join("stalled").exists() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("rekey ended ({status}) before its second chunk of {stage_name}");
            }
            assert!(started.elapsed() < Duration::from_secs(120), "no stall");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The second chunk is committed and not journaled: the worst moment.
        child.kill().unwrap();
        child.wait().unwrap();
        let out = rekey(&[
            "run",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.data_url(),
            "--final",
            &url_on(c.node(2), &dbs.final_db),
            "--run-dir",
            dbs.run_dir().to_str().unwrap(),
            "-q",
            "--resume",
        ]);
        assert_exit(&out, 0);
        all_verified(&dbs, 9);
        // Nothing lost or written twice, as node 1 sees it.
        assert_eq!(counts(&c, 0, &dbs.final_db), counts(&c, 0, &dbs.source));
    }
}

#[test]
fn source_data_and_final_on_three_different_nodes() {
    let Some(c) = cluster() else { return };
    let dbs = Dbs::blog(c.node(0), "gnodes");
    c.limits(5000, 1 << 20);
    let out = rekey(&[
        "run",
        "--source",
        &dbs.src_url(),
        "--data",
        &url_on(c.node(1), &dbs.data),
        "--final",
        &url_on(c.node(2), &dbs.final_db),
        "--run-dir",
        dbs.run_dir().to_str().unwrap(),
        "-q",
    ]);
    assert_exit(&out, 0);
    all_verified(&dbs, 9);
    // One cluster is one server: the fill and the load run on the server, not through rekey.
    assert!(detail(&dbs, "load").contains("direct INSERT ... SELECT"));
    assert_eq!(counts(&c, 1, &dbs.final_db), counts(&c, 2, &dbs.source));
}

#[test]
fn check_reports_the_cluster_and_refuses_a_myisam_db_final() {
    let Some(c) = cluster() else { return };
    let dbs = Dbs::blog(c.node(0), "gcheck");
    c.limits(1000, 32 << 20);
    let check = |final_url: &str| {
        rekey(&[
            "check",
            "--source",
            &dbs.src_url(),
            "--data",
            &dbs.data_url(),
            "--final",
            final_url,
        ])
    };
    let out = check(&url_on(c.node(2), &dbs.final_db));
    let text = stdout(&out);
    assert_exit(&out, 0);
    for expected in [
        "cluster: Galera, 3 nodes",
        "Synced in a Primary component",
        "flow control: paused",
        "wsrep_max_ws_rows=1000, wsrep_max_ws_size=33554432",
        "at most 1000 rows per transaction",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    // A live cutover reads node 1's binlog, which must hold the writes made on the other nodes
    // (log_slave_updates): the test nodes have both.
    let out = rekey(&["check", "--follow", "--source", &dbs.src_url()]);
    let text = stdout(&out);
    assert_exit(&out, 0);
    for expected in [
        "ok   log_bin: log_bin = ON",
        "ok   Galera binlog: log_slave_updates = ON: this node's binlog holds the writes of every node",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    // A MyISAM table in DB_FINAL would hold its rows on one node only.
    dbs.conn(&dbs.final_db)
        .query_drop("ALTER TABLE tag ENGINE=MyISAM")
        .unwrap();
    let out = check(&dbs.final_url());
    assert_ne!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL load path") && text.contains("tag") && text.contains("ENGINE=InnoDB"),
        "{text}"
    );
}

#[test]
fn a_keyless_table_gets_an_invisible_key_and_one_too_large_for_a_write_set_is_refused() {
    let Some(c) = cluster() else { return };
    let dbs = Dbs::blog(c.node(0), "gkeyless");
    let mut s = dbs.conn(&dbs.source);
    s.query_drop("CREATE TABLE audit (user_id INT UNSIGNED NULL, note VARCHAR(20), CONSTRAINT fk_audit_user FOREIGN KEY (user_id) REFERENCES `user` (id))")
        .unwrap();
    s.query_drop("INSERT INTO audit SELECT id, CONCAT('n', id) FROM `user` LIMIT 5")
        .unwrap();
    drop(s);
    // The application's schema has the table too (keyless, created before keys were required).
    dbs.conn(&dbs.final_db)
        .query_drop("CREATE TABLE audit (user_id CHAR(32) NULL, note VARCHAR(20))")
        .unwrap();
    // Where keys are required, rekey's copy of the keyless table needs one of its own.
    c.set_global("wsrep_mode", "'REQUIRED_PRIMARY_KEY'");
    // Its 5 rows cannot be read in ranges, and do not fit a write-set of 4.
    c.limits(4, 1 << 20);
    let refused = dbs.run(&[]);
    assert_exit(&refused, 2);
    let err = stderr(&refused);
    assert!(
        err.contains("audit")
            && err.contains("no primary key")
            && err.contains("wsrep_max_ws_rows"),
        "{err}"
    );
    assert!(!dbs.exists(&dbs.data), "nothing was written");
    std::fs::remove_dir_all(dbs.run_dir()).unwrap();
    c.limits(1000, 1 << 20);
    let out = dbs.run(&[]);
    assert_exit(&out, 0);
    all_verified(&dbs, 10);
    let mut d = c.synced(2, &dbs.data);
    let key: String = d
        .query_first(format!("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'audit' AND INDEX_NAME = 'PRIMARY'", dbs.data))
        .unwrap()
        .unwrap();
    assert_eq!(key, "_rekey_row");
}

#[test]
fn a_statement_aborted_by_another_nodes_write_is_retried() {
    let Some(c) = cluster() else { return };
    let dbs = Dbs::new(c.node(0), "gretry");
    dbs.conn(&dbs.source)
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 0)")
        .unwrap();
    // rekey's statement on node 1 holds the row for two seconds; meanwhile node 2 commits an
    // update of it, whose write-set aborts rekey's (ERROR 1213): rekey runs it again.
    let url = rekey::url::DbUrl::parse(&dbs.src_url(), &rekey::url::ProcessEnv).unwrap();
    let backend = rekey::backend::open(&url).unwrap();
    let mut session = backend.connect().unwrap();
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        let result = session.execute("UPDATE t SET v = 100 + SLEEP(2) WHERE id = 1");
        (result.map_err(|e| e.to_string()), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut other = c.synced(1, &dbs.source);
    other.query_drop("UPDATE t SET v = 7 WHERE id = 1").unwrap();
    let (result, took) = writer.join().unwrap();
    assert_eq!(result, Ok(1), "rekey's statement ends well");
    assert!(
        took > Duration::from_millis(2500),
        "it ran twice ({took:?})"
    );
    let v: u64 = c
        .synced(2, &dbs.source)
        .query_first("SELECT v FROM t WHERE id = 1")
        .unwrap()
        .unwrap();
    assert_eq!(v, 100, "the retried statement ran last");
}

/// A live cutover from a Galera node while the application writes on another: node 1's binlog
/// (log_slave_updates) carries node 2's writes, the cutover's position read waits for the cluster
/// (wsrep_sync_wait), and DB_FINAL ends meaning what SOURCE means.
#[test]
fn a_node_is_followed_while_the_application_writes_on_another() {
    use common::engine::Mariadb;
    use common::follow::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Some(c) = cluster() else { return };
    let dbs = live_databases(Mariadb(c.node(0).to_string()), "gfollow", 100);
    let _leftovers = Leftovers(&dbs);
    let stop = Arc::new(AtomicBool::new(false));
    let app = writer(
        Mariadb(c.node(1).to_string()),
        dbs.source.clone(),
        stop.clone(),
    );
    let mut child = spawn_follow(&dbs, &[]);
    wait_following(&dbs, &mut child);
    std::thread::sleep(std::time::Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let writes = app.join().unwrap();
    assert!(writes > 10, "the writer made only {writes} writes");
    let out = cutover(&dbs);
    assert_exit(&out, 0);
    assert_eq!(
        wait_exit(&mut child, std::time::Duration::from_secs(30)),
        Some(0),
        "{}",
        follower_output(&dbs)
    );
    assert_eq!(
        meaning(&dbs.server, &dbs.source),
        meaning(&dbs.server, &dbs.final_db),
        "DB_FINAL differs from SOURCE"
    );
}
