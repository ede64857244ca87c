//! One value as an engine returned it, the currency every session trades in.

/// MySQL's text protocol gives `Text` for every non-NULL value; SQLite keeps its storage classes;
/// PostgreSQL's binary protocol gives each type's own bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// The value as text, for catalog queries and keys.
    pub fn as_string(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::Real(r) => Some(r.to_string()),
            Value::Text(b) | Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
    /// The value as an integer key (any integer type, signed or unsigned, up to 64 bits).
    pub fn as_key(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i as i128),
            Value::Text(b) | Value::Blob(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        self.as_key().and_then(|k| u64::try_from(k).ok())
    }
}
