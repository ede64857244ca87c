//! The layering docs/architecture.md promises, read from the source text: every stage is a leaf
//! (it takes what stages share from `crate::run`, never from another stage; the one exception is
//! the load's use of verify: `after_load`, `source_tap` and `ahead::take`), nothing below the
//! stages imports them, and the step runner knows no view of the run (`status`, `report`).
//! `python3 scripts/imports.py` draws the whole graph.

use std::path::Path;

/// Every `.rs` file under `dir`, with its text (test modules cut off: they may reach anywhere).
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            out.push((p.display().to_string(), text));
        }
    }
    out
}

fn stage_names() -> Vec<String> {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/stages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_stem().is_some_and(|s| s != "mod"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn no_stage_imports_another_but_the_loads_verify_after_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stages = stage_names();
    let mut sideways = Vec::new();
    for (path, text) in sources(&root.join("src/stages")) {
        let own = Path::new(&path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for other in stages.iter().filter(|s| **s != own) {
            for pattern in [
                format!("super::{other}::"),
                format!("stages::{other}::"),
                format!("super::{{{other}"),
            ] {
                let allowed = own == "load" && pattern == "super::verify::";
                if text.contains(&pattern) && !allowed {
                    sideways.push(format!("{path}: {pattern}"));
                }
            }
        }
    }
    assert!(
        sideways.is_empty(),
        "stages importing stages: {sideways:#?}"
    );
}

#[test]
fn what_the_stages_stand_on_never_imports_them_nor_the_runner_a_view() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut up = Vec::new();
    for dir in ["src/run", "src/backend"] {
        for (path, text) in sources(&root.join(dir)) {
            if text.contains("crate::stages") || text.contains("crate::commands") {
                up.push(path.clone());
            }
            if dir == "src/run"
                && (text.contains("crate::status") || text.contains("crate::report"))
            {
                up.push(format!("{path} (a view of the run)"));
            }
        }
    }
    assert!(up.is_empty(), "imports up a floor: {up:#?}");
}
