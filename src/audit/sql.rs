//! SQL inside the application's string literals. A literal is read with its holes: the places a
//! value is formatted into the text (f-string and template interpolations, `%` and `.format`
//! placeholders of a formatted string, concatenated expressions). A key compared to a hole is an
//! id formatted into the SQL; a bound parameter (`:id`, `?`, `%s` handed to `execute`) is not a
//! hole, because the literal that holds it is not formatted.

use std::sync::OnceLock;

use regex::Regex;
use tree_sitter::Node;

use super::names::Judge;

/// Stands for a value formatted into the text.
pub const HOLE: &str = "\u{1}HOLE\u{1}";

/// Node kinds that are string literals, in every grammar the audit reads.
fn is_string(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "template_string"
            | "encapsed_string"
            | "heredoc"
            | "nowdoc"
            | "concatenated_string"
    )
}

/// Node kinds of a value formatted into a literal.
fn is_interpolation(kind: &str) -> bool {
    matches!(
        kind,
        "interpolation"
            | "template_substitution"
            | "variable_name"
            | "member_access_expression"
            | "subscript_expression"
            | "dynamic_variable_name"
            | "expression"
    )
}

/// A literal's text with its interpolations as holes.
fn literal(node: Node, src: &str) -> String {
    let mut out = String::new();
    let mut at = node.start_byte();
    let mut cursor = node.walk();
    let mut stack: Vec<Node> = node.named_children(&mut cursor).collect();
    stack.reverse();
    while let Some(child) = stack.pop() {
        if is_interpolation(child.kind()) {
            out.push_str(&src[at..child.start_byte()]);
            out.push_str(HOLE);
            at = child.end_byte();
        } else if child.kind() == "string" || child.kind() == "heredoc_body" {
            // Adjacent literals (Python's implicit concatenation) and heredoc bodies hold
            // interpolations of their own.
            let mut c = child.walk();
            let mut inner: Vec<Node> = child.named_children(&mut c).collect();
            inner.reverse();
            stack.extend(inner);
        }
    }
    out.push_str(&src[at..node.end_byte()]);
    out
}

fn placeholders() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"%(\([A-Za-z_]\w*\))?[-+ #0]*\d*[sdiurf]|\{[^{}]*\}").expect("valid regex")
    })
}

/// The SQL text of a string-like expression with its holes, or `None` when it is not one.
pub fn holed(node: Node, src: &str) -> Option<String> {
    let kind = node.kind();
    if is_string(kind) {
        return Some(literal(node, src));
    }
    match kind {
        "binary_operator" | "binary_expression" | "binary" => {
            let op = node.child_by_field_name("operator")?;
            let op = &src[op.byte_range()];
            let left = node.child_by_field_name("left")?;
            let right = node.child_by_field_name("right")?;
            match op {
                // "... %d" % value: the placeholders are the holes.
                "%" => {
                    let text = holed(left, src)?;
                    Some(placeholders().replace_all(&text, HOLE).into_owned())
                }
                "+" | "." => {
                    let l = holed(left, src);
                    let r = holed(right, src);
                    if l.is_none() && r.is_none() {
                        return None;
                    }
                    Some(format!(
                        "{}{}",
                        l.unwrap_or_else(|| HOLE.to_string()),
                        r.unwrap_or_else(|| HOLE.to_string())
                    ))
                }
                _ => None,
            }
        }
        // "...{}...".format(value)
        "call" => {
            let function = node.child_by_field_name("function")?;
            if function.kind() != "attribute" {
                return None;
            }
            let attr = function.child_by_field_name("attribute")?;
            if &src[attr.byte_range()] != "format" {
                return None;
            }
            let text = holed(function.child_by_field_name("object")?, src)?;
            Some(placeholders().replace_all(&text, HOLE).into_owned())
        }
        "parenthesized_expression" => holed(node.named_child(0)?, src),
        _ => None,
    }
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

fn looks_like_sql(text: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    regex(
        &R,
        r"(?i)\b(select|update|delete|insert|where|join|order\s+by|values)\b",
    )
    .is_match(text)
}

/// What a rule asks about the SQL of a literal.
pub fn check(kind: &str, text: &str, judge: &Judge) -> bool {
    static FORMATTED: OnceLock<Regex> = OnceLock::new();
    static ORDER: OnceLock<Regex> = OnceLock::new();
    static MAX: OnceLock<Regex> = OnceLock::new();
    static KEYSET: OnceLock<Regex> = OnceLock::new();
    match kind {
        // A where() fragment ("user_id = #{x}") is SQL without a keyword.
        "formatted-id" | "formatted-id-fragment" => {
            if !text.contains(HOLE) || (kind == "formatted-id" && !looks_like_sql(text)) {
                return false;
            }
            let re = regex(
                &FORMATTED,
                r#"(?i)([A-Za-z_][\w.]*)["'`\]]?\s*(=|<>|!=|\bin\s*\(|>=|<=|>|<)\s*['"(]*\s*\x01HOLE\x01"#,
            );
            re.captures_iter(text)
                .any(|c| judge.is_key_or_reference(&c[1]))
        }
        "order-key" => {
            let re = regex(
                &ORDER,
                r#"(?i)\border\s+by\s+["'`\[]?([A-Za-z_][\w.]*)["'`\]]?(\s+(asc|desc))?\s*(,|;|\)|$|limit\b|offset\b|["'`\x01])"#,
            );
            re.captures_iter(text).any(|c| judge.is_key(&c[1]))
        }
        "max-key" => {
            let re = regex(
                &MAX,
                r#"(?i)\b(max|min)\s*\(\s*["'`\[]?([A-Za-z_][\w.]*)["'`\]]?\s*\)"#,
            );
            looks_like_sql(text) && re.captures_iter(text).any(|c| judge.is_key(&c[2]))
        }
        "keyset" => {
            let re = regex(
                &KEYSET,
                r#"(?i)(^|[\s(,"'])([A-Za-z_][\w.]*)["'`\]]?\s*(>=|<=|>|<)\s*(\x01HOLE\x01|\?|:\w+|%s|%\(\w+\)s|\$\d+|@\w+)"#,
            );
            re.captures_iter(text).any(|c| judge.is_key(&c[2]))
        }
        _ => false,
    }
}
