//! `docs/diagnostics.md` lists every diagnostic code the sources emit, each once, and nothing
//! else. A code is a string literal `"E0123"` in a `.rs` file of `dsl/src`, `engine/src` or
//! `src` (comments, `tests` directories, `*tests.rs` files and `#[cfg(test)] mod` blocks left
//! out); the doc lists a code as a table row starting with `| E0123 |`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `E` and four ASCII digits.
fn is_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5 && b[0] == b'E' && b[1..].iter().all(u8::is_ascii_digit)
}

/// Every `.rs` file under `dir`, skipping `tests` directories and `*tests.rs` files.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") && !name.ends_with("tests.rs") {
            out.push(path);
        }
    }
}

/// The lines of a source file that count: not comments, not inside a `#[cfg(test)] mod`.
/// A test module is skipped from its `mod NAME {` line to the `}` at the same indentation
/// (rustfmt's layout); `#[cfg(test)] mod NAME;` and other `#[cfg(test)]` items are kept.
fn live_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim();
        if trimmed == "#[cfg(test)]" {
            // The item it applies to, past any further attributes.
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim_start().starts_with("#[") {
                j += 1;
            }
            if let Some(item) = lines.get(j) {
                let item_trimmed = item.trim();
                let is_mod =
                    item_trimmed.starts_with("mod ") || item_trimmed.starts_with("pub mod ");
                if is_mod && item_trimmed.ends_with('{') {
                    let indent = item.len() - item.trim_start().len();
                    let close = format!("{}}}", &item[..indent]);
                    let end = (j + 1..lines.len())
                        .find(|&k| lines[k].trim_end() == close)
                        .unwrap_or(lines.len());
                    i = end + 1;
                    continue;
                }
            }
        }
        if !trimmed.starts_with("//") {
            out.push((i + 1, lines[i]));
        }
        i += 1;
    }
    out
}

/// Every `"E0123"` literal on a line.
fn literals(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("\"E") {
        let after = &rest[at + 1..];
        if after.len() >= 6 && after.as_bytes()[5] == b'"' && is_code(&after[..5]) {
            found.push(&after[..5]);
            rest = &after[6..];
        } else {
            rest = after;
        }
    }
    found
}

/// Code -> first place it is emitted (`path:line`).
fn emitted() -> BTreeMap<String, String> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["dsl/src", "engine/src", "src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "only {} source files found", files.len());
    let mut codes = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (number, line) in live_lines(&text) {
            for code in literals(line) {
                codes
                    .entry(code.to_string())
                    .or_insert_with(|| format!("{shown}:{number}"));
            }
        }
    }
    codes
}

/// The codes of the doc's table rows, in order, with repeats.
fn documented() -> Vec<String> {
    let path = root().join("docs/diagnostics.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("| E"))
        .map(|row| {
            let code = format!("E{}", row.split('|').next().unwrap().trim());
            assert!(
                is_code(&code),
                "malformed table row in docs/diagnostics.md: `| {row}`"
            );
            code
        })
        .collect()
}

#[test]
fn the_scanner_sees_literals_and_skips_comments_and_test_modules() {
    assert_eq!(
        literals(r#"Diagnostic::error("E0123", "x"), ("E0221", "E12", "E01234")"#),
        ["E0123", "E0221"]
    );
    let text = "let a = \"E0001\";\n// \"E0002\"\n#[cfg(test)]\nmod tests {\n    \
                fn f() { \"E0003\"; }\n}\nfn g() { \"E0004\" }\n";
    let codes: Vec<&str> = live_lines(text)
        .into_iter()
        .flat_map(|(_, l)| literals(l))
        .collect();
    assert_eq!(codes, ["E0001", "E0004"]);
}

#[test]
fn docs_list_every_emitted_diagnostic_code_once() {
    let listed = documented();
    assert!(!listed.is_empty(), "docs/diagnostics.md lists no codes");
    let mut seen = BTreeSet::new();
    let twice: BTreeSet<&str> = listed
        .iter()
        .filter(|c| !seen.insert(c.as_str()))
        .map(String::as_str)
        .collect();
    assert!(
        twice.is_empty(),
        "docs/diagnostics.md lists these codes more than once: {twice:?}"
    );

    let emitted = emitted();
    assert!(
        !emitted.is_empty(),
        "no diagnostic codes found in the sources"
    );
    let missing: Vec<String> = emitted
        .iter()
        .filter(|(c, _)| !seen.contains(c.as_str()))
        .map(|(c, at)| format!("{c} (emitted at {at})"))
        .collect();
    let stale: Vec<&str> = seen
        .iter()
        .copied()
        .filter(|c| !emitted.contains_key(*c))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/diagnostics.md is out of date.\n\
         codes the sources emit but the doc does not list ({}):\n  {}\n\
         codes the doc lists but no source emits ({}):\n  {}",
        missing.len(),
        missing.join("\n  "),
        stale.len(),
        stale.join("\n  ")
    );
}
