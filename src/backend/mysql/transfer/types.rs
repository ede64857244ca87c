//! MariaDB/MySQL columns in portable terms: each catalog type mapped to the `Portable` type that
//! holds every one of its values exactly, the exact alternatives DB_FINAL may ask for, and the
//! defaults that translate.
//!
//! The mapping (decided with the lead, issue 24):
//! - TINYINT/SMALLINT/MEDIUMINT/INT/BIGINT: `Integer` of 8/16/24/32/64 bits, signed or not;
//!   TINYINT(1) also `Boolean` (the convention of every MySQL driver).
//! - DECIMAL(p,s): `Decimal(p,s)`; FLOAT: `Float(32)`; DOUBLE: `Float(64)`.
//! - CHAR(n), VARCHAR(n): `Text(n)`, fixed for CHAR; the TEXT types: `Text` without a length;
//!   CHAR(36) also `Uuid`. JSON (MySQL 8's type, or MariaDB's LONGTEXT with the CHECK
//!   `json_valid(col)` its JSON alias creates): `Json`.
//! - BINARY(n): `Bytes(n)` fixed, also `Uuid` for BINARY(16); VARBINARY(n) and the BLOBs: `Bytes`.
//! - DATE: `Date`; DATETIME(f): `DateTime(f)`, also `Timestamp(f)` (read as UTC);
//!   TIMESTAMP(f): `Timestamp(f)` (rows read with the session in UTC); TIME(f): `Duration(f)`;
//!   YEAR: `Year` (MariaDB's YEAR(2) refused: it reads as two digits).
//! - BIT(n): `Bits(n)`, BIT(1) also `Boolean`; ENUM: `Enum`, SET: `Set`, with their lists.
//! - The spatial types: `Bytes` holding MySQL's own value of the geometry (a 4-byte SRID, then
//!   the WKB), exactly as the server stores it. Nothing is lost, but the target holds bytes, not
//!   a geometry: PostGIS's `ST_GeomFromWKB(substring(v from 5), get_byte...)` reads them back.
//! - MariaDB's UUID: `Uuid`.
//! - Generated columns are left out (they are computed; the stage lists them for the reviewer);
//!   INVISIBLE columns are ordinary columns here.
//! - Anything else (INET4/INET6, VECTOR, ...) has no mapping: a line naming the column.

use super::super::DIALECT;
use crate::backend::transfer::{Cell, Portable, PortableColumn, PortableDefault};
use crate::backend::Dialect;
use crate::model::{Column, Table};

use super::{days_from_civil, parse_date, parse_datetime, parse_duration};

/// Each writable column of `table` in portable terms, or one line per column without an exact
/// portable type.
pub(super) fn portable_columns(table: &Table) -> Result<Vec<PortableColumn>, Vec<String>> {
    let mut out = Vec::with_capacity(table.columns.len());
    let mut refused = Vec::new();
    for column in table.columns.iter().filter(|c| c.generated.is_none()) {
        if two_digit_year(column) {
            refused.push(format!(
                "table {}, column {}: YEAR(2) gives only the last two digits of the year it stores (2024 reads as 24, 2000 and 0000 both as 0), so no reader can move it exactly; in SOURCE, ALTER TABLE {} MODIFY {} YEAR (MariaDB keeps every stored year), or leave the table out with --exclude {}",
                table.name,
                column.name,
                DIALECT.q(&table.name),
                DIALECT.q(&column.name),
                table.name
            ));
            continue;
        }
        match portable_type(table, column) {
            Some((ty, alternatives)) => {
                let (default, untranslated_default) = default_of(column, &ty);
                out.push(PortableColumn {
                    name: column.name.clone(),
                    ty,
                    alternatives,
                    nullable: column.nullable,
                    default,
                    untranslated_default,
                    identity: column.auto_increment,
                    comment: column.comment.clone(),
                });
            }
            None => refused.push(format!(
                "table {}, column {}: the type {} has no exact counterpart on the target; change the column to a standard type in SOURCE (for example VARCHAR for INET4/INET6), or leave the table out with --exclude {}",
                table.name, column.name, column.column_type, table.name
            )),
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(refused)
    }
}

/// MariaDB's YEAR(2) (MySQL makes every YEAR four digits): every reading of it, the binary
/// protocol's included, gives the stored year modulo 100.
fn two_digit_year(column: &Column) -> bool {
    column.data_type == "year" && column.column_type.eq_ignore_ascii_case("year(2)")
}

/// The portable type of `column` and its exact alternatives, or `None` when it has none.
pub(super) fn portable_type(table: &Table, column: &Column) -> Option<(Portable, Vec<Portable>)> {
    let column_type = column.column_type.to_ascii_lowercase();
    let unsigned = column_type.contains("unsigned");
    let integer = |bits| Portable::Integer { bits, unsigned };
    let fraction = || type_argument(&column_type).unwrap_or(0).min(6) as u8;
    let length = || column.max_length.or_else(|| type_argument(&column_type));
    let one = |ty: Portable| Some((ty, Vec::new()));
    match column.data_type.as_str() {
        "tinyint" => {
            let boolean = type_argument(&column_type) == Some(1);
            Some((
                integer(8),
                if boolean {
                    vec![Portable::Boolean]
                } else {
                    Vec::new()
                },
            ))
        }
        "smallint" => one(integer(16)),
        "mediumint" => one(integer(24)),
        "int" | "integer" => one(integer(32)),
        "bigint" => one(integer(64)),
        "decimal" | "numeric" => {
            let (p, s) = decimal_arguments(&column_type);
            one(Portable::Decimal {
                precision: column.numeric_precision.map(|p| p as u32).or(p),
                scale: column.numeric_scale.map(|s| s as u32).or(s),
            })
        }
        "float" => one(Portable::Float { bits: 32 }),
        "double" | "real" | "double precision" => one(Portable::Float { bits: 64 }),
        "char" => {
            let length = length();
            Some((
                Portable::Text {
                    length,
                    fixed: true,
                },
                if length == Some(36) {
                    vec![Portable::Uuid]
                } else {
                    Vec::new()
                },
            ))
        }
        "varchar" => one(Portable::Text {
            length: length(),
            fixed: false,
        }),
        "tinytext" | "text" | "mediumtext" | "longtext" if is_json(table, column) => {
            one(Portable::Json)
        }
        "tinytext" | "text" | "mediumtext" | "longtext" => one(Portable::Text {
            length: None,
            fixed: false,
        }),
        "json" => one(Portable::Json),
        "binary" => {
            let length = length();
            Some((
                Portable::Bytes {
                    length,
                    fixed: true,
                },
                if length == Some(16) {
                    vec![Portable::Uuid]
                } else {
                    Vec::new()
                },
            ))
        }
        "varbinary" => one(Portable::Bytes {
            length: length(),
            fixed: false,
        }),
        "tinyblob" | "blob" | "mediumblob" | "longblob" => one(Portable::Bytes {
            length: None,
            fixed: false,
        }),
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => one(Portable::Bytes {
            length: None,
            fixed: false,
        }),
        "date" => one(Portable::Date),
        "datetime" => {
            let fraction = fraction();
            Some((
                Portable::DateTime { fraction },
                vec![Portable::Timestamp { fraction }],
            ))
        }
        "timestamp" => one(Portable::Timestamp {
            fraction: fraction(),
        }),
        "time" => one(Portable::Duration {
            fraction: fraction(),
        }),
        "year" => one(Portable::Year),
        "bit" => {
            let width = column
                .numeric_precision
                .or_else(|| type_argument(&column_type))
                .unwrap_or(1) as u32;
            Some((
                Portable::Bits { width },
                if width == 1 {
                    vec![Portable::Boolean]
                } else {
                    Vec::new()
                },
            ))
        }
        "enum" => one(Portable::Enum {
            values: value_list(&column.column_type)?,
        }),
        "set" => one(Portable::Set {
            values: value_list(&column.column_type)?,
        }),
        "uuid" => one(Portable::Uuid),
        _ => None,
    }
}

/// Whether a text column is MariaDB's JSON: its JSON type is LONGTEXT with the CHECK
/// `json_valid(col)` the server adds (named after the column, or written by hand).
fn is_json(table: &Table, column: &Column) -> bool {
    let wanted = format!("json_valid(`{}`)", column.name.replace('`', "``")).to_lowercase();
    table.checks.iter().any(|c| {
        let expression: String = c
            .expression
            .chars()
            .filter(|ch| !ch.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        expression == wanted.replace(char::is_whitespace, "")
    })
}

/// The first number in a type's parentheses: `datetime(6)` 6, `varchar(20)` 20, `bit(12)` 12.
fn type_argument(column_type: &str) -> Option<u64> {
    let open = column_type.find('(')?;
    let rest = &column_type[open + 1..];
    let end = rest.find([')', ','])?;
    rest[..end].trim().parse().ok()
}

/// `decimal(p,s)`'s precision and scale.
fn decimal_arguments(column_type: &str) -> (Option<u32>, Option<u32>) {
    let Some(open) = column_type.find('(') else {
        return (None, None);
    };
    let inner = column_type[open + 1..].split(')').next().unwrap_or("");
    let mut parts = inner.split(',').map(|p| p.trim().parse::<u32>().ok());
    (parts.next().flatten(), parts.next().flatten())
}

/// The members of `enum('a','b c')` or `set(...)` as COLUMN_TYPE prints them: each quoted, a
/// quote inside doubled and a backslash written `\\`; commas, spaces and parentheses are part of
/// a member. `None` when the text is not such a list.
pub(super) fn value_list(column_type: &str) -> Option<Vec<String>> {
    let open = column_type.find('(')?;
    let mut rest = &column_type[open + 1..];
    let mut values = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(')') {
            return after.trim().is_empty().then_some(values);
        }
        let (value, after) = quoted(rest)?;
        values.push(value);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with(')') {
            return None;
        }
    }
}

/// One single-quoted literal at the start of `text`, unescaped (`''` and MySQL's backslash
/// escapes), and the text after it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\'' => {
                if body[i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &body[i + 1..]));
                }
            }
            '\\' => {
                let (_, escaped) = chars.next()?;
                // `\%` and `\_` keep their backslash outside LIKE patterns.
                if matches!(escaped, '%' | '_') {
                    out.push('\\');
                }
                out.push(match escaped {
                    '0' => '\0',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'b' => '\u{8}',
                    'Z' => '\u{1a}',
                    other => other,
                });
            }
            other => out.push(other),
        }
    }
    None
}

/// A whole text that is one quoted literal, unescaped.
fn whole_literal(text: &str) -> Option<String> {
    let (value, rest) = quoted(text)?;
    rest.trim().is_empty().then_some(value)
}

/// The default of `column` of portable type `ty`: its exact translation, or its text for the
/// reviewer where it has none (an expression, a zero date, a TIMESTAMP literal, which the server
/// reads in the inserting session's time zone).
pub(super) fn default_of(
    column: &Column,
    ty: &Portable,
) -> (Option<PortableDefault>, Option<String>) {
    let Some(text) = column.default.as_deref().map(str::trim) else {
        return (None, None);
    };
    if text.eq_ignore_ascii_case("null") {
        return (None, None);
    }
    match translate_default(text, ty) {
        Some(d) => (Some(d), None),
        None => (None, Some(text.to_string())),
    }
}

fn translate_default(text: &str, ty: &Portable) -> Option<PortableDefault> {
    let time_like = matches!(
        ty,
        Portable::Date | Portable::DateTime { .. } | Portable::Timestamp { .. }
    );
    if time_like && is_now(text, matches!(ty, Portable::Date)) {
        return Some(PortableDefault::Now);
    }
    // MariaDB quotes every literal but numbers; MySQL 8's are quoted by the catalog reader
    // except numbers and bit values, so both forms are read for numbers.
    let literal = whole_literal(text);
    let bare = literal.as_deref().unwrap_or(text);
    let cell = match ty {
        Portable::Integer { .. } | Portable::Year => Cell::Int(bare.parse().ok()?),
        Portable::Decimal { .. } => {
            is_decimal(bare).then_some(())?;
            Cell::Decimal(bare.to_string())
        }
        // The server parses a FLOAT's literal as a double and rounds that to a float.
        Portable::Float { bits: 32 } => Cell::Float(f64::from(bare.parse::<f64>().ok()? as f32)),
        Portable::Float { .. } => Cell::Float(bare.parse::<f64>().ok()?),
        Portable::Bits { width } => Cell::Bits(bits_literal(text, *width)?),
        Portable::Text { .. } => {
            // PostgreSQL's text cannot hold a zero byte.
            let v = literal?;
            (!v.contains('\0')).then_some(())?;
            Cell::Text(v)
        }
        Portable::Json => Cell::Json(literal?),
        Portable::Bytes { .. } => Cell::Bytes(literal?.into_bytes()),
        Portable::Enum { values } => {
            let v = literal?;
            values.contains(&v).then_some(())?;
            Cell::Enum(v)
        }
        Portable::Set { values } => {
            let v = literal?;
            let members = set_members(&v);
            members.iter().all(|m| values.contains(m)).then_some(())?;
            Cell::Set(members)
        }
        Portable::Date => {
            let (y, m, d) = parse_date(literal.as_deref()?)?;
            Cell::Date(i32::try_from(days_from_civil(y, m, d)).ok()?)
        }
        Portable::DateTime { .. } => Cell::DateTime(parse_datetime(literal.as_deref()?)?),
        Portable::Duration { .. } => Cell::Duration(parse_duration(literal.as_deref()?)?),
        Portable::Uuid => Cell::Uuid(uuid::Uuid::try_parse(literal.as_deref()?).ok()?.as_u128()),
        Portable::Timestamp { .. } | Portable::Boolean => return None,
    };
    Some(PortableDefault::Value(cell))
}

/// CURRENT_TIMESTAMP and its synonyms, with or without parentheses and a precision; on a DATE
/// column also CURDATE/CURRENT_DATE.
fn is_now(text: &str, date: bool) -> bool {
    let lower = text.to_ascii_lowercase();
    let name = match lower.find('(') {
        Some(open) => {
            let args = lower[open + 1..].trim_end();
            let Some(args) = args.strip_suffix(')') else {
                return false;
            };
            if !args.trim().chars().all(|c| c.is_ascii_digit()) {
                return false;
            }
            lower[..open].trim()
        }
        None => lower.trim(),
    };
    matches!(
        name,
        "current_timestamp" | "now" | "localtime" | "localtimestamp"
    ) || date && matches!(name, "curdate" | "current_date")
}

/// `-12.50`, `0`, `.5`: what DECIMAL prints (and its defaults are).
fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `b'101'` (how MariaDB and MySQL print a BIT default) as `ceil(width / 8)` bytes, most
/// significant first.
fn bits_literal(text: &str, width: u32) -> Option<Vec<u8>> {
    let digits = text
        .strip_prefix("b'")
        .or_else(|| text.strip_prefix("B'"))?
        .strip_suffix('\'')?;
    if digits.len() > width as usize || !digits.bytes().all(|b| b == b'0' || b == b'1') {
        return None;
    }
    let mut value: u64 = 0;
    for b in digits.bytes() {
        value = value << 1 | u64::from(b - b'0');
    }
    let bytes = width.div_ceil(8) as usize;
    Some(value.to_be_bytes()[8 - bytes..].to_vec())
}

/// A SET value's members: the server keeps them in declaration order, comma-separated (a
/// member cannot hold a comma); '' is the empty set.
pub(super) fn set_members(text: &str) -> Vec<String> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split(',').map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Check;

    fn column(data_type: &str, column_type: &str) -> Column {
        Column {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            nullable: true,
            max_length: type_argument(column_type)
                .filter(|_| matches!(data_type, "char" | "varchar" | "binary" | "varbinary")),
            ..Column::default()
        }
    }

    fn table_of(columns: Vec<Column>) -> Table {
        Table {
            name: "t".into(),
            columns,
            ..Table::default()
        }
    }

    fn map(data_type: &str, column_type: &str) -> Option<(Portable, Vec<Portable>)> {
        portable_type(&table_of(vec![]), &column(data_type, column_type))
    }

    #[test]
    fn every_type_maps_as_decided() {
        use Portable::*;
        let int = |bits, unsigned| Integer { bits, unsigned };
        let cases: Vec<(&str, &str, Portable, Vec<Portable>)> = vec![
            ("tinyint", "tinyint(4)", int(8, false), vec![]),
            ("tinyint", "tinyint(1)", int(8, false), vec![Boolean]),
            ("tinyint", "tinyint(3) unsigned", int(8, true), vec![]),
            ("smallint", "smallint(6)", int(16, false), vec![]),
            ("mediumint", "mediumint(8) unsigned", int(24, true), vec![]),
            ("int", "int(10) unsigned", int(32, true), vec![]),
            ("int", "int", int(32, false), vec![]),
            (
                "bigint",
                "bigint(20) unsigned zerofill",
                int(64, true),
                vec![],
            ),
            ("float", "float", Float { bits: 32 }, vec![]),
            ("double", "double", Float { bits: 64 }, vec![]),
            (
                "char",
                "char(2)",
                Text {
                    length: Some(2),
                    fixed: true,
                },
                vec![],
            ),
            (
                "char",
                "char(36)",
                Text {
                    length: Some(36),
                    fixed: true,
                },
                vec![Uuid],
            ),
            (
                "varchar",
                "varchar(36)",
                Text {
                    length: Some(36),
                    fixed: false,
                },
                vec![],
            ),
            (
                "mediumtext",
                "mediumtext",
                Text {
                    length: None,
                    fixed: false,
                },
                vec![],
            ),
            ("json", "json", Json, vec![]),
            (
                "binary",
                "binary(16)",
                Bytes {
                    length: Some(16),
                    fixed: true,
                },
                vec![Uuid],
            ),
            (
                "binary",
                "binary(4)",
                Bytes {
                    length: Some(4),
                    fixed: true,
                },
                vec![],
            ),
            (
                "varbinary",
                "varbinary(300)",
                Bytes {
                    length: Some(300),
                    fixed: false,
                },
                vec![],
            ),
            (
                "longblob",
                "longblob",
                Bytes {
                    length: None,
                    fixed: false,
                },
                vec![],
            ),
            (
                "point",
                "point",
                Bytes {
                    length: None,
                    fixed: false,
                },
                vec![],
            ),
            ("date", "date", Date, vec![]),
            (
                "datetime",
                "datetime(6)",
                DateTime { fraction: 6 },
                vec![Timestamp { fraction: 6 }],
            ),
            (
                "datetime",
                "datetime",
                DateTime { fraction: 0 },
                vec![Timestamp { fraction: 0 }],
            ),
            (
                "timestamp",
                "timestamp(3)",
                Timestamp { fraction: 3 },
                vec![],
            ),
            ("time", "time(2)", Duration { fraction: 2 }, vec![]),
            ("year", "year(4)", Year, vec![]),
            ("bit", "bit(12)", Bits { width: 12 }, vec![]),
            ("bit", "bit(1)", Bits { width: 1 }, vec![Boolean]),
            (
                "enum",
                "enum('','a','b c')",
                Enum {
                    values: vec!["".into(), "a".into(), "b c".into()],
                },
                vec![],
            ),
            (
                "set",
                "set('x','y')",
                Set {
                    values: vec!["x".into(), "y".into()],
                },
                vec![],
            ),
            ("uuid", "uuid", Uuid, vec![]),
        ];
        for (data_type, column_type, ty, alternatives) in cases {
            assert_eq!(
                map(data_type, column_type),
                Some((ty, alternatives)),
                "{column_type}"
            );
        }
        let decimal = Column {
            numeric_precision: Some(65),
            numeric_scale: Some(30),
            ..column("decimal", "decimal(65,30)")
        };
        assert_eq!(
            portable_type(&table_of(vec![]), &decimal).map(|m| m.0),
            Some(Decimal {
                precision: Some(65),
                scale: Some(30)
            })
        );
        assert_eq!(
            map("decimal", "decimal(10,2) unsigned").map(|m| m.0),
            Some(Decimal {
                precision: Some(10),
                scale: Some(2)
            })
        );
        assert_eq!(map("inet6", "inet6"), None);
    }

    #[test]
    fn mariadb_json_is_longtext_with_its_check() {
        let js = Column {
            name: "js".into(),
            ..column("longtext", "longtext")
        };
        let mut table = table_of(vec![js.clone()]);
        assert!(matches!(
            portable_type(&table, &js),
            Some((Portable::Text { .. }, _))
        ));
        table.checks.push(Check {
            name: "js".into(),
            expression: "json_valid(`js`)".into(),
            column: Some("js".into()),
        });
        assert_eq!(
            portable_type(&table, &js),
            Some((Portable::Json, Vec::new()))
        );
        // A check on another column does not make this one JSON.
        let other = Column {
            name: "j".into(),
            ..js
        };
        assert!(matches!(
            portable_type(&table, &other),
            Some((Portable::Text { .. }, _))
        ));
    }

    #[test]
    fn generated_columns_are_left_out_and_unknown_types_named() {
        let mut generated = column("int", "int(11)");
        generated.name = "total".into();
        generated.generated = Some("`a` * 2".into());
        let mut invisible = column("varchar", "varchar(5)");
        invisible.name = "secret".into();
        invisible.invisible = true;
        let table = table_of(vec![generated, invisible]);
        let cols = portable_columns(&table).unwrap();
        assert_eq!(
            cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["secret"]
        );
        let mut inet = column("inet6", "inet6");
        inet.name = "addr".into();
        let lines = portable_columns(&table_of(vec![inet])).unwrap_err();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("table t, column addr: the type inet6"));
        let mut short_year = column("year", "year(2)");
        short_year.name = "y".into();
        let lines =
            portable_columns(&table_of(vec![short_year, column("year", "year(4)")])).unwrap_err();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("table t, column y: YEAR(2)")
                && lines[0].contains("ALTER TABLE `t` MODIFY `y` YEAR"),
            "{lines:?}"
        );
    }

    #[test]
    fn enum_and_set_lists_are_read_exactly() {
        assert_eq!(
            value_list("enum('a''b','c\\\\d','x,y','é','tab\there',' (p) ')"),
            Some(vec![
                "a'b".into(),
                "c\\d".into(),
                "x,y".into(),
                "é".into(),
                "tab\there".into(),
                " (p) ".into()
            ])
        );
        assert_eq!(value_list("enum('')"), Some(vec![String::new()]));
        assert_eq!(
            value_list("set('x', 'y')"),
            Some(vec!["x".into(), "y".into()])
        );
        assert_eq!(value_list("enum('a'"), None);
        assert_eq!(value_list("enum('a' 'b')"), None);
        assert_eq!(set_members(""), Vec::<String>::new());
        assert_eq!(set_members("x,z"), vec!["x".to_string(), "z".to_string()]);
    }

    fn default(
        data_type: &str,
        column_type: &str,
        text: &str,
    ) -> (Option<PortableDefault>, Option<String>) {
        let mut c = column(data_type, column_type);
        c.default = Some(text.into());
        let (ty, _) = portable_type(&table_of(vec![]), &c).unwrap();
        default_of(&c, &ty)
    }

    /// A default's translation and its text where it has none.
    type Translated = (Option<PortableDefault>, Option<String>);

    fn value(cell: Cell) -> Translated {
        (Some(PortableDefault::Value(cell)), None)
    }

    fn untranslated(text: &str) -> Translated {
        (None, Some(text.into()))
    }

    #[test]
    fn defaults_translate_where_exact() {
        let now = (Some(PortableDefault::Now), None);
        let cases: Vec<(&str, &str, &str, Translated)> = vec![
            ("int", "int(11)", "NULL", (None, None)),
            ("int", "int(11)", "-5", value(Cell::Int(-5))),
            (
                "bigint",
                "bigint(20) unsigned",
                "18446744073709551615",
                value(Cell::Int(18_446_744_073_709_551_615)),
            ),
            ("int", "int(11)", "(1 + 2)", untranslated("(1 + 2)")),
            (
                "decimal",
                "decimal(5,2)",
                "1.50",
                value(Cell::Decimal("1.50".into())),
            ),
            (
                "decimal",
                "decimal(5,2)",
                "'-0.25'",
                value(Cell::Decimal("-0.25".into())),
            ),
            (
                "float",
                "float",
                "0.1",
                value(Cell::Float(f64::from(0.1f32))),
            ),
            ("double", "double", "0.1", value(Cell::Float(0.1))),
            (
                "varchar",
                "varchar(20)",
                "'it''s \\\\ back\\nnl'",
                value(Cell::Text("it's \\ back\nnl".into())),
            ),
            (
                "varchar",
                "varchar(20)",
                "'NULL'",
                value(Cell::Text("NULL".into())),
            ),
            (
                "varchar",
                "varchar(20)",
                "''",
                value(Cell::Text(String::new())),
            ),
            ("varchar", "varchar(20)", "'a\\0b'", untranslated("'a\\0b'")),
            ("varchar", "varchar(36)", "uuid()", untranslated("uuid()")),
            (
                "binary",
                "binary(4)",
                "'ab\\0\\0'",
                value(Cell::Bytes(b"ab\0\0".to_vec())),
            ),
            ("bit", "bit(5)", "b'101'", value(Cell::Bits(vec![5]))),
            (
                "bit",
                "bit(12)",
                "b'101010101010'",
                value(Cell::Bits(vec![0x0A, 0xAA])),
            ),
            (
                "enum",
                "enum('a''b','c')",
                "'a''b'",
                value(Cell::Enum("a'b".into())),
            ),
            ("enum", "enum('a','c')", "'z'", untranslated("'z'")),
            (
                "set",
                "set('p','q r')",
                "'p,q r'",
                value(Cell::Set(vec!["p".into(), "q r".into()])),
            ),
            ("set", "set('p','q r')", "''", value(Cell::Set(vec![]))),
            ("date", "date", "'1970-01-02'", value(Cell::Date(1))),
            ("date", "date", "'0000-00-00'", untranslated("'0000-00-00'")),
            ("date", "date", "curdate()", now.clone()),
            (
                "datetime",
                "datetime(3)",
                "'2024-01-02 03:04:05.678'",
                value(Cell::DateTime(1_704_164_645_678_000)),
            ),
            (
                "datetime",
                "datetime",
                "'0000-00-00 00:00:00'",
                untranslated("'0000-00-00 00:00:00'"),
            ),
            ("datetime", "datetime", "current_timestamp()", now.clone()),
            (
                "timestamp",
                "timestamp(6)",
                "current_timestamp(6)",
                now.clone(),
            ),
            ("timestamp", "timestamp", "CURRENT_TIMESTAMP", now.clone()),
            ("timestamp", "timestamp", "now()", now),
            (
                "timestamp",
                "timestamp",
                "'2024-01-01 00:00:00'",
                untranslated("'2024-01-01 00:00:00'"),
            ),
            (
                "time",
                "time",
                "'-01:02:03'",
                value(Cell::Duration(-3_723_000_000)),
            ),
            ("year", "year(4)", "2024", value(Cell::Int(2024))),
            ("year", "year(4)", "'2024'", value(Cell::Int(2024))),
            (
                "longtext",
                "longtext",
                "'{}'",
                value(Cell::Text("{}".into())),
            ),
            ("json", "json", "'{}'", value(Cell::Json("{}".into()))),
            (
                "uuid",
                "uuid",
                "'00000000-0000-0000-0000-000000000001'",
                value(Cell::Uuid(1)),
            ),
            (
                "varchar",
                "varchar(5)",
                "current_timestamp()",
                untranslated("current_timestamp()"),
            ),
        ];
        for (data_type, column_type, text, expected) in cases {
            assert_eq!(
                default(data_type, column_type, text),
                expected,
                "{column_type} DEFAULT {text}"
            );
        }
    }

    #[test]
    fn columns_carry_identity_nullability_and_comment() {
        let mut id = column("int", "int(11)");
        id.name = "id".into();
        id.auto_increment = true;
        id.nullable = false;
        id.comment = Some("the key".into());
        let cols = portable_columns(&table_of(vec![id])).unwrap();
        assert!(cols[0].identity && !cols[0].nullable);
        assert_eq!(cols[0].comment.as_deref(), Some("the key"));
        assert_eq!(cols[0].default, None);
    }
}
