//! The copy's types, statements and binary encodings, without a server (the server's side is
//! tests/transfer_postgres_import.rs).

use super::ddl::{fit, import_ddl, literal};
use super::types::{import_type_sql, portable_of};
use super::write::numeric;
use super::*;
use crate::backend::transfer::{PortableColumn, PortableDefault};
use crate::model::{ForeignKey, Index};

fn int(bits: u8, unsigned: bool) -> Portable {
    Portable::Integer { bits, unsigned }
}

#[test]
fn every_portable_type_has_its_postgresql_type() {
    let cases: Vec<(Portable, &str)> = vec![
        (int(8, false), "smallint"),
        (int(16, false), "smallint"),
        (int(8, true), "smallint"),
        (int(16, true), "integer"),
        (int(24, false), "integer"),
        (int(24, true), "integer"),
        (int(32, false), "integer"),
        (int(32, true), "bigint"),
        (int(64, false), "bigint"),
        (int(64, true), "numeric(20,0)"),
        (
            Portable::Decimal {
                precision: Some(65),
                scale: Some(30),
            },
            "numeric(65,30)",
        ),
        (
            Portable::Decimal {
                precision: Some(10),
                scale: None,
            },
            "numeric(10,0)",
        ),
        (
            Portable::Decimal {
                precision: None,
                scale: None,
            },
            "numeric",
        ),
        (Portable::Float { bits: 32 }, "real"),
        (Portable::Float { bits: 64 }, "double precision"),
        (Portable::Boolean, "boolean"),
        (
            Portable::Text {
                length: Some(3),
                fixed: true,
            },
            "character(3)",
        ),
        (
            Portable::Text {
                length: Some(190),
                fixed: false,
            },
            "character varying(190)",
        ),
        (
            Portable::Text {
                length: Some(4_294_967_295),
                fixed: false,
            },
            "text",
        ),
        (
            Portable::Text {
                length: None,
                fixed: false,
            },
            "text",
        ),
        (
            Portable::Bytes {
                length: Some(16),
                fixed: true,
            },
            "bytea",
        ),
        (Portable::Date, "date"),
        (
            Portable::DateTime { fraction: 3 },
            "timestamp(3) without time zone",
        ),
        (
            Portable::Timestamp { fraction: 0 },
            "timestamp(0) with time zone",
        ),
        (Portable::Duration { fraction: 6 }, "interval(6)"),
        (Portable::Year, "smallint"),
        (Portable::Bits { width: 12 }, "bit(12)"),
        (
            Portable::Enum {
                values: vec!["a".into()],
            },
            "text",
        ),
        (
            Portable::Set {
                values: vec!["a".into()],
            },
            "text[]",
        ),
        (Portable::Json, "jsonb"),
        (Portable::Uuid, "uuid"),
    ];
    for (ty, sql) in cases {
        assert_eq!(import_type_sql(&ty), sql, "{ty:?}");
    }
}

fn pg_column(data_type: &str, column_type: &str) -> Column {
    Column {
        name: "c".into(),
        data_type: data_type.into(),
        column_type: column_type.into(),
        nullable: true,
        default: None,
        max_length: None,
        numeric_precision: None,
        numeric_scale: None,
        charset: None,
        collation: None,
        auto_increment: false,
        generated: None,
        invisible: false,
        comment: None,
    }
}

#[test]
fn final_columns_have_their_portable_types() {
    let of = |d: &str, t: &str| portable_of(&pg_column(d, t));
    assert_eq!(of("boolean", "boolean"), Some(Portable::Boolean));
    assert_eq!(of("uuid", "uuid"), Some(Portable::Uuid));
    assert_eq!(
        of("timestamp with time zone", "timestamp(3) with time zone"),
        Some(Portable::Timestamp { fraction: 3 })
    );
    assert_eq!(
        of("timestamp without time zone", "timestamp without time zone"),
        Some(Portable::DateTime { fraction: 6 })
    );
    assert_eq!(of("bigint", "bigint"), Some(int(64, false)));
    assert_eq!(of("jsonb", "jsonb"), Some(Portable::Json));
    assert_eq!(
        of("interval", "interval(0)"),
        Some(Portable::Duration { fraction: 0 })
    );
    assert_eq!(of("interval", "interval day to second"), None);
    assert_eq!(of("text[]", "text[]"), None);
    let mut varchar = pg_column("character varying", "character varying(20)");
    varchar.max_length = Some(20);
    assert_eq!(
        portable_of(&varchar),
        Some(Portable::Text {
            length: Some(20),
            fixed: false
        })
    );
    let mut num = pg_column("numeric", "numeric(12,2)");
    num.numeric_precision = Some(12);
    num.numeric_scale = Some(2);
    assert_eq!(
        portable_of(&num),
        Some(Portable::Decimal {
            precision: Some(12),
            scale: Some(2)
        })
    );
    // Every type the copy makes maps back to what it was made from, where it is unique.
    for ty in [
        Portable::Boolean,
        Portable::Uuid,
        Portable::Json,
        Portable::Date,
        Portable::Float { bits: 32 },
        Portable::Float { bits: 64 },
    ] {
        let sql = import_type_sql(&ty);
        assert_eq!(of(&sql, &sql), Some(ty));
    }
}

pub(super) fn column(name: &str, ty: Portable) -> PortableColumn {
    PortableColumn::new(name, ty)
}

fn hostile_table() -> ImportTable {
    let mut id = column("Id \"x\"", int(32, true));
    id.identity = true;
    id.nullable = false;
    let mut state = column(
        "select",
        Portable::Enum {
            values: vec!["".into(), "b c".into(), "it's".into()],
        },
    );
    state.default = Some(PortableDefault::Value(Cell::Enum("b c".into())));
    state.comment = Some("the `state`, 'quoted'".into());
    let tags = column(
        "tags`",
        Portable::Set {
            values: vec!["x".into(), "y".into()],
        },
    );
    let mut at = column("créé à", Portable::DateTime { fraction: 6 });
    at.default = Some(PortableDefault::Now);
    let mut big = column("big", int(64, true));
    big.identity = true;
    ImportTable {
        final_types: Default::default(),
        name: "Ta ble \"q\"".into(),
        columns: vec![id, state, tags, at, big],
        primary_key: vec!["Id \"x\"".into()],
        indexes: vec![
            Index {
                name: "by state".into(),
                columns: vec!["select".into(), "créé à".into()],
                unique: true,
                kind: "BTREE".into(),
                create_sql: None,
            },
            Index {
                name: "Ta ble \"q\"_tags".into(),
                columns: vec!["tags`".into()],
                unique: false,
                kind: "BTREE".into(),
                create_sql: None,
            },
        ],
        foreign_keys: vec![ForeignKey {
            name: "fk parent".into(),
            columns: vec!["big".into()],
            ref_schema: None,
            ref_table: "other \"t\"".into(),
            ref_columns: vec!["id".into()],
            on_delete: "SET NULL".into(),
            on_update: "CASCADE".into(),
        }],
    }
}

#[test]
fn ddl_quotes_every_name_and_keeps_enum_and_set_values_in_their_lists() {
    let ddl = import_ddl(&hostile_table());
    let seq = "\"Ta ble \"\"q\"\"_big_seq\"";
    assert_eq!(
        ddl.before,
        vec![
            format!("DROP SEQUENCE IF EXISTS {seq}"),
            format!("CREATE SEQUENCE {seq}"),
            "CREATE TABLE \"Ta ble \"\"q\"\"\" (\n  \
             \"Id \"\"x\"\"\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n  \
             \"select\" text DEFAULT 'b c' CHECK (\"select\" IN ('', 'b c', 'it''s')),\n  \
             \"tags`\" text[] CHECK (\"tags`\" <@ ARRAY['x', 'y']::text[]),\n  \
             \"créé à\" timestamp(6) without time zone DEFAULT CURRENT_TIMESTAMP,\n  \
             \"big\" numeric(20,0) DEFAULT nextval('\"Ta ble \"\"q\"\"_big_seq\"'::regclass),\n  \
             PRIMARY KEY (\"Id \"\"x\"\"\")\n)"
                .to_string(),
            format!("ALTER SEQUENCE {seq} OWNED BY \"Ta ble \"\"q\"\"\".\"big\""),
            "COMMENT ON COLUMN \"Ta ble \"\"q\"\"\".\"select\" IS 'the `state`, ''quoted'''"
                .to_string(),
        ]
    );
    assert_eq!(
        ddl.after,
        vec![
            "CREATE UNIQUE INDEX \"Ta ble \"\"q\"\"_by state\" ON \"Ta ble \"\"q\"\"\" (\"select\", \"créé à\")".to_string(),
            "CREATE INDEX \"Ta ble \"\"q\"\"_tags\" ON \"Ta ble \"\"q\"\"\" (\"tags`\")".to_string(),
            "SELECT setval(pg_get_serial_sequence('\"Ta ble \"\"q\"\"\"', 'Id \"x\"'), LEAST(max(\"Id \"\"x\"\"\"), 9223372036854775807)::bigint) FROM \"Ta ble \"\"q\"\"\" HAVING max(\"Id \"\"x\"\"\") >= 1".to_string(),
            "SELECT setval(pg_get_serial_sequence('\"Ta ble \"\"q\"\"\"', 'big'), LEAST(max(\"big\"), 9223372036854775807)::bigint) FROM \"Ta ble \"\"q\"\"\" HAVING max(\"big\") >= 1".to_string(),
            "ANALYZE \"Ta ble \"\"q\"\"\"".to_string(),
        ]
    );
    assert_eq!(
        ddl.links,
        vec!["ALTER TABLE \"Ta ble \"\"q\"\"\" ADD CONSTRAINT \"fk parent\" FOREIGN KEY (\"big\") REFERENCES \"other \"\"t\"\"\" (\"id\") ON DELETE SET NULL ON UPDATE CASCADE".to_string()]
    );
}

#[test]
fn long_names_are_cut_to_63_bytes_deterministically() {
    let long = "é".repeat(40);
    let a = fit(&long);
    assert!(a.len() <= 63, "{a}");
    assert_eq!(a, fit(&long));
    assert_ne!(a, fit(&format!("{long}x")));
    assert_eq!(fit("short"), "short");
}

#[test]
fn defaults_are_literals_of_the_column_type() {
    assert_eq!(
        literal(
            &Cell::Float(3.4028234663852886e38),
            &Portable::Float { bits: 32 }
        ),
        "'3.4028235e38'::real"
    );
    assert_eq!(
        literal(&Cell::Float(0.1), &Portable::Float { bits: 64 }),
        "'0.1'::double precision"
    );
    assert_eq!(
        literal(&Cell::Date(-354_285), &Portable::Date),
        "'1000-01-01'::date"
    );
    assert_eq!(
        literal(
            &Cell::Timestamp(1_500_000_000_123_456),
            &Portable::Timestamp { fraction: 6 }
        ),
        "'2017-07-14 02:40:00.123456+00'::timestamp(6) with time zone"
    );
    assert_eq!(
        literal(
            &Cell::Duration(-3_020_399_000_000),
            &Portable::Duration { fraction: 0 }
        ),
        "'-838:59:59.000000'::interval(0)"
    );
    assert_eq!(
        literal(&Cell::Bits(vec![0x0a, 0xbc]), &Portable::Bits { width: 12 }),
        "B'101010111100'"
    );
    assert_eq!(
        literal(&Cell::Decimal("-1.50".into()), &int(8, false)),
        "-1.50"
    );
    assert_eq!(literal(&Cell::Int(1), &Portable::Boolean), "true");
    assert_eq!(
        literal(
            &Cell::DateTime(1_500_000_000_123_456),
            &Portable::Timestamp { fraction: 6 }
        ),
        "'2017-07-14 02:40:00.123456+00'::timestamp(6) with time zone"
    );
    let set = Portable::Set {
        values: vec!["x".into(), "y".into()],
    };
    assert_eq!(
        literal(&Cell::Text("x,y".into()), &set),
        "ARRAY['x', 'y']::text[]"
    );
    assert_eq!(literal(&Cell::Text("".into()), &set), "ARRAY[]::text[]");
}

/// numeric's binary form back to text, as PostgreSQL's numeric_out writes it.
fn numeric_text(b: &[u8]) -> String {
    let word = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
    let (n, weight, sign, dscale) = (
        word(0) as usize,
        word(2) as i64,
        word(4) as u16,
        word(6) as usize,
    );
    let digits: Vec<i16> = (0..n).map(|i| word(8 + 2 * i)).collect();
    let at = |w: i64| -> i16 {
        let i = weight - w;
        if i >= 0 && (i as usize) < n {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut int = String::new();
    for w in (0..=weight.max(0)).rev() {
        int.push_str(&format!("{:04}", at(w)));
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut frac = String::new();
    let mut w = -1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", at(w)));
        w -= 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    if dscale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

fn encoded(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    numeric(s, None, None, &mut out).unwrap();
    out
}

#[test]
fn numeric_binary_encoding_is_exact() {
    // ndigits, weight, sign, dscale, digits.
    let words = |w: &[i16]| -> Vec<u8> { w.iter().flat_map(|v| v.to_be_bytes()).collect() };
    assert_eq!(encoded("0"), words(&[0, 0, 0, 0]));
    assert_eq!(encoded("10000"), words(&[1, 1, 0, 0, 1]));
    assert_eq!(encoded("0.0001"), words(&[1, -1, 0, 4, 1]));
    assert_eq!(encoded("1e-30"), words(&[1, -8, 0, 30, 100]));
    assert_eq!(encoded("-12.50"), words(&[2, 0, 0x4000, 2, 12, 5000]));
    for s in [
        "0",
        "-0.000000000000000000000000000001",
        "12345678901234567890123456789012345.123456789012345678901234567890",
        "-99999999999999999999999999999999999.999999999999999999999999999999",
        "10000",
        "0.0001",
        "18446744073709551615",
        "0.000",
        "100000000",
    ] {
        assert_eq!(numeric_text(&encoded(s)), s, "{s}");
    }
    assert_eq!(
        numeric_text(&encoded("1e-30")),
        "0.000000000000000000000000000001"
    );
    assert_eq!(numeric_text(&encoded("1.5E3")), "1500");
    // No negative zero in numeric.
    assert_eq!(numeric_text(&encoded("-0.00")), "0.00");
}

#[test]
fn numeric_refuses_what_its_column_would_round() {
    let fits = |s: &str, p, sc| numeric(s, Some(p), Some(sc), &mut Vec::new());
    assert!(fits("123.45", 5, 2).is_ok());
    assert!(fits("123.4500", 5, 2).is_ok());
    assert!(fits("123.456", 5, 2).is_err());
    assert!(fits("1234.5", 5, 2).is_err());
    assert!(fits("00123.45", 5, 2).is_ok());
    for bad in ["", "-", "1.2.3", "abc", "1e", "--1", "."] {
        assert!(
            numeric(bad, None, None, &mut Vec::new()).is_err(),
            "{bad:?}"
        );
    }
}
