//! The names of what rekey adds to DB_DATA: mapping tables and the work columns of shadow and link
//! (SPEC: `<pk>_ipk_copy`, `<pk>_upk_copy`, `<col>_ufk_copy`), shortened with a hash where the
//! engine's identifier limit needs it. The same inputs always give the same names, so a resumed
//! run finds what the killed one added.

use crate::backend::Dialect;
use crate::model::INTERNAL_PREFIX;

/// `_rekey_map_<table>`.
pub fn map_table(d: &dyn Dialect, table: &str) -> String {
    work_name(d, &format!("{INTERNAL_PREFIX}map_{table}"), "")
}

/// The old integer key kept beside its UUID while the table is shadowed.
pub fn ipk(d: &dyn Dialect, column: &str) -> String {
    work_name(d, column, "_ipk_copy")
}

/// The UUID shadow of a converted table's key.
pub fn upk(d: &dyn Dialect, column: &str) -> String {
    work_name(d, column, "_upk_copy")
}

/// The UUID shadow of a referencing column.
pub fn ufk(d: &dyn Dialect, column: &str) -> String {
    work_name(d, column, "_ufk_copy")
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
        assert_eq!(ipk(&d, "id"), "id_ipk_copy");
        assert_eq!(upk(&d, "actor_id"), "actor_id_upk_copy");
        assert_eq!(ufk(&d, "user_id"), "user_id_ufk_copy");
        assert_eq!(map_table(&d, "user"), "_rekey_map_user");
    }

    #[test]
    fn long_names_are_shortened_within_the_limit_and_stay_distinct() {
        let d = MysqlDialect;
        let a = format!("{}_a", "x".repeat(58));
        let b = format!("{}_b", "x".repeat(58));
        let (ua, ub) = (ufk(&d, &a), ufk(&d, &b));
        assert!(
            d.fits_identifier(&ua) && d.fits_identifier(&ub),
            "{ua} {ub}"
        );
        assert_eq!(ua.chars().count(), 64);
        assert!(ua.ends_with("_ufk_copy"), "{ua}");
        assert_ne!(ua, ub);
        assert_eq!(ua, ufk(&d, &a), "the same column always gets the same name");
        let long_table = "t".repeat(64);
        assert!(d.fits_identifier(&map_table(&d, &long_table)));
        // SQLite has no limit: names are never shortened there.
        let s = SqliteDialect;
        assert_eq!(ufk(&s, &a), format!("{a}_ufk_copy"));
    }
}
