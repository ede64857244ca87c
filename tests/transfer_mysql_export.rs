//! MariaDB as the SOURCE of a move to another engine (issue 24): the shapes fixture's columns in
//! portable terms, what it holds that cannot move (zero bytes, zero dates), and its rows read as
//! exact cells, through the library's `Export` half against the real server.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::*;
use mysql::prelude::Queryable;
use rekey::backend::transfer::{BlockerKind, Cell, Portable, PortableColumn};
use rekey::backend::Backend;
use rekey::model::Table;
use rekey::url::{DbUrl, Engine, ProcessEnv};

const SHAPES: &str = include_str!("../fixtures/shapes/mysql/source.sql");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A throwaway database holding a fixture, dropped at the end of the test.
struct Db {
    server: String,
    name: String,
}

impl Db {
    /// A new database loaded with `sql` (its TIMESTAMPs written in UTC).
    fn with(server: &str, tag: &str, sql: &str) -> Db {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("hmy_{tag}_{}_{n}", std::process::id());
        let mut c = conn(server, None);
        c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .unwrap();
        c.query_drop(format!(
            "CREATE DATABASE `{name}` DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci"
        ))
        .unwrap();
        load_sql(server, &name, &format!("SET time_zone = '+00:00';\n{sql}"));
        Db {
            server: server.to_string(),
            name,
        }
    }

    fn backend(&self) -> Arc<dyn Backend> {
        let url = DbUrl::parse(&format!("{}/{}", self.server, self.name), &ProcessEnv).unwrap();
        rekey::backend::open(&url).unwrap()
    }

    fn table(&self, backend: &Arc<dyn Backend>, name: &str) -> Table {
        let mut session = backend.connect().unwrap();
        let schema = backend.describe(&mut *session).unwrap();
        schema.table(name).unwrap().clone()
    }

    /// Takes the zero byte out of `val.s` (what the blocker's advice says to do in SOURCE).
    fn without_zero_byte(&self) {
        conn(&self.server, Some(&self.name))
            .query_drop(
                "UPDATE val SET s = REPLACE(s, CHAR(0), '') WHERE s LIKE CONCAT('%', CHAR(0), '%')",
            )
            .unwrap();
    }

    /// The ids of `val` rows matching `condition`, as text.
    fn ids(&self, condition: &str) -> Vec<String> {
        conn(&self.server, Some(&self.name))
            .query::<u64, _>(format!("SELECT id FROM val WHERE {condition} ORDER BY id"))
            .unwrap()
            .into_iter()
            .map(|i| i.to_string())
            .collect()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = mysql::Conn::new(opts(&self.server, None)) {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

fn shapes(tag: &str) -> Option<(Db, Arc<dyn Backend>, Table)> {
    let server = server()?;
    let db = Db::with(&server, tag, SHAPES);
    let backend = db.backend();
    let val = db.table(&backend, "val");
    Some((db, backend, val))
}

/// Every row of `table` as cells, by column name.
fn export(
    backend: &Arc<dyn Backend>,
    table: &Table,
    columns: &[PortableColumn],
    zero_dates_null: bool,
) -> rekey::error::Result<Vec<BTreeMap<String, Cell>>> {
    let mut rows = Vec::new();
    let n = backend.export_rows(table, columns, zero_dates_null, &mut |cells| {
        assert_eq!(cells.len(), columns.len());
        rows.push(
            columns
                .iter()
                .map(|c| c.name.clone())
                .zip(cells)
                .collect::<BTreeMap<_, _>>(),
        );
        Ok(())
    })?;
    assert_eq!(n as usize, rows.len());
    Ok(rows)
}

/// The non-NULL cells of one column, in row order.
fn column(rows: &[BTreeMap<String, Cell>], name: &str) -> Vec<Cell> {
    rows.iter()
        .map(|r| r[name].clone())
        .filter(|c| *c != Cell::Null)
        .collect()
}

#[test]
fn mariadb_exports_to_postgresql_only() {
    let Some((_db, backend, _)) = shapes("to") else {
        return;
    };
    assert!(backend.exports_to(Engine::Postgres));
    assert!(!backend.exports_to(Engine::Mysql));
    assert!(!backend.exports_to(Engine::Sqlite));
}

#[test]
fn every_column_of_val_maps_as_decided() {
    let Some((_db, backend, val)) = shapes("types") else {
        return;
    };
    let columns = backend.portable_columns(&val).unwrap();
    let text = |length, fixed| Portable::Text { length, fixed };
    let bytes = |length| Portable::Bytes {
        length,
        fixed: false,
    };
    use Portable::*;
    let expected: Vec<(&str, Portable, Vec<Portable>)> = vec![
        (
            "id",
            Integer {
                bits: 32,
                unsigned: false,
            },
            vec![],
        ),
        ("s", text(Some(200), false), vec![]),
        ("t", text(None, false), vec![]),
        ("l1", text(Some(50), false), vec![]),
        ("b", bytes(None), vec![]),
        ("vb", bytes(Some(300)), vec![]),
        (
            "d65",
            Decimal {
                precision: Some(65),
                scale: Some(30),
            },
            vec![],
        ),
        ("dbl", Float { bits: 64 }, vec![]),
        ("flt", Float { bits: 32 }, vec![]),
        ("dt", Date, vec![]),
        (
            "dtm",
            DateTime { fraction: 6 },
            vec![Timestamp { fraction: 6 }],
        ),
        ("ts", Timestamp { fraction: 6 }, vec![]),
        ("tm", Duration { fraction: 0 }, vec![]),
        ("yr", Year, vec![]),
        ("bt", Bits { width: 12 }, vec![]),
        ("b1", Bits { width: 1 }, vec![Boolean]),
        (
            "en",
            Enum {
                values: vec!["".into(), "a".into(), "b c".into()],
            },
            vec![],
        ),
        (
            "st",
            Set {
                values: vec!["x".into(), "y".into(), "z".into()],
            },
            vec![],
        ),
        ("js", Json, vec![]),
        ("geo", bytes(None), vec![]),
        ("pt", bytes(None), vec![]),
        (
            "zdt",
            DateTime { fraction: 0 },
            vec![Timestamp { fraction: 0 }],
        ),
        ("zd", Date, vec![]),
    ];
    let got: Vec<(&str, Portable, Vec<Portable>)> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.clone(), c.alternatives.clone()))
        .collect();
    assert_eq!(got, expected);
    let id = &columns[0];
    assert!(id.identity && !id.nullable && id.default.is_none());
    assert!(columns[1..].iter().all(|c| c.nullable && !c.identity));
    // `ts TIMESTAMP(6) NULL DEFAULT NULL`: no default at all.
    assert!(columns
        .iter()
        .all(|c| c.default.is_none() && c.untranslated_default.is_none()));
}

#[test]
fn generated_columns_are_left_out_and_invisible_ones_kept() {
    let Some((db, backend, _)) = shapes("gen") else {
        return;
    };
    let gen = db.table(&backend, "gen");
    let columns = backend.portable_columns(&gen).unwrap();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "price", "qty", "secret", "node_id"]);
    let rows = export(&backend, &gen, &columns, false).unwrap();
    assert_eq!(column(&rows, "secret"), vec![Cell::Text("hidden".into())]);
    assert_eq!(
        column(&rows, "price"),
        vec![Cell::Decimal("1.50".into()), Cell::Decimal("10.00".into())]
    );
}

#[test]
fn blockers_name_zero_bytes_and_zero_dates_with_their_keys() {
    let Some((db, backend, val)) = shapes("blockers") else {
        return;
    };
    let columns = backend.portable_columns(&val).unwrap();
    let blockers = backend.export_blockers(&val, &columns).unwrap();
    let got: Vec<(&str, &BlockerKind, u64, Vec<String>)> = blockers
        .iter()
        .map(|b| {
            assert_eq!(b.table, "val");
            (b.column.as_str(), &b.problem, b.rows, b.keys.clone())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "s",
                &BlockerKind::ZeroByte,
                1,
                db.ids("s LIKE CONCAT('nul', CHAR(0), '%')")
            ),
            ("zdt", &BlockerKind::ZeroDate, 2, db.ids("zdt IS NOT NULL")),
            ("zd", &BlockerKind::ZeroDate, 2, db.ids("zd IS NOT NULL")),
        ]
    );
    assert_eq!(got[1].3.len(), 2);
    // A table without a problem has no entry.
    let city = db.table(&backend, "city");
    let city_columns = backend.portable_columns(&city).unwrap();
    assert!(backend
        .export_blockers(&city, &city_columns)
        .unwrap()
        .is_empty());
}

#[test]
fn rows_come_as_exact_cells() {
    let Some((db, backend, val)) = shapes("rows") else {
        return;
    };
    db.without_zero_byte();
    let columns = backend.portable_columns(&val).unwrap();
    let rows = export(&backend, &val, &columns, true).unwrap();
    assert_eq!(rows.len(), 32);

    assert_eq!(
        column(&rows, "d65"),
        [
            "12345678901234567890123456789012345.123456789012345678901234567890",
            "-0.000000000000000000000000000001",
            "0.000000000000000000000000000000",
            "-99999999999999999999999999999999999.999999999999999999999999999999",
            "1.000000000000000000000000000000",
        ]
        .map(|d| Cell::Decimal(d.into()))
    );
    let dbl = column(&rows, "dbl");
    assert_eq!(dbl[0], Cell::Float(1.797_693_134_862_315_7e308));
    assert_eq!(dbl[0], Cell::Float(f64::MAX));
    assert_eq!(dbl[3], Cell::Float(-4.9e-324));
    let flt = column(&rows, "flt");
    assert_eq!(flt[0], Cell::Float(f64::from(3.402_823_4e38_f32)));
    assert_eq!(flt[0], Cell::Float(f64::from(f32::MAX)));
    assert_eq!(flt[2], Cell::Float(f64::from(0.1f32)));
    assert_eq!(flt[3], Cell::Float(16_777_216.0));

    assert_eq!(
        column(&rows, "tm"),
        vec![
            Cell::Duration(-(838 * 3600 + 59 * 60 + 59) * 1_000_000),
            Cell::Duration((838 * 3600 + 59 * 60 + 59) * 1_000_000),
            Cell::Duration(-1_000_000),
        ]
    );
    assert_eq!(
        column(&rows, "ts"),
        vec![
            Cell::Timestamp(1_000_000),
            Cell::Timestamp(2_147_483_647_999_999),
            Cell::Timestamp(1_709_210_096_789_012),
        ]
    );
    assert_eq!(
        column(&rows, "dt"),
        vec![
            Cell::Date(-354_285),
            Cell::Date(2_932_896),
            Cell::Date(19_782)
        ]
    );
    assert_eq!(
        column(&rows, "dtm"),
        vec![
            Cell::DateTime(-30_610_224_000_000_000),
            Cell::DateTime(253_402_300_799_999_999),
            Cell::DateTime(1_709_210_096_789_012),
        ]
    );
    assert_eq!(
        column(&rows, "yr"),
        vec![Cell::Int(1901), Cell::Int(2155), Cell::Int(0)]
    );
    assert_eq!(
        column(&rows, "bt"),
        vec![
            Cell::Bits(vec![0x0A, 0xAA]),
            Cell::Bits(vec![0x00, 0x00]),
            Cell::Bits(vec![0x0F, 0xFF]),
            Cell::Bits(vec![0x00, 0x0A]),
        ]
    );
    assert_eq!(
        column(&rows, "b1"),
        vec![
            Cell::Bits(vec![1]),
            Cell::Bits(vec![0]),
            Cell::Bits(vec![1])
        ]
    );
    assert_eq!(
        column(&rows, "en"),
        ["", "a", "b c"].map(|e| Cell::Enum(e.into()))
    );
    assert_eq!(
        column(&rows, "st"),
        vec![
            Cell::Set(vec![]),
            Cell::Set(vec!["x".into(), "z".into()]),
            Cell::Set(vec!["x".into(), "y".into(), "z".into()]),
        ]
    );
    assert_eq!(
        column(&rows, "l1"),
        vec![Cell::Text("café naïve ÿ".into()), Cell::Text("©µÿ".into())]
    );
    let t = column(&rows, "t");
    assert!(t.contains(&Cell::Text("emoji 😀 𝄞 ♥".into())));
    assert!(t.contains(&Cell::Text("cr\rlf\nend".into())));
    assert_eq!(t[0], Cell::Text(String::new()));
    assert!(column(&rows, "s").contains(&Cell::Text("nulbyte".into())));
    assert_eq!(
        column(&rows, "b")[0],
        Cell::Bytes((0..=255u8).collect::<Vec<u8>>())
    );
    assert_eq!(
        column(&rows, "vb"),
        vec![
            Cell::Bytes(vec![0xFF, 0x00, 0xFF, 0x0A, 0x0D, 0x09, 0x5C, 0x4E]),
            Cell::Bytes(vec![]),
            Cell::Bytes(vec![0x5C]),
        ]
    );
    let json: Vec<serde_json::Value> = column(&rows, "js")
        .into_iter()
        .map(|c| match c {
            Cell::Json(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("not JSON: {other:?}"),
        })
        .collect();
    assert_eq!(
        json,
        vec![
            serde_json::json!({"a": [1, 2.5, "x\ty"], "b": null, "c": "😀"}),
            serde_json::json!([]),
            serde_json::json!("just a string"),
        ]
    );
    // MySQL's own value of a geometry: a 4-byte SRID (0), then the WKB (little-endian point).
    let mut point = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
    point.extend(1.5f64.to_le_bytes());
    point.extend((-2.25f64).to_le_bytes());
    assert_eq!(column(&rows, "pt")[0], Cell::Bytes(point));
    assert!(
        matches!(&column(&rows, "geo")[0], Cell::Bytes(b) if b[..5] == [0, 0, 0, 0, 1] && b[5] == 3)
    );
    // Zero dates read as NULL when asked: no cell left in either column.
    assert!(column(&rows, "zdt").is_empty() && column(&rows, "zd").is_empty());
}

#[test]
fn zero_dates_are_refused_unless_read_as_null() {
    let Some((db, backend, val)) = shapes("zero") else {
        return;
    };
    let columns = backend.portable_columns(&val).unwrap();
    db.without_zero_byte();
    let err = export(&backend, &val, &columns, false).unwrap_err();
    let text = err.to_string();
    let first = &db.ids("zdt IS NOT NULL")[0];
    assert!(
        text.contains("column val.zdt")
            && text.contains(&format!("key ({first})"))
            && text.contains("zero date")
            && text.contains("--zero-dates null"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 2);
    // The backend is usable after a stream it abandoned.
    let blockers = backend.export_blockers(&val, &columns).unwrap();
    assert_eq!(blockers.len(), 2);
}

#[test]
fn text_with_a_zero_byte_is_refused_naming_its_row() {
    let Some((db, backend, val)) = shapes("nul") else {
        return;
    };
    let columns = backend.portable_columns(&val).unwrap();
    let err = export(&backend, &val, &columns, true).unwrap_err();
    let key = &db.ids("s LIKE CONCAT('nul', CHAR(0), '%')")[0];
    let text = err.to_string();
    assert!(
        text.contains("column val.s")
            && text.contains(&format!("key ({key})"))
            && text.contains("zero byte"),
        "{text}"
    );
}

#[test]
fn a_chosen_subset_of_columns_comes_in_the_order_asked() {
    let Some((_db, backend, val)) = shapes("subset") else {
        return;
    };
    let all = backend.portable_columns(&val).unwrap();
    let pick = |n: &str| all.iter().find(|c| c.name == n).unwrap().clone();
    let columns = vec![pick("st"), pick("id")];
    let mut first = None;
    backend
        .export_rows(&val, &columns, true, &mut |cells| {
            if first.is_none() {
                first = Some(cells);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(first, Some(vec![Cell::Null, Cell::Int(1)]));
}

#[test]
fn a_sink_error_stops_the_stream() {
    let Some((_db, backend, val)) = shapes("sink") else {
        return;
    };
    let columns = backend.portable_columns(&val).unwrap();
    let mut seen = 0;
    let err = backend
        .export_rows(&val, &columns, true, &mut |_| {
            seen += 1;
            Err(rekey::error::Error::usage("stop", "here"))
        })
        .unwrap_err();
    assert_eq!(seen, 1);
    assert!(err.to_string().contains("stop"));
}

#[test]
fn every_table_of_the_shapes_and_the_blog_exports() {
    let Some(server) = server() else {
        return;
    };
    for (tag, sql) in [("every", SHAPES), ("blog", BLOG_SOURCE)] {
        let db = Db::with(&server, tag, sql);
        let backend = db.backend();
        let mut session = backend.connect().unwrap();
        let schema = backend.describe(&mut *session).unwrap();
        for table in &schema.tables {
            let columns = backend
                .portable_columns(table)
                .unwrap_or_else(|e| panic!("{}: {e:?}", table.name));
            // What the blockers find is taken out the way their advice says, then every row
            // reads.
            for b in backend.export_blockers(table, &columns).unwrap() {
                assert_ne!(b.problem, BlockerKind::WrongType, "{b:?}");
                if b.problem == BlockerKind::ZeroDate {
                    continue; // read as NULL below
                }
                let c = format!("`{}`", b.column);
                conn(&server, Some(&db.name))
                    .query_drop(format!(
                        "UPDATE `{}` SET {c} = REPLACE({c}, CHAR(0), '')",
                        b.table
                    ))
                    .unwrap();
            }
            let expected: u64 = conn(&server, Some(&db.name))
                .query_first(format!(
                    "SELECT COUNT(*) FROM `{}`",
                    table.name.replace('`', "``")
                ))
                .unwrap()
                .unwrap();
            let n = backend
                .export_rows(table, &columns, true, &mut |_| Ok(()))
                .unwrap_or_else(|e| panic!("{}: {e}", table.name));
            assert_eq!(n, expected, "{}", table.name);
        }
    }
}

#[test]
fn odd_values_are_found_and_wide_text_converted() {
    let Some(server) = server() else {
        return;
    };
    let db = Db::with(
        &server,
        "odd",
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES';
CREATE TABLE odd (id INT NOT NULL PRIMARY KEY, e ENUM('a','b') NULL, w VARCHAR(10) CHARACTER SET utf16 NULL, u VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL, d DATE NULL) ENGINE=InnoDB;
INSERT INTO odd VALUES (1, 'zzz', 'A', 'x', '2024-02-30'), (2, 'a', CONVERT(_utf8mb4 'n\\0' USING utf16), 'y', '2024-02-29'), (3, 'b', 'é😀', NULL, '0000-01-01');
",
    );
    let backend = db.backend();
    let odd = db.table(&backend, "odd");
    let columns = backend.portable_columns(&odd).unwrap();
    let blockers: Vec<(String, BlockerKind, u64, Vec<String>)> = backend
        .export_blockers(&odd, &columns)
        .unwrap()
        .into_iter()
        .map(|b| (b.column, b.problem, b.rows, b.keys))
        .collect();
    // ENUM's error value (a value outside the list, stored as index 0 by a non-strict server);
    // the zero byte of UTF-16 text, and none in its other characters (their bytes hold zeros)
    // nor where a collation ignores NUL; a day past its month's end (year 0 is a year).
    assert_eq!(
        blockers,
        vec![
            ("e".into(), BlockerKind::WrongType, 1, vec!["1".to_string()]),
            ("w".into(), BlockerKind::ZeroByte, 1, vec!["2".to_string()]),
            ("d".into(), BlockerKind::ZeroDate, 1, vec!["1".to_string()]),
        ]
    );
    conn(&server, Some(&db.name))
        .query_drop("DELETE FROM odd WHERE id = 2")
        .unwrap();
    let err = export(&backend, &odd, &columns, false).unwrap_err();
    assert!(err.to_string().contains("column odd.d"), "{err}");
    let rows = export(&backend, &odd, &columns, true).unwrap();
    assert_eq!(
        column(&rows, "w"),
        vec![Cell::Text("A".into()), Cell::Text("é😀".into())]
    );
    assert_eq!(column(&rows, "d"), vec![Cell::Date(-719_528)]);
}

/// Text whose stored bytes are no character of its column's character set (kept by a
/// non-strict server in single-byte sets such as ascii and cp1250, unassigned codes of tis620,
/// surrogates in utf32): the server converts it to utf8mb4 with '?' or U+FFFD in their place,
/// valid UTF-8 that would move changed. Found before the copy, naming the column and the keys;
/// a '?' stored as such, and characters a set maps to the same Unicode character as another
/// (sjis's backslash, armscii8's punctuation), are not.
#[test]
fn text_that_is_no_character_of_its_charset_is_refused() {
    let Some(server) = server() else {
        return;
    };
    let db = Db::with(
        &server,
        "charset",
        r#"SET SESSION sql_mode = '';
CREATE TABLE cs (id INT NOT NULL PRIMARY KEY, a VARCHAR(10) CHARACTER SET ascii NULL, c VARCHAR(10) CHARACTER SET cp1250 NULL, t TEXT CHARACTER SET tis620 NULL, w VARCHAR(10) CHARACTER SET utf32 NULL, j VARCHAR(10) CHARACTER SET sjis NULL, r CHAR(4) CHARACTER SET armscii8 NULL, l VARCHAR(10) CHARACTER SET latin1 NULL) ENGINE=InnoDB;
INSERT INTO cs VALUES (1, _binary 0xE9, NULL, NULL, NULL, NULL, NULL, NULL), (2, 'ok', _binary 0x3F81, NULL, NULL, NULL, NULL, NULL), (3, NULL, _binary 0x81, _binary 0xDB, NULL, NULL, NULL, NULL), (4, NULL, NULL, NULL, _binary 0x0000D800, NULL, NULL, NULL), (5, 'why?', 'Łódź', 'ภาษาไทย', 'é😀', 'ソ\\表', _binary 0xA4, _binary 0x81), (6, '?', _binary 0x3F, '?', '?', '\\', ')', 'ÿ');
"#,
    );
    let backend = db.backend();
    let cs = db.table(&backend, "cs");
    let columns = backend.portable_columns(&cs).unwrap();
    // What the server sends for them: valid UTF-8, changed.
    let pick = |names: &[&str]| -> Vec<PortableColumn> {
        names
            .iter()
            .map(|n| columns.iter().find(|c| c.name == *n).unwrap().clone())
            .collect()
    };
    let sent = export(&backend, &cs, &pick(&["a", "c", "t"]), false).unwrap();
    assert_eq!(sent[0]["a"], Cell::Text("?".into()));
    assert_eq!(sent[1]["c"], Cell::Text("??".into()));
    assert_eq!(sent[2]["t"], Cell::Text("\u{FFFD}".into()));
    let blockers: Vec<(String, BlockerKind, u64, Vec<String>)> = backend
        .export_blockers(&cs, &columns)
        .unwrap()
        .into_iter()
        .map(|b| (b.column, b.problem, b.rows, b.keys))
        .collect();
    let keys = |k: &[&str]| k.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        blockers,
        vec![
            ("a".into(), BlockerKind::Unconvertible, 1, keys(&["1"])),
            ("c".into(), BlockerKind::Unconvertible, 2, keys(&["2", "3"])),
            ("t".into(), BlockerKind::Unconvertible, 1, keys(&["3"])),
            ("w".into(), BlockerKind::Unconvertible, 1, keys(&["4"])),
        ]
    );
    // Without those rows nothing is found, and every value moves as the characters it is.
    conn(&server, Some(&db.name))
        .query_drop("DELETE FROM cs WHERE id <= 4")
        .unwrap();
    assert!(backend.export_blockers(&cs, &columns).unwrap().is_empty());
    let rows = export(&backend, &cs, &columns, false).unwrap();
    let text = |t: &str| Cell::Text(t.into());
    let got: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            ["a", "c", "t", "w", "j", "r", "l"]
                .map(|n| r[n].clone())
                .to_vec()
        })
        .collect();
    assert_eq!(
        got,
        vec![
            vec![
                text("why?"),
                text("Łódź"),
                text("ภาษาไทย"),
                text("é😀"),
                text("ソ\\表"),
                text(")"),
                text("\u{81}"),
            ],
            ["?", "?", "?", "?", "\\", ")", "ÿ"].map(text).to_vec(),
        ]
    );
}

/// MariaDB's YEAR(2) gives the last two digits of the year it stores (2024 as 24, 2000 and 0000
/// both as 0), in the binary protocol too: the column is refused, naming it and the ALTER that
/// keeps every year.
#[test]
fn a_two_digit_year_is_refused_naming_its_column() {
    let Some(server) = server() else {
        return;
    };
    let db = Db::with(
        &server,
        "year2",
        "SET SESSION sql_mode = '';
CREATE TABLE yr (id INT NOT NULL PRIMARY KEY, y2 YEAR(2) NULL, y4 YEAR NULL) ENGINE=InnoDB;
INSERT INTO yr VALUES (1, 2024, 2024), (2, '0000', '0000'), (3, 2000, 2000), (4, 1970, 1970);
",
    );
    let backend = db.backend();
    let yr = db.table(&backend, "yr");
    let refused = backend.portable_columns(&yr).unwrap_err();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("table yr, column y2")
            && refused[0].contains("YEAR(2)")
            && refused[0].contains("MODIFY"),
        "{refused:?}"
    );
    // What the server sends, read as a YEAR: two digits.
    let columns = vec![
        PortableColumn::new("y2", Portable::Year),
        PortableColumn::new("y4", Portable::Year),
    ];
    let rows = export(&backend, &yr, &columns, false).unwrap();
    assert_eq!(column(&rows, "y2"), [24, 0, 0, 70].map(Cell::Int).to_vec());
    assert_eq!(
        column(&rows, "y4"),
        [2024, 0, 2000, 1970].map(Cell::Int).to_vec()
    );
}

/// The export's speed on narrow rows (run by hand: `cargo test --release --test
/// transfer_mysql_export -- --ignored --nocapture`).

#[test]
fn a_table_read_without_columns_still_counts_its_rows() {
    let Some((db, backend, _)) = shapes("empty") else {
        return;
    };
    let mut legacy = db.table(&backend, "legacy_note");
    legacy.primary_key.clear();
    let mut widths = Vec::new();
    let n = backend
        .export_rows(&legacy, &[], false, &mut |cells| {
            widths.push(cells.len());
            Ok(())
        })
        .unwrap();
    assert_eq!((n, widths), (2, vec![0, 0]));
}
