//! A reader of SQLite `CREATE TABLE` statements as `sqlite_schema` stores them: the column
//! definitions and table constraints, each kept as written, so that table rebuilds (SQLite cannot
//! drop a constraint or a key column in place) reproduce everything they do not change: CHECK
//! constraints, collations, defaults, conflict clauses, constraint names, table options.
//!
//! SQLite accepted the statement when the table was created, so the reader only has to follow
//! valid syntax; anything it does not recognise stays attached, verbatim, to the item around it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    Str,
    Num,
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Index just past the closing quote of a quoted token starting at `i` (doubled quotes escape).
fn skip_quoted(b: &[u8], i: usize, close: u8) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == close {
            if close != b']' && b.get(j + 1) == Some(&close) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

fn lex(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
            continue;
        }
        let start = i;
        let kind = match c {
            b'\'' => {
                i = skip_quoted(b, i, b'\'');
                Kind::Str
            }
            b'"' | b'`' => {
                i = skip_quoted(b, i, c);
                Kind::Quoted
            }
            b'[' => {
                i = skip_quoted(b, i, b']');
                Kind::Quoted
            }
            b'x' | b'X' if b.get(i + 1) == Some(&b'\'') => {
                i = skip_quoted(b, i + 1, b'\'');
                Kind::Str
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'.'
                        || b[i] == b'_'
                        || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                Kind::Num
            }
            c if is_word_byte(c) => {
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Punct
            }
        };
        out.push(Tok {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// An identifier as SQLite reads it: quotes removed, doubled quotes undone.
pub fn unquote(text: &str) -> String {
    let inner = |open: char, close: char| {
        text.strip_prefix(open)
            .and_then(|t| t.strip_suffix(close))
            .map(|t| {
                if open == '[' {
                    t.to_string()
                } else {
                    t.replace(&format!("{close}{close}"), &close.to_string())
                }
            })
    };
    inner('"', '"')
        .or_else(|| inner('`', '`'))
        .or_else(|| inner('[', ']'))
        .or_else(|| inner('\'', '\''))
        .unwrap_or_else(|| text.to_string())
}

/// True when the SQL text names `name` as an identifier, bare or quoted.
pub fn mentions(sql: &str, name: &str) -> bool {
    lex(sql).iter().any(|t| {
        matches!(t.kind, Kind::Word | Kind::Quoted)
            && unquote(&sql[t.start..t.end]).eq_ignore_ascii_case(name)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClauseKind {
    PrimaryKey,
    NotNull,
    Null,
    Unique,
    Check,
    Default,
    Collate,
    /// A column's REFERENCES clause or a table's FOREIGN KEY constraint.
    References,
    Generated,
    Other,
}

/// One column constraint or table constraint.
#[derive(Debug, Clone)]
pub struct Clause {
    pub kind: ClauseKind,
    /// As written, with its `CONSTRAINT name` prefix.
    pub text: String,
    pub name: Option<String>,
    /// The column list of a table constraint (PRIMARY KEY, UNIQUE, FOREIGN KEY); empty for a
    /// column constraint, which applies to its own column.
    pub columns: Vec<String>,
    pub ref_table: Option<String>,
    pub autoincrement: bool,
    /// `text` without the AUTOINCREMENT keyword (a UUID key cannot have it).
    pub text_without_autoincrement: String,
    /// The collation name of COLLATE, the expression of AS (...) and CHECK (...).
    pub detail: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    /// The whole definition as written.
    pub text: String,
    /// The declared type as written (may be empty).
    pub type_text: String,
    pub clauses: Vec<Clause>,
}

impl ColumnDef {
    pub fn has(&self, kind: ClauseKind) -> bool {
        self.clauses.iter().any(|c| c.kind == kind)
    }
    fn detail(&self, kind: ClauseKind) -> Option<String> {
        self.clauses
            .iter()
            .find(|c| c.kind == kind)
            .and_then(|c| c.detail.clone())
    }
    pub fn collation(&self) -> Option<String> {
        self.detail(ClauseKind::Collate)
    }
    pub fn generated(&self) -> Option<String> {
        self.detail(ClauseKind::Generated)
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Column(ColumnDef),
    Constraint(Clause),
}

/// A parsed `CREATE TABLE name (items) options`.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub items: Vec<Item>,
    /// What follows the closing parenthesis: `WITHOUT ROWID`, `STRICT`, or nothing.
    pub options: String,
    /// `(items) options` exactly as written.
    pub body: String,
}

impl TableDef {
    pub fn columns(&self) -> impl Iterator<Item = &ColumnDef> {
        self.items.iter().filter_map(|i| match i {
            Item::Column(c) => Some(c),
            Item::Constraint(_) => None,
        })
    }
    pub fn constraints(&self) -> impl Iterator<Item = &Clause> {
        self.items.iter().filter_map(|i| match i {
            Item::Constraint(c) => Some(c),
            Item::Column(_) => None,
        })
    }
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns().find(|c| c.name.eq_ignore_ascii_case(name))
    }
    fn has_option(&self, word: &str) -> bool {
        let options = self.options.to_ascii_uppercase();
        options
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == word)
    }
    pub fn strict(&self) -> bool {
        self.has_option("STRICT")
    }
    pub fn without_rowid(&self) -> bool {
        self.has_option("ROWID")
    }
    /// Every PRIMARY KEY, UNIQUE or FOREIGN KEY clause with the columns it applies to.
    pub fn keyed_clauses(&self) -> Vec<(Vec<String>, &Clause)> {
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Column(c) => {
                    for cl in &c.clauses {
                        out.push((vec![c.name.clone()], cl));
                    }
                }
                Item::Constraint(cl) => out.push((cl.columns.clone(), cl)),
            }
        }
        out
    }
    /// The CONSTRAINT name of the UNIQUE clause on exactly `columns`, when it has one.
    pub fn unique_name(&self, columns: &[String]) -> Option<String> {
        self.keyed_clauses()
            .into_iter()
            .find(|(cols, cl)| cl.kind == ClauseKind::Unique && same_columns(cols, columns))
            .and_then(|(_, cl)| cl.name.clone())
    }
    /// The CONSTRAINT name of the foreign key from `columns` to `ref_table`, when it has one.
    pub fn foreign_key_name(&self, columns: &[String], ref_table: &str) -> Option<String> {
        self.keyed_clauses()
            .into_iter()
            .find(|(cols, cl)| {
                cl.kind == ClauseKind::References
                    && same_columns(cols, columns)
                    && cl
                        .ref_table
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(ref_table))
            })
            .and_then(|(_, cl)| cl.name.clone())
    }
    /// True when a PRIMARY KEY clause that includes `column` has AUTOINCREMENT.
    pub fn autoincrement(&self, column: &str) -> bool {
        self.keyed_clauses().into_iter().any(|(cols, cl)| {
            cl.kind == ClauseKind::PrimaryKey
                && cl.autoincrement
                && cols.iter().any(|c| c.eq_ignore_ascii_case(column))
        })
    }
}

/// Column lists compare as SQLite compares names: without regard to ASCII case.
pub fn same_columns(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

const CLAUSE_STARTS: &[&str] = &[
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

const TABLE_CONSTRAINT_STARTS: &[&str] = &["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

struct Parser<'a> {
    sql: &'a str,
    toks: &'a [Tok],
    i: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn text(&self, j: usize) -> &'a str {
        let t = self.toks[j];
        &self.sql[t.start..t.end]
    }
    fn slice(&self, from: usize, to: usize) -> &'a str {
        if from >= to {
            return "";
        }
        &self.sql[self.toks[from].start..self.toks[to - 1].end]
    }
    fn kw_at(&self, j: usize, kw: &str) -> bool {
        j < self.end && self.toks[j].kind == Kind::Word && self.text(j).eq_ignore_ascii_case(kw)
    }
    fn kw(&self, kw: &str) -> bool {
        self.kw_at(self.i, kw)
    }
    fn eat(&mut self, kw: &str) -> bool {
        if self.kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn punct_at(&self, j: usize, ch: &str) -> bool {
        j < self.end && self.toks[j].kind == Kind::Punct && self.text(j) == ch
    }
    fn word_in(&self, j: usize, set: &[&str]) -> bool {
        set.iter().any(|k| self.kw_at(j, k))
    }
    /// Index just past the parenthesis that closes the one at `j`.
    fn group_end(&self, j: usize) -> usize {
        let mut depth = 0i32;
        let mut k = j;
        while k < self.end {
            if self.punct_at(k, "(") {
                depth += 1;
            } else if self.punct_at(k, ")") {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            k += 1;
        }
        self.end
    }
    /// Skips a parenthesised group at the cursor; returns its inner text.
    fn group(&mut self) -> Option<String> {
        if !self.punct_at(self.i, "(") {
            return None;
        }
        let close = self.group_end(self.i);
        let inner = self.slice(self.i + 1, close.saturating_sub(1)).to_string();
        self.i = close;
        Some(inner)
    }
    fn ident(&mut self) -> Option<String> {
        if self.i >= self.end {
            return None;
        }
        let t = self.text(self.i);
        self.i += 1;
        Some(unquote(t))
    }
    fn conflict(&mut self) {
        if self.kw("ON") && self.kw_at(self.i + 1, "CONFLICT") {
            self.i += 3.min(self.end - self.i);
        }
    }
    /// `( name [COLLATE x] [ASC|DESC], ... )`: the names, and the AUTOINCREMENT token if any.
    fn column_list(&mut self) -> (Vec<String>, Option<usize>) {
        let mut names = Vec::new();
        let mut autoinc = None;
        if !self.punct_at(self.i, "(") {
            return (names, autoinc);
        }
        let close = self.group_end(self.i);
        let mut k = self.i + 1;
        let mut first = true;
        let mut depth = 0;
        while k + 1 < close {
            if self.punct_at(k, "(") {
                depth += 1;
            } else if self.punct_at(k, ")") {
                depth -= 1;
            } else if depth == 0 && self.punct_at(k, ",") {
                first = true;
                k += 1;
                continue;
            } else if depth == 0 && self.kw_at(k, "AUTOINCREMENT") {
                autoinc = Some(k);
            }
            if first {
                names.push(unquote(self.text(k)));
                first = false;
            }
            k += 1;
        }
        self.i = close;
        (names, autoinc)
    }
    /// `table [(cols)] [ON DELETE|UPDATE action | MATCH name | [NOT] DEFERRABLE ...]*`
    fn references_target(&mut self, clause: &mut Clause) {
        clause.ref_table = self.ident();
        self.group();
        loop {
            if self.kw("ON") && self.word_in(self.i + 1, &["DELETE", "UPDATE"]) {
                self.i += 2;
                if self.kw("SET") || self.kw("NO") {
                    self.i += 2;
                } else {
                    self.i += 1;
                }
            } else if self.kw("MATCH")
                || self.kw("INITIALLY")
                || (self.kw("NOT") && self.kw_at(self.i + 1, "DEFERRABLE"))
            {
                self.i += 2;
            } else if self.eat("DEFERRABLE") {
            } else {
                break;
            }
            self.i = self.i.min(self.end);
        }
    }

    fn clause(&mut self) -> Clause {
        let start = self.i;
        let mut c = Clause {
            kind: ClauseKind::Other,
            text: String::new(),
            name: None,
            columns: Vec::new(),
            ref_table: None,
            autoincrement: false,
            text_without_autoincrement: String::new(),
            detail: None,
        };
        if self.eat("CONSTRAINT") {
            c.name = self.ident();
        }
        let mut autoinc_tok = None;
        if self.eat("PRIMARY") {
            c.kind = ClauseKind::PrimaryKey;
            self.eat("KEY");
            let (cols, a) = self.column_list();
            c.columns = cols;
            autoinc_tok = a;
            if !self.eat("ASC") {
                self.eat("DESC");
            }
            self.conflict();
            if self.kw("AUTOINCREMENT") {
                autoinc_tok = Some(self.i);
                self.i += 1;
            }
        } else if self.kw("NOT") && self.kw_at(self.i + 1, "NULL") {
            c.kind = ClauseKind::NotNull;
            self.i += 2;
            self.conflict();
        } else if self.eat("NULL") {
            c.kind = ClauseKind::Null;
            self.conflict();
        } else if self.eat("UNIQUE") {
            c.kind = ClauseKind::Unique;
            c.columns = self.column_list().0;
            self.conflict();
        } else if self.eat("CHECK") {
            c.kind = ClauseKind::Check;
            c.detail = self.group();
        } else if self.eat("DEFAULT") {
            c.kind = ClauseKind::Default;
            if self.group().is_none() {
                if self.punct_at(self.i, "+") || self.punct_at(self.i, "-") {
                    self.i += 1;
                }
                self.i = (self.i + 1).min(self.end);
            }
        } else if self.eat("COLLATE") {
            c.kind = ClauseKind::Collate;
            c.detail = self.ident();
        } else if self.eat("REFERENCES") {
            c.kind = ClauseKind::References;
            self.references_target(&mut c);
        } else if self.eat("FOREIGN") {
            c.kind = ClauseKind::References;
            self.eat("KEY");
            c.columns = self.column_list().0;
            if self.eat("REFERENCES") {
                self.references_target(&mut c);
            }
        } else if self.kw("GENERATED") || self.kw("AS") {
            c.kind = ClauseKind::Generated;
            if self.eat("GENERATED") {
                self.eat("ALWAYS");
            }
            self.eat("AS");
            c.detail = self.group();
            if !self.eat("STORED") {
                self.eat("VIRTUAL");
            }
        } else if self.group().is_none() {
            self.i += 1;
        }
        if self.i == start {
            self.i += 1;
        }
        self.i = self.i.min(self.end);
        c.text = self.slice(start, self.i).to_string();
        c.autoincrement = autoinc_tok.is_some();
        c.text_without_autoincrement = match autoinc_tok {
            Some(k) => {
                let from = self.toks[start].start;
                let cut = self.toks[k];
                let head = self.sql[from..cut.start].trim_end();
                let tail = self.sql[cut.end..self.toks[self.i - 1].end].trim_start();
                let sep = if tail.is_empty() || tail.starts_with(')') {
                    ""
                } else {
                    " "
                };
                format!("{head}{sep}{tail}")
            }
            None => c.text.clone(),
        };
        c
    }

    fn column(&mut self) -> ColumnDef {
        let start = self.i;
        let name = self.ident().unwrap_or_default();
        let type_start = self.i;
        while self.i < self.end && !self.word_in(self.i, CLAUSE_STARTS) {
            if self.group().is_none() {
                self.i += 1;
            }
        }
        let type_text = self.slice(type_start, self.i).to_string();
        let mut clauses = Vec::new();
        while self.i < self.end {
            clauses.push(self.clause());
        }
        ColumnDef {
            name,
            text: self.slice(start, self.end).to_string(),
            type_text,
            clauses,
        }
    }
}

/// Parses a `CREATE TABLE` statement; `None` for anything else (virtual tables, views).
pub fn parse_create_table(sql: &str) -> Option<TableDef> {
    let toks = lex(sql);
    let mut p = Parser {
        sql,
        toks: &toks,
        i: 0,
        end: toks.len(),
    };
    if !p.eat("CREATE") {
        return None;
    }
    if !p.eat("TEMP") {
        p.eat("TEMPORARY");
    }
    if !p.eat("TABLE") {
        return None;
    }
    if p.kw("IF") {
        p.i += 3;
    }
    let mut name = p.ident()?;
    if p.punct_at(p.i, ".") {
        p.i += 1;
        name = p.ident()?;
    }
    if !p.punct_at(p.i, "(") {
        return None;
    }
    let open = p.i;
    let close = p.group_end(open);
    let body = sql[toks[open].start..].trim_end().to_string();
    let options = match toks.get(close) {
        Some(t) => sql[t.start..].trim().to_string(),
        None => String::new(),
    };
    // Split the items at the commas outside parentheses.
    let mut items = Vec::new();
    let mut depth = 0;
    let mut item_start = open + 1;
    let inner_end = close.saturating_sub(1);
    for k in open + 1..=inner_end {
        let at_end = k == inner_end;
        if !at_end {
            if p.punct_at(k, "(") {
                depth += 1;
            } else if p.punct_at(k, ")") {
                depth -= 1;
            }
        }
        if at_end || (depth == 0 && p.punct_at(k, ",")) {
            if k > item_start {
                let mut ip = Parser {
                    sql,
                    toks: &toks,
                    i: item_start,
                    end: k,
                };
                let item = if toks[item_start].kind == Kind::Word
                    && ip.word_in(item_start, TABLE_CONSTRAINT_STARTS)
                {
                    let mut clause = ip.clause();
                    // Whatever follows the constraint (unknown syntax) stays with it.
                    clause.text = ip.slice(item_start, k).to_string();
                    Item::Constraint(clause)
                } else {
                    Item::Column(ip.column())
                };
                items.push(item);
            }
            item_start = k + 1;
        }
    }
    Some(TableDef {
        name,
        items,
        options,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "CREATE TABLE \"user\" (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  email VARCHAR(190) NOT NULL,\n  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, -- when\n  CONSTRAINT uq_user_email UNIQUE (email)\n)";

    #[test]
    fn reads_columns_and_constraints() {
        let d = parse_create_table(USER).unwrap();
        assert_eq!(d.name, "user");
        let cols: Vec<&str> = d.columns().map(|c| c.name.as_str()).collect();
        assert_eq!(cols, ["id", "email", "created_at"]);
        let id = d.column("ID").unwrap();
        assert_eq!(id.type_text, "INTEGER");
        assert!(id.has(ClauseKind::PrimaryKey));
        assert!(d.autoincrement("id"));
        assert_eq!(id.clauses[0].text_without_autoincrement, "PRIMARY KEY");
        let created = d.column("created_at").unwrap();
        assert!(created.has(ClauseKind::NotNull) && created.has(ClauseKind::Default));
        assert_eq!(
            d.unique_name(&["email".into()]).as_deref(),
            Some("uq_user_email")
        );
        assert_eq!(d.options, "");
    }

    #[test]
    fn reads_foreign_keys_defaults_and_options() {
        let sql = "CREATE TABLE [a b](\"x\"\"y\" int default -1 references p(id) on delete set null on update no action deferrable initially deferred not null, `z` decimal(12, 2) collate nocase check (z > 0) default (1+1), g text as (z || 'x') stored, constraint fk2 foreign key (\"x\"\"y\", z) references \"p\" on delete cascade, primary key (z autoincrement)) without rowid, strict";
        let d = parse_create_table(sql).unwrap();
        assert_eq!(d.name, "a b");
        let x = d.column("x\"y").unwrap();
        assert_eq!(x.type_text, "int");
        let kinds: Vec<ClauseKind> = x.clauses.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ClauseKind::Default,
                ClauseKind::References,
                ClauseKind::NotNull
            ]
        );
        assert_eq!(x.clauses[1].ref_table.as_deref(), Some("p"));
        let z = d.column("z").unwrap();
        assert_eq!(z.type_text, "decimal(12, 2)");
        assert_eq!(z.collation().as_deref(), Some("nocase"));
        assert_eq!(
            d.column("g").unwrap().generated().as_deref(),
            Some("z || 'x'")
        );
        assert_eq!(
            d.foreign_key_name(&["x\"y".into(), "Z".into()], "P")
                .as_deref(),
            Some("fk2")
        );
        assert!(d.autoincrement("z"));
        let pk = d.constraints().last().unwrap();
        assert_eq!(pk.text_without_autoincrement, "primary key (z)");
        assert!(d.strict() && d.without_rowid());
        assert_eq!(d.options, "without rowid, strict");
    }

    #[test]
    fn not_a_table() {
        assert!(parse_create_table("CREATE VIRTUAL TABLE f USING fts5(a)").is_none());
        assert!(parse_create_table("CREATE VIEW v AS SELECT 1").is_none());
    }
}
