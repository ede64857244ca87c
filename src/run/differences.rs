//! How DB_DATA's converted definitions differ from DB_FINAL's, one line per difference: the
//! compare stage's check, and preflight's on the shape the conversion will give SOURCE's tables
//! (`--load-path move`).

use crate::model::{is_bookkeeping, is_internal, Column, Schema};

/// Every difference, one line each, as `table.column: what in DB_DATA, what in DB_FINAL`, or
/// `table.column: column only in DB_FINAL (NOT NULL, no default)` for what one side lacks.
/// `source` is SOURCE's schema where the command has it, for `bookkeeping::kept`.
pub fn differences(data: &Schema, fin: &Schema, source: Option<&Schema>) -> Vec<String> {
    let mut out = Vec::new();
    for t in data.tables.iter().filter(|t| !is_internal(&t.name)) {
        let Some(f) = fin.table(&t.name) else {
            if !is_bookkeeping(&t.name) {
                out.push(format!("{}: table only in DB_DATA", t.name));
            }
            continue;
        };
        if crate::run::bookkeeping::kept(&t.name, fin, source) {
            continue; // the new schema's own history: never loaded, so never compared
        }
        for c in &t.columns {
            match f.column(&c.name) {
                None => out.push(format!(
                    "{}.{}: column only in DB_DATA ({})",
                    t.name,
                    c.name,
                    column_facts(c)
                )),
                Some(fc) => column_differences(&t.name, c, fc, &mut out),
            }
        }
        for fc in &f.columns {
            if t.column(&fc.name).is_none() {
                out.push(format!(
                    "{}.{}: column only in DB_FINAL ({})",
                    t.name,
                    fc.name,
                    column_facts(fc)
                ));
            }
        }
    }
    for f in fin
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name) && !crate::run::bookkeeping::kept(&t.name, fin, source))
    {
        if data.table(&f.name).is_none() {
            out.push(format!("{}: table only in DB_FINAL", f.name));
        }
    }
    out
}

fn column_differences(table: &str, d: &Column, f: &Column, out: &mut Vec<String>) {
    let at = format!("{table}.{}", d.name);
    if !d.data_type.eq_ignore_ascii_case(&f.data_type) {
        out.push(format!(
            "{at}: data type {} in DB_DATA, {} in DB_FINAL",
            d.data_type, f.data_type
        ));
    } else if d.max_length != f.max_length {
        out.push(format!(
            "{at}: length {} in DB_DATA, {} in DB_FINAL",
            show(d.max_length),
            show(f.max_length)
        ));
    } else if !d.column_type.eq_ignore_ascii_case(&f.column_type) {
        out.push(format!(
            "{at}: type {} in DB_DATA, {} in DB_FINAL",
            d.column_type, f.column_type
        ));
    }
    if d.nullable != f.nullable {
        let n = |b: bool| if b { "NULL" } else { "NOT NULL" };
        out.push(format!(
            "{at}: {} in DB_DATA, {} in DB_FINAL",
            n(d.nullable),
            n(f.nullable)
        ));
    }
    if d.charset != f.charset {
        out.push(format!(
            "{at}: character set {} in DB_DATA, {} in DB_FINAL",
            d.charset.as_deref().unwrap_or("none"),
            f.charset.as_deref().unwrap_or("none")
        ));
    }
}

/// What decides whether a column one side lacks can be loaded: a NOT NULL column without default
/// in DB_FINAL refuses every row, a nullable one or one with a default would take NULL or it.
fn column_facts(c: &Column) -> String {
    let null = if c.nullable { "NULL" } else { "NOT NULL" };
    match (&c.generated, &c.default) {
        (Some(_), _) => format!("{null}, generated"),
        (None, Some(d)) => format!("{null}, default {d}"),
        (None, None) => format!("{null}, no default"),
    }
}

fn show(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "none".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Table;

    fn column(name: &str, nullable: bool, default: Option<&str>) -> Column {
        Column {
            name: name.into(),
            data_type: "varchar".into(),
            column_type: "varchar(20)".into(),
            nullable,
            default: default.map(String::from),
            ..Column::default()
        }
    }

    fn schema(table: &str, columns: Vec<Column>) -> Schema {
        Schema {
            tables: vec![Table {
                name: table.into(),
                columns,
                ..Table::default()
            }],
            ..Schema::default()
        }
    }

    #[test]
    fn a_column_one_side_lacks_says_which_side_has_it_and_whether_it_loads() {
        let data = schema(
            "tag",
            vec![column("id", false, None), column("old", true, None)],
        );
        let fin = schema(
            "tag",
            vec![
                column("id", false, None),
                column("colour", false, None),
                column("size", false, Some("'M'")),
            ],
        );
        assert_eq!(
            differences(&data, &fin, None),
            [
                "tag.old: column only in DB_DATA (NULL, no default)",
                "tag.colour: column only in DB_FINAL (NOT NULL, no default)",
                "tag.size: column only in DB_FINAL (NOT NULL, default 'M')",
            ]
        );
        assert_eq!(
            differences(&data, &schema("other", vec![]), None),
            [
                "tag: table only in DB_DATA",
                "other: table only in DB_FINAL"
            ]
        );
    }
}
