//! SQLite's SQL differences, as the capabilities the stages ask about, and how its declared types
//! read as the neutral model's type facts.

use super::parse;
use crate::backend::{Arrival, Dialect};
use crate::error::{Error, Result};
use crate::ident::QuoteStyle;
use crate::model::{Column, Table};
use crate::options::UuidFormat;

pub struct SqliteDialect;

pub(super) static DIALECT: SqliteDialect = SqliteDialect;

impl Dialect for SqliteDialect {
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::DoubleQuote
    }
    fn backslash_escapes(&self) -> bool {
        false
    }
    fn alters_in_place(&self) -> bool {
        false
    }
    fn parallel_writes(&self) -> bool {
        false
    }
    fn uuid_type(&self, format: UuidFormat) -> Result<String> {
        match format {
            UuidFormat::Char32 => Ok("CHAR(32)".into()),
            UuidFormat::Char36 => Ok("CHAR(36)".into()),
            UuidFormat::Binary16 => Ok("BLOB".into()),
            UuidFormat::Native => Err(Error::usage(
                "SQLite has no native UUID type.",
                "Use --uuid-format char32 (default), char36 or binary16 with SQLite.",
            )),
        }
    }
    fn bulk_session(&self, _arrival: Arrival) -> Vec<String> {
        vec!["PRAGMA foreign_keys = OFF".into()]
    }
    fn map_key_type(&self, _column_type: &str) -> String {
        "INTEGER".into()
    }
    fn added_column_type(&self, table: Option<&Table>, declared: &str) -> String {
        match table
            .and_then(|t| t.create_sql.as_deref())
            .and_then(parse::parse_create_table)
        {
            Some(def) if def.strict() => strict_type(declared),
            _ => declared.to_string(),
        }
    }
    fn predict_column(&self, name: &str, declared: &str, nullable: bool, table: &Table) -> Column {
        let declared = self.added_column_type(Some(table), declared);
        let facts = type_facts(&declared);
        Column {
            name: name.to_string(),
            data_type: facts.data_type,
            column_type: declared.clone(),
            nullable,
            max_length: facts.max_length,
            numeric_precision: facts.precision,
            numeric_scale: facts.scale,
            ..Column::default()
        }
    }
}

/// The parts of a declared type rekey compares: base type (lower case, no arguments, no
/// signedness words), length for character and binary types, precision and scale for numbers.
pub(super) struct TypeFacts {
    pub data_type: String,
    pub max_length: Option<u64>,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
}

pub(super) fn type_facts(declared: &str) -> TypeFacts {
    let (base, args) = match declared.find('(') {
        Some(p) => (
            &declared[..p],
            declared[p + 1..].trim_end().trim_end_matches(')'),
        ),
        None => (declared, ""),
    };
    let base = base
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let words: Vec<&str> = base
        .split(' ')
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "zerofill"))
        .collect();
    let integer = |w: &str| {
        matches!(
            w,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        )
    };
    let data_type = match words.as_slice() {
        [w] if integer(w) => (*w).to_string(),
        _ => base.clone(),
    };
    let nums: Vec<Option<u64>> = args.split(',').map(|a| a.trim().parse().ok()).collect();
    let first = nums.first().copied().flatten();
    let numeric = base.contains("int")
        || ["real", "floa", "doub", "dec", "num"]
            .iter()
            .any(|w| base.contains(w));
    TypeFacts {
        data_type,
        max_length: if numeric { None } else { first },
        precision: if numeric { first } else { None },
        scale: if numeric {
            nums.get(1).copied().flatten()
        } else {
            None
        },
    }
}

/// The type a STRICT table accepts for a declared type, by SQLite's affinity rules.
pub(super) fn strict_type(declared: &str) -> String {
    let upper = declared.to_ascii_uppercase();
    if upper.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|w| upper.contains(w)) {
        "TEXT"
    } else if upper.contains("BLOB") || upper.trim().is_empty() {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|w| upper.contains(w)) {
        "REAL"
    } else {
        "ANY"
    }
    .to_string()
}
