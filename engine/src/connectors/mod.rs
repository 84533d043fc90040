//! Sources and sinks, one folder (or file) per connector. Leaves: they know the plan's
//! `SourceNode`/`SinkNode` and Arrow, nothing of the dataflow.
//!
//! A source is opened once per worker (`open_source`) and yields Arrow batches of at most
//! `batch_size` rows; worker `w` of `n` reads its own share (byte range of a file, every n-th
//! generated record). A sink target is opened once per run (`SinkTarget::open`) and shared by
//! the workers, each of which encodes its batches with its own `SinkWriter`.

pub mod dead_letter;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;

pub use dead_letter::DeadLetterSink;

/// Counters of one source, shared by its workers (run summary, metrics).
#[derive(Default, Debug)]
pub struct SourceCounters {
    /// Good records turned into rows.
    pub records: AtomicU64,
    /// Bytes of input consumed (files, stdin).
    pub bytes: AtomicU64,
    /// Empty lines skipped.
    pub empty_lines: AtomicU64,
}

impl SourceCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What a source reader needs besides its plan node.
#[derive(Clone)]
pub struct SourceContext {
    pub worker: usize,
    pub workers: usize,
    /// Maximum rows per batch.
    pub batch_size: usize,
    pub dead_letters: Arc<DeadLetterSink>,
    pub counters: Arc<SourceCounters>,
}

/// One worker's reader of one source.
pub trait SourceReader: Send {
    /// The next batch (schema = the source node's schema mapped by `arrow_schema_map`), or
    /// `None` when this worker's share is exhausted. Malformed records never fail this call:
    /// they go to the dead-letter sink. `Err` is for I/O failures only.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError>;
}

/// One worker's encoder into a shared sink target.
pub trait SinkWriter: Send {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError>;
    /// Pushes buffered bytes to the shared target and flushes it.
    fn flush(&mut self) -> Result<(), ConnectorError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("cannot open `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o error on `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connector `{0}` is not supported yet")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}
