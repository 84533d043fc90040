//! The decided nodes of a physical plan: one per operator the builder emits, each with its
//! schema, its placement and its settings. Runtime handles (counters, dead-letter outputs, the
//! GPU device) are not here: the builder adds them (`dataflow/build.rs`).

use std::ops::Range;
use std::time::Duration;

use arrow_schema::SchemaRef;
use sluice_dsl::plan::{AggCall, Format, InputRef, RouteKind, SinkMode, TypedExpr, WindowKind};

use crate::config::DebugConfig;
use crate::gpu::codegen::ChainOp;
use crate::gpu::placement::Offload;
use crate::route::balancer::{BalancerSettings, Site};

/// Where a stage that has both a CPU and a GPU kernel runs, decided at planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Gpu,
}

/// How a source's input is split between the workers.
#[derive(Clone, Debug)]
pub enum Split {
    /// Worker `w` of `n` reads every `n`-th 1 MiB stripe (byte range) of the file.
    Stripes {
        path: String,
    },
    /// Worker 0 reads the whole file (`quoted_newlines`: a record may span lines).
    WorkerZeroFile {
        path: String,
    },
    Stdin,
    /// Worker `w` of `n` generates every `n`-th record.
    Generator {
        events: u64,
    },
    /// Worker `w` of `n` reads partitions `p % n == w`.
    Kafka {
        topic: String,
        brokers: String,
        group: String,
        /// A table: read from the start; `versioned` when it has `event_time`.
        table: Option<bool>,
    },
    /// In-memory rows (`sluice test`) and connectors without a split of their own.
    Other(String),
}

/// A source's event time.
#[derive(Clone, Debug)]
pub struct EventTimeNode {
    pub column: usize,
    /// Milliseconds.
    pub max_out_of_order: i64,
    /// Watermark alignment bound in ms (files and generators), `None` for Kafka: a worker whose
    /// partitions are idle keeps a low watermark and would stall the others.
    pub align_ms: Option<u64>,
}

/// Read: one source or table, on every worker.
#[derive(Clone, Debug)]
pub struct ReadNode {
    pub name: String,
    pub format: Option<Format>,
    pub split: Split,
    /// Whether anything reads it (an unread source is not opened).
    pub used: bool,
    pub event_time: Option<EventTimeNode>,
    /// A Kafka source: commits offsets behind the sinks' durable frontier.
    pub commits: bool,
    /// A table: its arrangement, and its rows when a stream or sink reads them.
    pub table: Option<TableNode>,
}

/// What becomes of a table's reads.
#[derive(Clone, Debug)]
pub struct TableNode {
    /// Table index (`LogicalPlan::tables`).
    pub index: usize,
    /// Arranged once per worker when a lookup join reads it.
    pub arrange: Option<ArrangeNode>,
    /// One row per key once loaded, when a stream or sink reads the table.
    pub rows: Option<TableRowsNode>,
}

/// A table as one differential arrangement, partitioned by `hash(key) % workers`.
#[derive(Clone, Debug)]
pub struct ArrangeNode {
    pub name: String,
    pub schema: SchemaRef,
    /// Primary-key columns, in key order.
    pub key: Vec<usize>,
    /// A row whose value columns (these) are all null deletes its key; empty: rows never
    /// delete (a file table keeps such a row as a row).
    pub value_columns: Vec<usize>,
    /// The event-time column: an update applies at `max(event time, batch time)`; without
    /// one, at the batch's time (0 for a file and a Kafka table's initial load).
    pub time_column: Option<usize>,
    pub context: String,
}

/// A bounded table read as a stream: one row per key (the last, or the latest by event time).
#[derive(Clone, Debug)]
pub struct TableRowsNode {
    /// The key columns, as column expressions.
    pub key: Vec<TypedExpr>,
    pub time_column: Option<usize>,
    pub schema: SchemaRef,
    pub context: String,
}

/// The stages of one stream, in order.
#[derive(Clone, Debug)]
pub struct StreamPlan {
    pub name: String,
    pub inputs: Vec<InputRef>,
    pub stages: Vec<Stage>,
}

/// One operator of a stream.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The logical stages it runs (more than one for a fused GPU chain): what its counters
    /// are indexed by.
    pub ops: Range<usize>,
    /// "stream `s`, stage `k`": names the stage in failures and panics.
    pub context: String,
    /// The `[debug] panic_at_row` hook in front of it, if it targets this stage.
    pub panic_at_row: Option<PanicAtRowNode>,
    pub node: Node,
}

/// The test-only hook of `[debug] panic_at_row`.
#[derive(Clone, Debug)]
pub struct PanicAtRowNode {
    pub row: u64,
    pub hang: bool,
    /// Only on this worker (else every worker).
    pub worker: Option<usize>,
}

#[derive(Clone, Debug)]
pub enum Node {
    Filter(FilterNode),
    Project(ProjectNode),
    GpuChain(GpuChainNode),
    Aggregate(AggregateNode),
    Window(WindowNode),
    Updating(UpdatingNode),
    LookupJoin(LookupJoinNode),
    IntervalJoin(IntervalJoinNode),
    Top(TopNode),
    Distinct(DistinctNode),
    Route(RouteNode),
}

impl Node {
    /// Where a stage with a CPU and a GPU kernel runs; `None` for the other stages.
    pub fn device(&self) -> Option<&Device> {
        match self {
            Node::Aggregate(n) => Some(&n.device),
            Node::Window(n) => Some(&n.device),
            Node::Route(n) => Some(&n.device),
            _ => None,
        }
    }
}

/// `where` on the CPU's Arrow kernels.
#[derive(Clone, Debug)]
pub struct FilterNode {
    pub predicate: TypedExpr,
    /// Why it is not on the GPU, when it could have been (for `explain`; empty otherwise).
    pub cpu_because: String,
}

/// `select` on the CPU's Arrow kernels.
#[derive(Clone, Debug)]
pub struct ProjectNode {
    pub items: Vec<(String, TypedExpr)>,
    pub schema: SchemaRef,
    pub cpu_because: String,
}

/// Consecutive `where`/`select` stages fused into one GPU kernel.
#[derive(Clone, Debug)]
pub struct GpuChainNode {
    /// The stages, each with its output schema.
    pub stages: Vec<(ChainOp, SchemaRef)>,
    /// Their keywords (`where | select`).
    pub keywords: String,
    pub input_width: usize,
    pub offload: Offload,
    /// `Offload::Never` only: why (the calibration failed or found the CPU faster).
    pub never_because: String,
}

/// A bounded, un-windowed aggregate: partial per worker, exchange, final at the key's owner.
#[derive(Clone, Debug)]
pub struct AggregateNode {
    pub keys: Vec<(String, TypedExpr)>,
    pub aggs: Vec<AggCall>,
    /// Output: key columns, then aggregates.
    pub schema: SchemaRef,
    /// Input column with each row's event time (`first`/`last`).
    pub time_column: Option<usize>,
    /// Where the per-batch partials are computed.
    pub device: Device,
}

/// A windowed aggregate, keyed by its group keys.
#[derive(Clone, Debug)]
pub struct WindowNode {
    pub kind: WindowKind,
    pub keys: Vec<(String, TypedExpr)>,
    pub aggs: Vec<AggCall>,
    /// Input schema (for late rows' raw JSON) and the event-time column in it.
    pub input_schema: sluice_dsl::plan::Schema,
    pub time_column: usize,
    /// Output: keys, window_start, window_end, aggregates.
    pub schema: SchemaRef,
    pub device: Device,
}

/// An un-windowed aggregate kept as an updating table for a `changelog` or `snapshot_every`
/// sink.
#[derive(Clone, Debug)]
pub struct UpdatingNode {
    pub keys: Vec<(String, TypedExpr)>,
    pub aggs: Vec<AggCall>,
    pub mode: SinkMode,
    /// Output: keys, aggregates, and `diff` for a changelog.
    pub schema: SchemaRef,
    pub time_column: Option<usize>,
}

/// A stream joined with a table's arrangement.
#[derive(Clone, Debug)]
pub struct LookupJoinNode {
    /// Table index: the arrangement (`TableNode::arrange`) it reads.
    pub table: usize,
    pub left_outer: bool,
    /// Expressions over the left input, one per table key column, in the table key's order.
    pub keys: Vec<TypedExpr>,
    /// The table's key columns, in key order.
    pub key_columns: Vec<usize>,
    /// Table columns in the output, in order.
    pub right_columns: Vec<usize>,
    /// The table's schema (Arrow).
    pub table_schema: SchemaRef,
    /// Output schema.
    pub schema: SchemaRef,
    /// `Some` for a temporal join (the table has `event_time`): the stream's event-time
    /// column, if it has one.
    pub temporal: Option<Option<usize>>,
}

/// A stream-stream join within a time bound.
#[derive(Clone, Debug)]
pub struct IntervalJoinNode {
    pub right: InputRef,
    pub right_name: String,
    pub left_outer: bool,
    /// Key expressions over the left input, and the matching right column expressions.
    pub left_keys: Vec<TypedExpr>,
    pub right_keys: Vec<TypedExpr>,
    /// Right columns in the output, in order.
    pub right_columns: Vec<usize>,
    /// Event-time column of each side.
    pub left_time: usize,
    pub right_time: usize,
    /// `within`, ms.
    pub within: i64,
    /// Output schema and the right side's schema.
    pub schema: SchemaRef,
    pub right_schema: SchemaRef,
}

/// `top k by ... per ...`.
#[derive(Clone, Debug)]
pub struct TopNode {
    pub k: usize,
    pub by: Vec<(TypedExpr, bool)>,
    pub per: Vec<TypedExpr>,
    /// Input schema and output schema (input + rank).
    pub input_schema: SchemaRef,
    pub schema: SchemaRef,
}

/// `distinct keys within d`.
#[derive(Clone, Debug)]
pub struct DistinctNode {
    pub keys: Vec<TypedExpr>,
    pub within: i64,
    pub time_column: usize,
}

/// `route by ...`: choose each row's worker, exchange, receive.
#[derive(Clone, Debug)]
pub struct RouteNode {
    pub kind: RouteKind,
    /// Location and capacity of each worker (`route by geo`).
    pub sites: Vec<Site>,
    pub settings: BalancerSettings,
    /// Load report period.
    pub epoch: Duration,
    pub debug: DebugConfig,
    /// Where geo distances are computed.
    pub device: Device,
}

/// Write: one sink.
#[derive(Clone, Debug)]
pub struct WriteNode {
    pub name: String,
    pub input: InputRef,
    /// What the sink writes: its input's columns, plus `diff` for a changelog.
    pub schema: sluice_dsl::plan::Schema,
    /// On a cluster, its batches are exchanged to process 0 (one file, one stdout).
    pub to_process_zero: bool,
}
