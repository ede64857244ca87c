//! The rules, kept as data in src/audit/rules/*.toml: each has a stable id, the sentence that
//! says why the code breaks and what to write instead, tree-sitter queries per language, and
//! positive and negative examples that the unit tests run. Queries may use, besides
//! tree-sitter's own `#eq?`, `#match?` and `#any-of?`, these predicates that the audit answers:
//!
//! - `(#key? @c)`: @c names a key or a reference (`id`, `user_id`, a reference the models declare)
//! - `(#key-name? @c)`: the same for a name that is a field or parameter itself
//! - `(#pk? @c)`: @c names a primary key
//! - `(#ref-column? @c)`: @c is a column name spelled as a reference (`user_id`, `userId`)
//! - `(#route-int? @c)`: the literal @c types a key route parameter as digits
//! - `(#sql? @c "KIND")`: the SQL of @c has KIND (formatted-id, order-key, max-key, keyset)
//! - `(#same-stem? @a @b)`: `commentable_type` and `commentable_id`: a polymorphic pair
//! - `(#lacks? @c "TEXT")`: @c's text does not contain TEXT
//! - `(#constrained? @col [@table])` / `(#unconstrained? ...)`: a foreign key on the column is
//!   declared elsewhere in the application (`add_foreign_key`, `->foreign('col')`) / is not
//!
//! The finding is reported at the capture `@match` (or the first capture); when @match spans
//! several lines (a call chain), at the capture `@arg`.

use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;
use tree_sitter::{Node, Query, QueryCursor, QueryPredicateArg, StreamingIterator, Tree};

use super::lang::Lang;
use super::names::{subject, Judge, Names, Scope};
use super::{sql, Finding};
use crate::error::{Error, Place, Result};

/// Every rule file, embedded.
pub const RULE_FILES: &[(&str, &str)] = &[
    (
        "route-integer-id",
        include_str!("rules/route-integer-id.toml"),
    ),
    (
        "cast-id-to-integer",
        include_str!("rules/cast-id-to-integer.toml"),
    ),
    (
        "integer-check-on-id",
        include_str!("rules/integer-check-on-id.toml"),
    ),
    (
        "integer-key-column",
        include_str!("rules/integer-key-column.toml"),
    ),
    (
        "integer-reference-without-foreign-key",
        include_str!("rules/integer-reference-without-foreign-key.toml"),
    ),
    ("polymorphic-id", include_str!("rules/polymorphic-id.toml")),
    (
        "sql-formatted-id",
        include_str!("rules/sql-formatted-id.toml"),
    ),
    ("order-by-key", include_str!("rules/order-by-key.toml")),
    (
        "max-key-as-latest",
        include_str!("rules/max-key-as-latest.toml"),
    ),
    (
        "keyset-pagination-on-key",
        include_str!("rules/keyset-pagination-on-key.toml"),
    ),
];

/// The queries that collect the names of keys and references from the application's models.
pub const NAMES_FILE: &str = include_str!("rules/names.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// A short title (SARIF's rule name, the docs' table).
    pub title: String,
    /// Why it breaks with UUID keys and what to write instead: one sentence.
    pub message: String,
    #[serde(rename = "match")]
    pub matches: Vec<Pattern>,
    #[serde(rename = "example", default)]
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub languages: Vec<String>,
    pub query: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub language: String,
    pub code: String,
    /// How many findings of this rule the code gives (0: a look-alike that must not be reported).
    pub finds: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesFile {
    collect: Vec<Pattern>,
}

/// Every rule's patterns for one language in one query, so that a file's tree is walked once.
struct Compiled {
    lang: Lang,
    query: Query,
    /// The rule of each pattern of the query.
    rule_of_pattern: Vec<usize>,
    report_at: Option<u32>,
    arg: Option<u32>,
}

/// The rules with their queries compiled for each language.
pub struct RuleSet {
    pub rules: Vec<Rule>,
    compiled: Vec<Compiled>,
    collectors: Vec<(Lang, Query)>,
}

fn bad_rule(name: &str, what: String) -> Error {
    Error::input(
        Place::default(),
        format!("audit rule {name} is not valid: {what}."),
        "Fix the rule file in src/audit/rules/ (the unit tests of src/audit load every rule).",
    )
}

fn compile(name: &str, pattern: &Pattern) -> Result<Vec<(Lang, Query)>> {
    let mut out = Vec::new();
    for l in &pattern.languages {
        let lang =
            Lang::from_name(l).ok_or_else(|| bad_rule(name, format!("unknown language {l}")))?;
        let query = Query::new(&lang.grammar(), &pattern.query)
            .map_err(|e| bad_rule(name, format!("query for {l}: {e}")))?;
        out.push((lang, query));
    }
    Ok(out)
}

impl RuleSet {
    pub fn parse(files: &[(&str, &str)], names: &str) -> Result<RuleSet> {
        let mut rules = Vec::new();
        // Per language: the query texts and the rule of each of their patterns.
        let mut texts: Vec<(Lang, String, Vec<usize>)> = Lang::ALL
            .iter()
            .map(|l| (*l, String::new(), Vec::new()))
            .collect();
        for (name, text) in files {
            let rule: Rule = toml::from_str(text).map_err(|e| bad_rule(name, e.to_string()))?;
            for p in &rule.matches {
                // Compiled alone first, so that an error names its rule.
                for (lang, query) in compile(name, p)? {
                    if let Some(t) = texts.iter_mut().find(|t| t.0 == lang) {
                        t.1.push_str(&p.query);
                        t.1.push('\n');
                        t.2.extend(std::iter::repeat_n(rules.len(), query.pattern_count()));
                    }
                }
            }
            rules.push(rule);
        }
        let mut compiled = Vec::new();
        for (lang, text, rule_of_pattern) in texts {
            if rule_of_pattern.is_empty() {
                continue;
            }
            let query = Query::new(&lang.grammar(), &text)
                .map_err(|e| bad_rule("(all rules)", format!("{}: {e}", lang.name())))?;
            compiled.push(Compiled {
                lang,
                report_at: query.capture_index_for_name("match"),
                arg: query.capture_index_for_name("arg"),
                query,
                rule_of_pattern,
            });
        }
        let file: NamesFile =
            toml::from_str(names).map_err(|e| bad_rule("names", e.to_string()))?;
        let mut collectors = Vec::new();
        for p in &file.collect {
            collectors.extend(compile("names", p)?);
        }
        Ok(RuleSet {
            rules,
            compiled,
            collectors,
        })
    }

    /// The rules built into rekey, compiled once.
    pub fn builtin() -> Result<&'static RuleSet> {
        static SET: OnceLock<std::result::Result<RuleSet, String>> = OnceLock::new();
        SET.get_or_init(|| RuleSet::parse(RULE_FILES, NAMES_FILE).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::input(Place::default(), e.clone(), ""))
    }

    /// Adds the keys (capture @key) and references (@reference) the models in `tree` declare.
    pub fn collect_names(&self, lang: Lang, tree: &Tree, src: &str, names: &mut Names) {
        let empty = Names::default();
        let judge = Judge {
            names: &empty,
            scope: None,
        };
        for (_, query) in self.collectors.iter().filter(|(l, _)| *l == lang) {
            let mut cursor = QueryCursor::new();
            let mut matches = cursor.matches(query, tree.root_node(), src.as_bytes());
            while let Some(m) = matches.next() {
                if !predicates_hold(query, m, src, &judge) {
                    continue;
                }
                let of = |name: &str| {
                    let index = query.capture_index_for_name(name)?;
                    let node = m.captures.iter().find(|c| c.index == index)?.node;
                    Some(&src[node.byte_range()])
                };
                if let Some(k) = of("key") {
                    names.add_key(k);
                }
                if let Some(r) = of("reference") {
                    names.add_reference(r);
                }
                // add_foreign_key :comments, :users [, column: :author_id]; ->foreign('user_id')
                match (of("fk_from"), of("fk_column"), of("fk_to")) {
                    (table, Some(col), _) => names.add_constrained(table, col),
                    (table, None, Some(to)) => names.add_constrained_to(table, to),
                    _ => {}
                }
            }
        }
    }

    /// The findings of every rule in one file (file names left empty for the caller).
    pub fn run(
        &self,
        lang: Lang,
        tree: &Tree,
        src: &str,
        names: &Names,
        scope: Option<&Scope>,
    ) -> Vec<Finding> {
        let judge = Judge { names, scope };
        let mut out = Vec::new();
        for c in self.compiled.iter().filter(|c| c.lang == lang) {
            let mut cursor = QueryCursor::new();
            let mut matches = cursor.matches(&c.query, tree.root_node(), src.as_bytes());
            while let Some(m) = matches.next() {
                let rule = &self.rules[c.rule_of_pattern[m.pattern_index]];
                let node_of =
                    |index: u32| m.captures.iter().find(|x| x.index == index).map(|x| x.node);
                let holds = predicates_hold(&c.query, m, src, &judge);
                if !holds {
                    continue;
                }
                let at = c
                    .report_at
                    .and_then(node_of)
                    .or_else(|| m.captures.first().map(|x| x.node));
                let Some(at) = at else { continue };
                // A call chain over several lines is reported where its key is, not where the
                // chain starts, and shown by that line.
                let (pos, code) = match c.arg.and_then(node_of) {
                    Some(arg) if at.start_position().row != at.end_position().row => {
                        let pos = arg.start_position();
                        let line = src.lines().nth(pos.row).unwrap_or_default();
                        (pos, one_line(line))
                    }
                    _ => (at.start_position(), one_line(&src[at.byte_range()])),
                };
                out.push(Finding {
                    file: String::new(),
                    line: pos.row + 1,
                    column: pos.column + 1,
                    rule: rule.id.clone(),
                    message: rule.message.clone(),
                    code,
                    reference: None,
                });
            }
        }
        out
    }
}

/// Whether a match satisfies the predicates that the audit answers (tree-sitter checks its own).
fn predicates_hold(query: &Query, m: &tree_sitter::QueryMatch, src: &str, judge: &Judge) -> bool {
    let node_of = |index: u32| m.captures.iter().find(|x| x.index == index).map(|x| x.node);
    query.general_predicates(m.pattern_index).iter().all(|p| {
        let nodes: Vec<Option<Node>> = p
            .args
            .iter()
            .map(|a| match a {
                QueryPredicateArg::Capture(i) => node_of(*i),
                QueryPredicateArg::String(_) => None,
            })
            .collect();
        let strings: Vec<&str> = p
            .args
            .iter()
            .filter_map(|a| match a {
                QueryPredicateArg::String(s) => Some(&**s),
                QueryPredicateArg::Capture(_) => None,
            })
            .collect();
        let first = nodes.first().copied().flatten();
        let second = nodes.get(1).copied().flatten();
        let text = |n: Node| &src[n.byte_range()];
        match (&*p.operator, first) {
            ("key?", Some(n)) => judge.is_key_or_reference(text(n)),
            ("key-name?", Some(n)) => judge.is_key_or_reference_name(text(n)),
            ("pk?", Some(n)) => judge.is_key(text(n)),
            ("ref-column?", Some(n)) => judge.is_reference_column(text(n)),
            ("route-int?", Some(n)) => route_int(text(n), judge),
            ("sql?", Some(n)) => sql::holed(n, src)
                .is_some_and(|t| sql::check(strings.first().copied().unwrap_or(""), &t, judge)),
            ("lacks?", Some(n)) => strings.first().is_none_or(|s| !text(n).contains(s)),
            ("same-stem?", Some(a)) => second.is_some_and(|b| same_stem(text(a), text(b))),
            ("constrained?", Some(n)) => judge.names.is_constrained(second.map(text), text(n)),
            ("unconstrained?", Some(n)) => !judge.names.is_constrained(second.map(text), text(n)),
            _ => false,
        }
    })
}

/// The code of a finding on one line, at most 100 characters.
fn one_line(code: &str) -> String {
    let flat: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 100 {
        let cut: String = flat.chars().take(97).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

/// Route parameters typed as digits: Flask/Django `<int:NAME>`, Django/Python regexes
/// `(?P<NAME>\d+)`, Express `:NAME(\d+)`, and `{NAME:\d+}`; reported when NAME is a key.
fn route_int(text: &str, judge: &Judge) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    let re = R.get_or_init(|| {
        Regex::new(
            r"<int:(\w+)>|\(\?P?<(\w+)>(?:\\\\?d|\[0-9\])[+*]?\)|:(\w+)\((?:\\\\?d|\[0-9\])[+*]?\)|\{(\w+):(?:\\\\?d|\[0-9\])[+*]?\}",
        )
        .expect("valid regex")
    });
    re.captures_iter(text).any(|c| {
        let name = c
            .iter()
            .skip(1)
            .flatten()
            .next()
            .map(|m| m.as_str())
            .unwrap_or("");
        judge.is_key_or_reference_name(name)
    })
}

/// `commentable_type` / `commentable_id` (or camelCase `commentableType` / `commentableId`).
fn same_stem(a: &str, b: &str) -> bool {
    let (Some(a), Some(b)) = (subject(a), subject(b)) else {
        return false;
    };
    let ta = a.strip_suffix("_type").or_else(|| a.strip_suffix("type"));
    let ib = b.strip_suffix("_id").or_else(|| b.strip_suffix("id"));
    matches!((ta, ib), (Some(x), Some(y)) if !x.is_empty() && x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule's examples: the positives give their findings, the look-alikes none.
    #[test]
    fn every_rule_finds_its_examples() {
        let set = RuleSet::parse(RULE_FILES, NAMES_FILE).expect("rules load");
        let mut failures = Vec::new();
        for rule in &set.rules {
            assert!(
                !rule.examples.is_empty(),
                "rule {} has no examples",
                rule.id
            );
            assert!(
                rule.examples.iter().any(|e| e.finds == 0),
                "rule {} has no look-alike example",
                rule.id
            );
            for ex in &rule.examples {
                let lang = Lang::from_name(&ex.language).expect("example language");
                let tree = super::super::lang::parse(lang, &ex.code).expect("parses");
                let mut names = Names::default();
                set.collect_names(lang, &tree, &ex.code, &mut names);
                let found: Vec<Finding> = set
                    .run(lang, &tree, &ex.code, &names, None)
                    .into_iter()
                    .filter(|f| f.rule == rule.id)
                    .collect();
                let mut lines: Vec<usize> = found.iter().map(|f| f.line).collect();
                lines.dedup();
                if lines.len() != ex.finds {
                    failures.push(format!(
                        "{} ({}): expected {} findings, got {:?} in:\n{}",
                        rule.id,
                        ex.language,
                        ex.finds,
                        found.iter().map(|f| &f.code).collect::<Vec<_>>(),
                        ex.code
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn rule_ids_are_the_file_names() {
        let set = RuleSet::parse(RULE_FILES, NAMES_FILE).expect("rules load");
        for ((name, _), rule) in RULE_FILES.iter().zip(&set.rules) {
            assert_eq!(*name, rule.id);
        }
    }
}
