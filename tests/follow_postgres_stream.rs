//! PostgreSQL as the SOURCE of a live cutover, on the wal_level=logical server `scripts/live.sh`
//! starts: a snapshot copied while a writer changes SOURCE, the stream from its position replayed
//! onto the copy until both hold the same rows; TRUNCATE and ALTER TABLE stopping the stream;
//! the slot released and made again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use rekey::backend::follow::StreamRow;
use rekey::backend::{open, RowChange, StreamPosition, Value};
use rekey::url::{DbUrl, ProcessEnv};

/// The logical server's base URL, or None (said) where the live servers are not required.
fn live() -> Option<String> {
    let required = std::env::var("REKEY_REQUIRE_LIVE").as_deref() == Ok("1");
    match std::env::var("REKEY_TEST_LIVE_POSTGRES_URL") {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) if required => {
            panic!("REKEY_TEST_LIVE_POSTGRES_URL is required (REKEY_REQUIRE_LIVE=1): run scripts/live.sh up and set it")
        }
        Err(_) => {
            eprintln!("SKIPPED: REKEY_TEST_LIVE_POSTGRES_URL is not set; run scripts/live.sh up");
            None
        }
    }
}

fn client(base: &str, db: &str) -> Client {
    let mut c = Client::connect(&format!("{base}/{db}"), NoTls)
        .unwrap_or_else(|e| panic!("connect to {db}: {e}"));
    c.batch_execute("SET client_min_messages = warning; SET TimeZone = 'UTC'")
        .unwrap();
    c
}

/// A database made afresh (and the run's slot of an earlier failed test dropped).
fn fresh(base: &str, db: &str) {
    let mut c = client(base, "postgres");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
}

/// Drops a test's databases and its slot when the test ends, passed or failed.
struct Cleanup<'a>(&'a str, [&'a str; 2], &'a str);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let Ok(mut c) = Client::connect(&format!("{}/postgres", self.0), NoTls) else {
            return;
        };
        let _ = c.batch_execute(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'rekey_{}' AND NOT active",
            self.2
        ));
        for db in self.1 {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

fn drop_slot(base: &str, run_id: &str) {
    client(base, "postgres")
        .batch_execute(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'rekey_{run_id}'"
        ))
        .unwrap();
}

fn slots(base: &str, run_id: &str) -> i64 {
    client(base, "postgres")
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
            &[&format!("rekey_{run_id}")],
        )
        .unwrap()
        .get(0)
}

fn url(base: &str, db: &str, schema: Option<&str>) -> DbUrl {
    let text = match schema {
        Some(s) => format!("{base}/{db}?schema={s}"),
        None => format!("{base}/{db}"),
    };
    DbUrl::parse(&text, &ProcessEnv).unwrap()
}

fn lit(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Text(b) | Value::Blob(b) => {
            format!(
                "'{}'",
                String::from_utf8(b.clone()).unwrap().replace('\'', "''")
            )
        }
        Value::Int(i) => i.to_string(),
        Value::Real(r) => format!("'{r}'"),
    }
}

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"k" = 'v' AND ...` over the key's columns of `row`.
fn key_match(row: &StreamRow, key: &[&str]) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|k| {
            let v = rekey::backend::follow::column(row, k)
                .unwrap_or_else(|| panic!("key column {k} missing from {row:?}"));
            format!("{} = {}", q(k), lit(v))
        })
        .collect();
    parts.join(" AND ")
}

/// One decoded change as SQL on the copy (values as quoted literals of the columns' types).
fn apply_sql(schema: &str, change: &RowChange, key: &dyn Fn(&str) -> Vec<&'static str>) -> String {
    let table = format!("{}.{}", q(schema), q(change.table()));
    match change {
        RowChange::Insert { after, .. } => {
            let cols: Vec<String> = after.iter().map(|(c, _)| q(c)).collect();
            let vals: Vec<String> = after.iter().map(|(_, v)| lit(v)).collect();
            format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                cols.join(", "),
                vals.join(", ")
            )
        }
        RowChange::Update {
            table: t,
            before,
            after,
        } => {
            let set: Vec<String> = after
                .iter()
                .map(|(c, v)| format!("{} = {}", q(c), lit(v)))
                .collect();
            format!(
                "UPDATE {table} SET {} WHERE {}",
                set.join(", "),
                key_match(before, &key(t))
            )
        }
        RowChange::Delete { table: t, before } => {
            format!("DELETE FROM {table} WHERE {}", key_match(before, &key(t)))
        }
    }
}

/// Each followed table's rows, in key order, as one md5.
fn digest(c: &mut Client, schema: &str, table: &str, key: &str) -> (i64, String) {
    let sql = format!(
        "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY {key})), '') FROM {}.{} t",
        q(schema),
        q(table)
    );
    let row = c.query_one(sql.as_str(), &[]).unwrap();
    (row.get(0), row.get(1))
}

const SCHEMA: &str = "Shop";

const SOURCE_SQL: &str = r#"
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
CREATE SCHEMA "Shop";
SET search_path = "Shop";
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE parent (id bigint PRIMARY KEY, name text NOT NULL, ci public.citext DEFAULT 'MiXed');
CREATE TABLE child (id bigint PRIMARY KEY,
                    parent_id bigint REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE,
                    note text);
CREATE INDEX child_parent ON child (parent_id);
CREATE TABLE "MixedCase" ("Id" int PRIMARY KEY, "Value" text);
CREATE TABLE kinds (id int PRIMARY KEY, n numeric, f float8, ts timestamptz, iv interval,
                    b bytea, t text, j jsonb, a int[], ta text[], m mood, big text, bo boolean);
CREATE TABLE other (id serial PRIMARY KEY, at timestamptz DEFAULT now());
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
ALTER TABLE kinds ADD COLUMN pos positive DEFAULT 7;
CREATE VIEW parent_names AS SELECT p.id, p.name, count(c.id) AS children
  FROM parent p LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.id, p.name;
CREATE FUNCTION keep_value() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW."Value" := coalesce(NEW."Value", ''); RETURN NEW; END$$;
CREATE TRIGGER "MixedCase_keep" BEFORE INSERT OR UPDATE ON "MixedCase"
  FOR EACH ROW EXECUTE FUNCTION keep_value();
INSERT INTO parent SELECT i, 'parent ' || i FROM generate_series(1, 60) i;
INSERT INTO child SELECT i, (i + 1) / 2, 'child ' || i FROM generate_series(1, 120) i;
INSERT INTO "MixedCase" SELECT i, 'v''' || i FROM generate_series(1, 20) i;
INSERT INTO kinds VALUES
  (1, 123456789012345678901234567890.123456789, 1.7976931348623157e308, '2026-12-06 01:02:03.456789+05:30',
   '1 year 2 mons 3 days 04:05:06.789', '\x00ff00'::bytea, E'it''s "quoted"\nnew line\ttab é ü 🚀',
   '{"k": "v''", "n": [1, 2.5, null]}', '{1,NULL,3}', '{"a b","c''d",NULL,"e\"f"}', 'happy',
   (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 4000) i), true),
  (2, -0.000000000000000000001, -0, '-infinity', '-1 days', '\x'::bytea, '', 'null', '{}', '{}',
   'sad', 'short', false),
  (3, 'NaN', 'NaN', 'infinity', '0', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 0, 5e-324, '1999-12-31 23:59:59+00', '00:00:00.000001', '\x5c27', E'back\\slash', '[]', '{-2147483648}',
   '{""}', 'ok', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i), NULL);
"#;

/// One writer: one short transaction after another of every kind the stream must carry. Writers
/// run side by side (`n` apart in their keys), so that transactions are in progress when the
/// snapshot is taken; one that lost a deadlock is rolled back, as an application's would be.
fn write(base: &str, db: &str, n: i64, stop: &AtomicBool) -> u64 {
    let mut c = client(base, db);
    c.batch_execute("SET search_path = \"Shop\"").unwrap();
    let mut i: i64 = 0;
    let mut done = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let p = 1000 + n * 1_000_000 + i;
        let sql = match i % 8 {
            0 => format!(
                "BEGIN; INSERT INTO parent VALUES ({p}, 'new {p}'); \
                 INSERT INTO child VALUES ({p}0, {p}, 'a'), ({p}1, {p}, NULL); COMMIT;"
            ),
            1 => format!("UPDATE parent SET name = name || '''' WHERE id = {};", i % 60 + 1),
            // Cascades: the children go with their parent.
            2 => "DELETE FROM parent WHERE id = (SELECT max(parent_id) FROM child);".to_string(),
            // A key update, cascaded to the children.
            3 => "UPDATE parent SET id = id + 100000 WHERE id = (SELECT max(id) FROM parent WHERE id < 100000 AND id > 5);".to_string(),
            // The large value is left as it is: the stream says unchanged-toast-datum.
            4 => "UPDATE kinds SET n = n + 1, t = t || 'x''', iv = iv + interval '1 second' WHERE id IN (1, 4);".to_string(),
            5 => format!(
                "INSERT INTO kinds (id, n, f, b, t, j, a, ta, m, bo) VALUES ({p}, {i}.5, {i}e-300, '\\x00{:02x}', E'row\\n{i}', '{{\"i\": {i}}}', '{{{i},{i}}}', '{{\"x {i}\"}}', 'ok', {});",
                i % 256,
                i % 2 == 0
            ),
            6 => format!(
                "BEGIN; UPDATE \"MixedCase\" SET \"Value\" = \"Value\" || '!' WHERE \"Id\" = {}; \
                 INSERT INTO \"MixedCase\" VALUES ({p}, NULL); DELETE FROM \"MixedCase\" WHERE \"Id\" = {}; COMMIT;",
                i % 20 + 1,
                p - 8
            ),
            // Held open a while, so that the snapshot may find it in progress (its xip).
            _ => "BEGIN; INSERT INTO other DEFAULT VALUES; \
                  UPDATE child SET note = coalesce(note, '') || 'u' WHERE id % 7 = 3; \
                  SELECT pg_sleep(0.02); COMMIT;"
                .to_string(),
        };
        match c.batch_execute(&sql) {
            Ok(()) => done += 1,
            Err(e) => {
                let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
                assert!(
                    matches!(code.as_str(), "40P01" | "40001"),
                    "writer: {e:?}\n{sql}"
                );
                c.batch_execute("ROLLBACK").unwrap();
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    done
}

fn key_of(table: &str) -> Vec<&'static str> {
    match table {
        "MixedCase" => vec!["Id"],
        _ => vec!["id"],
    }
}

#[test]
fn the_stream_from_the_snapshot_brings_the_copy_to_sources_rows() {
    let Some(base) = live() else { return };
    let (src, copy, run_id) = ("pgfollow_a_src", "pgfollow_a_copy", "pgfollowa");
    drop_slot(&base, run_id);
    fresh(&base, src);
    fresh(&base, copy);
    let _cleanup = Cleanup(&base, [src, copy], run_id);
    client(&base, src).batch_execute(SOURCE_SQL).unwrap();
    // SOURCE's own output styles differ from the copy's: the stream's values must not depend
    // on them.
    client(&base, "postgres")
        .batch_execute(&format!(
            "ALTER DATABASE {src} SET DateStyle = 'SQL, DMY'; \
             ALTER DATABASE {src} SET IntervalStyle = 'sql_standard'; \
             ALTER DATABASE {src} SET bytea_output = 'escape'"
        ))
        .unwrap();
    let source = open(&url(&base, src, Some(SCHEMA))).unwrap();

    // The writer runs before, during and after the snapshot.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|n| {
            let (base, stop) = (base.clone(), stop.clone());
            thread::spawn(move || write(&base, src, n, &stop))
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let snap = source
        .snapshot_into(&url(&base, copy, Some(SCHEMA)), run_id)
        .unwrap();
    eprintln!(
        "snapshot in {:?}: {} / {:?}",
        started.elapsed(),
        snap.detail,
        snap.position
    );
    assert!(
        snap.position.0.contains(";snapshot="),
        "{:?}",
        snap.position
    );
    assert!(snap.rows > 200, "{}", snap.rows);
    thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    let writes: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let head = source.position_now(run_id).unwrap();
    eprintln!("writer made {writes} transactions; head {head:?}");

    // The copy has SOURCE's catalog as rekey reads it.
    let described = |u: &DbUrl| {
        let b = open(u).unwrap();
        let mut s = b.connect().unwrap();
        let mut v = serde_json::to_value(b.describe(&mut *s).unwrap()).unwrap();
        // Statistics, not schema: the copy's tables are freshly written.
        for t in v["tables"].as_array_mut().unwrap() {
            let t = t.as_object_mut().unwrap();
            t.remove("estimated_rows");
            t.remove("bytes");
        }
        serde_json::to_string_pretty(&v).unwrap()
    };
    let (want, got) = (
        described(&url(&base, src, Some(SCHEMA))),
        described(&url(&base, copy, Some(SCHEMA))),
    );
    if want != got {
        std::fs::write("/tmp/pgfollow_want.json", &want).unwrap();
        std::fs::write("/tmp/pgfollow_got.json", &got).unwrap();
        panic!("the copy's catalog differs from SOURCE's: diff /tmp/pgfollow_want.json /tmp/pgfollow_got.json");
    }
    // The copy has SOURCE's catalog: the same tables, the enum, the foreign key's actions.
    let mut dst = client(&base, copy);
    let fk: String = dst
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'child_parent_id_fkey'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(fk.contains("ON UPDATE CASCADE ON DELETE CASCADE"), "{fk}");

    // Replay, as the follower will: each transaction with DB_FINAL's triggers off.
    let tables: Vec<String> = ["parent", "child", "MixedCase", "kinds"]
        .map(String::from)
        .to_vec();
    let mut stream = source.stream_from(&snap.position, run_id, &tables).unwrap();
    let mut applied: StreamPosition = snap.position.clone();
    let (mut txns, mut changes, mut toast_kept, mut cascaded, mut key_moves) = (0, 0, 0, 0, 0);
    // Transactions that ended before the snapshot's LSN: the copy holds the ones it saw (they
    // come out empty), the stream the ones it did not.
    let (mut before_snapshot, mut before_snapshot_applied) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut in_reached, mut in_next, mut in_confirm) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    loop {
        let t0 = Instant::now();
        let done = source.reached(&applied, &head).unwrap();
        in_reached += t0.elapsed();
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream never reached {head:?}"
        );
        let t0 = Instant::now();
        let batch = stream.next(50, Duration::from_millis(500)).unwrap();
        in_next += t0.elapsed();
        for t in batch {
            let mut sql = String::from("BEGIN; SET LOCAL session_replication_role = replica;\n");
            let mut parents_deleted = 0;
            for c in &t.changes {
                let key_of_new = |after: &StreamRow| -> StreamRow {
                    after.iter().filter(|(c, _)| c == "id").cloned().collect()
                };
                match c {
                    RowChange::Update { table, after, .. }
                        if table == "kinds"
                            && rekey::backend::follow::column(after, "big").is_none() =>
                    {
                        toast_kept += 1
                    }
                    RowChange::Update {
                        table,
                        after,
                        before,
                    } if table == "parent" && *before != key_of_new(after) => key_moves += 1,
                    RowChange::Delete { table, .. } if table == "parent" => parents_deleted += 1,
                    RowChange::Delete { table, .. } if table == "child" && parents_deleted > 0 => {
                        cascaded += 1
                    }
                    _ => {}
                }
                sql.push_str(&apply_sql(SCHEMA, c, &key_of));
                sql.push_str(";\n");
                changes += 1;
            }
            sql.push_str("COMMIT;");
            dst.batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
            txns += 1;
            if t.end.0.contains(";snapshot=") {
                before_snapshot += 1;
                before_snapshot_applied += usize::from(!t.changes.is_empty());
            }
            applied = t.end.clone();
            let t0 = Instant::now();
            stream.confirm(&applied).unwrap();
            in_confirm += t0.elapsed();
        }
    }
    eprintln!(
        "replayed {txns} transactions, {changes} changes ({toast_kept} updates kept the TOAST value, {cascaded} cascaded deletes, {key_moves} key updates) up to {applied:?}; {before_snapshot} ended before the snapshot's LSN, {before_snapshot_applied} of them not seen by it"
    );
    eprintln!("time in reached {in_reached:?}, next {in_next:?}, confirm {in_confirm:?}");
    assert!(changes > 0 && toast_kept > 0 && cascaded > 0 && key_moves > 0);
    assert!(source.behind(&applied, &head).is_some());

    let mut src_c = client(&base, src);
    for (table, key) in [
        ("parent", "id"),
        ("child", "id"),
        ("MixedCase", "\"Id\""),
        ("kinds", "id"),
    ] {
        let want = digest(&mut src_c, SCHEMA, table, key);
        let got = digest(&mut dst, SCHEMA, table, key);
        assert_eq!(
            got, want,
            "table {table} differs from SOURCE after the replay"
        );
    }
    drop(stream);
    source.release(run_id).unwrap();
    assert_eq!(slots(&base, run_id), 0);
}

#[test]
fn truncate_and_alter_table_on_a_followed_table_stop_the_stream() {
    let Some(base) = live() else { return };
    let (src, copy, run_id) = ("pgfollow_b_src", "pgfollow_b_copy", "pgfollowb");
    drop_slot(&base, run_id);
    fresh(&base, src);
    fresh(&base, copy);
    let _cleanup = Cleanup(&base, [src, copy], run_id);
    let mut c = client(&base, src);
    c.batch_execute(
        "CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY, v text); \
         CREATE TABLE t3 (id int PRIMARY KEY); INSERT INTO t1 VALUES (1, 'a'); INSERT INTO t2 VALUES (1, 'b');",
    )
    .unwrap();
    let source = open(&url(&base, src, None)).unwrap();
    let snap = source
        .snapshot_into(&url(&base, copy, None), run_id)
        .unwrap();

    // ALTER TABLE: no row of it in the stream, the columns watched instead.
    let mut on_t2 = source
        .stream_from(&snap.position, run_id, &["t2".to_string()])
        .unwrap();
    c.batch_execute("ALTER TABLE t2 ADD COLUMN w int; INSERT INTO t2 VALUES (2, 'c', 3);")
        .unwrap();
    let err = on_t2.next(10, Duration::from_secs(2)).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), 3, "{text}");
    assert!(
        text.contains("table t2") && text.contains("ALTER TABLE"),
        "{text}"
    );
    assert!(text.contains("must start again"), "{text}");
    drop(on_t2);

    // TRUNCATE: the rows before it come out, then the error naming the table.
    let mut on_t1 = source
        .stream_from(
            &snap.position,
            run_id,
            &["t1".to_string(), "t3".to_string()],
        )
        .unwrap();
    // Two transactions (one simple query's statements would be one).
    c.batch_execute("INSERT INTO t1 VALUES (2, 'x')").unwrap();
    c.batch_execute("TRUNCATE t1").unwrap();
    let mut seen = 0;
    let err = loop {
        match on_t1.next(10, Duration::from_secs(2)) {
            Ok(batch) => {
                assert!(!batch.is_empty(), "the TRUNCATE never came");
                seen += batch.iter().map(|t| t.changes.len()).sum::<usize>();
            }
            Err(e) => break e,
        }
    };
    let text = err.to_string();
    assert_eq!(seen, 1, "the insert before the TRUNCATE");
    assert!(
        text.contains("table t1") && text.contains("TRUNCATE"),
        "{text}"
    );
    assert!(text.contains("must start again"), "{text}");
    drop(on_t1);
    source.release(run_id).unwrap();
}

#[test]
fn release_drops_the_slot_and_a_new_snapshot_makes_it_again() {
    let Some(base) = live() else { return };
    let (src, copy, run_id) = ("pgfollow_c_src", "pgfollow_c_copy", "pgfollowc");
    drop_slot(&base, run_id);
    fresh(&base, src);
    fresh(&base, copy);
    let _cleanup = Cleanup(&base, [src, copy], run_id);
    client(&base, src)
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    let source = open(&url(&base, src, None)).unwrap();
    let target = url(&base, copy, None);
    let first = source.snapshot_into(&target, run_id).unwrap();
    assert_eq!(first.rows, 2);
    assert_eq!(slots(&base, run_id), 1);
    // Again without a release (a resume): the slot is found again, the copy made anew.
    let again = source.snapshot_into(&target, run_id).unwrap();
    assert_eq!(again.rows, 2);
    source.release(run_id).unwrap();
    assert_eq!(slots(&base, run_id), 0);
    source.release(run_id).unwrap();
    client(&base, src)
        .batch_execute("INSERT INTO t VALUES (3)")
        .unwrap();
    let second = source.snapshot_into(&target, run_id).unwrap();
    assert_eq!(second.rows, 3);
    assert_eq!(slots(&base, run_id), 1);
    let mut stream = source
        .stream_from(&second.position, run_id, &["t".to_string()])
        .unwrap();
    assert!(stream
        .next(10, Duration::from_millis(300))
        .unwrap()
        .is_empty());
    // Nothing written since the snapshot: reached at once, though WAL moved on elsewhere.
    let now = source.position_now(run_id).unwrap();
    assert!(source.reached(&second.position, &now).unwrap(), "{now:?}");
    // A write: not reached until its transaction is applied, then reached at the next head.
    client(&base, src)
        .batch_execute("INSERT INTO t VALUES (4)")
        .unwrap();
    let now = source.position_now(run_id).unwrap();
    assert!(!source.reached(&second.position, &now).unwrap());
    let batch = stream.next(10, Duration::from_secs(5)).unwrap();
    assert_eq!(batch.len(), 1);
    assert!(batch[0].committed_at.is_some());
    assert!(source.reached(&batch[0].end, &now).unwrap());
    stream.confirm(&batch[0].end).unwrap();
    client(&base, "postgres")
        .batch_execute("CREATE TEMP TABLE moves_wal (i int)")
        .unwrap();
    let later = source.position_now(run_id).unwrap();
    assert!(source.behind(&batch[0].end, &later).unwrap() > 0);
    assert!(source.reached(&batch[0].end, &later).unwrap());
    drop(stream);
    source.release(run_id).unwrap();
    assert_eq!(slots(&base, run_id), 0);
}

#[test]
fn a_partitioned_tables_rows_come_under_its_own_name() {
    let Some(base) = live() else { return };
    let (src, copy, run_id) = ("pgfollow_d_src", "pgfollow_d_copy", "pgfollowd");
    drop_slot(&base, run_id);
    fresh(&base, src);
    fresh(&base, copy);
    let _cleanup = Cleanup(&base, [src, copy], run_id);
    let mut c = client(&base, src);
    c.batch_execute(
        "CREATE SCHEMA archive; \
         CREATE TABLE events (id int, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at); \
         CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); \
         CREATE TABLE archive.events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2025-01-01'); \
         INSERT INTO events VALUES (1, '2025-05-01', 'a');",
    )
    .unwrap();
    let source = open(&url(&base, src, None)).unwrap();
    let snap = source
        .snapshot_into(&url(&base, copy, None), run_id)
        .unwrap();
    assert_eq!(snap.rows, 1);
    let mut stream = source
        .stream_from(&snap.position, run_id, &["events".to_string()])
        .unwrap();
    c.batch_execute(
        "INSERT INTO events VALUES (2, '2010-01-01', 'old'); \
         CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
    )
    .unwrap();
    // A partition made while following, and a row moved between partitions.
    c.batch_execute("INSERT INTO events VALUES (3, '2026-02-01', 'new')")
        .unwrap();
    c.batch_execute("UPDATE events SET at = '2026-03-01' WHERE id = 1")
        .unwrap();
    let mut changes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while changes.len() < 4 && Instant::now() < deadline {
        for t in stream.next(10, Duration::from_millis(500)).unwrap() {
            changes.extend(t.changes);
        }
    }
    let shown: Vec<String> = changes
        .iter()
        .map(|c| match c {
            RowChange::Insert { table, after } => format!("insert {table} {}", lit(&after[0].1)),
            RowChange::Update { table, before, .. } => {
                format!("update {table} {}", lit(&before[0].1))
            }
            RowChange::Delete { table, before } => format!("delete {table} {}", lit(&before[0].1)),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "insert events '2'",
            "insert events '3'",
            "delete events '1'",
            "insert events '1'"
        ]
    );
    drop(stream);
    source.release(run_id).unwrap();
}
