//! The languages the audit reads, told by file extension, and their tree-sitter grammars.

use std::path::Path;

use tree_sitter::{Language, Parser, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    Python,
    Ruby,
    Php,
    JavaScript,
    TypeScript,
}

impl Lang {
    pub const ALL: [Lang; 5] = [
        Lang::Python,
        Lang::Ruby,
        Lang::Php,
        Lang::JavaScript,
        Lang::TypeScript,
    ];

    /// The name rules use in their `languages` lists.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Ruby => "ruby",
            Lang::Php => "php",
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
        }
    }

    pub fn from_name(name: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.name() == name)
    }

    pub fn of(path: &Path) -> Option<Lang> {
        match path.extension()?.to_str()? {
            "py" => Some(Lang::Python),
            "rb" | "rake" => Some(Lang::Ruby),
            "php" => Some(Lang::Php),
            "js" | "mjs" | "cjs" | "jsx" => Some(Lang::JavaScript),
            "ts" | "mts" | "cts" => Some(Lang::TypeScript),
            _ => None,
        }
    }

    pub fn grammar(self) -> Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            Lang::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        }
    }
}

/// The syntax tree of `text`; `None` only if the grammar cannot be loaded (a version mismatch
/// of the grammar crates, which the unit tests catch). Syntax errors give a tree with error
/// nodes: the rest of the file is still audited.
pub fn parse(lang: Lang, text: &str) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    parser.parse(text, None)
}
