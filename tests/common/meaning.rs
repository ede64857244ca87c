//! An independent check of a move between engines: every row of SOURCE (MariaDB through the
//! mysql crate's binary protocol, SQLite through rusqlite) against DB_FINAL on PostgreSQL (each
//! value as PostgreSQL's text output), column by column, by meaning; keys and references through
//! the run's map files. It shares no code with rekey's own transfer or verify.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use super::pg::Postgres;

/// A SOURCE value as the source engine's driver decoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Src {
    Null,
    Int(i128),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// year, month, day, hour, minute, second, microsecond
    Moment(i32, u32, u32, u32, u32, u32, u32),
    /// signed microseconds
    Span(i64),
}

/// One SOURCE table: its columns (generated ones left out: DB_FINAL computes its own), the
/// integer primary key's column when it has one, its references (column -> parent table).
pub struct SrcTable {
    pub name: String,
    pub columns: Vec<String>,
    pub key: Option<String>,
    pub references: BTreeMap<String, String>,
    pub rows: Vec<Vec<Src>>,
}

/// Reads every table of a MariaDB database.
pub fn mysql_tables(server: &str, db: &str) -> Vec<SrcTable> {
    use mysql::prelude::Queryable;
    let mut c = super::conn(server, Some(db));
    c.query_drop("SET time_zone = '+00:00'").unwrap();
    let names: Vec<String> = c
        .query(format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1"
        ))
        .unwrap();
    let mut out = Vec::new();
    for name in names {
        let columns: Vec<(String, String, String)> = c
            .query(format!(
                "SELECT COLUMN_NAME, EXTRA, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{}' ORDER BY ORDINAL_POSITION",
                name.replace('\'', "''")
            ))
            .unwrap();
        let columns: Vec<String> = columns
            .into_iter()
            .filter(|(_, extra, _)| !extra.to_ascii_uppercase().contains("GENERATED"))
            .map(|(c, _, _)| c)
            .collect();
        let key: Vec<(String, String)> = c
            .query(format!(
                "SELECT k.COLUMN_NAME, col.DATA_TYPE FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.COLUMNS col ON col.TABLE_SCHEMA = k.TABLE_SCHEMA AND col.TABLE_NAME = k.TABLE_NAME AND col.COLUMN_NAME = k.COLUMN_NAME WHERE k.TABLE_SCHEMA = '{db}' AND k.TABLE_NAME = '{}' AND k.CONSTRAINT_NAME = 'PRIMARY'",
                name.replace('\'', "''")
            ))
            .unwrap();
        let key = match key.as_slice() {
            [(c, t)] if t.contains("int") => Some(c.clone()),
            _ => None,
        };
        let references: BTreeMap<String, String> = c
            .query::<(String, String), _>(format!(
                "SELECT COLUMN_NAME, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{}' AND REFERENCED_TABLE_NAME IS NOT NULL",
                name.replace('\'', "''")
            ))
            .unwrap()
            .into_iter()
            .collect();
        let list: Vec<String> = columns
            .iter()
            .map(|c| format!("`{}`", c.replace('`', "``")))
            .collect();
        let rows: Vec<mysql::Row> = c
            .exec(
                format!(
                    "SELECT {} FROM `{}`",
                    list.join(", "),
                    name.replace('`', "``")
                ),
                (),
            )
            .unwrap();
        let rows = rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(from_mysql).collect())
            .collect();
        out.push(SrcTable {
            name,
            columns,
            key,
            references,
            rows,
        });
    }
    out
}

fn from_mysql(v: mysql::Value) -> Src {
    use mysql::Value as V;
    match v {
        V::NULL => Src::Null,
        V::Int(i) => Src::Int(i as i128),
        V::UInt(u) => Src::Int(u as i128),
        V::Float(f) => Src::F32(f),
        V::Double(d) => Src::F64(d),
        V::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => Src::Text(s),
            Err(e) => Src::Bytes(e.into_bytes()),
        },
        V::Date(y, m, d, h, mi, s, us) => Src::Moment(
            y as i32, m as u32, d as u32, h as u32, mi as u32, s as u32, us,
        ),
        V::Time(neg, days, h, m, s, us) => {
            let micros = (((days as i64 * 24 + h as i64) * 60 + m as i64) * 60 + s as i64)
                * 1_000_000
                + us as i64;
            Src::Span(if neg { -micros } else { micros })
        }
    }
}

/// Reads every table of a SQLite database file.
pub fn sqlite_tables(path: &Path) -> Vec<SrcTable> {
    let c = rusqlite::Connection::open(path).unwrap();
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for name in names {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let info: Vec<(String, String, i64, i64)> = c
            .prepare(&format!(
                "SELECT name, type, pk, hidden FROM pragma_table_xinfo({})",
                lit(&name)
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let columns: Vec<String> = info
            .iter()
            .filter(|(_, _, _, hidden)| *hidden == 0)
            .map(|(n, _, _, _)| n.clone())
            .collect();
        let keys: Vec<&(String, String, i64, i64)> = info.iter().filter(|i| i.2 > 0).collect();
        let key = match keys.as_slice() {
            [(n, t, _, _)] if t.to_ascii_uppercase().contains("INT") => Some(n.clone()),
            _ => None,
        };
        let references: BTreeMap<String, String> = c
            .prepare(&format!(
                "SELECT \"from\", \"table\" FROM pragma_foreign_key_list({})",
                lit(&name)
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let list: Vec<String> = columns.iter().map(|c| q(c)).collect();
        let mut stmt = c
            .prepare(&format!("SELECT {} FROM {}", list.join(", "), q(&name)))
            .unwrap();
        let n = columns.len();
        let rows: Vec<Vec<Src>> = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => Src::Null,
                        rusqlite::types::ValueRef::Integer(i) => Src::Int(i as i128),
                        rusqlite::types::ValueRef::Real(f) => Src::F64(f),
                        rusqlite::types::ValueRef::Text(t) => {
                            Src::Text(String::from_utf8(t.to_vec()).unwrap())
                        }
                        rusqlite::types::ValueRef::Blob(b) => Src::Bytes(b.to_vec()),
                    })
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.push(SrcTable {
            name,
            columns,
            key,
            references,
            rows,
        });
    }
    out
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Compares every SOURCE table with DB_FINAL on PostgreSQL by meaning: the same number of rows,
/// and for each SOURCE row (found through its key's map) every column equal; converted keys and
/// references through the map files. `skip` lists tables DB_FINAL does not hold. Returns the
/// number of values compared; panics naming the first difference.
pub fn compare(source: &[SrcTable], pg: &Postgres, final_db: &str, run_dir: &Path) -> u64 {
    let mut maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for t in source {
        if t.key.is_some() {
            maps.insert(t.name.clone(), super::mapping(run_dir, &t.name));
        }
    }
    let mut compared = 0;
    for t in source {
        let types: BTreeMap<String, String> = pg
            .text_rows(
                final_db,
                &format!(
                    "SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' THEN 'text' ELSE udt_name END FROM information_schema.columns WHERE table_schema = 'public' AND table_name = {}",
                    lit(&t.name)
                ),
            )
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect();
        assert!(!types.is_empty(), "DB_FINAL has no table {}", t.name);
        let list: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("\"{}\"::text", c.replace('"', "\"\"")))
            .collect();
        let final_rows = pg.text_rows(
            final_db,
            &format!(
                "SELECT {} FROM \"{}\"",
                list.join(", "),
                t.name.replace('"', "\"\"")
            ),
        );
        assert_eq!(
            final_rows.len(),
            t.rows.len(),
            "table {}: {} rows in SOURCE, {} in DB_FINAL",
            t.name,
            t.rows.len(),
            final_rows.len()
        );
        // Each SOURCE row's meaning, as text per column, then the multisets compared.
        let mut want: Vec<Vec<Option<String>>> = Vec::new();
        for row in &t.rows {
            let mut out = Vec::new();
            for (i, v) in row.iter().enumerate() {
                let col = &t.columns[i];
                let ty = types
                    .get(col)
                    .unwrap_or_else(|| panic!("DB_FINAL's {} has no column {col}", t.name));
                let parent = if t.key.as_deref() == Some(col.as_str()) {
                    Some(t.name.as_str())
                } else {
                    t.references.get(col).map(String::as_str)
                };
                let mapped = parent.and_then(|p| maps.get(p));
                out.push(match (mapped, v) {
                    (_, Src::Null) => None,
                    (Some(map), v) => {
                        let old = match v {
                            Src::Int(i) => i.to_string(),
                            other => panic!("{}.{col}: key {other:?} is not an integer", t.name),
                        };
                        Some(key_text(map.get(&old).unwrap_or_else(|| {
                            panic!("{}.{col}: {old} not in the map", t.name)
                        })))
                    }
                    (None, v) => Some(source_meaning(v, ty, &t.name, col)),
                });
            }
            want.push(out);
        }
        let converted: Vec<bool> = t
            .columns
            .iter()
            .map(|col| {
                let parent = if t.key.as_deref() == Some(col.as_str()) {
                    Some(t.name.as_str())
                } else {
                    t.references.get(col).map(String::as_str)
                };
                parent.is_some_and(|p| maps.contains_key(p))
            })
            .collect();
        let got: Vec<Vec<Option<String>>> = final_rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let ty = &types[&t.columns[i]];
                        v.map(|text| {
                            if converted[i] {
                                key_text(&text)
                            } else {
                                final_meaning(&text, ty)
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        let mut want_sorted = want.clone();
        let mut got_sorted = got.clone();
        want_sorted.sort();
        got_sorted.sort();
        if want_sorted != got_sorted {
            let missing = want_sorted.iter().find(|r| !got_sorted.contains(r));
            let extra = got_sorted.iter().find(|r| !want_sorted.contains(r));
            panic!(
                "table {} differs by meaning (columns {:?}):\n  SOURCE row not in DB_FINAL: {missing:?}\n  DB_FINAL row not in SOURCE: {extra:?}",
                t.name, t.columns
            );
        }
        compared += (t.rows.len() * t.columns.len()) as u64;
    }
    compared
}

/// A SOURCE value's meaning as the text `final_meaning` gives DB_FINAL's value of type `ty`.
fn source_meaning(v: &Src, ty: &str, table: &str, col: &str) -> String {
    let bad = || panic!("{table}.{col}: SOURCE's {v:?} has no meaning as {ty}");
    match ty {
        "bool" => match v {
            Src::Int(0) => "false".into(),
            Src::Int(1) => "true".into(),
            Src::Bytes(b) if b == &[0] => "false".into(),
            Src::Bytes(b) if b == &[1] => "true".into(),
            Src::Text(t) if t == "\u{0}" => "false".into(),
            Src::Text(t) if t == "\u{1}" => "true".into(),
            _ => bad(),
        },
        "int2" | "int4" | "int8" | "numeric" => match v {
            Src::Int(i) => i.to_string(),
            Src::Text(t) => decimal(t),
            Src::F64(f) => decimal(&format!("{f}")),
            _ => bad(),
        },
        "float4" => match v {
            Src::F32(f) => format!("{:?}", *f as f64),
            Src::F64(f) => format!("{:?}", *f as f32 as f64),
            Src::Int(i) => format!("{:?}", *i as f32 as f64),
            _ => bad(),
        },
        "float8" => match v {
            Src::F64(f) => format!("{f:?}"),
            Src::F32(f) => format!("{:?}", *f as f64),
            Src::Int(i) => format!("{:?}", *i as f64),
            _ => bad(),
        },
        "text" | "varchar" | "bpchar" => match v {
            Src::Text(t) => t.trim_end_matches(' ').to_string(),
            Src::Int(i) => i.to_string(),
            _ => bad(),
        },
        "json" | "jsonb" => match v {
            Src::Text(t) => json(t),
            _ => bad(),
        },
        "bytea" => match v {
            Src::Bytes(b) => hex(b),
            Src::Text(t) => hex(t.as_bytes()),
            _ => bad(),
        },
        "date" | "timestamp" | "timestamptz" => match v {
            Src::Moment(y, mo, d, h, mi, s, us) => moment(*y, *mo, *d, *h, *mi, *s, *us),
            Src::Text(t) => moment_text(t),
            _ => bad(),
        },
        "interval" => match v {
            Src::Span(m) => m.to_string(),
            Src::Text(t) => interval(t).to_string(),
            _ => bad(),
        },
        "bit" | "varbit" => match v {
            Src::Bytes(b) => b.iter().map(|x| format!("{x:08b}")).collect::<String>(),
            Src::Text(t) => t.bytes().map(|x| format!("{x:08b}")).collect::<String>(),
            _ => bad(),
        },
        "_text" => match v {
            Src::Text(t) if t.is_empty() => "[]".into(),
            Src::Text(t) => format!("{:?}", t.split(',').collect::<Vec<_>>()),
            _ => bad(),
        },
        "uuid" => match v {
            Src::Text(t) => t.to_lowercase(),
            Src::Bytes(b) if b.len() == 16 => {
                uuid::Uuid::from_slice(b).unwrap().hyphenated().to_string()
            }
            _ => bad(),
        },
        other => panic!("{table}.{col}: no meaning known for PostgreSQL type {other}"),
    }
}

/// DB_FINAL's value (PostgreSQL's text output of type `ty`) as the text `source_meaning` gives.
fn final_meaning(text: &str, ty: &str) -> String {
    match ty {
        "bool" => (text == "t" || text == "true").to_string(),
        "int2" | "int4" | "int8" | "numeric" => decimal(text),
        "float4" => format!("{:?}", text.parse::<f32>().unwrap() as f64),
        "float8" => format!("{:?}", text.parse::<f64>().unwrap()),
        "text" | "varchar" | "bpchar" => text.trim_end_matches(' ').to_string(),
        "json" | "jsonb" => json(text),
        "bytea" => text.trim_start_matches("\\x").to_string(),
        "date" | "timestamp" | "timestamptz" => moment_text(text),
        "interval" => interval(text).to_string(),
        "bit" | "varbit" => {
            // Whole bytes on the SOURCE side: pad to a multiple of 8 from the left.
            let pad = (8 - text.len() % 8) % 8;
            format!("{}{text}", "0".repeat(pad))
        }
        "_text" => format!("{:?}", pg_array(text)),
        "uuid" => text.to_lowercase(),
        _ => text.to_string(),
    }
}

/// A new key as 32 lower-case hex digits, however the column or the map file spells it.
fn key_text(t: &str) -> String {
    t.trim().replace('-', "").to_lowercase()
}

fn decimal(t: &str) -> String {
    let t = t.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if neg && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

fn json(t: &str) -> String {
    fn norm(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            J::Number(n) => J::String(format!("{:?}", n.as_f64().unwrap())),
            J::Array(a) => J::Array(a.into_iter().map(norm).collect()),
            J::Object(o) => J::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect()),
            other => other,
        }
    }
    norm(serde_json::from_str(t).unwrap()).to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn moment(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> String {
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.f][+00]` (or a date alone) as `moment` spells it.
fn moment_text(t: &str) -> String {
    let t = t.trim().trim_end_matches("+00").trim_end_matches('Z');
    let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let mut dp = date.split('-').map(|x| x.parse::<u32>().unwrap());
    let (y, mo, d) = (dp.next().unwrap(), dp.next().unwrap(), dp.next().unwrap());
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.split(':').map(|x| x.parse::<u32>().unwrap());
    let (h, mi, s) = (
        tp.next().unwrap(),
        tp.next().unwrap(),
        tp.next().unwrap_or(0),
    );
    let us: u32 = format!("{:0<6}", frac)[..6].parse().unwrap();
    moment(y as i32, mo, d, h, mi, s, us)
}

/// PostgreSQL's interval text (`-838:59:59`, `1 day 02:00:00`, `00:00:01.5`) in microseconds.
fn interval(t: &str) -> i64 {
    let mut total: i64 = 0;
    let mut words = t.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w.contains(':') {
            let neg = w.starts_with('-');
            let w = w.trim_start_matches(['-', '+']);
            let (hms, frac) = w.split_once('.').unwrap_or((w, ""));
            let mut p = hms.split(':').map(|x| x.parse::<i64>().unwrap());
            let (h, m, s) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(0));
            let us: i64 = format!("{:0<6}", frac)[..6].parse().unwrap();
            let v = ((h * 60 + m) * 60 + s) * 1_000_000 + us;
            total += if neg { -v } else { v };
        } else {
            let n: i64 = w.parse().unwrap();
            let unit = words.next().unwrap_or("");
            assert!(unit.starts_with("day"), "interval unit {unit} in {t}");
            total += n * 86_400_000_000;
        }
    }
    total
}

/// PostgreSQL's text of a one-dimensional text[]: `{x,"b c",""}`.
fn pg_array(t: &str) -> Vec<String> {
    let inner = t.trim_start_matches('{').trim_end_matches('}');
    if inner.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => cur.extend(chars.next()),
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}
