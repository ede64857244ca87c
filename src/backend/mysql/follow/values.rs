//! One binlog value in the form MariaDB's `value_literal` writes back into the same column
//! exactly: the row events carry storage formats without names, signedness or time zone, so
//! SOURCE's catalog (what `columns.sql` reads) says what each position is.

use crate::calendar::civil_from_days;
use mysql::binlog::value::BinlogValue;
use mysql::Value as MyValue;

use crate::backend::Value;

/// What the stream needs to know of one column of a followed table (SOURCE's catalog).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ColumnInfo {
    pub name: String,
    /// information_schema.COLUMNS.DATA_TYPE, lower case (`int`, `timestamp`, `set`, ...).
    pub data_type: String,
    pub unsigned: bool,
    /// A generated column: the apply must not write it (DB_FINAL computes it).
    pub generated: bool,
}

impl ColumnInfo {
    /// From the catalog's DATA_TYPE, COLUMN_TYPE and EXTRA.
    pub(super) fn new(name: &str, data_type: &str, column_type: &str, extra: &str) -> ColumnInfo {
        let extra = extra.to_ascii_lowercase();
        ColumnInfo {
            name: name.to_string(),
            data_type: data_type.to_ascii_lowercase(),
            unsigned: column_type.to_ascii_lowercase().contains("unsigned"),
            generated: extra.contains("generated")
                || extra.contains("virtual")
                || extra.contains("persistent")
                || extra.contains("stored"),
        }
    }

    /// Bits of an integer column, to undo the binlog's signed storage of UNSIGNED values.
    fn int_bits(&self) -> Option<u32> {
        Some(match self.data_type.as_str() {
            "tinyint" => 8,
            "smallint" => 16,
            "mediumint" => 24,
            "int" | "integer" => 32,
            "bigint" => 64,
            _ => return None,
        })
    }
}

/// Why a value could not be converted (the stream names the table and column).
pub(super) type Refusal = String;

/// `value` of column `col` as the apply writes it back.
pub(super) fn convert(value: &BinlogValue<'_>, col: &ColumnInfo) -> Result<Value, Refusal> {
    match value {
        BinlogValue::Value(v) => convert_plain(v, col),
        // MySQL 8's binary JSON: its text, which a JSON column takes back as the same document.
        BinlogValue::Jsonb(_) => match MyValue::try_from(value.clone()) {
            Ok(MyValue::Bytes(b)) => Ok(Value::Blob(b)),
            Ok(MyValue::NULL) => Ok(Value::Null),
            _ => Err("a binary JSON value that does not convert to text".into()),
        },
        BinlogValue::JsonDiff(_) => Err(
            "a partial JSON update (binlog_row_value_options = PARTIAL_JSON); set it to '' so updates carry whole documents".into(),
        ),
    }
}

fn convert_plain(value: &MyValue, col: &ColumnInfo) -> Result<Value, Refusal> {
    Ok(match value {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => match (col.data_type.as_str(), col.int_bits()) {
            ("timestamp", _) => Value::Text(epoch_to_utc(*i, 0).into_bytes()),
            (_, Some(64)) if col.unsigned => unsigned(*i as u64),
            (_, Some(64)) => Value::Int(*i),
            // The binlog stores an integer in the column's width: UNSIGNED ones come back as
            // signed, and the decoder does not sign-extend a signed MEDIUMINT.
            (_, Some(bits)) => {
                let raw = (*i as u64) & ((1u64 << bits) - 1);
                if col.unsigned || raw < 1u64 << (bits - 1) {
                    Value::Int(raw as i64)
                } else {
                    Value::Int(raw as i64 - (1i64 << bits))
                }
            }
            _ => Value::Int(*i),
        },
        MyValue::UInt(u) => unsigned(*u),
        MyValue::Float(f) => Value::Real(f64::from(*f)),
        MyValue::Double(d) => Value::Real(*d),
        MyValue::Date(y, m, d, h, i, s, us) => {
            if col.data_type == "date" {
                Value::Text(format!("{y:04}-{m:02}-{d:02}").into_bytes())
            } else {
                Value::Text(
                    format!("{y:04}-{m:02}-{d:02} {h:02}:{i:02}:{s:02}{}", fraction(*us))
                        .into_bytes(),
                )
            }
        }
        MyValue::Time(neg, days, h, m, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            Value::Text(
                format!(
                    "{}{hours:02}:{m:02}:{s:02}{}",
                    if *neg { "-" } else { "" },
                    fraction(*us)
                )
                .into_bytes(),
            )
        }
        MyValue::Bytes(b) => match col.data_type.as_str() {
            "timestamp" => Value::Text(timestamp_text(b)?.into_bytes()),
            "decimal" | "numeric" => Value::Text(b.clone()),
            // YEAR's stored 0 is the year 0000, which the decoder prints as 1900 (not a YEAR).
            "year" if b.as_slice() == b"1900" => Value::Text(b"0000".to_vec()),
            "year" => Value::Text(b.clone()),
            // SET travels as its member bitmap, little-endian: the number stores the same members.
            "set" => {
                let mut n: u64 = 0;
                for (k, byte) in b.iter().enumerate().take(8) {
                    n |= u64::from(*byte) << (8 * k);
                }
                unsigned(n)
            }
            // Strings of any character set, binary strings, BLOB, TEXT, JSON, BIT, GEOMETRY:
            // the stored bytes, which an X'..' literal stores unchanged.
            _ => Value::Blob(b.clone()),
        },
    })
}

fn unsigned(u: u64) -> Value {
    match i64::try_from(u) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Text(u.to_string().into_bytes()),
    }
}

/// `.ffffff` when there are microseconds: all six digits, which every precision reads back.
fn fraction(us: u32) -> String {
    if us == 0 {
        String::new()
    } else {
        format!(".{us:06}")
    }
}

/// The decoder's TIMESTAMP (`seconds` or `seconds.micros` since the epoch) as UTC text.
fn timestamp_text(b: &[u8]) -> Result<String, Refusal> {
    let text = std::str::from_utf8(b).map_err(|_| "a TIMESTAMP that is not a number")?;
    let (secs, micros) = match text.split_once('.') {
        Some((s, f)) => (s, f.parse::<u32>().map_err(|_| "a TIMESTAMP fraction")?),
        None => (text, 0),
    };
    let secs: i64 = secs
        .parse()
        .map_err(|_| "a TIMESTAMP that is not a number")?;
    Ok(epoch_to_utc(secs, micros))
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC; 0 is TIMESTAMP's zero value.
pub(super) fn epoch_to_utc(secs: i64, micros: u32) -> String {
    if secs == 0 && micros == 0 {
        return "0000-00-00 00:00:00".into();
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        fraction(micros)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(data_type: &str, column_type: &str) -> ColumnInfo {
        ColumnInfo::new("c", data_type, column_type, "")
    }
    fn conv(v: MyValue, c: &ColumnInfo) -> Value {
        convert(&BinlogValue::Value(v), c).unwrap()
    }
    fn text(s: &str) -> Value {
        Value::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn unsigned_integers_come_back_from_their_signed_storage() {
        let big = col("bigint", "bigint(20) unsigned");
        assert_eq!(conv(MyValue::Int(-1), &big), text("18446744073709551615"));
        assert_eq!(conv(MyValue::Int(5), &big), Value::Int(5));
        assert_eq!(
            conv(MyValue::Int(i64::MIN), &big),
            text("9223372036854775808")
        );
        assert_eq!(
            conv(MyValue::Int(-1), &col("tinyint", "tinyint(3) unsigned")),
            Value::Int(255)
        );
        assert_eq!(
            conv(MyValue::Int(-1), &col("mediumint", "mediumint(8) unsigned")),
            Value::Int(16_777_215)
        );
        assert_eq!(
            conv(MyValue::Int(-1), &col("int", "int(10) unsigned")),
            Value::Int(4_294_967_295)
        );
        assert_eq!(
            conv(MyValue::Int(-7), &col("int", "int(11)")),
            Value::Int(-7)
        );
        let mi = col("mediumint", "mediumint(9)");
        assert_eq!(conv(MyValue::Int(8_388_608), &mi), Value::Int(-8_388_608));
        assert_eq!(conv(MyValue::Int(-8_388_608), &mi), Value::Int(-8_388_608));
        assert_eq!(conv(MyValue::Int(16_777_215), &mi), Value::Int(-1));
        assert_eq!(conv(MyValue::Int(8_388_607), &mi), Value::Int(8_388_607));
        assert_eq!(
            conv(MyValue::Int(i64::MIN), &col("bigint", "bigint(20)")),
            Value::Int(i64::MIN)
        );
    }

    #[test]
    fn times_keep_their_sign_hours_and_fraction() {
        let t = col("time", "time(6)");
        assert_eq!(
            conv(MyValue::Time(true, 1, 14, 5, 6, 120), &t),
            text("-38:05:06.000120")
        );
        assert_eq!(
            conv(MyValue::Time(false, 0, 0, 0, 0, 0), &t),
            text("00:00:00")
        );
        let dt = col("datetime", "datetime(3)");
        assert_eq!(
            conv(MyValue::Date(2024, 2, 29, 23, 59, 58, 123_000), &dt),
            text("2024-02-29 23:59:58.123000")
        );
        assert_eq!(
            conv(MyValue::Date(2024, 2, 29, 0, 0, 0, 0), &col("date", "date")),
            text("2024-02-29")
        );
    }

    #[test]
    fn timestamps_are_utc_text() {
        let ts = col("timestamp", "timestamp(6)");
        assert_eq!(
            conv(MyValue::Bytes(b"1709251198.000007".to_vec()), &ts),
            text("2024-02-29 23:59:58.000007")
        );
        assert_eq!(
            conv(MyValue::Bytes(b"0".to_vec()), &ts),
            text("0000-00-00 00:00:00")
        );
        assert_eq!(epoch_to_utc(1, 0), "1970-01-01 00:00:01");
        assert_eq!(epoch_to_utc(2_147_483_647, 0), "2038-01-19 03:14:07");
    }

    #[test]
    fn sets_are_their_bitmap_and_strings_their_bytes() {
        assert_eq!(
            conv(MyValue::Bytes(vec![5, 1]), &col("set", "set('a','b')")),
            Value::Int(261)
        );
        assert_eq!(
            conv(
                MyValue::Bytes(vec![0, 0xe9, 0]),
                &col("varchar", "varchar(9)")
            ),
            Value::Blob(vec![0, 0xe9, 0])
        );
        assert_eq!(
            conv(
                MyValue::Bytes(b"-12.50".to_vec()),
                &col("decimal", "decimal(9,2)")
            ),
            text("-12.50")
        );
        assert_eq!(
            conv(MyValue::Bytes(b"1900".to_vec()), &col("year", "year(4)")),
            text("0000")
        );
        assert_eq!(
            conv(MyValue::Float(0.1), &col("float", "float")),
            Value::Real(f64::from(0.1f32))
        );
        assert_eq!(conv(MyValue::NULL, &col("int", "int")), Value::Null);
    }

    #[test]
    fn generated_columns_are_known() {
        assert!(ColumnInfo::new("g", "int", "int(11)", "VIRTUAL GENERATED").generated);
        assert!(ColumnInfo::new("g", "int", "int(11)", "STORED GENERATED").generated);
        assert!(!ColumnInfo::new("g", "int", "int(11)", "auto_increment").generated);
    }
}
