//! Which names in the code are keys or references: the usual spellings (`id`, `pk`, `user_id`,
//! `userId`), the keys and references the application's own models declare (a relationship
//! `category` makes `int(form.category.data)` a cast of a reference), and, with `--source`, only
//! those of tables that convert.

use std::collections::BTreeSet;

use crate::plan::Plan;

use super::Finding;

/// Keys and references declared by the application's models (lowercase).
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub keys: BTreeSet<String>,
    pub references: BTreeSet<String>,
    /// Columns with a foreign key declared apart from the column: `table.col`, or `*.col` when
    /// the table is not named where the key is declared.
    pub constrained: BTreeSet<String>,
}

impl Names {
    pub fn merge(mut self, other: Names) -> Names {
        self.keys.extend(other.keys);
        self.references.extend(other.references);
        self.constrained.extend(other.constrained);
        self
    }
    pub fn add_key(&mut self, raw: &str) {
        if let Some(n) = clean(raw) {
            self.keys.insert(n);
        }
    }
    pub fn add_constrained(&mut self, table: Option<&str>, column: &str) {
        let table = table.and_then(clean).unwrap_or_else(|| "*".to_string());
        if let Some(c) = clean(column) {
            self.constrained.insert(format!("{table}.{c}"));
        }
    }
    /// `add_foreign_key :comments, :users`: the column is `user_id`.
    pub fn add_constrained_to(&mut self, table: Option<&str>, to_table: &str) {
        if let Some(to) = clean(to_table) {
            self.add_constrained(table, &format!("{}_id", singular(&to)));
        }
    }
    pub fn is_constrained(&self, table: Option<&str>, column: &str) -> bool {
        let Some(c) = clean(column) else { return false };
        let table = table.and_then(clean);
        self.constrained.contains(&format!("*.{c}"))
            || table.is_some_and(|t| self.constrained.contains(&format!("{t}.{c}")))
    }
    pub fn add_reference(&mut self, raw: &str) {
        if let Some(n) = clean(raw) {
            // A reference named `category` is stored in `category_id` and the other way round.
            if let Some(stem) = stem(&n) {
                self.references.insert(stem.to_string());
            }
            self.references.insert(n);
        }
    }
}

/// A name as written (`:user`, `'user_id'`, `"author"`) reduced to the identifier, lowercase.
fn clean(raw: &str) -> Option<String> {
    let t = raw
        .trim()
        .trim_start_matches(':')
        .trim_matches(|c| c == '\'' || c == '"' || c == '`');
    let t = t.rsplit(['.', '$']).next().unwrap_or(t);
    if t.is_empty() || !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    Some(t.to_ascii_lowercase())
}

/// `user` of `user_id` / `userid` (camelCase lowercased), `None` for a name without the suffix.
fn stem(lower: &str) -> Option<&str> {
    for suffix in ["_ids", "_id", "_pk", "ids", "id"] {
        if let Some(s) = lower.strip_suffix(suffix) {
            if !s.is_empty() {
                return Some(s.trim_end_matches('_'));
            }
        }
    }
    None
}

/// Words that wrap the value without naming it: `form.category.data`, `request.args.get('id')`,
/// `req.params.id`, `$request->input('post_id')`.
const NOISE: &[&str] = &[
    "data",
    "value",
    "get",
    "params",
    "param",
    "args",
    "form",
    "request",
    "req",
    "query",
    "body",
    "kwargs",
    "self",
    "this",
    "input",
    "route",
    "attributes",
    "view_args",
    "values",
    "matchdict",
    "post",
    "session",
    "cookies",
    "json",
    "to_i",
    "to_s",
    "str",
    "strip",
    "trim",
    "int",
    "parseint",
    "number",
    "fetch",
    "desc",
    "asc",
    "nulls_last",
    "nulls_first",
    "descending",
    "ascending",
    "attribute",
    "where",
    "default",
    "intval",
    "headers",
    "match",
    "payload",
    "ctx",
    "event",
];

/// The identifier an expression is about, lowercase: its last word that is not a wrapper. A
/// lookup `X[Y]` or call `X(Y)` at the end is about Y when Y is a quoted name (`params[:id]`,
/// `hit['_id']`) or X only wraps it (`str(user_id)`, `request.args.get('page')`), and about X
/// otherwise (`counts[t.id]` is a count kept per id, not an id).
pub fn subject(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some(close) = t.chars().last().filter(|c| *c == ']' || *c == ')') {
        let open = if close == ']' { '[' } else { '(' };
        let mut depth = 0usize;
        for (i, c) in t.char_indices().rev() {
            if c == close {
                depth += 1;
            } else if c == open {
                depth -= 1;
                if depth == 0 {
                    let (object, inner) = (&t[..i], &t[i + 1..t.len() - 1]);
                    let inner_trim = inner.trim();
                    // `.desc()`, `.to_i()`: a call without arguments wraps its object.
                    if inner_trim.is_empty() {
                        return words_subject(object);
                    }
                    let quoted = inner_trim.starts_with([':', '\'', '"']);
                    let object_subject = words_subject(object);
                    return if quoted || object_subject.is_none() {
                        words_subject(inner).or(object_subject)
                    } else {
                        object_subject
                    };
                }
            }
        }
    }
    words_subject(t)
}

fn words_subject(text: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '_' {
            cur.push(c);
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    words
        .into_iter()
        .rev()
        .map(|w| w.to_ascii_lowercase())
        .find(|w| !NOISE.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `name` (lowercase) is spelled like a reference: `user_id`, `userid` from `userId`.
fn reference_spelling(original: &str, lower: &str) -> bool {
    lower.ends_with("_id")
        || lower.ends_with("_ids")
        || lower.ends_with("_pk")
        || original.ends_with("Id")
        || original.ends_with("ID")
}

/// The subject's word as written (case kept), to see camelCase.
fn original_word(text: &str, lower: &str) -> String {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .rev()
        .find(|w| w.to_ascii_lowercase() == lower)
        .unwrap_or(lower)
        .to_string()
}

/// (table, column) of an integer column named like a reference without a constraint, and the
/// converted (table, key) it probably holds.
type Undeclared = (String, String, Option<(String, String)>);

/// Which ids are in scope: all of them, or only those of the tables SOURCE's plan converts.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    /// Converted tables, lowercase, with their singular (`users` and `user`).
    tables: BTreeSet<String>,
    /// Converted key columns and reference columns that follow them (lowercase).
    columns: BTreeSet<String>,
    /// (table, column) of integer columns named like references without a constraint, and the
    /// converted table and key they probably hold.
    undeclared: Vec<Undeclared>,
}

fn singular(t: &str) -> String {
    if let Some(s) = t.strip_suffix("ies") {
        format!("{s}y")
    } else if let Some(s) = t.strip_suffix("ses") {
        format!("{s}s")
    } else if let Some(s) = t.strip_suffix('s') {
        s.to_string()
    } else {
        t.to_string()
    }
}

impl Scope {
    pub fn from_plan(plan: &Plan) -> Scope {
        let mut s = Scope::default();
        for c in &plan.converted {
            let t = c.table.to_ascii_lowercase();
            s.tables.insert(singular(&t));
            s.tables.insert(t);
            s.columns.insert(c.column.to_ascii_lowercase());
        }
        for r in &plan.references {
            if plan.converted(&r.ref_table).is_some() {
                s.columns.insert(r.column.to_ascii_lowercase());
            }
        }
        for w in plan
            .warnings
            .iter()
            .filter(|w| w.kind == "undeclared-reference")
        {
            let Some(col) = &w.column else { continue };
            let lower = col.to_ascii_lowercase();
            let target = stem(&lower).and_then(|st| {
                plan.converted.iter().find(|c| {
                    let t = c.table.to_ascii_lowercase();
                    t == st || singular(&t) == st
                })
            });
            s.undeclared.push((
                w.table.clone(),
                col.clone(),
                target.map(|c| (c.table.clone(), c.column.clone())),
            ));
        }
        s
    }

    /// Whether an id spelled `lower` belongs to a converted table.
    fn covers(&self, lower: &str) -> bool {
        if self.tables.is_empty() {
            return false;
        }
        if lower == "id" || lower == "pk" || self.columns.contains(lower) {
            return true;
        }
        if self.tables.contains(lower) || self.columns.contains(&format!("{lower}_id")) {
            return true;
        }
        match stem(lower) {
            Some(st) => self.tables.contains(st) || self.tables.contains(&singular(st)),
            None => false,
        }
    }

    /// The `--reference` line for a finding on an undeclared integer reference column.
    pub fn reference_line(&self, f: &Finding) -> Option<String> {
        if f.rule != "integer-reference-without-foreign-key" {
            return None;
        }
        let lower = subject(&f.code)?;
        let (table, col, target) = self
            .undeclared
            .iter()
            .find(|(_, c, _)| {
                f.code
                    .to_ascii_lowercase()
                    .contains(&c.to_ascii_lowercase())
                    && c.to_ascii_lowercase() == lower
            })
            .or_else(|| {
                self.undeclared.iter().find(|(_, c, _)| {
                    f.code
                        .to_ascii_lowercase()
                        .contains(&c.to_ascii_lowercase())
                })
            })?;
        let (rt, rk) = target
            .clone()
            .unwrap_or_else(|| ("TABLE".to_string(), "KEY".to_string()));
        Some(format!("--reference {table}.{col}={rt}.{rk}"))
    }
}

/// What the predicates of the rules ask about a name.
pub struct Judge<'a> {
    pub names: &'a Names,
    pub scope: Option<&'a Scope>,
}

impl Judge<'_> {
    fn in_scope(&self, lower: &str) -> bool {
        self.scope.is_none_or(|s| s.covers(lower))
    }

    /// A key or a reference: `id`, `pk`, `user_id`, `userId`, or a name the models declare.
    pub fn is_key_or_reference(&self, text: &str) -> bool {
        let accessed = text.contains(['.', '[']) || text.contains("->");
        self.key_or_reference(text, accessed)
    }

    /// The same for a name that is itself a field or parameter (a form field `category`, a
    /// route parameter): a name the models declare counts.
    pub fn is_key_or_reference_name(&self, text: &str) -> bool {
        self.key_or_reference(text, true)
    }

    fn key_or_reference(&self, text: &str, accessed: bool) -> bool {
        let Some(lower) = subject(text) else {
            return false;
        };
        let original = original_word(text, &lower);
        // A name the models declare (`category`) is also a common word: it counts where the
        // value is read from somewhere (`form.category.data`, `params[:category]`), not as a
        // bare local variable.
        let id_like = lower == "id"
            || lower == "pk"
            || reference_spelling(&original, &lower)
            || self.names.keys.contains(&lower)
            || (accessed && self.names.references.contains(&lower));
        id_like && self.in_scope(&lower)
    }

    /// A primary key itself (`id`, `Post.id`, `'-pk'`, `desc(Post.id)`, `Post.id.desc()`, `:id`,
    /// `'posts.id'`), not an expression that merely mentions it (`case(..., value=Post.id)`).
    pub fn is_key(&self, text: &str) -> bool {
        static PLAIN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let plain = PLAIN.get_or_init(|| {
            regex::Regex::new(
                r#"(?i)^\s*((desc|asc)\()?[-+:]?["'`]?-?([A-Za-z_]\w*\.)*[A-Za-z_]\w*["'`]?(\s+(desc|asc))?["'`]?\)?(\.(desc|asc)\(\))?\s*$"#,
            )
            .expect("valid regex")
        });
        if !plain.is_match(text) {
            return false;
        }
        let Some(lower) = subject(text) else {
            return false;
        };
        (lower == "id" || lower == "pk" || self.names.keys.contains(&lower))
            && self.in_scope(&lower)
    }

    /// A column name spelled as a reference (`user_id`, `userId`), not a key itself.
    pub fn is_reference_column(&self, text: &str) -> bool {
        let Some(lower) = subject(text) else {
            return false;
        };
        let original = original_word(text, &lower);
        reference_spelling(&original, &lower) && self.in_scope(&lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_skips_wrappers() {
        assert_eq!(subject("form.category.data").as_deref(), Some("category"));
        assert_eq!(
            subject("request.args.get('page', 1)").as_deref(),
            Some("page")
        );
        assert_eq!(subject("params[:id]").as_deref(), Some("id"));
        assert_eq!(
            subject("$request->input('post_id')").as_deref(),
            Some("post_id")
        );
        assert_eq!(subject("Post.id.desc()").as_deref(), Some("id"));
        assert_eq!(subject("str(user_id)").as_deref(), Some("user_id"));
        assert_eq!(subject("hit['_id']").as_deref(), Some("_id"));
        assert_eq!(subject("counts[t.id]").as_deref(), Some("counts"));
        assert_eq!(subject("counts.fetch(t.id)").as_deref(), Some("counts"));
    }

    #[test]
    fn declared_reference_counts_and_scope_filters() {
        let mut names = Names::default();
        names.add_reference("category_id");
        let judge = Judge {
            names: &names,
            scope: None,
        };
        assert!(judge.is_key_or_reference("form.category.data"));
        assert!(!judge.is_key_or_reference("form.quantity.data"));
        assert!(
            !judge.is_key_or_reference("category"),
            "a bare local variable"
        );
        assert!(
            judge.is_key("Post.id.desc()")
                && judge.is_key("desc(Post.id)")
                && judge.is_key("'-pk'")
        );
        assert!(!judge.is_key("db.case(*when, value=cls.id)"));
        let scope = Scope {
            tables: ["users".to_string(), "user".to_string()].into(),
            ..Scope::default()
        };
        let judge = Judge {
            names: &names,
            scope: Some(&scope),
        };
        assert!(judge.is_key_or_reference("user_id"));
        assert!(!judge.is_key_or_reference("category_id"));
    }
}
