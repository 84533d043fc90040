//! Sources and sinks, one folder (or file) per connector. Leaves: they know the plan's
//! `SourceNode`/`SinkNode` and Arrow, nothing of the dataflow.
//!
//! A source is opened once per worker (`open_source`) and yields Arrow batches of at most
//! `batch_size` rows; worker `w` of `n` reads its own share (byte range of a file, every n-th
//! generated record). A sink target is opened once per run (`SinkTarget::open`) and shared by
//! the workers, each of which encodes its batches with its own `SinkWriter`.
//!
//! ```text
//! file/        file("...") as csv | jsonl: byte-range split, chunked line reader (lines.rs),
//!              csv_reader.rs, jsonl_reader.rs, and the record loop shared with stdin (mod.rs)
//! stdio.rs     stdin source (worker 0 reads it; stdout is a sink target)
//! generator/   generator(geo_points, ...), generator(nexmark, ...) (the `nexmark` crate)
//! memory.rs    rows held in memory (the `given` rows of `sluice test`)
//! sink.rs      SinkTarget for file(...) and stdout; encode.rs: csv / jsonl row encoders
//! columns.rs   column buffers with row rollback -> RecordBatch
//! scalar.rs    text forms of ints, floats, bools, timestamps, durations (parse and write)
//! dead_letter.rs  the dead-letter JSON lines of a source
//! ```

pub mod dead_letter;
pub mod encode;
pub mod file;
pub mod generator;
pub mod kafka;
pub mod memory;
pub mod sink;
pub mod stdio;

mod columns;
mod scalar;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use sluice_dsl::plan::{ConnectorSpec, Format, SourceNode};

pub use dead_letter::DeadLetterSink;
pub use encode::Encoder;
pub use file::ReadOptions;
pub use generator::geo_points::{GeoPoint, geo_point};
pub use sink::SinkTarget;

/// Opens worker `ctx.worker`'s reader of a source: `file(...)` and `stdin` as csv or jsonl,
/// `generator(geo_points | nexmark, ...)`. Other connectors are `ConnectorError::Unsupported`.
/// Configuration errors (a schema column missing from a csv header, an unreadable file) are
/// returned here, before any record is read.
pub fn open_source(
    node: &SourceNode,
    ctx: SourceContext,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    open_source_with(node, ctx, ReadOptions::default())
}

/// `open_source` with explicit reader knobs (chunk size).
pub fn open_source_with(
    node: &SourceNode,
    ctx: SourceContext,
    opts: ReadOptions,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    match &node.connector {
        ConnectorSpec::File { .. } => file::open_file(node, ctx, opts),
        ConnectorSpec::Stdin => stdio::open_stdin(node, ctx, opts),
        ConnectorSpec::Generator { .. } => generator::open_generator(node, ctx),
        ConnectorSpec::Kafka { .. } => kafka::open_kafka_source(node, ctx),
        ConnectorSpec::Stdout => Err(ConnectorError::Other(format!(
            "source `{}`: stdout cannot be read (did you mean stdin?)",
            node.name
        ))),
    }
}

/// Opens the dead-letter output of a source: its `dead_letter = file(...) as jsonl` (or
/// `stdout as jsonl`), else `dead_letters/<pipeline>/<source>.jsonl` under the working
/// directory. Parent directories are created; an existing file is truncated. Process `process`
/// > 0 of a multi-process run writes its own file, `.pI` inserted before the extension.
pub fn open_dead_letters(
    pipeline: &str,
    node: &SourceNode,
    process: usize,
) -> Result<Arc<DeadLetterSink>, ConnectorError> {
    let configured = match &node.dead_letter {
        None => PathBuf::from("dead_letters")
            .join(pipeline)
            .join(format!("{}.jsonl", node.name)),
        Some((ConnectorSpec::File { path }, Format::Jsonl)) => PathBuf::from(path),
        Some((spec @ ConnectorSpec::Kafka { topic, .. }, Format::Jsonl)) => {
            let writer = kafka::open_dead_letter_topic(&node.name, spec)?;
            return Ok(Arc::new(
                DeadLetterSink::new(&node.name, writer).with_path(format!("kafka topic `{topic}`")),
            ));
        }
        Some((ConnectorSpec::Stdout, Format::Jsonl)) => {
            return Ok(Arc::new(
                DeadLetterSink::new(&node.name, Box::new(std::io::stdout())).with_path("stdout"),
            ));
        }
        Some((_, Format::Csv)) => {
            return Err(ConnectorError::Unsupported(
                "dead letters as csv (they are JSON lines: use `as jsonl`)".into(),
            ));
        }
        Some((other, _)) => {
            return Err(ConnectorError::Unsupported(format!(
                "dead letters to {other:?}"
            )));
        }
    };
    let path = crate::cluster::per_process_path(&configured, process);
    let open_err = |source| ConnectorError::Open {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(open_err)?;
    }
    let file = File::create(&path).map_err(open_err)?;
    Ok(Arc::new(
        DeadLetterSink::new(&node.name, Box::new(BufWriter::new(file)))
            .with_path(path.display().to_string()),
    ))
}

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
    /// Maximum rows per batch: the run's `batch_size`, which config validation bounds to
    /// `1..=2^24` (readers rely on it and do not clamp it again).
    pub batch_size: usize,
    pub dead_letters: Arc<DeadLetterSink>,
    pub counters: Arc<SourceCounters>,
    /// Partitioned sources report consumer lag here: `(topic, partition, messages behind)`.
    pub lag: Option<LagReport>,
}

impl SourceContext {
    /// Rows that column builders reserve up front: a batch, but at most 64 Ki rows, so a huge
    /// `batch_size` does not allocate for rows a small input never has.
    pub fn reserved_rows(&self) -> usize {
        self.batch_size.min(1 << 16)
    }
}

/// Where a partitioned source reports its consumer lag (the metrics endpoint).
pub type LagReport = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

/// One worker's reader of one source.
pub trait SourceReader: Send {
    /// The next batch (schema = the source node's schema mapped by `arrow_schema_map`), or
    /// `None` when this worker's share is exhausted. Malformed records never fail this call:
    /// they go to the dead-letter sink. `Err` is for I/O failures only.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError>;

    /// `next_batch` for sources that may have nothing *yet* (Kafka): `Idle` then.
    fn pull(&mut self) -> Result<Pulled, ConnectorError> {
        Ok(match self.next_batch()? {
            Some(batch) => Pulled::Batch(batch),
            None => Pulled::Done,
        })
    }

    /// Whether the input never ends by itself; without `event_time` such a source runs on
    /// wall-clock (processing) time.
    fn unbounded(&self) -> bool {
        false
    }

    /// Whether every partition has been read to its end for now (Kafka: end of partition
    /// reported and nothing newer read since). A table's initial load is complete the first
    /// time this holds. Bounded readers never need it.
    fn caught_up(&self) -> bool {
        false
    }

    /// Partitioned sources (Kafka): the event time all partitions with input left have
    /// reached (`Some(None)`: not known yet). The watermark follows it, minus
    /// `max_out_of_order`, instead of the batches' maximum. `None`: not partitioned.
    fn per_partition_event_time(&self) -> Option<Option<i64>> {
        None
    }

    /// The batch last pulled is written for good once the sinks' durable frontier passes
    /// `bound` (a timely time). Sources that commit positions remember it.
    fn sent(&mut self, _bound: u64) {}

    /// The sinks' durable frontier moved (`None`: everything is durable): commit what it covers.
    fn durable(&mut self, _frontier: Option<u64>) {}

    /// The reader is done (end of input or stop). What is left to do once the run's sinks have
    /// finished: commit the last positions.
    fn close(self: Box<Self>) -> Option<FinalCommit> {
        None
    }
}

/// What one pull from a source gave.
pub enum Pulled {
    Batch(RecordBatch),
    /// Nothing available right now; try again later.
    Idle,
    /// This worker's share is exhausted.
    Done,
}

/// A source's last commit, run after the sinks finished and only if the run succeeded.
pub type FinalCommit = Box<dyn FnOnce() -> Result<(), ConnectorError> + Send>;

/// One worker's encoder into a shared sink target.
pub trait SinkWriter: Send {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError>;

    /// `write_batch` for rows of timely time `time` (writers that track durability per time).
    fn write_batch_at(&mut self, batch: &RecordBatch, _time: u64) -> Result<(), ConnectorError> {
        self.write_batch(batch)
    }

    /// Pushes buffered bytes to the shared target and flushes it; waits until it is all
    /// written.
    fn flush(&mut self) -> Result<(), ConnectorError>;

    /// Pushes what is buffered without waiting long and returns the lowest time with rows
    /// not yet durable (`None`: everything given so far is).
    fn make_durable(&mut self) -> Result<Option<u64>, ConnectorError> {
        self.flush().map(|()| None)
    }
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
    #[error(transparent)]
    Broker(#[from] kafka::BrokerError),
    #[error("connector `{0}` is not supported yet")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}
