//! PostgreSQL as the target of a move between engines (`Import`): a copy's tables made from
//! portable columns of every type under hostile names, rows of extreme values stored by binary
//! COPY and read back from the server's text output cell for cell, identities restarted past the
//! largest key, foreign keys with their rules, and a cell of the wrong kind refused by column.

mod common;

use common::engine::TestServer;
use common::pg::*;
use rekey::backend::postgres::PostgresBackend;
use rekey::backend::transfer::{Cell, ImportTable, Portable, PortableColumn};
use rekey::backend::Import;
use rekey::model::{ForeignKey, Index};
use rekey::url::{DbUrl, ProcessEnv};

const PARENT: &str = "Every \"type\" ✓";
const CHILD: &str = "child`s";

fn col(name: &str, ty: Portable) -> PortableColumn {
    PortableColumn::new(name, ty)
}

fn int(bits: u8, unsigned: bool) -> Portable {
    Portable::Integer { bits, unsigned }
}

fn index(name: &str, columns: &[&str], unique: bool) -> Index {
    Index {
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        unique,
        kind: "BTREE".into(),
        create_sql: None,
    }
}

fn parent() -> ImportTable {
    let mut id = col("id", int(64, false));
    id.identity = true;
    id.nullable = false;
    let mut tagged = col("we\"ird name", int(8, false));
    tagged.comment = Some("a comment's 'quotes' and `backticks`".into());
    ImportTable {
        final_types: Default::default(),
        name: PARENT.into(),
        columns: vec![
            id,
            tagged,
            col("u8", int(8, true)),
            col("i16", int(16, false)),
            col("u16", int(16, true)),
            col("i24", int(24, false)),
            col("u24", int(24, true)),
            col("i32", int(32, false)),
            col("u32", int(32, true)),
            col("select", int(64, false)),
            col("u64", int(64, true)),
            col(
                "dec",
                Portable::Decimal {
                    precision: Some(65),
                    scale: Some(30),
                },
            ),
            col(
                "num",
                Portable::Decimal {
                    precision: None,
                    scale: None,
                },
            ),
            col("f32", Portable::Float { bits: 32 }),
            col("f64", Portable::Float { bits: 64 }),
            col("flag", Portable::Boolean),
            col(
                "ch",
                Portable::Text {
                    length: Some(10),
                    fixed: true,
                },
            ),
            col(
                "vc",
                Portable::Text {
                    length: Some(50),
                    fixed: false,
                },
            ),
            col(
                "txt",
                Portable::Text {
                    length: None,
                    fixed: false,
                },
            ),
            col(
                "bin",
                Portable::Bytes {
                    length: None,
                    fixed: false,
                },
            ),
            col("d", Portable::Date),
            col("dt", Portable::DateTime { fraction: 6 }),
            col("ts", Portable::Timestamp { fraction: 6 }),
            col("dur", Portable::Duration { fraction: 0 }),
            col("yr", Portable::Year),
            col("bits", Portable::Bits { width: 12 }),
            col(
                "ënum",
                Portable::Enum {
                    values: vec!["".into(), "a".into(), "b c".into(), "it's".into()],
                },
            ),
            col(
                "set",
                Portable::Set {
                    values: vec!["x".into(), "y".into(), "z".into()],
                },
            ),
            col("js", Portable::Json),
            col("uid", Portable::Uuid),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![
            index("idx", &["select"], false),
            index("uniq", &["uid"], true),
        ],
        foreign_keys: Vec::new(),
    }
}

fn child() -> ImportTable {
    let mut id = col("id", int(64, true));
    id.identity = true;
    id.nullable = false;
    ImportTable {
        final_types: Default::default(),
        name: CHILD.into(),
        columns: vec![id, col("parent id", int(64, false))],
        primary_key: vec!["id".into()],
        // The same index name as the parent's: PostgreSQL's names are per schema.
        indexes: vec![index("idx", &["parent id"], false)],
        foreign_keys: vec![ForeignKey {
            name: "to parent".into(),
            columns: vec!["parent id".into()],
            ref_schema: None,
            ref_table: PARENT.into(),
            ref_columns: vec!["id".into()],
            on_delete: "CASCADE".into(),
            on_update: "RESTRICT".into(),
        }],
    }
}

fn date(y: i64, m: i64, d: i64) -> i64 {
    // Days since 1970-01-01, Howard Hinnant's algorithm (an independent copy for the test).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn rows() -> Vec<Vec<Cell>> {
    let day = 86_400_000_000i64;
    let s = |v: &str| Cell::Text(v.to_string());
    let low = vec![
        Cell::Int(5),
        Cell::Int(-128),
        Cell::Int(0),
        Cell::Int(-32768),
        Cell::Int(0),
        Cell::Int(-8_388_608),
        Cell::Int(0),
        Cell::Int(i32::MIN.into()),
        Cell::Int(0),
        Cell::Int(i64::MIN.into()),
        Cell::Int(0),
        Cell::Decimal(format!("-{}.{}", "9".repeat(35), "9".repeat(30))),
        Cell::Decimal("-0.000000000000000000000000000001".into()),
        Cell::Float(-f64::from(f32::MAX)),
        Cell::Float(4.9e-324),
        Cell::Bool(false),
        s("a"),
        s("tab\there\\back\nnew 😀 \"q\" 'q'"),
        s(""),
        Cell::Bytes(vec![0, 255, b'\\', b'\n', b'\t']),
        Cell::Date(date(1000, 1, 1) as i32),
        Cell::DateTime(date(1000, 1, 1) * day + 1),
        Cell::Timestamp(1),
        Cell::Duration(-(838 * 3600 + 59 * 60 + 59) * 1_000_000),
        Cell::Int(1901),
        Cell::Bits(vec![0x00, 0x01]),
        Cell::Enum("".into()),
        Cell::Set(vec![]),
        Cell::Json(r#"{"emoji": "😀", "a": [1, 2.5, null, "tab\there"], "b": {"c": true}}"#.into()),
        Cell::Uuid(0),
    ];
    let high = vec![
        Cell::Int(7),
        Cell::Int(127),
        Cell::Int(255),
        Cell::Int(32767),
        Cell::Int(65535),
        Cell::Int(8_388_607),
        Cell::Int(16_777_215),
        Cell::Int(i32::MAX.into()),
        Cell::Int(u32::MAX.into()),
        Cell::Int(i64::MAX.into()),
        Cell::Int(u64::MAX.into()),
        Cell::Decimal(format!("{}.{}", "9".repeat(35), "9".repeat(30))),
        Cell::Decimal("12345678901234567890123456789012345.123456789012345678901234567890".into()),
        Cell::Float(f64::from(f32::MAX)),
        Cell::Float(f64::MAX),
        Cell::Bool(true),
        s("ten chars!"),
        s("\\N"),
        s("\u{1F600}\r\u{b}\u{c}\u{8}"),
        Cell::Bytes(Vec::new()),
        Cell::Date(date(9999, 12, 31) as i32),
        Cell::DateTime(date(9999, 12, 31) * day + day - 1),
        Cell::Timestamp(date(2038, 1, 19) * day + 3 * 3_600_000_000 + 14_123_456),
        Cell::Duration((838 * 3600 + 59 * 60 + 59) * 1_000_000),
        Cell::Int(2155),
        Cell::Bits(vec![0x0a, 0xbc]),
        Cell::Enum("b c".into()),
        Cell::Set(vec!["x".into(), "y".into(), "z".into()]),
        // jsonb prints 2.5e-3 as 0.0025: the same number. (1e2 prints as 100, which
        // serde_json::Value tells from 1e2: a whole number spelled with an exponent.)
        Cell::Json(r#"["😀", "\u00e9", 2.5e-3, {"": ""}]"#.into()),
        Cell::Uuid(0x0190_1234_5678_7abc_8def_0123_4567_89ab),
    ];
    let mut nulls = vec![Cell::Null; low.len()];
    nulls[0] = Cell::Int(10);
    vec![low, high, nulls]
}

fn same(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Json(x), Cell::Json(y)) => {
            serde_json::from_str::<serde_json::Value>(x).ok()
                == serde_json::from_str::<serde_json::Value>(y).ok()
        }
        (Cell::Float(x), Cell::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn backend(pg: &Postgres, db: &str) -> PostgresBackend {
    PostgresBackend::new(DbUrl::parse(&pg.url(db), &ProcessEnv).unwrap())
}

fn fresh(pg: &Postgres, db: &str) {
    pg.drop_database(db);
    pg.create_database(db);
}

#[test]
fn every_portable_type_round_trips_through_the_copy() {
    let pg = pg_or_skip!();
    let db = "hpg_transfer_round_trip";
    fresh(&pg, db);
    let b = backend(&pg, db);
    assert!(b.imports());
    let (p, c) = (parent(), child());
    let (dp, dc) = (b.import_ddl(&p), b.import_ddl(&c));
    for sql in dp.before.iter().chain(&dc.before) {
        pg.exec(db, sql);
    }
    // The copy's columns have the types import_type_sql names, as the catalog prints them.
    for column in &p.columns {
        let printed = pg.text(
            db,
            &format!(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{}'::regclass AND attname = '{}'",
                "\"Every \"\"type\"\" ✓\"",
                column.name.replace('\'', "''")
            ),
        );
        assert_eq!(printed, b.import_type_sql(&column.ty), "{}", column.name);
    }

    let sent = rows();
    let stored = b
        .import_rows(&p, &mut sent.clone().into_iter().map(Ok))
        .unwrap();
    assert_eq!(stored, 3);
    let child_rows = vec![
        vec![Cell::Int(100), Cell::Int(7)],
        vec![Cell::Int(101), Cell::Null],
    ];
    assert_eq!(
        b.import_rows(&c, &mut child_rows.clone().into_iter().map(Ok))
            .unwrap(),
        2
    );
    for sql in dp.after.iter().chain(&dc.after) {
        pg.exec(db, sql);
    }
    for sql in dp.links.iter().chain(&dc.links) {
        pg.exec(db, sql);
    }

    let mut back = Vec::new();
    let n = b
        .read_back(&p, &mut |row| {
            back.push(row);
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 3);
    for (r, (sent_row, back_row)) in sent.iter().zip(&back).enumerate() {
        for ((column, a), z) in p.columns.iter().zip(sent_row).zip(back_row) {
            assert!(
                same(a, z),
                "row {r}, column {}: sent {a:?}, read {z:?}",
                column.name
            );
        }
    }
    // The text the server prints agrees with what was meant (not only with the decoder).
    assert_eq!(
        pg.text(db, "SELECT d::text || ' ' || dt::text || ' ' || (ts AT TIME ZONE 'UTC')::text || ' ' || dur::text FROM \"Every \"\"type\"\" ✓\" WHERE id = 5"),
        "1000-01-01 1000-01-01 00:00:00.000001 1970-01-01 00:00:00.000001 -838:59:59"
    );
    assert_eq!(
        pg.text(db, "SELECT bits::text || ' ' || f32::text || ' ' || u64::text || ' ' || \"set\"::text FROM \"Every \"\"type\"\" ✓\" WHERE id = 7"),
        "101010111100 3.4028235e+38 18446744073709551615 {x,y,z}"
    );
    let mut child_back = Vec::new();
    b.read_back(&c, &mut |row| {
        child_back.push(row);
        Ok(())
    })
    .unwrap();
    assert_eq!(child_back, child_rows);

    // Identities continue past the largest key: bigint identity and BIGINT UNSIGNED's sequence.
    assert_eq!(
        pg.text(
            db,
            "INSERT INTO \"Every \"\"type\"\" ✓\" DEFAULT VALUES RETURNING id"
        ),
        "11"
    );
    assert_eq!(
        pg.text(db, "INSERT INTO \"child`s\" DEFAULT VALUES RETURNING id"),
        "102"
    );
    // Both tables' index "idx" exist, each under its table's name.
    let indexes = pg.texts(
        db,
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    );
    for name in [
        "Every \"type\" ✓_idx",
        "Every \"type\" ✓_uniq",
        "child`s_idx",
    ] {
        assert!(indexes.contains(&Some(name.to_string())), "{indexes:?}");
    }
    assert_eq!(
        pg.text(db, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'to parent'"),
        "FOREIGN KEY (\"parent id\") REFERENCES \"Every \"\"type\"\" ✓\"(id) ON UPDATE RESTRICT ON DELETE CASCADE"
    );
    // The ENUM's and SET's CHECKs hold their lists.
    for bad in [
        "INSERT INTO \"Every \"\"type\"\" ✓\" (\"ënum\") VALUES ('d')",
        "INSERT INTO \"Every \"\"type\"\" ✓\" (\"set\") VALUES ('{x,w}')",
    ] {
        let err = postgres::Client::connect(&pg.conninfo(db), postgres::NoTls)
            .unwrap()
            .batch_execute(bad)
            .unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("23514"), "{bad}");
    }
    assert_eq!(
        pg.text(
            db,
            "SELECT col_description('\"Every \"\"type\"\" ✓\"'::regclass, 2)"
        ),
        "a comment's 'quotes' and `backticks`"
    );
    pg.drop_database(db);
}

#[test]
fn a_cell_that_does_not_fit_is_refused_by_column_and_nothing_is_kept() {
    let pg = pg_or_skip!();
    let db = "hpg_transfer_refused";
    fresh(&pg, db);
    let b = backend(&pg, db);
    let p = parent();
    for sql in b.import_ddl(&p).before {
        pg.exec(db, &sql);
    }
    let f32_at = p.columns.iter().position(|c| c.name == "f32").unwrap();
    let wrong: [(usize, Cell, &str); 5] = [
        (f32_at, Cell::Text("1.5".into()), "f32"),
        // 0.1 as a double is not a 32-bit float: real would round it.
        (f32_at, Cell::Float(0.1), "f32"),
        (2, Cell::Int(256), "u8"),
        (
            11,
            Cell::Decimal("1.0000000000000000000000000000001".into()),
            "dec",
        ),
        (26, Cell::Enum("d".into()), "ënum"),
    ];
    for (at, cell, column) in wrong {
        let mut rows = rows();
        rows[1][at] = cell.clone();
        let err = b
            .import_rows(&p, &mut rows.into_iter().map(Ok))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("column {PARENT}.{column}")) && text.contains("row 2"),
            "{cell:?}: {text}"
        );
        assert_eq!(
            pg.text(db, "SELECT count(*) FROM \"Every \"\"type\"\" ✓\""),
            "0"
        );
    }
    // A value only the server refuses names the column its error's context names (jsonb has no
    // \u0000), or at least the table (a NULL in a NOT NULL column).
    let js_at = p.columns.iter().position(|c| c.name == "js").unwrap();
    let mut bad = rows();
    bad[1][js_at] = Cell::Json(r#"{"a": "\u0000"}"#.into());
    let err = b.import_rows(&p, &mut bad.into_iter().map(Ok)).unwrap_err();
    assert!(
        err.to_string().contains(&format!("column {PARENT}.js")),
        "{err}"
    );
    // A value only the server refuses (a NULL in a NOT NULL column) names the table.
    let mut bad = rows();
    bad[0][0] = Cell::Null;
    let err = b.import_rows(&p, &mut bad.into_iter().map(Ok)).unwrap_err();
    assert!(err.to_string().contains(PARENT), "{err}");
    pg.drop_database(db);
}
