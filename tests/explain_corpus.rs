//! Golden explain corpus: every shipped pipeline (`pipelines/`, `benches/`, the e2e and
//! difftest ones) has its `sluice explain` text — the logical plan, then the physical plan —
//! pinned in `tests/explain/<path with / as __>.explain`; `tests/explain/cases/` holds plans
//! that no shipped pipeline shows (updating aggregates). One run checks them all and lists
//! every mismatch; `SLUICE_BLESS=1 cargo test --test explain_corpus` rewrites the files (review
//! the diff). Explained on 2 workers with the GPU off, so the text does not depend on the
//! machine; `${VAR}`s without a default get a fixed value.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOTS: [&str; 5] = [
    "pipelines",
    "tests/explain/cases",
    "benches",
    "tests/e2e/pipelines",
    "tests/difftest/regressions",
];

/// Values of the variables that shipped pipelines use without a default.
const VARS: [(&str, &str); 6] = [
    ("BROKERS", "localhost:9092"),
    ("DIRTY", "data/dirty.csv"),
    ("EVENTS", "1000"),
    ("FLIGHTS", "data/flights.csv"),
    ("OUT", "out/corpus.out"),
    ("OUT_DIR", "out"),
];

fn pipelines(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            pipelines(&path, out);
        } else if path.extension().is_some_and(|e| e == "sluice") {
            out.push(path);
        }
    }
}

/// What `sluice explain` prints for `path` (relative to the repository root), with the exit
/// code and standard error when it fails.
fn explain(root: &Path, path: &Path) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .current_dir(root)
        .args(["explain", "--workers", "2", "--gpu", "off"])
        .arg(path)
        .env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, value) in VARS {
        command.env(name, value);
    }
    let out = command.output().expect("sluice runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text += &format!(
            "--- exit {:?}, stderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text
}

fn golden_name(path: &Path) -> String {
    let flat = path
        .with_extension("")
        .display()
        .to_string()
        .replace('/', "__");
    format!("{flat}.explain")
}

#[test]
fn every_shipped_pipeline_explains_as_pinned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("tests/explain");
    let bless = std::env::var_os("SLUICE_BLESS").is_some_and(|v| v == "1");
    let mut files = Vec::new();
    for dir in ROOTS {
        pipelines(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() >= 20, "the corpus is nearly empty: {files:?}");
    std::fs::create_dir_all(&corpus).unwrap();
    let mut problems = Vec::new();
    let mut names = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap();
        let name = golden_name(relative);
        let golden = corpus.join(&name);
        let actual = explain(root, relative);
        names.push(name);
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => problems.push(format!(
                "{}: explain text differs from {}\n--- expected\n{expected}--- actual\n{actual}",
                relative.display(),
                golden.display()
            )),
            Err(_) => problems.push(format!(
                "{}: no golden file {} (run with SLUICE_BLESS=1)",
                relative.display(),
                golden.display()
            )),
        }
    }
    for entry in std::fs::read_dir(&corpus).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && !names.contains(&name) {
            if bless {
                std::fs::remove_file(entry.path()).unwrap();
            } else {
                problems.push(format!("tests/explain/{name}: no pipeline pins it (stale)"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
