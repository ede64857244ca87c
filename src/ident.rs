//! Quoting of identifiers and string literals: the only place where SQL text is built from names.

/// How an engine quotes identifiers. Every identifier rekey puts into SQL goes through `quote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStyle {
    /// MySQL and MariaDB: `name`, with backticks doubled.
    Backtick,
    /// SQLite and PostgreSQL: "name", with double quotes doubled.
    DoubleQuote,
}

/// Quotes one identifier so that reserved words, spaces, quotes and unicode survive.
pub fn quote(style: QuoteStyle, name: &str) -> String {
    let q = match style {
        QuoteStyle::Backtick => '`',
        QuoteStyle::DoubleQuote => '"',
    };
    let mut out = String::with_capacity(name.len() + 2);
    out.push(q);
    for ch in name.chars() {
        if ch == q {
            out.push(q);
        }
        out.push(ch);
    }
    out.push(q);
    out
}

/// A quoted `schema.table` (or just `table` when the schema is the session's own).
pub fn qualified(style: QuoteStyle, schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}", quote(style, s), quote(style, name)),
        None => quote(style, name),
    }
}

/// A SQL string literal. `backslash_escapes` is true for MySQL (backslash is an escape character there
/// unless NO_BACKSLASH_ESCAPES is set, which rekey never sets on its sessions).
pub fn literal(value: &str, backslash_escapes: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' if backslash_escapes => out.push_str("\\\\"),
            '\0' if backslash_escapes => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backticks_and_reserved_words() {
        assert_eq!(quote(QuoteStyle::Backtick, "order"), "`order`");
        assert_eq!(quote(QuoteStyle::Backtick, "we`ird"), "`we``ird`");
        assert_eq!(quote(QuoteStyle::DoubleQuote, "a \"b\""), "\"a \"\"b\"\"\"");
        assert_eq!(quote(QuoteStyle::Backtick, "naïve 表"), "`naïve 表`");
    }

    #[test]
    fn literal_escapes() {
        assert_eq!(literal("it's", false), "'it''s'");
        assert_eq!(literal("a\\b", true), "'a\\\\b'");
        assert_eq!(literal("a\\b", false), "'a\\b'");
    }

    #[test]
    fn qualified_names() {
        assert_eq!(qualified(QuoteStyle::Backtick, Some("db"), "t"), "`db`.`t`");
        assert_eq!(qualified(QuoteStyle::DoubleQuote, None, "t"), "\"t\"");
    }
}
