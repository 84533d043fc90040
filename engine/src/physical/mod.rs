//! Physical planning: the tree of decided nodes every later layer reads.
//!
//! ```text
//! LogicalPlan --lower--> PhysicalPlan { reads, streams: [stages], writes } --dataflow::build-->
//! ```
//! - `node.rs`: one node per operator the builder emits, with schema, placement, settings;
//! - `lower.rs`: makes them, rejecting what this engine cannot run (E04xx on the stage);
//! - `explain.rs`: prints them one a line (`sluice explain`).

mod explain;
mod lower;
pub mod node;

use std::net::SocketAddr;
use std::time::Duration;

use sluice_dsl::plan::{InputRef, LogicalPlan, OpKind};

use crate::cluster::ClusterSpec;
use crate::gpu::placement::GpuPlan;
use crate::route::balancer::{BalancerSettings, Site};

pub use lower::lower;
pub use node::*;

/// A logical plan lowered to decided nodes.
#[derive(Clone, Debug)]
pub struct PhysicalPlan {
    /// The plan it was lowered from (connectors open its source and sink nodes).
    pub logical: LogicalPlan,
    /// Worker threads of each process.
    pub workers: usize,
    /// The processes of the run (one unless `--processes`/`--local-cluster`).
    pub cluster: ClusterSpec,
    /// Rows per batch that sources cut and operators emit (bounded by config validation).
    pub batch_size: usize,
    /// Per reader: the sources, then the tables (`LogicalPlan::read_index`).
    pub reads: Vec<ReadNode>,
    /// Per stream, in dependency order.
    pub streams: Vec<StreamPlan>,
    /// Per sink.
    pub writes: Vec<WriteNode>,
    /// Settings of `route by geo` stages (also in each `RouteNode`), for explain.
    pub route: RoutePlan,
    /// Where to serve Prometheus metrics while the run lasts (`[metrics] listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// How long past its event time a row may still change the output (`commit_horizon`).
    pub commit_horizon_ms: Option<i64>,
    /// The GPU side: adapter, calibration, which `where`/`select` stages form chains.
    pub gpu: GpuPlan,
    /// How long a graceful stop may take before the run fails (`stop_timeout_ms`).
    pub stop_timeout: Duration,
}

/// Settings shared by every `route` stage of a run.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// Location and capacity of each worker (`route by geo`).
    pub sites: Vec<Site>,
    pub settings: BalancerSettings,
    /// Load report period.
    pub epoch: Duration,
}

impl PhysicalPlan {
    /// Whether some source commits its read positions (Kafka): sinks then track durability.
    pub fn commits_positions(&self) -> bool {
        self.reads.iter().any(|r| r.commits)
    }

    /// Workers over all processes: what byte ranges, generator shares, hash exchanges and
    /// route statistics divide by (worker indices are global).
    pub fn total_workers(&self) -> usize {
        self.workers * self.cluster.processes
    }

    /// The stages of every stream with the stream's index.
    pub fn stages(&self) -> impl Iterator<Item = (usize, &Stage)> {
        self.streams
            .iter()
            .enumerate()
            .flat_map(|(s, stream)| stream.stages.iter().map(move |stage| (s, stage)))
    }
}

/// The stream whose final un-windowed `aggregate` a non-append sink reads (an updating table),
/// if the sink reads one and nothing but sinks reads that stream.
pub fn updating_stream(plan: &LogicalPlan, sink: &sluice_dsl::plan::SinkNode) -> Option<usize> {
    let InputRef::Stream(i) = sink.input else {
        return None;
    };
    let last = plan.streams[i].ops.last()?;
    let read_by_streams = plan
        .streams
        .iter()
        .any(|s| s.inputs.contains(&InputRef::Stream(i)))
        || plan.streams.iter().flat_map(|s| &s.ops).any(
            |op| matches!(&op.kind, OpKind::Join { right: InputRef::Stream(r), .. } if *r == i),
        );
    (matches!(last.kind, OpKind::Aggregate { window: None, .. }) && !read_by_streams).then_some(i)
}
