//! Tests of the connectors, with hand-made files in a temporary directory.

mod csv;
mod dates;
mod encode;
mod generator;
mod jsonl;
mod scalar;
mod split;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{Array, RecordBatch};
use base64::Engine as _;
use sluice_dsl::ast::Span;
use sluice_dsl::plan::{ConnectorSpec, DataType, Field, Format, Schema, SourceNode};

use super::{
    DeadLetterSink, ReadOptions, SourceContext, SourceCounters, SourceReader, open_source_with,
};

/// A fresh directory under the system temp dir, unique per test and process, removed when
/// dropped.
pub(super) struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn temp_dir(test: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("sluice-connectors-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub(super) fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

pub(super) fn field(name: &str, ty: DataType, nullable: bool) -> Field {
    Field::new(name, ty, nullable)
}

pub(super) fn source(
    connector: ConnectorSpec,
    format: Option<Format>,
    fields: Vec<Field>,
) -> SourceNode {
    SourceNode {
        name: "src".into(),
        connector,
        format,
        formats: vec![None; fields.len()],
        schema: Schema::new(fields),
        header: true,
        quoted_newlines: false,
        event_time: None,
        max_out_of_order: 0,
        dead_letter: None,
        key: vec![],
        kafka: Default::default(),
        span: Span::default(),
    }
}

pub(super) fn file_source(path: &str, format: Format, fields: Vec<Field>) -> SourceNode {
    source(
        ConnectorSpec::File { path: path.into() },
        Some(format),
        fields,
    )
}

/// A `Write` into shared memory.
#[derive(Clone, Default)]
pub(super) struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One dead letter, with `raw_base64` decoded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Dead {
    pub position: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// What all workers of a source produced.
#[derive(Debug)]
pub(super) struct Outcome {
    /// Rows as text (see `row_text`), in worker then batch order.
    pub rows: Vec<String>,
    /// Sorted by line number.
    pub dead: Vec<Dead>,
    pub records: u64,
    pub bytes: u64,
    pub empty_lines: u64,
    pub batches: Vec<RecordBatch>,
}

impl Outcome {
    pub fn sorted_rows(&self) -> Vec<String> {
        let mut rows = self.rows.clone();
        rows.sort();
        rows
    }
    /// Line numbers of the dead letters (positions must end in `:<line>`).
    pub fn dead_lines(&self) -> Vec<u64> {
        self.dead
            .iter()
            .map(|d| d.position.rsplit(':').next().unwrap().parse().unwrap())
            .collect()
    }
}

pub(super) struct Harness {
    pub sink: Arc<DeadLetterSink>,
    pub capture: Capture,
    pub counters: Arc<SourceCounters>,
}

impl Harness {
    pub fn new() -> Harness {
        let capture = Capture::default();
        Harness {
            sink: Arc::new(DeadLetterSink::new("src", Box::new(capture.clone()))),
            capture,
            counters: Arc::new(SourceCounters::default()),
        }
    }

    pub fn ctx(&self, worker: usize, workers: usize, batch_size: usize) -> SourceContext {
        SourceContext {
            worker,
            workers,
            batch_size,
            dead_letters: Arc::clone(&self.sink),
            counters: Arc::clone(&self.counters),
            lag: None,
        }
    }

    pub fn dead(&self) -> Vec<Dead> {
        let text = String::from_utf8(self.capture.0.lock().unwrap().clone()).unwrap();
        let mut dead: Vec<Dead> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["source"], "src");
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v["raw_base64"].as_str().unwrap())
                    .unwrap();
                assert_eq!(v["raw"].as_str().unwrap(), String::from_utf8_lossy(&raw));
                Dead {
                    position: v["position"].as_str().unwrap().to_string(),
                    reason: v["reason"].as_str().unwrap().to_string(),
                    raw,
                }
            })
            .collect();
        dead.sort_by_key(|d| {
            let line: u64 = d.position.rsplit(':').next().unwrap().parse().unwrap();
            line
        });
        dead
    }

    /// Drains readers (any order of workers) into an outcome.
    pub fn drain(&self, readers: Vec<Box<dyn SourceReader>>, batch_size: usize) -> Outcome {
        let mut rows = Vec::new();
        let mut batches = Vec::new();
        for mut reader in readers {
            while let Some(batch) = reader.next_batch().unwrap() {
                assert!(batch.num_rows() > 0 && batch.num_rows() <= batch_size);
                rows.extend(rows_text(&batch));
                batches.push(batch);
            }
            assert!(reader.next_batch().unwrap().is_none(), "stays exhausted");
        }
        Outcome {
            rows,
            dead: self.dead(),
            records: self.counters.records.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            empty_lines: self.counters.empty_lines.load(Ordering::Relaxed),
            batches,
        }
    }
}

/// Reads a source with `workers` workers, `chunk_size`-byte reads and `batch_size` rows.
pub(super) fn read_all(
    node: &SourceNode,
    workers: usize,
    chunk_size: usize,
    batch_size: usize,
) -> Outcome {
    let h = Harness::new();
    let readers = (0..workers)
        .map(|w| {
            open_source_with(
                node,
                h.ctx(w, workers, batch_size),
                ReadOptions { chunk_size },
            )
            .unwrap()
        })
        .collect();
    h.drain(readers, batch_size)
}

/// Each row of a batch as `v1|v2|...`: ints and floats as Rust prints them, strings quoted
/// (Debug), timestamps `@<ms>`, durations `<ms>ms`, dates `d<days>`, null as `null`.
pub(super) fn rows_text(batch: &RecordBatch) -> Vec<String> {
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .map(|col| {
                    if col.is_null(row) {
                        return "null".to_string();
                    }
                    match col.data_type() {
                        arrow_schema::DataType::Int64 => {
                            col.as_primitive::<Int64Type>().value(row).to_string()
                        }
                        arrow_schema::DataType::Float64 => {
                            format!("{:?}", col.as_primitive::<Float64Type>().value(row))
                        }
                        arrow_schema::DataType::Boolean => col.as_boolean().value(row).to_string(),
                        arrow_schema::DataType::Utf8 => {
                            format!("{:?}", col.as_string::<i32>().value(row))
                        }
                        arrow_schema::DataType::Timestamp(..) => format!(
                            "@{}",
                            col.as_primitive::<TimestampMillisecondType>().value(row)
                        ),
                        arrow_schema::DataType::Duration(_) => format!(
                            "{}ms",
                            col.as_primitive::<DurationMillisecondType>().value(row)
                        ),
                        arrow_schema::DataType::Date32 => format!(
                            "d{}",
                            col.as_primitive::<arrow_array::types::Date32Type>()
                                .value(row)
                        ),
                        other => panic!("unexpected type {other}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

pub(super) fn dead(position: &str, reason: &str, raw: &[u8]) -> Dead {
    Dead {
        position: position.to_string(),
        reason: reason.to_string(),
        raw: raw.to_vec(),
    }
}
