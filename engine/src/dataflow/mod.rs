//! The operators, one a file, each an extension trait on [`BatchStream`], and the builder
//! (`build.rs`) that maps each physical-plan node to its operator.
//!
//! Data between operators are Arrow `RecordBatch`es in timely containers (`Vec<RecordBatch>`).
//! The timestamp is event time (`read::to_time`: ms shifted by 2^62), or 0 for sources without
//! `event_time`; frontiers tell operators when an input is complete up to a time.

mod aggregate;
mod build;
mod distinct;
mod filter;
mod gpu_chain;
mod interval_join;
mod join;
mod key_by;
mod panic_at_row;
mod project;
mod read;
mod route;
mod table;
mod table_rows;
mod top;
mod updating;
mod window;
mod write;

use arrow_array::RecordBatch;
use timely::dataflow::Stream;

pub use aggregate::{AggregateBatches, AggregateSpec};
pub use build::{Built, OpenReader, build, build_streams};
pub use distinct::{DistinctRows, DistinctSpec};
pub use filter::FilterBatches;
pub use gpu_chain::{GpuChainBatches, GpuChainSpec};
pub use interval_join::{IntervalJoin, IntervalJoinSpec};
pub use join::{JoinSpec, JoinTable};
pub use key_by::KeyBy;
pub use panic_at_row::PanicAtRow;
pub use project::ProjectBatches;
pub use read::{CommitSpec, EventTimeSpec, TableRead, read_source};
pub use route::{RouteBatches, RouteSpec};
pub use table::{ArrangeTable, TableArrangement, TableSpec};
pub use table_rows::{TableRows, TableRowsSpec};
pub use top::{TopRows, TopSpec};
pub use updating::{UpdatingAggregate, UpdatingSpec};
pub use window::{WindowBatches, WindowSpec};
pub use write::{ToProcessZero, WriteBatches};

/// The runtime part every operator instance has: which worker of how many runs it, the
/// stage's name for failures, and the counter of the rows it sends.
#[derive(Clone)]
pub struct Instance {
    pub worker: usize,
    pub workers: usize,
    pub context: String,
    pub rows_out: std::sync::Arc<crate::counters::RowCounter>,
}

/// A stream of Arrow batches in a worker's dataflow.
pub type BatchStream<'scope> = Stream<'scope, u64, Vec<RecordBatch>>;
