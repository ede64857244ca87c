//! DB_FINAL's own foreign keys. The load runs with the server's checks off, so a key the new schema
//! adds or points elsewhere would store the rows that break it: preflight finds those rows on
//! SOURCE before anything is written (DB_FINAL's tables and columns are SOURCE's by name, converted
//! columns compared through the plan's references), and verify checks every key on DB_FINAL's rows.

use super::bookkeeping::kept;
use crate::backend::{Backend, Dialect, Finding, Session};
use crate::error::Result;
use crate::model::{is_internal, ForeignKey, Schema, Table};
use crate::plan::Plan;

const SUBJECT: &str = "DB_FINAL foreign keys";

/// The table whose UUIDs `table.column` holds after the conversion, `None` when it keeps its
/// values. A key that takes its parent row's UUID (one-to-one) holds the parent's.
fn key_space(plan: &Plan, table: &str, column: &str) -> Option<String> {
    let (_, mut holds) = plan
        .uuid_columns(table)
        .into_iter()
        .find(|(c, _)| c == column)?;
    for _ in 0..plan.converted.len() {
        match plan.converted(&holds).and_then(|c| c.follows.clone()) {
            Some(parent) => holds = parent,
            None => break,
        }
    }
    Some(holds)
}

/// `c.a IS NOT NULL AND c.b IS NOT NULL`: a key with a NULL column is not checked (MATCH SIMPLE).
fn all_set(d: &dyn Dialect, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", d.q(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `NOT EXISTS (SELECT 1 FROM parent p WHERE p.x = c.a ...)`.
/// The parent's own rows only (PostgreSQL's foreign key does not see an inheritance child's).
fn no_parent(d: &dyn Dialect, parent: &Table, pairs: &[(String, String)]) -> String {
    let on: Vec<String> = pairs
        .iter()
        .map(|(c, p)| format!("p.{} = c.{}", d.q(p), d.q(c)))
        .collect();
    format!(
        "NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
        d.own_rows(parent),
        on.join(" AND ")
    )
}

fn label(fk: &ForeignKey) -> String {
    format!(
        "{} ({}) -> {}({})",
        fk.name,
        fk.columns.join(", "),
        fk.ref_table,
        fk.ref_columns.join(", ")
    )
}

/// The SOURCE rows that would break one of DB_FINAL's foreign keys once converted and loaded, one
/// failed finding per key. A key that is one of the plan's references is left to the orphan check
/// (which `--orphans null` answers).
pub fn check_source(
    source: &dyn Backend,
    s: &mut dyn Session,
    schema: &Schema,
    plan: &Plan,
    final_schema: &Schema,
) -> Result<Vec<Finding>> {
    let d = source.dialect();
    let mut out = Vec::new();
    for ft in final_schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name) && !kept(&t.name, final_schema, Some(schema)))
    {
        let Some(st) = schema.table(&ft.name) else {
            continue; // a new table: the load leaves it empty
        };
        for fk in ft.foreign_keys.iter().filter(|f| f.ref_schema.is_none()) {
            if kept(&fk.ref_table, final_schema, Some(schema))
                || fk.columns.is_empty()
                || fk.columns.iter().any(|c| st.column(c).is_none())
            {
                continue; // columns SOURCE does not have: compare names them
            }
            if let Some(f) = check_key(d, s, plan, schema, st, fk)? {
                out.push(f);
            }
        }
    }
    if out.is_empty()
        && final_schema
            .tables
            .iter()
            .any(|t| !t.foreign_keys.is_empty())
    {
        out.push(Finding::ok(
            SUBJECT,
            "SOURCE's rows satisfy every foreign key of DB_FINAL",
        ));
    }
    Ok(out)
}

fn check_key(
    d: &dyn Dialect,
    s: &mut dyn Session,
    plan: &Plan,
    schema: &Schema,
    st: &Table,
    fk: &ForeignKey,
) -> Result<Option<Finding>> {
    let t = &st.name;
    let cols = fk.columns.join(", ");
    let set = all_set(d, &fk.columns);
    let with_value = |s: &mut dyn Session| {
        s.query_u64(&format!(
            "SELECT COUNT(*) FROM {} c WHERE {set}",
            d.own_rows(st)
        ))
    };
    let Some(parent) = schema.table(&fk.ref_table) else {
        let rows = with_value(s)?;
        return Ok((rows > 0).then(|| {
            Finding::fail(
                SUBJECT,
                format!(
                    "{t}.{cols}: DB_FINAL's foreign key {} would be broken by {rows} rows: SOURCE has no table {}, so DB_FINAL's stays empty",
                    label(fk),
                    fk.ref_table
                ),
                format!("drop that foreign key from DB_FINAL's schema, or give SOURCE the {} rows first", fk.ref_table),
            )
        }));
    };
    if fk.ref_columns.iter().any(|c| parent.column(c).is_none()) {
        return Ok(None); // a parent column SOURCE lacks: compare names it
    }
    let mut pairs = Vec::new();
    for (c, p) in fk.columns.iter().zip(&fk.ref_columns) {
        let (child, held) = (key_space(plan, t, c), key_space(plan, &parent.name, p));
        if child == held {
            pairs.push((c.clone(), p.clone()));
            continue;
        }
        // The column and its parent column hold different keys after the conversion: every
        // row with a value breaks the key.
        let rows = with_value(s)?;
        if rows == 0 {
            return Ok(None);
        }
        let parent_holds = match &held {
            Some(b) => format!("{}.{p} holds the UUIDs of {b}", fk.ref_table),
            None => format!("{}.{p} keeps its values", fk.ref_table),
        };
        let (why, fix) = match &child {
            Some(a) => (
                format!("SOURCE's {t}.{c} holds keys of {a} (they become the UUIDs of {a}), while {parent_holds}"),
                format!("point DB_FINAL's foreign key at {a}, the table SOURCE's values are keys of (rekey maps keys, it does not move a column to another table), or drop it"),
            ),
            None => (
                format!("SOURCE's {t}.{c} is not a reference rekey converts, so it keeps its values, while {parent_holds}"),
                format!("if {t}.{c} holds keys of {}, declare it with --reference {t}.{c}={}.{p}; otherwise drop that foreign key from DB_FINAL's schema", fk.ref_table, fk.ref_table),
            ),
        };
        return Ok(Some(Finding::fail(
            SUBJECT,
            format!(
                "{t}.{c}: DB_FINAL's foreign key {} retargets the column and would be broken by all {rows} rows with a value: {why}",
                label(fk)
            ),
            fix,
        )));
    }
    let exact_reference = fk.columns.len() == 1
        && plan.references.iter().any(|r| {
            r.table == *t
                && r.column == fk.columns[0]
                && r.ref_table == fk.ref_table
                && r.ref_column == fk.ref_columns[0]
        });
    if exact_reference {
        return Ok(None);
    }
    let from = format!(
        "FROM {} c WHERE {set} AND {}",
        d.own_rows(st),
        no_parent(d, parent, &pairs)
    );
    let rows = s.query_u64(&format!("SELECT COUNT(*) {from}"))?;
    if rows == 0 {
        return Ok(None);
    }
    let samples: Vec<String> = s
        .query_all(&format!(
            "SELECT DISTINCT {} {from} ORDER BY 1 LIMIT 3",
            fk.columns
                .iter()
                .map(|c| format!("c.{}", d.q(c)))
                .collect::<Vec<_>>()
                .join(", ")
        ))?
        .iter()
        .map(|row| {
            let v: Vec<String> = row
                .iter()
                .map(|v| v.as_string().unwrap_or_else(|| "NULL".into()))
                .collect();
            format!("'{}'", v.join("', '"))
        })
        .collect();
    Ok(Some(Finding::fail(
        SUBJECT,
        format!(
            "{t}.{cols}: DB_FINAL's foreign key {} would be broken by {rows} SOURCE rows whose value has no row in SOURCE's {}, e.g. {}",
            label(fk),
            fk.ref_table,
            samples.join(", ")
        ),
        format!(
            "add the missing {} rows or fix or delete those {t} rows in the snapshot, or drop that foreign key from DB_FINAL's schema",
            fk.ref_table
        ),
    )))
}

/// Whether verify's own checks already prove DB_FINAL's foreign key `fk` of table `ft`, so that
/// the anti-join of `broken_in_final` (2.2-2.6 s per 1M child rows on MariaDB) would only repeat
/// them. They do when `fk` is exactly one of the plan's references, a plain column (not the
/// table's own key) to its parent's converted key, and verify checks the parent's rows too
/// (`verified`): verify hashes every child row with the reference mapped through the parent's map
/// file (a value the map lacks is a problem, or NULL with `--orphans null`, and DB_FINAL must
/// hold the same), and checks that the parent's map file holds exactly the keys of SOURCE's
/// parent rows and that DB_FINAL's parent rows hold their mapped keys. So every non-NULL value of
/// the child in DB_FINAL is the new key of a parent row that DB_FINAL holds, or verify fails.
/// Not implied, and still checked by the anti-join: keys over columns rekey does not convert,
/// composite keys, keys DB_FINAL retargets to another table or column, a one-to-one key (the
/// table's own key referencing its parent), and parents verify does not check (DB_FINAL's
/// bookkeeping tables, partitioned tables whose rows live in their partitions).
pub fn implied_by_verify(
    plan: &Plan,
    final_schema: &Schema,
    verified: &dyn Fn(&str) -> bool,
    ft: &Table,
    fk: &ForeignKey,
) -> bool {
    let ([column], [ref_column]) = (fk.columns.as_slice(), fk.ref_columns.as_slice()) else {
        return false;
    };
    let own_key = plan.converted(&ft.name).map(|c| c.column.as_str());
    let parent_key = plan.converted(&fk.ref_table).map(|c| c.column.as_str());
    fk.ref_schema.is_none()
        && own_key != Some(column.as_str())
        && parent_key == Some(ref_column.as_str())
        && verified(&ft.name)
        && verified(&fk.ref_table)
        && final_schema
            .table(&fk.ref_table)
            .is_some_and(|p| p.partitioning.is_none())
        && plan.references.iter().any(|r| {
            r.table == ft.name
                && r.column == *column
                && r.ref_table == fk.ref_table
                && r.ref_column == *ref_column
        })
        // The parent verify maps the column through (the first role, as verify takes it).
        && plan
            .uuid_columns(&ft.name)
            .into_iter()
            .find(|(c, _)| c == column)
            .is_some_and(|(_, parent)| parent == fk.ref_table)
}

/// Problems of DB_FINAL's table `ft` after the load: one line per foreign key some of its rows
/// break (their value has no parent row in DB_FINAL). Keys for which `skip` says yes are not
/// queried (`implied_by_verify`).
pub fn broken_in_final(
    fin: &dyn Backend,
    s: &mut dyn Session,
    ft: &Table,
    final_schema: &Schema,
    skip: &dyn Fn(&ForeignKey) -> bool,
) -> Result<Vec<String>> {
    let d = fin.dialect();
    let mut out = Vec::new();
    for fk in ft
        .foreign_keys
        .iter()
        .filter(|f| f.ref_schema.is_none() && !skip(f))
    {
        let Some(parent) = final_schema.table(&fk.ref_table) else {
            continue;
        };
        if fk.columns.is_empty() {
            continue;
        }
        let pairs: Vec<(String, String)> = fk
            .columns
            .iter()
            .cloned()
            .zip(fk.ref_columns.iter().cloned())
            .collect();
        let rows = s.query_u64(&format!(
            "SELECT COUNT(*) FROM {} c WHERE {} AND {}",
            d.own_rows(ft),
            all_set(d, &fk.columns),
            no_parent(d, parent, &pairs)
        ))?;
        if rows > 0 {
            out.push(format!(
                "{rows} rows break DB_FINAL's foreign key {}: their value has no parent row",
                label(fk)
            ));
        }
    }
    Ok(out)
}
