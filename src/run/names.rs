//! The names of what rekey adds to DB_DATA: mapping tables and the work columns of shadow and link
//! (SPEC: `<pk>_ipk_copy`, `<pk>_upk_copy`, `<col>_ufk_copy`), shortened with a hash where the
//! engine's identifier limit needs it. The same inputs always give the same names, so a resumed
//! run finds what the killed one added.

use crate::backend::Dialect;
use crate::model::{Table, INTERNAL_PREFIX};

/// `_rekey_map_<table>`.
pub fn map_table(d: &dyn Dialect, table: &str) -> String {
    work_name(d, &format!("{INTERNAL_PREFIX}map_{table}"), "")
}

/// The old integer key kept beside its UUID while the table is shadowed. `source` is SOURCE's
/// table, whose own columns a work column must not be named like.
pub fn ipk(d: &dyn Dialect, source: Option<&Table>, column: &str) -> String {
    work_column(d, source, column, "_ipk_copy")
}

/// The UUID shadow of a converted table's key.
pub fn upk(d: &dyn Dialect, source: Option<&Table>, column: &str) -> String {
    work_column(d, source, column, "_upk_copy")
}

/// The UUID shadow of a referencing column.
pub fn ufk(d: &dyn Dialect, source: Option<&Table>, column: &str) -> String {
    work_column(d, source, column, "_ufk_copy")
}

/// The spec's name, unless SOURCE's table has a column of that name (in any case: MySQL's
/// column names are case-insensitive), then the first of `<suffix>2`, `<suffix>3`... that it
/// does not have. The suffixes stay distinct, so work columns never collide with each other,
/// and the same table always gives the same names, so a resumed run finds them.
fn work_column(d: &dyn Dialect, source: Option<&Table>, column: &str, suffix: &str) -> String {
    let taken = |name: &str| {
        source.is_some_and(|t| t.columns.iter().any(|c| c.name.eq_ignore_ascii_case(name)))
    };
    let mut n = 1;
    loop {
        let tail = if n == 1 {
            suffix.to_string()
        } else {
            format!("{suffix}{n}")
        };
        let name = work_name(d, column, &tail);
        if !taken(&name) {
            return name;
        }
        n += 1;
    }
}

/// `base` + `suffix` where it fits; else as much of `base` as fits before a hash of the whole
/// `base`, then `suffix`: still recognisable, still unique.
fn work_name(d: &dyn Dialect, base: &str, suffix: &str) -> String {
    let whole = format!("{base}{suffix}");
    if d.fits_identifier(&whole) {
        return whole;
    }
    let hash = xxhash_rust::xxh3::xxh3_64(base.as_bytes()) as u32;
    let mut head: String = base.to_string();
    loop {
        let name = format!("{head}_{hash:08x}{suffix}");
        if d.fits_identifier(&name) || head.is_empty() {
            return name;
        }
        head.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::mysql::MysqlDialect;
    use crate::backend::sqlite::SqliteDialect;

    #[test]
    fn short_names_follow_the_spec() {
        let d = MysqlDialect;
        assert_eq!(ipk(&d, None, "id"), "id_ipk_copy");
        assert_eq!(upk(&d, None, "actor_id"), "actor_id_upk_copy");
        assert_eq!(ufk(&d, None, "user_id"), "user_id_ufk_copy");
        assert_eq!(map_table(&d, "user"), "_rekey_map_user");
    }

    #[test]
    fn long_names_are_shortened_within_the_limit_and_stay_distinct() {
        let d = MysqlDialect;
        let a = format!("{}_a", "x".repeat(58));
        let b = format!("{}_b", "x".repeat(58));
        let (ua, ub) = (ufk(&d, None, &a), ufk(&d, None, &b));
        assert!(
            d.fits_identifier(&ua) && d.fits_identifier(&ub),
            "{ua} {ub}"
        );
        assert_eq!(ua.chars().count(), 64);
        assert!(ua.ends_with("_ufk_copy"), "{ua}");
        assert_ne!(ua, ub);
        assert_eq!(
            ua,
            ufk(&d, None, &a),
            "the same column always gets the same name"
        );
        let long_table = "t".repeat(64);
        assert!(d.fits_identifier(&map_table(&d, &long_table)));
        // SQLite has no limit: names are never shortened there.
        let s = SqliteDialect;
        assert_eq!(ufk(&s, None, &a), format!("{a}_ufk_copy"));
    }

    #[test]
    fn work_columns_never_take_a_source_column_name() {
        let d = MysqlDialect;
        let t = Table {
            name: "t".into(),
            columns: [
                "id",
                "ID_UPK_COPY",
                "id_ipk_copy",
                "id_ipk_copy2",
                "p_ufk_copy",
            ]
            .iter()
            .map(|c| crate::model::Column {
                name: c.to_string(),
                ..Default::default()
            })
            .collect(),
            ..Table::default()
        };
        assert_eq!(upk(&d, Some(&t), "id"), "id_upk_copy2");
        assert_eq!(ipk(&d, Some(&t), "id"), "id_ipk_copy3");
        assert_eq!(ufk(&d, Some(&t), "p"), "p_ufk_copy2");
        assert_eq!(ufk(&d, Some(&t), "q"), "q_ufk_copy");
    }
}
