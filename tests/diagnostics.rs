//! Golden diagnostics: every `tests/diagnostics/*.sluice` is a malformed pipeline that ends
//! with its expectations, one per diagnostic: `# expect: LINE:COL: MESSAGE`.
//! `sluice check FILE` must exit 2 and print each as `FILE:LINE:COL` with the message and a
//! caret line, and print no other error.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

struct Expectation {
    line: usize,
    col: usize,
    message: String,
}

fn expectations(text: &str) -> Vec<Expectation> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let mut parts = e.splitn(3, ':');
            let mut number = |what: &str| -> usize {
                parts
                    .next()
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or_else(|| panic!("bad {what} in expectation `{e}`"))
            };
            let (line, col) = (number("line"), number("col"));
            let message = parts.next().expect("message").trim().to_string();
            Expectation { line, col, message }
        })
        .collect()
}

/// Runs `sluice check` on one golden file and returns a description of every mismatch.
fn check(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let expected = expectations(&text);
    let mut problems = Vec::new();
    if expected.is_empty() {
        problems.push("has no `# expect:` lines".to_string());
    }
    let out = sluice()
        .arg("check")
        .arg(path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    let shown = path.display().to_string();
    for e in &expected {
        let location = format!("{shown}:{}:{}", e.line, e.col);
        if !stderr.contains(&location) {
            problems.push(format!("no `{location}` in output"));
        }
        if !stderr.contains(&e.message) {
            problems.push(format!("message `{}` not in output", e.message));
        }
    }
    let carets = stderr.lines().filter(|l| l.contains('^')).count();
    if carets < expected.len() {
        problems.push(format!(
            "{carets} caret lines for {} diagnostics",
            expected.len()
        ));
    }
    let count_line = format!(
        "due to {} previous error{}",
        expected.len(),
        if expected.len() == 1 { "" } else { "s" }
    );
    if !stderr.contains(&count_line) {
        problems.push(format!("expected `{count_line}`"));
    }
    if !problems.is_empty() {
        problems.push(format!("output was:\n{stderr}"));
    }
    problems
}

#[test]
fn every_golden_file_reports_exactly_its_expected_diagnostics() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sluice"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "only {} golden files in {}",
        files.len(),
        dir.display()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let problems = check(f);
            (!problems.is_empty()).then(|| format!("{}:\n  {}", f.display(), problems.join("\n  ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_shipped_pipeline_checks_clean() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut count = 0;
    // Subdirectories too (`pipelines/nexmark/`).
    let mut dirs = vec![dir.clone()];
    let mut paths = Vec::new();
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    for path in paths {
        if path.extension().is_none_or(|e| e != "sluice") {
            continue;
        }
        count += 1;
        let out = sluice().arg("check").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{} does not check:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let fmt = sluice()
            .args(["fmt", "--check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            fmt.status.success(),
            "{} is not in canonical form",
            path.display()
        );
    }
    assert!(
        count >= 3,
        "expected the shipped pipelines in {}",
        dir.display()
    );
}
