//! The data path's counters: what operators and connectors bump while rows flow (rows per
//! worker and operator, watermarks, end-to-end latency, Kafka partition lag, GPU chain
//! batches). A leaf: it knows nothing of plans or the run, so operators, the shared run
//! context and the exporter (`metrics/`) all build on it.

mod gpu;
mod latency;
mod partition_lag;
mod watermark;
mod worker;

pub use gpu::GpuStage;
pub use latency::{Latency, QUANTILES, SinkLatencyHook, SinkLatencySnapshot, sink_context};
pub use partition_lag::PartitionLag;
pub use watermark::Watermark;
pub use worker::{HeldRows, QueueDepth, RowCounter, current_worker, set_current_worker};
