//! Keeps the golden diagnostic files honest without the CLI: every `tests/diagnostics/*.sluice`
//! is parsed and checked with [`sluice_dsl::compile`], and its `# expect: LINE:COL: MESSAGE`
//! lines must equal the errors produced, in position order.
//!
//! `SLUICE_BLESS=1 cargo test -p sluice-dsl --test golden_self_check` rewrites the expectation
//! lines from the current output (review the diff before keeping it).

use std::path::{Path, PathBuf};

use sluice_dsl::diagnostic::line_col;

const EXPECT: &str = "# expect: ";

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/diagnostics");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sluice"))
        .collect();
    files.sort();
    files
}

/// `LINE:COL: MESSAGE` for every error, as the CLI would place them.
fn actual(source: &str, stem: &str) -> Vec<String> {
    let env = |name: &str| std::env::var(name).ok();
    match sluice_dsl::compile(source, stem, &env) {
        Ok(_) => Vec::new(),
        Err(diags) => diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let (line, col) = line_col(source, d.span.start);
                format!("{line}:{col}: {}", d.message)
            })
            .collect(),
    }
}

#[test]
fn golden_diagnostics_match_their_expectations() {
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let files = files();
    assert!(
        files.len() >= 32,
        "expected at least 32 golden files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read golden file");
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("pipeline");
        let expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(EXPECT))
            .map(str::to_string)
            .collect();
        let got = actual(&text, stem);
        if bless {
            let mut body: String = text
                .lines()
                .filter(|l| !l.starts_with(EXPECT))
                .map(|l| format!("{l}\n"))
                .collect();
            while body.ends_with("\n\n") {
                body.pop();
            }
            body.push('\n');
            for g in &got {
                body.push_str(&format!("{EXPECT}{g}\n"));
            }
            std::fs::write(&path, body).expect("write golden file");
            continue;
        }
        if got.is_empty() {
            failures.push(format!("{}: no errors at all", path.display()));
        } else if got != expected {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  got:\n    {}",
                path.display(),
                expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
