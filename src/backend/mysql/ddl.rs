//! MariaDB/MySQL's schema statements: ALTER TABLE in place, one statement per table where it can
//! be, so that a resumed run finds each table changed or not. On Galera DB_DATA's tables stay
//! keyed (the primary key is kept through unconstrain and declared again over the swapped
//! columns; a keyless table gets an invisible one) and InnoDB (MyISAM and Aria rows do not
//! replicate).

use super::catalog::WORK_KEY;
use super::dialect::alter;
use super::{Family, MysqlBackend, DIALECT};
use crate::backend::{Ddl, Dialect, IndexesAside, Session, Swap, Unconstrain, Value};
use crate::error::{Error, Place, Result};
use crate::model::{Column, Table, Trigger};
use crate::url::DbUrl;

const SHOW_CREATE_TABLE_SQL: &str = include_str!("show_create_table.sql");
const TABLE_OPTIONS_SQL: &str = include_str!("table_options.sql");

/// The secondary index lines of a `SHOW CREATE TABLE` text, as printed (`UNIQUE KEY `u` (`a`)`,
/// `KEY `k` (`b`(10)) COMMENT 'x'`), in its order, each with its index's name. None when a line
/// is one that one ALTER cannot put back as it was (FULLTEXT: InnoDB builds one per ALTER and
/// may add a hidden column; SPATIAL, VECTOR) or the text is not the shape SHOW CREATE prints.
pub(super) fn secondary_index_lines(create: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for line in after_head(create)?.lines() {
        let line = line.trim().trim_end_matches(',');
        if line.starts_with(')') {
            return Some(out);
        }
        let rest = match line.strip_prefix("UNIQUE KEY ") {
            Some(rest) => rest,
            None => match line.strip_prefix("KEY ") {
                Some(rest) => rest,
                None if line.starts_with('`')
                    || line.starts_with("PRIMARY KEY ")
                    || line.starts_with("CONSTRAINT ")
                    || line.starts_with("PERIOD FOR ") =>
                {
                    continue
                }
                None => return None,
            },
        };
        out.push((backtick_name(rest)?, line.to_string()));
    }
    None
}

/// The ALTER TABLE clause that adds back an index printed by SHOW CREATE TABLE as `line` (one of
/// `secondary_index_lines`), unless an index of that name exists: `ADD KEY IF NOT EXISTS ...`.
fn add_if_not_exists(line: &str) -> String {
    match line.strip_prefix("UNIQUE KEY ") {
        Some(rest) => format!("ADD UNIQUE KEY IF NOT EXISTS {rest}"),
        None => match line.strip_prefix("KEY ") {
            Some(rest) => format!("ADD KEY IF NOT EXISTS {rest}"),
            None => format!("ADD {line}"),
        },
    }
}

/// The bytes of `SHOW CREATE TABLE` of `table` (quoted, or qualified) on session `s`, as the
/// server sent them (none for a table it printed nothing for).
fn show_create_on(s: &mut dyn Session, table: &str) -> Result<Vec<u8>> {
    let show = s.query_all(&SHOW_CREATE_TABLE_SQL.replace("{table}", table))?;
    Ok(
        match show.into_iter().next().and_then(|r| r.into_iter().nth(1)) {
            Some(Value::Text(b) | Value::Blob(b)) => b,
            _ => Vec::new(),
        },
    )
}

/// A `SHOW CREATE TABLE` text after its first line, `CREATE TABLE `name` (`: the table's name
/// may hold a line break.
fn after_head(create: &str) -> Option<&str> {
    let rest = create.strip_prefix("CREATE TABLE ")?;
    let name = DIALECT.q(&backtick_name(rest)?);
    rest.strip_prefix(name.as_str())?.strip_prefix(" (\n")
}

/// The name at the start of `text` in backticks (a doubled backtick is one).
fn backtick_name(text: &str) -> Option<String> {
    let mut chars = text.strip_prefix('`')?.chars().peekable();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        if c == '`' {
            if chars.peek() == Some(&'`') {
                chars.next();
            } else {
                return Some(name);
            }
        }
        name.push(c);
    }
    None
}

/// SOURCE's `SHOW CREATE TABLE` text turned into the one CREATE TABLE that `CREATE TABLE ... LIKE`
/// and `derive_table_sql`'s ALTER would leave: each of `columns` (quoted name, definition) on
/// its own line in place of SOURCE's, the table-level CHECKs named in `checks` and every foreign
/// key left out (LIKE copies none), no AUTO_INCREMENT counter (LIKE starts a new one). None
/// unless every line is one SHOW CREATE TABLE prints, every column and check is found once, no
/// quoted name spans two lines, and the table is neither partitioned nor placed in a DATA or
/// INDEX DIRECTORY (which LIKE leaves out): the two statements then run as before.
pub(super) fn converted_create(
    create: &str,
    columns: &[(String, String)],
    checks: &[String],
) -> Option<String> {
    if quoted_across_lines(create) {
        return None;
    }
    let lines: Vec<&str> = create.lines().collect();
    let (head, rest) = lines.split_first()?;
    let end = rest.iter().position(|l| l.starts_with(')'))?;
    let (body, tail) = rest.split_at(end);
    if !head.starts_with("CREATE TABLE `") || !head.ends_with(" (") || tail.len() != 1 {
        return None;
    }
    let mut replaced = vec![false; columns.len()];
    let mut dropped = vec![false; checks.len()];
    let mut parts = Vec::with_capacity(body.len());
    for line in body {
        let item = line.strip_prefix("  ")?;
        let item = item.strip_suffix(',').unwrap_or(item);
        if item.starts_with('`') {
            let name = backtick_name(item)?;
            match columns.iter().position(|(q, _)| *q == DIALECT.q(&name)) {
                Some(i) if !replaced[i] => {
                    replaced[i] = true;
                    parts.push(columns[i].1.clone());
                }
                Some(_) => return None,
                None => parts.push(item.to_string()),
            }
        } else if let Some(rest) = item.strip_prefix("CONSTRAINT ") {
            let name = backtick_name(rest)?;
            let after = &rest[DIALECT.q(&name).len()..];
            if after.starts_with(" FOREIGN KEY ") {
                continue;
            }
            if !after.starts_with(" CHECK ") {
                return None;
            }
            match checks.iter().position(|c| *c == name) {
                Some(i) if !dropped[i] => dropped[i] = true,
                Some(_) => return None,
                None => parts.push(item.to_string()),
            }
        } else if [
            "PRIMARY KEY ",
            "UNIQUE KEY ",
            "KEY ",
            "FULLTEXT KEY ",
            "SPATIAL KEY ",
        ]
        .iter()
        .any(|k| item.starts_with(k))
        {
            parts.push(item.to_string());
        } else {
            return None;
        }
    }
    if parts.is_empty() || replaced.contains(&false) || dropped.contains(&false) {
        return None;
    }
    // The server prints AUTO_INCREMENT before any option that quotes text (COMMENT,
    // CONNECTION, an engine's own): one found after a quote may be inside it.
    let options = tail[0];
    if options.contains(" DATA DIRECTORY=") || options.contains(" INDEX DIRECTORY=") {
        return None;
    }
    let options = match options.find(" AUTO_INCREMENT=") {
        Some(at) if options[..at].contains('\'') => return None,
        Some(at) => {
            let value = at + " AUTO_INCREMENT=".len();
            let end = options[value..]
                .find(' ')
                .map_or(options.len(), |n| value + n);
            format!("{}{}", &options[..at], &options[end..])
        }
        None => options.to_string(),
    };
    Some(format!("{head}\n  {}\n{options}", parts.join(",\n  ")))
}

/// Whether a quoted name (in backticks) or string (in single quotes) of `text` holds a line
/// break: SHOW CREATE TABLE escapes one in a string, not in a name, and the lines of
/// `converted_create` would cut it.
fn quoted_across_lines(text: &str) -> bool {
    let mut open: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (open, c) {
            (Some(_), '\n') => return true,
            (Some('\''), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => {
                if chars.peek() == Some(&q) {
                    chars.next();
                } else {
                    open = None;
                }
            }
            (None, '`' | '\'') => open = Some(c),
            _ => {}
        }
    }
    false
}

/// SOURCE's `SHOW CREATE TABLE` text turned into a table of DB_DATA (or a derived DB_FINAL) on
/// Galera, where `CREATE TABLE ... LIKE` is refused outright when wsrep_mode requires keys (even
/// for a keyed table: ERROR 4165): without foreign keys (as LIKE makes it), InnoDB (MyISAM and
/// Aria rows do not replicate), and, with `add_key`, for a keyless table an invisible
/// AUTO_INCREMENT primary key (`_rekey_row`) that rows get as they are inserted. None when the
/// text is not the shape SHOW CREATE TABLE prints.
pub(super) fn keyed_innodb(create: &str, add_key: bool) -> Option<String> {
    let lines: Vec<&str> = create.lines().collect();
    let (head, rest) = lines.split_first()?;
    let end = rest.iter().position(|l| l.starts_with(')'))?;
    let (body, tail) = rest.split_at(end);
    if !head.starts_with("CREATE TABLE ") || !head.ends_with('(') {
        return None;
    }
    let mut parts: Vec<String> = body
        .iter()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !(l.starts_with("CONSTRAINT ") && l.contains(" FOREIGN KEY ")))
        .collect();
    if add_key {
        parts.push(format!(
            "{} bigint unsigned NOT NULL AUTO_INCREMENT INVISIBLE",
            DIALECT.q(WORK_KEY)
        ));
        parts.push(format!("PRIMARY KEY ({})", DIALECT.q(WORK_KEY)));
    }
    let options: Vec<&str> = tail[0]
        .trim_start_matches(')')
        .split_whitespace()
        .filter(|o| {
            let name = o.split('=').next().unwrap_or_default().to_ascii_uppercase();
            !matches!(
                name.as_str(),
                "ENGINE" | "AUTO_INCREMENT" | "PAGE_CHECKSUM" | "TRANSACTIONAL" | "ROW_FORMAT"
            )
        })
        .collect();
    // Partitioning follows on the next lines, each partition naming its engine.
    let partitions: Vec<String> = tail[1..]
        .iter()
        .map(|l| {
            l.replace("ENGINE = MyISAM", "ENGINE = InnoDB")
                .replace("ENGINE = Aria", "ENGINE = InnoDB")
        })
        .collect();
    let mut sql = format!(
        "{head}\n  {}\n) ENGINE=InnoDB {}",
        parts.join(",\n  "),
        options.join(" ")
    );
    for p in partitions {
        sql.push('\n');
        sql.push_str(&p);
    }
    Some(sql.trim_end().to_string())
}

impl MysqlBackend {
    /// On Galera: the CREATE TABLE of SOURCE's table `from` (qualified) as `keyed_innodb` makes
    /// it, with rekey's invisible key when `add_key`.
    fn create_from_source(&self, from: &str, table: &Table, add_key: bool) -> Result<String> {
        let create = self.show_create(from)?.unwrap_or_default();
        keyed_innodb(&create, add_key).ok_or_else(|| {
            Error::env(
                Place::default().table(&table.name),
                "SHOW CREATE TABLE printed a definition rekey cannot read.",
                "Report this as a bug, with the table's SHOW CREATE TABLE.",
            )
        })
    }

    /// The `SHOW CREATE TABLE` text of `from` (qualified), as this server prints it; None where
    /// it is not UTF-8 (a binary column's default may be printed as its raw bytes), which no
    /// text of rekey's could write back exactly.
    fn show_create(&self, from: &str) -> Result<Option<String>> {
        let mut s = self.server_session()?;
        Ok(String::from_utf8(show_create_on(&mut s, from)?).ok())
    }

    /// Each swapped column of `table` as derive-final defines it (name, UUID type,
    /// nullability, the column's comment kept): `MODIFY`'s clause, and the column's line of a
    /// CREATE TABLE.
    fn swapped_columns(table: &Table, swaps: &[Swap]) -> Vec<(String, String)> {
        swaps
            .iter()
            .map(|s| {
                let comment = table
                    .column(&s.column)
                    .and_then(|c| c.comment.as_deref())
                    .map(|c| format!(" COMMENT {}", DIALECT.lit(c)))
                    .unwrap_or_default();
                let name = DIALECT.q(&s.column);
                let definition = format!(
                    "{name} {} {}{comment}",
                    s.uuid_type,
                    if s.nullable { "NULL" } else { "NOT NULL" },
                );
                (name, definition)
            })
            .collect()
    }

    /// The table-level CHECKs of `table` written for its integer keys: they cannot hold for
    /// UUIDs (MODIFY drops the column-level ones with the column's old definition).
    fn integer_checks(table: &Table, swaps: &[Swap]) -> Vec<String> {
        table
            .checks
            .iter()
            .filter(|c| c.column.is_none() && swaps.iter().any(|s| c.mentions(&s.column)))
            .map(|c| c.name.clone())
            .collect()
    }

    /// SOURCE's table, qualified for a statement on this server; SOURCE must be on it (or on
    /// another node of its Galera cluster).
    pub(super) fn source_table(&self, source: &DbUrl, table: &str) -> Result<String> {
        if !self.reaches(source)? {
            return Err(Error::input(
                Place::default().table(table),
                format!("{} and {} are on different servers; this version of rekey copies between databases of one server.", self.url, source),
                "Restore the snapshot on the server that will hold DB_DATA and DB_FINAL (docs/limitations.md).",
            ));
        }
        Ok(format!(
            "{}.{}",
            DIALECT.q(&source.database),
            DIALECT.q(table)
        ))
    }
}

impl Ddl for MysqlBackend {
    fn clone_table_sql(&self, source: &DbUrl, table: &Table) -> Result<Vec<String>> {
        let from = self.source_table(source, &table.name)?;
        if self.flavour().keeps_primary_keys() {
            return Ok(vec![self.create_from_source(
                &from,
                table,
                table.primary_key.is_empty(),
            )?]);
        }
        Ok(vec![format!(
            "CREATE TABLE {} LIKE {from}",
            DIALECT.q(&table.name)
        )])
    }

    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String> {
        // On Galera the primary key stays: swap declares it again over the new columns.
        let keep_key = self.flavour().keeps_primary_keys();
        let what = &Unconstrain {
            primary_key: what.primary_key && !keep_key,
            ..what.clone()
        };
        let drops: Vec<String> = what
            .foreign_keys
            .iter()
            .map(|f| format!("DROP FOREIGN KEY {}", DIALECT.q(f)))
            .collect();
        let mut out = alter(&table.name, &drops);
        // A table-level CHECK on a key column would stop swap from dropping that column.
        let mut clauses: Vec<String> = what
            .checks
            .iter()
            .map(|c| format!("DROP CONSTRAINT {}", DIALECT.q(c)))
            .collect();
        if what.primary_key {
            // AUTO_INCREMENT must go before the key it needs.
            for c in table.columns.iter().filter(|c| c.auto_increment) {
                clauses.push(format!(
                    "MODIFY {} {} NOT NULL",
                    DIALECT.q(&c.name),
                    c.column_type
                ));
            }
            clauses.push("DROP PRIMARY KEY".into());
        }
        for ix in &what.indexes {
            clauses.push(format!("DROP INDEX {}", DIALECT.q(ix)));
        }
        out.extend(alter(&table.name, &clauses));
        out
    }

    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String> {
        // One ALTER per table: atomic, so a resumed run finds a table either swapped or not.
        let pending: Vec<&Swap> = swaps
            .iter()
            .filter(|s| table.column(&s.shadow).is_some())
            .collect();
        let mut clauses = Vec::new();
        for s in &pending {
            if table.column(&s.column).is_some() {
                clauses.push(format!("DROP COLUMN {}", DIALECT.q(&s.column)));
            }
        }
        let shadows: Vec<&str> = swaps.iter().map(|s| s.shadow.as_str()).collect();
        let originals: Vec<&Column> = table
            .columns
            .iter()
            .filter(|c| !shadows.contains(&c.name.as_str()) && !drop.contains(&c.name))
            .collect();
        for s in &pending {
            let position = match originals.iter().position(|c| c.name == s.column) {
                Some(0) | None => "FIRST".to_string(),
                Some(i) => format!("AFTER {}", DIALECT.q(&originals[i - 1].name)),
            };
            let comment = table
                .column(&s.column)
                .and_then(|c| c.comment.as_deref())
                .map(|c| format!(" COMMENT {}", DIALECT.lit(c)))
                .unwrap_or_default();
            clauses.push(format!(
                "CHANGE COLUMN {} {} {} {}{} {}",
                DIALECT.q(&s.shadow),
                DIALECT.q(&s.column),
                s.uuid_type,
                if s.nullable { "NULL" } else { "NOT NULL" },
                comment,
                position
            ));
        }
        for d in drop {
            if table.column(d).is_some() {
                clauses.push(format!("DROP COLUMN {}", DIALECT.q(d)));
            }
        }
        // A primary key kept through unconstrain (Galera) loses its swapped columns with them:
        // it is declared again, same columns and order, over the UUID columns that took their
        // names, in the same statement (the table is empty, so this is quick).
        let swaps_key = pending
            .iter()
            .any(|s| table.primary_key.contains(&s.column));
        if self.flavour().keeps_primary_keys() && swaps_key {
            clauses.insert(0, "DROP PRIMARY KEY".into());
            clauses.push(format!(
                "ADD PRIMARY KEY ({})",
                DIALECT.column_list(&table.primary_key)
            ));
        }
        alter(&table.name, &clauses)
    }

    fn derive_table_sql(
        &self,
        source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>> {
        let name = DIALECT.q(&table.name);
        let from = self.source_table(source, &table.name)?;
        let mut out = vec![if self.flavour().galera() {
            // Foreign keys follow in derive_constraints_sql, as after LIKE.
            self.create_from_source(&from, table, false)?
        } else {
            format!("CREATE TABLE {name} LIKE {from}")
        }];
        let clauses: Vec<String> = Self::swapped_columns(table, swaps)
            .into_iter()
            .map(|(_, definition)| format!("MODIFY {definition}"))
            .collect();
        let checks: Vec<String> = Self::integer_checks(table, swaps)
            .iter()
            .map(|c| format!("DROP CONSTRAINT {}", DIALECT.q(c)))
            .collect();
        out.extend(alter(&table.name, &checks));
        // MariaDB converts no integer to its UUID type, not even in an empty table; text can.
        let via_text: Vec<String> = swaps
            .iter()
            .filter(|s| s.uuid_type.eq_ignore_ascii_case("uuid"))
            .map(|s| format!("MODIFY {} CHAR(36) NULL", DIALECT.q(&s.column)))
            .collect();
        out.extend(alter(&table.name, &via_text));
        out.extend(alter(&table.name, &clauses));
        Ok(out)
    }

    fn derive_table_at_once(
        &self,
        source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Option<String>> {
        // A cluster's copy is rebuilt as InnoDB with keys (`create_from_source`). MySQL 8 is
        // left to LIKE and ALTER: its SHOW CREATE TABLE differs (a generated invisible primary
        // key it may not print), and no MySQL 8 server could be tested here.
        if self.flavour().galera() || self.flavour().family() != Family::MariaDb {
            return Ok(None);
        }
        let from = self.source_table(source, &table.name)?;
        Ok(self.show_create(&from)?.and_then(|create| {
            converted_create(
                &create,
                &Self::swapped_columns(table, swaps),
                &Self::integer_checks(table, swaps),
            )
        }))
    }

    fn derive_constraints_sql(&self, table: &Table, _swaps: &[Swap]) -> Vec<String> {
        let clauses: Vec<String> = table
            .foreign_keys
            .iter()
            .map(|fk| {
                format!(
                    "ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    DIALECT.q(&fk.name),
                    DIALECT.column_list(&fk.columns),
                    crate::ident::qualified(DIALECT.quote_style(), fk.ref_schema.as_deref(), &fk.ref_table),
                    DIALECT.column_list(&fk.ref_columns),
                    fk.on_delete,
                    fk.on_update
                )
            })
            .collect();
        alter(&table.name, &clauses)
    }

    fn set_aside_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        vec![format!(
            "DROP TRIGGER IF EXISTS {}",
            DIALECT.q(&trigger.name)
        )]
    }

    fn sets_aside_indexes(&self, table: &Table) -> bool {
        self.flavour().sets_aside_indexes()
            && table.indexes.iter().any(|i| i.unique)
            && table
                .indexes
                .iter()
                .all(|i| matches!(i.kind.as_str(), "BTREE" | "HASH"))
    }

    fn sets_aside_for_load(&self, table: &Table) -> bool {
        self.sets_aside_indexes(table) || self.sets_aside_statistics(table)
    }

    fn indexes_aside(&self, s: &mut dyn Session, table: &Table) -> Result<Option<IndexesAside>> {
        if !self.sets_aside_for_load(table) {
            return Ok(None);
        }
        let name = DIALECT.q(&table.name);
        let lines = if self.sets_aside_indexes(table) {
            let create = String::from_utf8_lossy(&show_create_on(s, &name)?).into_owned();
            // The load session keeps unique checks off for this table: its unique keys must go,
            // or the load must not start (FACTS.md: the bulk path would drop duplicates in
            // silence).
            secondary_index_lines(&create).ok_or_else(|| {
                Error::env(
                    Place::stage(crate::stage::Stage::Load).table(&table.name),
                    "DB_FINAL's SHOW CREATE TABLE printed index definitions rekey cannot set aside and restore exactly; nothing was changed.",
                    "Report this as a bug, with the table's SHOW CREATE TABLE.",
                )
            })?
        } else {
            Vec::new()
        };
        let recalc = if self.sets_aside_statistics(table) {
            let options =
                s.query_all(&TABLE_OPTIONS_SQL.replace("{table}", &DIALECT.lit(&table.name)))?;
            options.first().and_then(|r| {
                let text = |i: usize| r.get(i).and_then(|v| v.as_string()).unwrap_or_default();
                automatic_statistics(&text(0), &text(1))
            })
        } else {
            None
        };
        if lines.is_empty() && recalc.is_none() {
            return Ok(None);
        }
        // foreign_key_checks = 0 lets an index a foreign key needs go (error 1553 otherwise);
        // the constraint stays and finds its index again when it is back.
        let mut set_aside = vec!["SET SESSION foreign_key_checks = 0".to_string()];
        let mut restore = Vec::new();
        let mut at_load_end = Vec::new();
        if !lines.is_empty() {
            // IF [NOT] EXISTS makes both statements safe to run again: a kill between the
            // journal's record and the drop, or between the rebuild and forgetting the record,
            // leaves the indexes in place with the record saying they are aside; `--resume`
            // drops them again and a restore adds only what is missing. MariaDB has both
            // clauses (10.0+/10.1+); MySQL 8 has neither on indexes, but MySQL never sets
            // indexes aside (`MysqlDialect::sets_aside_indexes`), so these statements only
            // ever reach MariaDB.
            let drops: Vec<String> = lines
                .iter()
                .map(|(n, _)| format!("DROP INDEX IF EXISTS {}", DIALECT.q(n)))
                .collect();
            set_aside.push(format!("ALTER TABLE {name} {}", drops.join(", ")));
            // One ALTER adds them back in SHOW CREATE TABLE's order, which is the order it
            // prints them in afterwards (unique keys first, then the others as created):
            // byte-identical.
            let adds: Vec<String> = lines.iter().map(|(_, l)| add_if_not_exists(l)).collect();
            restore.push(format!("ALTER TABLE {name} {}", adds.join(", ")));
        }
        if let Some(recalc) = &recalc {
            // Instant table-option changes (the rows stay where they are), each safe to run
            // again; the option comes back as SHOW CREATE TABLE printed it (DEFAULT prints
            // nothing). ANALYZE then gathers the statistics the load did not, so the
            // application's first queries after the cutover are planned on the rows. Both
            // once every table's rows are in: the ALTER would wait for the statements writing
            // the table's foreign-key neighbours (a child locks its parents), 1-2 s on the wide
            // benchmark.
            set_aside.push(format!("ALTER TABLE {name} STATS_AUTO_RECALC = 0"));
            at_load_end.push(format!("ALTER TABLE {name} STATS_AUTO_RECALC = {recalc}"));
            at_load_end.push(format!("ANALYZE TABLE {name}"));
        }
        Ok(Some(IndexesAside {
            table: table.name.clone(),
            names: lines.into_iter().map(|(n, _)| n).collect(),
            statistics: recalc.is_some(),
            set_aside,
            restore,
            at_load_end,
            indexes_back: false,
        }))
    }
}

impl MysqlBackend {
    /// Whether `table`'s load goes without InnoDB's automatic statistics, if its options allow
    /// (`automatic_statistics`): a large table on a server that sets them aside.
    fn sets_aside_statistics(&self, table: &Table) -> bool {
        self.flavour().sets_aside_statistics() && table.estimated_rows >= STATISTICS_ASIDE_ROWS
    }
}

/// Rows from which a table's load goes without InnoDB's automatic statistics
/// (`MysqlDialect::sets_aside_statistics`): below it the load ends before the statistics task's
/// spin costs what three more statements do.
const STATISTICS_ASIDE_ROWS: u64 = 50_000;

/// What `STATS_AUTO_RECALC` to put back after a load with InnoDB's automatic statistics off, from
/// information_schema's ENGINE and CREATE_OPTIONS of the table (`table_options.sql`): `DEFAULT`
/// when the table leaves it to the server, `1` when it says so. None when there is nothing to set
/// aside (they are off already, the statistics are not persistent, not InnoDB) or when a
/// partitioned table's ALTER was not measured to stay instant.
fn automatic_statistics(engine: &str, create_options: &str) -> Option<&'static str> {
    if !engine.eq_ignore_ascii_case("InnoDB") {
        return None;
    }
    let mut recalc = "DEFAULT";
    for option in create_options.split_ascii_whitespace() {
        match option.to_ascii_lowercase().as_str() {
            "stats_auto_recalc=0" | "stats_persistent=0" | "partitioned" => return None,
            "stats_auto_recalc=1" => recalc = "1",
            _ => {}
        }
    }
    Some(recalc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_statistics_come_back_as_create_options_had_them() {
        assert_eq!(automatic_statistics("InnoDB", ""), Some("DEFAULT"));
        assert_eq!(
            automatic_statistics("InnoDB", "stats_auto_recalc=1"),
            Some("1")
        );
        assert_eq!(automatic_statistics("InnoDB", "STATS_AUTO_RECALC=0"), None);
        assert_eq!(
            automatic_statistics("InnoDB", "stats_persistent=0 stats_auto_recalc=1"),
            None
        );
        assert_eq!(automatic_statistics("InnoDB", "partitioned"), None);
        assert_eq!(automatic_statistics("Aria", ""), None);
    }

    #[test]
    fn secondary_index_lines_are_read_in_show_create_order() {
        let create = "CREATE TABLE `c` (\n  `id` char(32) NOT NULL,\n  `u` varchar(10) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u``x` (`u`),\n  KEY `kb` (`b`(10)) COMMENT 'hi',\n  KEY `fk` (`pid`),\n  CONSTRAINT `fk` FOREIGN KEY (`pid`) REFERENCES `p` (`id`)\n) ENGINE=InnoDB";
        assert_eq!(
            secondary_index_lines(create).unwrap(),
            vec![
                ("u`x".to_string(), "UNIQUE KEY `u``x` (`u`)".to_string()),
                (
                    "kb".to_string(),
                    "KEY `kb` (`b`(10)) COMMENT 'hi'".to_string()
                ),
                ("fk".to_string(), "KEY `fk` (`pid`)".to_string()),
            ]
        );
        let fulltext =
            "CREATE TABLE `c` (\n  `t` text,\n  FULLTEXT KEY `ft` (`t`)\n) ENGINE=InnoDB";
        assert_eq!(secondary_index_lines(fulltext), None);
        // A table's name may hold a line break; its indexes are read all the same.
        let named = "CREATE TABLE `a\nb` (\n  `u` int(11) DEFAULT NULL,\n  UNIQUE KEY `u` (`u`)\n) ENGINE=InnoDB";
        assert_eq!(
            secondary_index_lines(named).unwrap(),
            vec![("u".to_string(), "UNIQUE KEY `u` (`u`)".to_string())]
        );
        assert_eq!(
            add_if_not_exists("UNIQUE KEY `u``x` (`u`)"),
            "ADD UNIQUE KEY IF NOT EXISTS `u``x` (`u`)"
        );
        assert_eq!(
            add_if_not_exists("KEY `kb` (`b`(10)) COMMENT 'hi'"),
            "ADD KEY IF NOT EXISTS `kb` (`b`(10)) COMMENT 'hi'"
        );
    }

    #[test]
    fn one_create_replaces_the_swapped_columns_and_leaves_out_what_like_and_alter_drop() {
        let create = "CREATE TABLE `legacy``note` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `node_id` int(11) DEFAULT NULL CHECK (`node_id` > 0),\n  `idx` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_n` (`node_id`),\n  CONSTRAINT `fk_n` FOREIGN KEY (`node_id`) REFERENCES `node` (`id`),\n  CONSTRAINT `not self` CHECK (`node_id` <> `id`),\n  CONSTRAINT `small` CHECK (`idx` < 10)\n) ENGINE=Aria AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='AUTO_INCREMENT=9'";
        let columns = vec![
            ("`id`".to_string(), "`id` CHAR(32) NOT NULL".to_string()),
            (
                "`node_id`".to_string(),
                "`node_id` CHAR(32) NULL COMMENT 'n'".to_string(),
            ),
        ];
        let checks = vec!["not self".to_string()];
        assert_eq!(
            converted_create(create, &columns, &checks).unwrap(),
            "CREATE TABLE `legacy``note` (\n  `id` CHAR(32) NOT NULL,\n  `node_id` CHAR(32) NULL COMMENT 'n',\n  `idx` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_n` (`node_id`),\n  CONSTRAINT `small` CHECK (`idx` < 10)\n) ENGINE=Aria DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='AUTO_INCREMENT=9'"
        );
        // What it cannot write the same as LIKE and ALTER, it leaves to them.
        let missing = vec![("`gone`".to_string(), "`gone` CHAR(32) NULL".to_string())];
        assert_eq!(converted_create(create, &missing, &[]), None);
        assert_eq!(
            converted_create(create, &columns, &["elsewhere".to_string()]),
            None
        );
        let parted = "CREATE TABLE `p` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1\n PARTITION BY KEY (`id`)\nPARTITIONS 2";
        assert_eq!(converted_create(parted, &columns[..1], &[]), None);
        let period = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `s` date NOT NULL,\n  `e` date NOT NULL,\n  PERIOD FOR `p` (`s`, `e`)\n) ENGINE=InnoDB";
        assert_eq!(converted_create(period, &columns[..1], &[]), None);
        // A table in a directory of its own: LIKE leaves the directory out.
        let placed = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=MyISAM DEFAULT CHARSET=latin1 DATA DIRECTORY='/srv/t/'";
        assert_eq!(converted_create(placed, &columns[..1], &[]), None);
        // A counter printed after quoted text, where it cannot be told from that text.
        let late = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB CONNECTION='x' AUTO_INCREMENT=5";
        assert_eq!(converted_create(late, &columns[..1], &[]), None);
        // A name with a line break in it, which the lines would cut.
        let broken = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  KEY `two\nlines` (`id`)\n) ENGINE=InnoDB";
        assert_eq!(converted_create(broken, &columns[..1], &[]), None);
        let escaped = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL COMMENT 'it\\'s\\n`',\n  KEY `k``x` (`id`)\n) ENGINE=InnoDB";
        assert!(converted_create(escaped, &columns[..1], &[]).is_some());
    }

    /// On the test server, for tables with what a definition can hold (quoted names, comments,
    /// checks on and off the swapped columns, foreign keys, generated and invisible columns,
    /// another engine and charset, an AUTO_INCREMENT counter, partitions), one CREATE makes
    /// what CREATE ... LIKE and ALTER make, byte for byte in SHOW CREATE TABLE, for every UUID
    /// type.
    #[test]
    fn one_create_makes_the_table_like_and_alter_make() {
        use crate::backend::Catalog;
        let Some(server) = super::super::test_server("mysql") else {
            return;
        };
        let db = |name: &str| {
            let mut url = server.url.clone();
            url.database = name.to_string();
            MysqlBackend::new(url)
        };
        let (src, like, once) = (
            db("rekey_t_once_src"),
            db("rekey_t_once_like"),
            db("rekey_t_once_one"),
        );
        let mut s = server.session(false).unwrap();
        for sql in [
            "DROP DATABASE IF EXISTS rekey_t_once_src",
            "DROP DATABASE IF EXISTS rekey_t_once_like",
            "DROP DATABASE IF EXISTS rekey_t_once_one",
            "CREATE DATABASE rekey_t_once_src DEFAULT CHARSET utf8mb4",
            "CREATE DATABASE rekey_t_once_like DEFAULT CHARSET utf8mb4",
            "CREATE DATABASE rekey_t_once_one DEFAULT CHARSET utf8mb4",
            "CREATE TABLE rekey_t_once_src.`par``ent` (id INT AUTO_INCREMENT PRIMARY KEY COMMENT 'the ''key''', `we ird` VARCHAR(20) NOT NULL DEFAULT 'a,b' COMMENT 'x', UNIQUE KEY `u w` (`we ird`)) COMMENT 'a ''table'' AUTO_INCREMENT=5'",
            "INSERT INTO rekey_t_once_src.`par``ent` (`we ird`) VALUES ('one'), ('two')",
            "CREATE TABLE rekey_t_once_src.`child note` (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, parent_id INT NULL CHECK (parent_id > 0), amount DECIMAL(10,2) NOT NULL DEFAULT 0.00, made TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, twice DECIMAL(11,2) AS (amount * 2) VIRTUAL, hid INT INVISIBLE, KEY `by parent` (parent_id, amount), CONSTRAINT `fk parent` FOREIGN KEY (parent_id) REFERENCES `par``ent` (id) ON DELETE CASCADE, CONSTRAINT `not self` CHECK (parent_id <> id), CONSTRAINT `paid` CHECK (amount >= 0)) DEFAULT CHARSET latin1 ROW_FORMAT=COMPACT",
            "CREATE TABLE rekey_t_once_src.counted (id INT NOT NULL PRIMARY KEY, n INT NOT NULL AUTO_INCREMENT, KEY (n))",
            "INSERT INTO rekey_t_once_src.counted (id) VALUES (1), (2), (3)",
            "CREATE TABLE rekey_t_once_src.archived (id INT NOT NULL PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body)) ENGINE=MyISAM",
            "CREATE TABLE rekey_t_once_src.parted (id INT NOT NULL PRIMARY KEY, v INT) PARTITION BY KEY (id) PARTITIONS 2",
        ] {
            s.execute(sql).unwrap();
        }
        let schema = src.describe(&mut src.session(true).unwrap()).unwrap();
        let mut at_once = Vec::new();
        for uuid_type in ["CHAR(32)", "UUID", "BINARY(16)"] {
            for t in &schema.tables {
                let swaps: Vec<Swap> = t
                    .columns
                    .iter()
                    .filter(|c| c.name == "id" || c.name.ends_with("_id"))
                    .map(|c| Swap {
                        column: c.name.clone(),
                        shadow: String::new(),
                        uuid_type: uuid_type.to_string(),
                        nullable: c.nullable,
                    })
                    .collect();
                let name = DIALECT.q(&t.name);
                let mut a = like.session(true).unwrap();
                let mut b = once.session(true).unwrap();
                a.execute(&format!("DROP TABLE IF EXISTS {name}")).unwrap();
                b.execute(&format!("DROP TABLE IF EXISTS {name}")).unwrap();
                for sql in like.derive_table_sql(&src.url, t, &swaps).unwrap() {
                    a.execute(&sql).unwrap();
                }
                match once.derive_table_at_once(&src.url, t, &swaps).unwrap() {
                    Some(sql) => {
                        at_once.push(format!("{} {uuid_type}", t.name));
                        b.execute(&sql).unwrap();
                    }
                    None => {
                        for sql in once.derive_table_sql(&src.url, t, &swaps).unwrap() {
                            b.execute(&sql).unwrap();
                        }
                    }
                }
                let show = |backend: &MysqlBackend| {
                    backend
                        .show_create(&format!("{}.{name}", DIALECT.q(&backend.url.database)))
                        .unwrap()
                };
                assert_eq!(show(&like), show(&once), "{} as {uuid_type}", t.name);
            }
        }
        // Every table but the partitioned one, in every type.
        assert_eq!(at_once.len(), 12, "{at_once:?}");
        assert!(
            !at_once.iter().any(|t| t.starts_with("parted")),
            "{at_once:?}"
        );
        for sql in [
            "DROP DATABASE rekey_t_once_src",
            "DROP DATABASE rekey_t_once_like",
            "DROP DATABASE rekey_t_once_one",
        ] {
            s.execute(sql).unwrap();
        }
    }

    #[test]
    fn a_cluster_copy_is_innodb_without_foreign_keys_and_keyed() {
        let create = "CREATE TABLE `legacy note` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `node_id` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_n` (`node_id`),\n  CONSTRAINT `fk_n` FOREIGN KEY (`node_id`) REFERENCES `node` (`id`),\n  CONSTRAINT `positive` CHECK (`id` > 0)\n) ENGINE=Aria AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci PAGE_CHECKSUM=1 TRANSACTIONAL=1";
        let sql = keyed_innodb(create, false).unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE `legacy note` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `node_id` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_n` (`node_id`),\n  CONSTRAINT `positive` CHECK (`id` > 0)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
        );
        let keyless = "CREATE TABLE `audit` (\n  `note` varchar(20) DEFAULT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci\n PARTITION BY KEY ()\n(PARTITION `p0` ENGINE = MyISAM)";
        let sql = keyed_innodb(keyless, true).unwrap();
        assert!(
            sql.contains("`_rekey_row` bigint unsigned NOT NULL AUTO_INCREMENT INVISIBLE,\n  PRIMARY KEY (`_rekey_row`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1"),
            "{sql}"
        );
        assert!(sql.ends_with("(PARTITION `p0` ENGINE = InnoDB)"), "{sql}");
        assert_eq!(keyed_innodb("CREATE VIEW v AS SELECT 1", false), None);
    }
}
