//! `file(...)` and `stdout` sinks (and the shared part of `kafka(...)` sinks, see `kafka/sink.rs`).
//!
//! One `SinkTarget` per sink and run owns the output; every worker gets its own `SinkWriter`
//! that encodes into a private buffer and hands it over (under the target's mutex) when it
//! passes ~1 MiB and on flush. Workers thus encode in parallel and contend only once per MiB;
//! each handed-over buffer holds whole rows, so rows of different workers never interleave
//! mid-line (their order across workers is unspecified).
//!
//! A CSV sink writes its header exactly once, as the first line: the first hand-over (or
//! `finish`, for an empty result) writes it. Appending (`overwrite = false`) to a non-empty
//! file writes no header.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use sluice_dsl::plan::{ConnectorSpec, Format, SinkNode};

use super::encode::Encoder;
use super::kafka::KafkaSink;
use super::{ConnectorError, SinkWriter};

/// Whether every process of a multi-process run writes this sink itself. A file or stdout is
/// one output on one machine, so only process 0 writes it (the dataflow exchanges the sink's
/// batches there, and other processes do not open it); a sink whose target takes writes from
/// many clients (a Kafka topic) would be written by every process.
pub fn sink_writes_on_every_process(node: &SinkNode) -> bool {
    match node.connector {
        ConnectorSpec::Kafka { .. } => true,
        ConnectorSpec::File { .. } | ConnectorSpec::Stdout => false,
        // Not writable (rejected by `SinkTarget::open`).
        ConnectorSpec::Stdin | ConnectorSpec::Generator { .. } => false,
    }
}

/// A writer's buffer is handed to the target once it holds more than this.
const HAND_OVER_BYTES: usize = 1 << 20;

enum Output {
    File(File),
    Stdout,
    /// Each worker's writer has its own producer; nothing is written here.
    Kafka,
    /// A sink another process writes: this process never receives its rows.
    Elsewhere,
}

struct Shared {
    output: Output,
    /// CSV header not yet written.
    header: Option<Vec<u8>>,
}

/// The output of one sink, shared by its workers' writers.
pub struct SinkTarget {
    label: String,
    kafka: Option<KafkaSink>,
    encoder: Encoder,
    shared: Mutex<Shared>,
    rows: AtomicU64,
    bytes: AtomicU64,
}

impl SinkTarget {
    /// Opens the sink's output: a file (parent directories created; truncated when
    /// `overwrite`, else appended to) or stdout.
    pub fn open(node: &SinkNode) -> Result<Arc<SinkTarget>, ConnectorError> {
        let encoder = Encoder::new(node.format, &node.schema);
        let header = (node.format == Format::Csv).then(|| encoder.csv_header());
        let (label, output, header) = match &node.connector {
            ConnectorSpec::File { path } => {
                let open_err = |source| ConnectorError::Open {
                    path: path.clone(),
                    source,
                };
                let p = std::path::Path::new(path);
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(open_err)?;
                }
                let mut options = OpenOptions::new();
                if node.overwrite {
                    options.write(true).create(true).truncate(true);
                } else {
                    options.append(true).create(true);
                }
                let file = options.open(p).map_err(open_err)?;
                let empty = file.metadata().map_err(open_err)?.len() == 0;
                (path.clone(), Output::File(file), header.filter(|_| empty))
            }
            ConnectorSpec::Stdout => ("stdout".to_string(), Output::Stdout, header),
            ConnectorSpec::Stdin => {
                return Err(ConnectorError::Other(format!(
                    "sink `{}`: stdin cannot be written to (did you mean stdout?)",
                    node.name
                )));
            }
            ConnectorSpec::Generator { .. } => {
                return Err(ConnectorError::Other(format!(
                    "sink `{}`: a generator cannot be written to",
                    node.name
                )));
            }
            ConnectorSpec::Kafka { .. } => {
                let kafka = KafkaSink::open(node)?;
                return Ok(Arc::new(SinkTarget {
                    label: kafka.label(),
                    kafka: Some(kafka),
                    encoder,
                    shared: Mutex::new(Shared {
                        output: Output::Kafka,
                        header: None,
                    }),
                    rows: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                }));
            }
        };
        Ok(Arc::new(SinkTarget {
            label,
            kafka: None,
            encoder,
            shared: Mutex::new(Shared { output, header }),
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }))
    }

    /// The sink as seen by a process that does not write it (see
    /// `sink_writes_on_every_process`): nothing is opened, and nothing reaches it.
    pub fn elsewhere(node: &SinkNode) -> Arc<SinkTarget> {
        Arc::new(SinkTarget {
            label: format!("sink `{}` (written by process 0)", node.name),
            kafka: None,
            encoder: Encoder::new(node.format, &node.schema),
            shared: Mutex::new(Shared {
                output: Output::Elsewhere,
                header: None,
            }),
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// A writer for one worker (a Kafka sink's has its own producer).
    pub fn writer(self: &Arc<Self>) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        if let Some(kafka) = &self.kafka {
            return kafka.writer(Arc::clone(self), self.encoder.clone());
        }
        Ok(Box::new(BufferedWriter {
            target: Arc::clone(self),
            encoder: self.encoder.clone(),
            buf: Vec::with_capacity(HAND_OVER_BYTES + HAND_OVER_BYTES / 4),
            rows: 0,
        }))
    }

    /// Counts rows written by a writer that does not go through `write` (Kafka deliveries).
    pub(crate) fn count_written(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Writes what is still pending (the CSV header of an empty result) and flushes the
    /// output. Writers must have been flushed (or dropped) before.
    pub fn finish(&self) -> Result<(), ConnectorError> {
        self.write(&[], 0, true)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Bytes written so far (header included).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Appends a buffer of whole rows (after the header, if not written yet).
    fn write(&self, buf: &[u8], rows: u64, flush: bool) -> Result<(), ConnectorError> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let Shared { output, header } = &mut *shared;
        let result = (|| -> io::Result<u64> {
            let mut written = 0;
            if let Some(h) = header.take() {
                write_all(output, &h)?;
                written += h.len() as u64;
            }
            if !buf.is_empty() {
                write_all(output, buf)?;
                written += buf.len() as u64;
            }
            if flush {
                match output {
                    Output::File(f) => f.flush()?,
                    Output::Stdout => io::stdout().lock().flush()?,
                    Output::Kafka | Output::Elsewhere => {}
                }
            }
            Ok(written)
        })();
        let written = result.map_err(|source| ConnectorError::Io {
            path: self.label.clone(),
            source,
        })?;
        self.bytes.fetch_add(written, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
        Ok(())
    }
}

fn write_all(output: &mut Output, bytes: &[u8]) -> io::Result<()> {
    match output {
        Output::File(f) => f.write_all(bytes),
        Output::Stdout => io::stdout().lock().write_all(bytes),
        Output::Kafka => Ok(()),
        // Rows are exchanged to process 0 before they reach a writer: arriving here is a bug,
        // reported rather than silently dropped.
        Output::Elsewhere => Err(io::Error::other(
            "rows reached a sink that only process 0 writes",
        )),
    }
}

/// One worker's writer: encodes locally, hands over full buffers.
struct BufferedWriter {
    target: Arc<SinkTarget>,
    encoder: Encoder,
    buf: Vec<u8>,
    /// Rows in `buf`.
    rows: u64,
}

impl BufferedWriter {
    fn hand_over(&mut self, flush: bool) -> Result<(), ConnectorError> {
        if self.buf.is_empty() && !flush {
            return Ok(());
        }
        let result = self.target.write(&self.buf, self.rows, flush);
        self.buf.clear();
        self.rows = 0;
        result
    }
}

impl SinkWriter for BufferedWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        self.encoder.encode(batch, &mut self.buf)?;
        self.rows += batch.num_rows() as u64;
        if self.buf.len() > HAND_OVER_BYTES {
            self.hand_over(false)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.hand_over(true)
    }
}

impl Drop for BufferedWriter {
    /// Rows a worker encoded are not lost if it is dropped without a last flush (errors
    /// cannot be reported here; call `flush` to see them).
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.hand_over(false);
        }
    }
}
