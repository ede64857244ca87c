//! MariaDB as the SOURCE of a live cutover, on the binlog server `scripts/live.sh` starts
//! (REKEY_TEST_LIVE_MYSQL_URL): the snapshot taken while a writer keeps changing SOURCE, then
//! the binlog from the snapshot's position replayed into the copy by this test must give
//! SOURCE's rows exactly (every type, cascades left to the copy's foreign keys); schema changes
//! stop the stream; positions compare.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};
use rekey::backend::{open, ChangeStream, Follow, RowChange, SourceTransaction, Value};
use rekey::url::{DbUrl, ProcessEnv};

/// The live server, or None (said) when it is not configured and not required.
fn live() -> Option<String> {
    let required = std::env::var("REKEY_REQUIRE_LIVE").is_ok_and(|v| v == "1");
    match std::env::var("REKEY_TEST_LIVE_MYSQL_URL") {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) if required => {
            panic!("REKEY_TEST_LIVE_MYSQL_URL is required: run scripts/live.sh up and set it")
        }
        Err(_) => {
            eprintln!("SKIPPED: REKEY_TEST_LIVE_MYSQL_URL is unset; run scripts/live.sh up");
            None
        }
    }
}

fn conn(server: &str, db: Option<&str>) -> Conn {
    let base = Opts::from_url(&format!("{server}/")).expect("a valid test server URL");
    let mut c = Conn::new(
        OptsBuilder::from_opts(base)
            .db_name(db)
            .prefer_socket(false),
    )
    .expect("connect to the live server");
    c.query_drop("SET NAMES utf8mb4, time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO'")
        .unwrap();
    c
}

fn url(server: &str, db: &str) -> DbUrl {
    DbUrl::parse(&format!("{server}/{db}"), &ProcessEnv).unwrap()
}

/// Databases of one test, dropped at its end.
struct Dbs {
    server: String,
    names: Vec<String>,
}

impl Dbs {
    fn new(server: &str, names: &[&str]) -> Dbs {
        let names: Vec<String> = names
            .iter()
            .map(|n| format!("hmf_{n}_{}", std::process::id()))
            .collect();
        let mut c = conn(server, None);
        for n in &names {
            c.query_drop(format!("DROP DATABASE IF EXISTS `{n}`"))
                .unwrap();
            c.query_drop(format!("CREATE DATABASE `{n}`")).unwrap();
        }
        Dbs {
            server: server.into(),
            names,
        }
    }
}

impl Drop for Dbs {
    fn drop(&mut self) {
        let mut c = conn(&self.server, None);
        for n in &self.names {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{n}`"));
        }
    }
}

/// every_type's row whose decoded values are checked one by one: not NULL (`% 7`), YEAR 0000
/// (`% 5`), ENUM 'a' and SET 'y,z'.
const KNOWN: u64 = 999_990;

const SCHEMA: &str = r#"
CREATE TABLE parent (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50) NOT NULL DEFAULT 'p',
  CONSTRAINT name_not_empty CHECK (name <> ''));
CREATE TABLE child (id INT PRIMARY KEY AUTO_INCREMENT, parent_id INT NOT NULL, note VARCHAR(50),
  KEY note_idx (note),
  CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE every_type (
  id BIGINT UNSIGNED PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dc DECIMAL(24,6), dc0 DECIMAL(5,0),
  dt DATE, dtm DATETIME(6), dtm0 DATETIME, tm TIME(6), tm0 TIME, yr YEAR,
  ts TIMESTAMP(6) NULL DEFAULT NULL, ts0 TIMESTAMP NULL DEFAULT NULL,
  vc VARCHAR(100) CHARACTER SET utf8mb4, vl VARCHAR(100) CHARACTER SET latin1,
  ch CHAR(10), bn BINARY(8), vb VARBINARY(20),
  tx TEXT, txl TEXT CHARACTER SET latin1, bl BLOB, js JSON,
  bt BIT(10), bt1 BIT(1), en ENUM('a','b','c'), st SET('x','y','z'), g GEOMETRY NULL,
  gen INT AS (i + 1) VIRTUAL
);
CREATE VIEW child_names AS SELECT c.id, p.name FROM child c JOIN parent p ON p.id = c.parent_id;
CREATE TRIGGER child_note BEFORE INSERT ON child FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'none');
CREATE PROCEDURE count_children(OUT n INT) SELECT COUNT(*) INTO n FROM child
"#;

/// Row `n` of every_type as a VALUES list: every type, NULLs every seventh row.
fn every_row(n: u64) -> String {
    if n % 7 == 3 {
        return format!("({n}{}, DEFAULT)", ", NULL".repeat(36));
    }
    let k = n as i64;
    format!(
        "({n}, {ti}, {tiu}, {si}, 65535, -8388608, 16777215, {i}, 4294967295, {bi}, 18446744073709551615, \
         {f}, {d:e}, '-12345678901234.{frac:06}', 99999, \
         '2024-02-29', '2024-02-29 23:59:58.{frac:06}', '1000-01-01 00:00:00', '-{h}:30:15.{frac:06}', '838:59:59', {yr}, \
         '2024-02-29 23:59:58.{frac:06}', '2038-01-19 03:14:07', \
         CONCAT('é😀', CHAR(0), 'z{n}'), CONCAT(_latin1 x'e9', 'caf', {n}), 'ch{n}', x'00ff{b:02x}', x'{w:04x}00', \
         REPEAT('t', {rep}), _latin1 x'c4d6dcdf', x'000102fffe', '{{\"a\": [1, 2.5, \"x{n}\"]}}', \
         b'1010101010', b'{bit}', '{en}', '{st}', ST_GeomFromText('POINT({n} 2)'), DEFAULT)",
        ti = -128 + k % 200,
        tiu = 255 - (n % 100),
        si = -32768 + k % 60_000,
        i = -2_147_483_648 + k,
        bi = i64::MIN + k,
        f = 0.1 + n as f32,
        d = 1.0 / (3.0 + n as f64),
        frac = n * 37 % 1_000_000,
        h = 25 + n % 800,
        yr = if n.is_multiple_of(5) { "0000".to_string() } else { (1901 + n % 250).to_string() },
        bit = n % 2,
        b = n % 256,
        rep = n % 3000,
        w = n % 65536,
        en = ["a", "b", "c"][(n % 3) as usize],
        st = ["", "x", "y,z", "x,y,z"][(n % 4) as usize],
    )
}

/// Keeps changing SOURCE until told to stop: parents and children in and out (cascades),
/// every_type rows inserted, updated column by column and deleted, some in transactions.
fn writer(server: String, db: String, stop: Arc<AtomicBool>) -> u64 {
    let mut c = conn(&server, Some(&db));
    let mut n: u64 = 1000;
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let step = [
            format!("INSERT INTO parent (name) VALUES ('w{n}')"),
            "INSERT INTO child (parent_id, note) SELECT MAX(id), NULL FROM parent".to_string(),
            format!("INSERT INTO every_type VALUES {}", every_row(n)),
            format!("UPDATE every_type SET vc = CONCAT(vc, 'u'), d = d * 3, ts = ts + INTERVAL 1 SECOND, en = 'c', st = 'x,y' WHERE id = {}", n - 1),
            "DELETE FROM parent WHERE id = (SELECT MIN(id) FROM (SELECT id FROM parent) p)".to_string(),
            format!("UPDATE child SET note = 'n{n}' WHERE id % 7 = {}", n % 7),
            format!("DELETE FROM every_type WHERE id = {}", n - 2),
        ];
        let tx = n.is_multiple_of(3);
        if tx {
            c.query_drop("START TRANSACTION").unwrap();
        }
        for s in &step {
            c.query_drop(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            ops += 1;
        }
        if tx {
            c.query_drop("COMMIT").unwrap();
        }
    }
    ops
}

fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Real(r) => format!("{r:e}"),
        Value::Text(t) => format!(
            "'{}'",
            String::from_utf8(t.clone())
                .unwrap()
                .replace('\\', "\\\\")
                .replace('\'', "''")
        ),
        Value::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("X'{hex}'")
        }
    }
}

/// Applies one transaction to the copy the way the follower will: foreign keys on, so the
/// copy's ON DELETE CASCADE does what SOURCE's did (its binlog leaves those rows out).
fn apply(c: &mut Conn, t: &SourceTransaction) {
    c.query_drop("START TRANSACTION").unwrap();
    for change in &t.changes {
        let (sql, must_touch) = match change {
            RowChange::Insert { table, after } => (
                format!(
                    "INSERT INTO `{table}` ({}) VALUES ({})",
                    after
                        .iter()
                        .map(|(c, _)| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    after
                        .iter()
                        .map(|(_, v)| literal(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                true,
            ),
            RowChange::Update {
                table,
                before,
                after,
            } => (
                format!(
                    "UPDATE `{table}` SET {} WHERE id = {}",
                    after
                        .iter()
                        .map(|(c, v)| format!("`{c}` = {}", literal(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    literal(&rekey_column(before, "id"))
                ),
                false,
            ),
            RowChange::Delete { table, before } => (
                format!(
                    "DELETE FROM `{table}` WHERE id = {}",
                    literal(&rekey_column(before, "id"))
                ),
                true,
            ),
        };
        c.query_drop(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        if must_touch {
            assert_eq!(c.affected_rows(), 1, "{sql} touched no row");
        }
    }
    c.query_drop("COMMIT").unwrap();
}

fn rekey_column(row: &rekey::backend::StreamRow, name: &str) -> Value {
    rekey::backend::follow::column(row, name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {row:?}"))
}

/// Every row of `table`, each column in the binary protocol's exact form (strings as bytes,
/// FLOAT and DOUBLE as themselves, times as their parts), and in hex.
fn rows(c: &mut Conn, table: &str) -> Vec<Vec<mysql::Value>> {
    let cols: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (table,),
        )
        .unwrap();
    let list: Vec<String> = cols.iter().map(|c| format!("`{c}`, HEX(`{c}`)")).collect();
    let rows: Vec<mysql::Row> = c
        .exec(
            format!("SELECT {} FROM `{table}` ORDER BY id", list.join(", ")),
            (),
        )
        .unwrap();
    rows.into_iter().map(|r| r.unwrap()).collect()
}

fn drain(
    backend: &dyn Follow,
    stream: &mut Box<dyn ChangeStream>,
    from: &rekey::backend::StreamPosition,
    head: &rekey::backend::StreamPosition,
) -> Vec<SourceTransaction> {
    let mut out = Vec::new();
    let mut at = from.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !backend.reached(&at, head).unwrap() {
        assert!(
            Instant::now() < deadline,
            "the stream never reached {head:?} (at {at:?})"
        );
        for t in stream.next(100, Duration::from_secs(2)).unwrap() {
            at = t.end.clone();
            out.push(t);
        }
    }
    out
}

#[test]
fn a_snapshot_under_writes_plus_its_stream_gives_source_exactly() {
    let Some(server) = live() else { return };
    let dbs = Dbs::new(&server, &["src", "copy", "other"]);
    let (src, copy, other) = (&dbs.names[0], &dbs.names[1], &dbs.names[2]);
    let mut c = conn(&server, Some(src));
    for s in SCHEMA.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        c.query_drop(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    for n in 1..=40u64 {
        c.query_drop(format!("INSERT INTO parent (name) VALUES ('p{n}')"))
            .unwrap();
        c.query_drop(format!(
            "INSERT INTO child (parent_id, note) VALUES ({n}, 'c{n}'), ({n}, NULL)"
        ))
        .unwrap();
        c.query_drop(format!("INSERT INTO every_type VALUES {}", every_row(n)))
            .unwrap();
    }

    let backend = open(&url(&server, src)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let w = {
        let (server, src, stop) = (server.clone(), src.clone(), stop.clone());
        thread::spawn(move || writer(server, src, stop))
    };
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let snap = backend
        .snapshot_into(&url(&server, copy), "hmf-snap")
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let ops = w.join().unwrap();
    eprintln!(
        "snapshot {:?} in {took:?}: {}; writer made {ops} changes",
        snap.position, snap.detail
    );
    assert!(snap.detail.contains("no lock"), "{}", snap.detail);
    let copy_rows: u64 = ["parent", "child", "every_type"]
        .iter()
        .map(|t| {
            conn(&server, Some(copy))
                .query_first::<u64, _>(format!("SELECT COUNT(*) FROM `{t}`"))
                .unwrap()
                .unwrap()
        })
        .sum();
    assert_eq!(snap.rows, copy_rows);

    // The copy's schema is SOURCE's: tables, keys, foreign keys, CHECKs, defaults, views,
    // triggers, routines (AUTO_INCREMENT counters moved on with the writer).
    let mut cc = conn(&server, Some(copy));
    for t in ["parent", "child", "every_type"] {
        let strip = |s: String| {
            s.split_whitespace()
                .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let a: (String, String) = c
            .query_first(format!("SHOW CREATE TABLE `{t}`"))
            .unwrap()
            .unwrap();
        let b: (String, String) = cc
            .query_first(format!("SHOW CREATE TABLE `{t}`"))
            .unwrap()
            .unwrap();
        assert_eq!(strip(a.1), strip(b.1), "{t}");
    }
    let objects = "SELECT (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()), (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()), (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE())";
    let want: (u64, u64, u64) = c.query_first(objects).unwrap().unwrap();
    assert_eq!(want, (1, 1, 1));
    assert_eq!(
        cc.query_first::<(u64, u64, u64), _>(objects)
            .unwrap()
            .unwrap(),
        want
    );

    // A known row after the writer: each value's form in the stream.
    c.query_drop(format!(
        "INSERT INTO every_type VALUES {}",
        every_row(KNOWN)
    ))
    .unwrap();
    // Another database's DDL, on a table named like a followed one, moves the position but
    // stops nothing.
    let mut o = conn(&server, Some(other));
    o.query_drop("CREATE TABLE parent (id INT PRIMARY KEY)")
        .unwrap();
    o.query_drop("INSERT INTO parent VALUES (1)").unwrap();

    let head = backend.position_now("hmf-snap").unwrap();
    assert!(!backend.reached(&snap.position, &head).unwrap());
    assert!(backend.reached(&head, &snap.position).unwrap());
    assert!(backend.behind(&snap.position, &head).unwrap() > 0);

    let tables: Vec<String> = ["parent", "child", "every_type"].map(String::from).to_vec();
    let mut stream = backend
        .stream_from(&snap.position, "hmf-snap", &tables)
        .unwrap();
    let txs = drain(backend.as_ref(), &mut stream, &snap.position, &head);
    assert!(
        txs.iter().any(|t| !t.changes.is_empty()),
        "no changes after the snapshot"
    );
    assert!(txs
        .iter()
        .all(|t| t.committed_at.is_some_and(|s| s > 1_700_000_000)));
    assert!(txs
        .iter()
        .flat_map(|t| &t.changes)
        .all(|ch| tables.iter().any(|t| t == ch.table())));

    let known = txs
        .iter()
        .flat_map(|t| &t.changes)
        .find_map(|ch| match ch {
            RowChange::Insert { table, after }
                if table == "every_type"
                    && rekey_column(after, "id") == Value::Int(KNOWN as i64) =>
            {
                Some(after.clone())
            }
            _ => None,
        })
        .expect("the known row's insert");
    let got: HashMap<&str, &Value> = known.iter().map(|(c, v)| (c.as_str(), v)).collect();
    let text = |s: &str| Value::Text(s.as_bytes().to_vec());
    assert_eq!(got["biu"], &text("18446744073709551615"));
    assert_eq!(got["iu"], &Value::Int(4_294_967_295));
    assert_eq!(got["miu"], &Value::Int(16_777_215));
    assert_eq!(got["mi"], &Value::Int(-8_388_608));
    assert_eq!(got["bi"], &Value::Int(i64::MIN + KNOWN as i64));
    assert_eq!(got["tm"], &text("-815:30:15.999630"));
    assert_eq!(got["tm0"], &text("838:59:59"));
    assert_eq!(got["dtm"], &text("2024-02-29 23:59:58.999630"));
    assert_eq!(got["ts"], &text("2024-02-29 23:59:58.999630"));
    assert_eq!(got["ts0"], &text("2038-01-19 03:14:07"));
    assert_eq!(got["dtm0"], &text("1000-01-01 00:00:00"));
    assert_eq!(got["dt"], &text("2024-02-29"));
    assert_eq!(got["dc"], &text("-12345678901234.999630"));
    assert_eq!(got["dc0"], &text("99999"));
    assert_eq!(got["yr"], &text("0000"));
    assert_eq!(got["d"], &Value::Real(1.0 / (3.0 + KNOWN as f64)));
    assert_eq!(got["f"], &Value::Real(f64::from(0.1f32 + KNOWN as f32)));
    assert_eq!(got["vc"], &Value::Blob("é😀\0z999990".as_bytes().to_vec()));
    assert_eq!(got["vl"], &Value::Blob(b"\xe9caf999990".to_vec()));
    assert_eq!(got["txl"], &Value::Blob(vec![0xc4, 0xd6, 0xdc, 0xdf]));
    assert_eq!(
        got["bn"],
        &Value::Blob(vec![0x00, 0xff, (KNOWN % 256) as u8])
    );
    assert_eq!(got["bt"], &Value::Blob(vec![0x02, 0xaa]));
    assert_eq!(got["bt1"], &Value::Blob(vec![0x00]));
    assert_eq!(
        got["js"],
        &Value::Blob(br#"{"a": [1, 2.5, "x999990"]}"#.to_vec())
    );
    assert_eq!(got["en"], &Value::Int(1));
    assert_eq!(got["st"], &Value::Int(0b110));
    assert!(
        !got.contains_key("gen"),
        "a generated column is left to DB_FINAL"
    );

    let mut apply_conn = conn(&server, Some(copy));
    for t in &txs {
        apply(&mut apply_conn, t);
    }
    for t in &tables {
        let (a, b) = (rows(&mut c, t), rows(&mut cc, t));
        assert_eq!(a.len(), b.len(), "{t}: row counts");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{t}");
        }
    }

    // The replay's own writes (another database) come as transactions without changes; then
    // with nothing new, `next` waits its time and returns nothing.
    for _ in 0..50 {
        let batch = stream.next(1000, Duration::from_millis(500)).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.iter().all(|t| t.changes.is_empty()), "{batch:?}");
    }
    let t0 = Instant::now();
    assert!(stream
        .next(10, Duration::from_millis(300))
        .unwrap()
        .is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(290));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // Idle longer than SOURCE's heartbeat period: the stream stays up.
    let idle = stream.next(10, Duration::from_millis(2500)).unwrap();
    assert!(idle.iter().all(|t| t.changes.is_empty()), "{idle:?}");

    // A schema change on SOURCE stops the stream, after the transactions before it.
    c.query_drop("INSERT INTO parent (name) VALUES ('before alter')")
        .unwrap();
    c.query_drop("ALTER TABLE every_type ADD COLUMN extra INT")
        .unwrap();
    let mut seen = Vec::new();
    let err = loop {
        match stream.next(10, Duration::from_secs(5)) {
            Ok(batch) => {
                assert!(!batch.is_empty(), "no error after the ALTER");
                seen.extend(batch);
            }
            Err(e) => break e,
        }
    };
    assert!(seen
        .iter()
        .flat_map(|t| &t.changes)
        .any(|ch| ch.table() == "parent"));
    let msg = err.to_string();
    assert!(
        msg.contains("ALTER TABLE every_type ADD COLUMN extra INT"),
        "{msg}"
    );
    assert!(msg.contains("table every_type"), "{msg}");
    assert!(msg.contains("start the live cutover again"), "{msg}");
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn a_truncate_stops_the_stream_and_other_tables_only_move_it() {
    let Some(server) = live() else { return };
    let dbs = Dbs::new(&server, &["trunc"]);
    let src = &dbs.names[0];
    let mut c = conn(&server, Some(src));
    c.query_drop("CREATE TABLE kept (id INT PRIMARY KEY, v VARCHAR(5))")
        .unwrap();
    c.query_drop("CREATE TABLE unfollowed (id INT PRIMARY KEY)")
        .unwrap();
    let backend = open(&url(&server, src)).unwrap();
    let from = backend.position_now("hmf-trunc").unwrap();
    c.query_drop("INSERT INTO unfollowed VALUES (1)").unwrap();
    c.query_drop("INSERT INTO kept VALUES (1, 'a')").unwrap();
    // A new binlog file in between: the stream follows the Rotate into it.
    c.query_drop("FLUSH BINARY LOGS").unwrap();
    c.query_drop("INSERT INTO kept VALUES (2, 'b')").unwrap();
    c.query_drop("TRUNCATE TABLE kept").unwrap();
    let mut stream = backend
        .stream_from(&from, "hmf-trunc", &["kept".to_string()])
        .unwrap();
    let mut seen = Vec::new();
    let err = loop {
        match stream.next(10, Duration::from_secs(5)) {
            Ok(batch) => {
                assert!(!batch.is_empty(), "no error after the TRUNCATE");
                seen.extend(batch);
            }
            Err(e) => break e,
        }
    };
    // The unfollowed table's transaction (and other tests' on this server) come without
    // changes, and move the position.
    let with: Vec<&SourceTransaction> = seen.iter().filter(|t| !t.changes.is_empty()).collect();
    assert_eq!(with.len(), 2, "{seen:?}");
    assert!(seen[0].changes.is_empty(), "{seen:?}");
    assert!(backend.reached(&with[0].end, &seen[0].end).unwrap());
    assert!(!backend.reached(&seen[0].end, &with[0].end).unwrap());
    let file = |t: &SourceTransaction| t.end.0.split(':').next().unwrap().to_string();
    assert_ne!(file(with[0]), file(with[1]), "{seen:?}");
    assert!(backend.reached(&with[1].end, &with[0].end).unwrap());
    assert!(!backend.reached(&with[0].end, &with[1].end).unwrap());
    assert!(backend
        .behind(&seen[0].end, &with[1].end)
        .is_some_and(|b| b > 0));
    let row = |id: i64, v: &[u8]| {
        vec![RowChange::Insert {
            table: "kept".into(),
            after: vec![
                ("id".into(), Value::Int(id)),
                ("v".into(), Value::Blob(v.to_vec())),
            ],
        }]
    };
    assert_eq!(with[0].changes, row(1, b"a"));
    assert_eq!(with[1].changes, row(2, b"b"));
    // Resuming from a transaction's end gives what came after it, across the file change.
    let mut again = backend
        .stream_from(&with[0].end, "hmf-trunc-2", &["kept".to_string()])
        .unwrap();
    let mut later = Vec::new();
    while let Ok(batch) = again.next(10, Duration::from_secs(5)) {
        assert!(!batch.is_empty(), "no error after the TRUNCATE");
        later.extend(batch);
    }
    let changed: Vec<&SourceTransaction> = later.iter().filter(|t| !t.changes.is_empty()).collect();
    assert_eq!(changed.len(), 1, "{later:?}");
    assert_eq!(changed[0].changes, row(2, b"b"));
    let msg = err.to_string();
    assert!(msg.contains("TRUNCATE TABLE kept"), "{msg}");
    // A position the binlog no longer has.
    let gone = rekey::backend::StreamPosition("binlog.999999:4".into());
    let mut stream = backend
        .stream_from(&gone, "hmf-trunc-3", &["kept".to_string()])
        .unwrap();
    let err = stream.next(10, Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("1236"), "{err}");
    assert!(err.to_string().contains("purged"), "{err}");
    assert_eq!(err.exit_code(), 3);
    assert!(msg.contains("table kept"), "{msg}");
}

#[test]
fn the_snapshot_lands_on_another_server_as_it_is() {
    let Some(server) = live() else { return };
    let Ok(other_server) = std::env::var("REKEY_TEST_MYSQL_URL") else {
        eprintln!("SKIPPED: REKEY_TEST_MYSQL_URL is unset (the copy's server)");
        return;
    };
    let other_server = other_server.trim_end_matches('/').to_string();
    let src_dbs = Dbs::new(&server, &["xsrc"]);
    let copy_dbs = Dbs::new(&other_server, &["xcopy"]);
    let (src, copy) = (&src_dbs.names[0], &copy_dbs.names[0]);
    let mut c = conn(&server, Some(src));
    for s in SCHEMA.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        c.query_drop(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    for n in 1..=30u64 {
        c.query_drop(format!("INSERT INTO parent (name) VALUES ('p{n}')"))
            .unwrap();
        c.query_drop(format!("INSERT INTO child (parent_id) VALUES ({n})"))
            .unwrap();
        c.query_drop(format!("INSERT INTO every_type VALUES {}", every_row(n)))
            .unwrap();
    }
    let backend = open(&url(&server, src)).unwrap();
    // A write statement running for 3 s: FLUSH TABLES WITH READ LOCK waits for it (measured:
    // `mariadb-dump --lock-all-tables` took 2.5 s), the consistent snapshot's position does not.
    let busy = {
        let (server, src) = (server.clone(), src.clone());
        thread::spawn(move || {
            conn(&server, Some(&src))
                .query_drop(
                    "UPDATE parent SET name = CONCAT(name, 'x') WHERE id = 1 AND SLEEP(3) = 0",
                )
                .unwrap()
        })
    };
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let snap = backend
        .snapshot_into(&url(&other_server, copy), "hmf-x")
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    busy.join().unwrap();
    assert!(
        took < Duration::from_secs(2),
        "the snapshot waited {took:?}"
    );
    assert_eq!(snap.rows, 90);
    // The update committed after the snapshot: the copy has the row as it was.
    c.query_drop("UPDATE parent SET name = 'p1' WHERE id = 1")
        .unwrap();
    let mut cc = conn(&other_server, Some(copy));
    for t in ["parent", "child", "every_type"] {
        assert_eq!(rows(&mut c, t), rows(&mut cc, t), "{t}");
        let a: (String, String) = c
            .query_first(format!("SHOW CREATE TABLE `{t}`"))
            .unwrap()
            .unwrap();
        let b: (String, String) = cc
            .query_first(format!("SHOW CREATE TABLE `{t}`"))
            .unwrap()
            .unwrap();
        assert_eq!(a.1, b.1, "{t}");
    }
    // A missing database on the target is the client's error, named.
    let err = backend
        .snapshot_into(&url(&other_server, "hmf_no_such_db"), "hmf-x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("hmf_no_such_db"), "{err}");
    assert!(err.contains("Unknown database"), "{err}");
}

#[test]
fn an_account_that_cannot_read_routines_is_told_and_a_quoted_password_goes_through_the_option_file()
{
    let Some(server) = live() else { return };
    let dbs = Dbs::new(&server, &["acct", "acct_copy"]);
    let (src, copy) = (&dbs.names[0], &dbs.names[1]);
    let user = format!("hmf_ro_{}", std::process::id());
    let password = r#"p"w\x 'y"#;
    let _drop_user = DropUser(server.clone(), user.clone());
    let mut root = conn(&server, Some(src));
    root.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .unwrap();
    root.query_drop("INSERT INTO t VALUES (1), (2)").unwrap();
    root.query_drop("CREATE PROCEDURE pr() SELECT 1").unwrap();
    root.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
        .unwrap();
    let literal = password.replace('\\', "\\\\").replace('\'', "\\'");
    root.query_drop(format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY '{literal}'"
    ))
    .unwrap();
    for grant in [
        format!("GRANT SELECT, SHOW VIEW, TRIGGER ON `{src}`.* TO '{user}'@'%'"),
        format!("GRANT ALL ON `{copy}`.* TO '{user}'@'%'"),
        format!("GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO '{user}'@'%'"),
    ] {
        root.query_drop(grant).unwrap();
    }
    let as_user = |db: &str| {
        let mut u = url(&server, db);
        u.user = Some(user.clone());
        u.password = Some(password.into());
        u
    };
    let backend = open(&as_user(src)).unwrap();
    let err = backend
        .snapshot_into(&as_user(copy), "hmf-acct")
        .unwrap_err()
        .to_string();
    assert!(err.contains("GRANT SELECT ON mysql.proc"), "{err}");
    root.query_drop(format!("GRANT SELECT ON mysql.proc TO '{user}'@'%'"))
        .unwrap();
    // The routine keeps its DEFINER (root): loading it takes SET USER.
    let err = backend
        .snapshot_into(&as_user(copy), "hmf-acct")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ERROR 1227"), "{err}");
    assert!(err.contains("needs SET USER"), "{err}");
    root.query_drop(format!("GRANT SET USER ON *.* TO '{user}'@'%'"))
        .unwrap();
    let snap = backend
        .snapshot_into(&as_user(copy), "hmf-acct")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.rows, 2);
    let n: u64 = conn(&server, Some(copy))
        .query_first(
            "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
        )
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
}

/// Drops a test account when the test ends, passed or not.
struct DropUser(String, String);

impl Drop for DropUser {
    fn drop(&mut self) {
        let _ = conn(&self.0, None).query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.1));
    }
}
