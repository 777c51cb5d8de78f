//! Repository hygiene as tests: module docs exist, and the README's command table matches
//! what the binary offers.

use std::path::{Path, PathBuf};

use crate::support::{Scratch, outcome};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() >= 10, "found only {files:?}");
    let undocumented: Vec<_> = files
        .iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().trim_start().starts_with("//!"))
        .collect();
    assert!(undocumented.is_empty(), "modules without a `//!` doc: {undocumented:?}");
}

/// Every `wharf X` in the README's command table is a real subcommand, and every
/// subcommand is in the table.
#[test]
fn readme_command_table_matches_help() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let mut documented: Vec<String> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `wharf "))
        .filter_map(|rest| rest.split([' ', '`']).next())
        .map(str::to_owned)
        .collect();
    documented.sort();
    documented.dedup();

    let (code, help, _) = outcome(&Scratch::new().run(&["--help"]));
    assert_eq!(code, 0);
    let mut offered: Vec<String> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    offered.sort();
    assert_eq!(documented, offered, "README.md's command table vs `wharf --help`");
}

/// Every wire type the application layer reports in is listed in docs/json.md, so the
/// JSON contract is documented where operators look.
#[test]
fn every_wire_type_is_documented() {
    let docs = std::fs::read_to_string(workspace_root().join("docs/json.md")).unwrap();
    let mut files = Vec::new();
    rust_files(&workspace_root().join("crates/wharf-app/src/wire"), &mut files);
    let mut types = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        types.extend(
            text.lines()
                .filter_map(|line| line.trim_start().strip_prefix("pub struct "))
                .filter_map(|rest| rest.split([' ', '{', '(', '<']).next())
                .map(str::to_owned),
        );
    }
    assert!(types.len() >= 10, "found only {types:?}");
    let missing: Vec<&String> =
        types.iter().filter(|name| !docs.contains(&format!("`{name}`"))).collect();
    assert!(missing.is_empty(), "wire types missing from docs/json.md: {missing:?}");
}
