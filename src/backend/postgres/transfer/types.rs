//! The PostgreSQL type that holds every value of a portable type exactly, and the reverse: the
//! portable type of a PostgreSQL column (DB_FINAL's, to choose among SOURCE's alternatives).

use crate::backend::transfer::Portable;
use crate::model::Column;

/// PostgreSQL's largest length of character(n) / character varying(n).
const MAX_CHAR_LENGTH: u64 = 10_485_760;
/// PostgreSQL's largest numeric precision.
const MAX_NUMERIC_PRECISION: u32 = 1000;

/// The column type, spelled as `format_type` prints it, so that a column made from it compares
/// equal with what the catalog reads back.
pub(super) fn import_type_sql(ty: &Portable) -> String {
    match ty {
        Portable::Integer { bits, unsigned } => match (bits, unsigned) {
            (0..=16, false) | (0..=8, true) => "smallint",
            (17..=32, false) | (9..=24, true) => "integer",
            (33..=64, false) | (25..=32, true) => "bigint",
            // No unsigned 64-bit type: numeric(20,0) holds 0..2^64-1 exactly.
            _ => "numeric(20,0)",
        }
        .to_string(),
        Portable::Decimal {
            precision: Some(p),
            scale,
        } if (1..=MAX_NUMERIC_PRECISION).contains(p) => match scale {
            Some(s) if *s <= *p => format!("numeric({p},{s})"),
            // A scale past the precision has no exact numeric(p,s): unconstrained numeric
            // stores every such value.
            Some(_) => "numeric".into(),
            None => format!("numeric({p},0)"),
        },
        Portable::Decimal { .. } => "numeric".into(),
        Portable::Float { bits } if *bits <= 32 => "real".into(),
        Portable::Float { .. } => "double precision".into(),
        Portable::Boolean => "boolean".into(),
        Portable::Text {
            length: Some(n),
            fixed,
        } if *n <= MAX_CHAR_LENGTH => {
            // character(0) does not exist; a zero-length column holds only '' (and NULL).
            let n = (*n).max(1);
            if *fixed {
                format!("character({n})")
            } else {
                format!("character varying({n})")
            }
        }
        Portable::Text { .. } => "text".into(),
        Portable::Bytes { .. } => "bytea".into(),
        Portable::Date => "date".into(),
        Portable::DateTime { fraction } => {
            format!("timestamp({}) without time zone", fraction.min(&6))
        }
        Portable::Timestamp { fraction } => {
            format!("timestamp({}) with time zone", fraction.min(&6))
        }
        // interval(p) keeps microseconds exactly, of any number of hours (MySQL TIME's ±838:59:59
        // included); PostgreSQL's time type stops at 24:00:00.
        Portable::Duration { fraction } => format!("interval({})", fraction.min(&6)),
        Portable::Year => "smallint".into(),
        Portable::Bits { width } => format!("bit({})", (*width).max(1)),
        // A CHECK keeps the members in their list (ddl.rs): no CREATE TYPE, so the copy has no
        // type objects for the pipeline to carry to DB_FINAL, and a member added later is an
        // ALTER of one constraint, not of a type.
        Portable::Enum { .. } => "text".into(),
        Portable::Set { .. } => "text[]".into(),
        Portable::Json => "jsonb".into(),
        Portable::Uuid => "uuid".into(),
    }
}

/// The fractional-second digits of a `format_type` spelling: `timestamp(3) with time zone` has
/// 3, a type without a modifier has PostgreSQL's 6.
fn fraction(column_type: &str) -> u8 {
    column_type
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(digits, _)| digits.trim().parse::<u8>().ok())
        .unwrap_or(6)
        .min(6)
}

/// The portable type of a PostgreSQL column, as the catalog models it (`data_type` is the base
/// type's `format_type` without its modifier, after domains). Types with no portable twin
/// (arrays, enums, ranges, time, network types...) have none.
pub(super) fn portable_of(column: &Column) -> Option<Portable> {
    let int = |bits| Portable::Integer {
        bits,
        unsigned: false,
    };
    Some(match column.data_type.as_str() {
        "smallint" => int(16),
        "integer" => int(32),
        "bigint" => int(64),
        "numeric" => Portable::Decimal {
            precision: column.numeric_precision.and_then(|p| u32::try_from(p).ok()),
            scale: column
                .numeric_precision
                .and(column.numeric_scale)
                .and_then(|s| u32::try_from(s).ok()),
        },
        "real" => Portable::Float { bits: 32 },
        "double precision" => Portable::Float { bits: 64 },
        "boolean" => Portable::Boolean,
        "text" => Portable::Text {
            length: None,
            fixed: false,
        },
        "character varying" => Portable::Text {
            length: column.max_length,
            fixed: false,
        },
        "character" => Portable::Text {
            // A bare `character` is character(1).
            length: Some(column.max_length.unwrap_or(1)),
            fixed: true,
        },
        "bytea" => Portable::Bytes {
            length: None,
            fixed: false,
        },
        "date" => Portable::Date,
        "timestamp without time zone" => Portable::DateTime {
            fraction: fraction(&column.column_type),
        },
        "timestamp with time zone" => Portable::Timestamp {
            fraction: fraction(&column.column_type),
        },
        "interval" if !has_fields(&column.column_type) => Portable::Duration {
            fraction: fraction(&column.column_type),
        },
        "bit" => Portable::Bits {
            width: column
                .max_length
                .and_then(|w| u32::try_from(w).ok())
                .unwrap_or(1),
        },
        "json" | "jsonb" => Portable::Json,
        "uuid" => Portable::Uuid,
        // A type of the application's own without modifiers (an enum type): members unknown
        // here; the server checks each label as the copy stores it, and refuses one it lacks.
        other
            if other == column.column_type
                && !other.ends_with(']')
                && !BUILT_IN.contains(&other) =>
        {
            Portable::Enum { values: Vec::new() }
        }
        _ => return None,
    })
}

/// Built-in types without an exact portable counterpart: never taken for an enum type.
const BUILT_IN: &[&str] = &[
    "money",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "xml",
    "oid",
    "time without time zone",
    "time with time zone",
    "interval",
    "bit varying",
    "pg_lsn",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "jsonpath",
    "txid_snapshot",
    "name",
    "char",
];

/// An interval restricted to some fields (`interval day to second`, `interval year`) drops the
/// others: not a plain span of microseconds.
fn has_fields(column_type: &str) -> bool {
    let rest = column_type.trim_start_matches("interval");
    let rest = match rest.split_once(')') {
        Some((_, after)) if rest.trim_start().starts_with('(') => after,
        _ => rest,
    };
    !rest.trim().is_empty()
}
