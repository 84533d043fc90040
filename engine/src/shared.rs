//! What the workers of one run share: the sources' counters and dead-letter outputs, the
//! sinks' targets, the data path's counters, flow control and the failures. Below the
//! operators (which record into it) and above `counters` (what it holds); the exporter
//! (`metrics/`) and `run` read it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::connectors::{DeadLetterSink, FinalCommit, SinkTarget, SourceCounters};
use crate::counters;
use crate::physical::{Node, PhysicalPlan};
use crate::route::stats::RouteStats;

/// A source's state shared by its readers on all workers.
pub struct SourceState {
    pub counters: Arc<SourceCounters>,
    pub dead_letters: Arc<DeadLetterSink>,
    /// Tables: the rows each worker of this process holds.
    pub held: Arc<counters::HeldRows>,
}

impl SourceState {
    /// A source's state before it read anything, with its dead-letter output.
    pub fn new(dead_letters: Arc<DeadLetterSink>, workers: usize) -> SourceState {
        SourceState {
            counters: Arc::new(SourceCounters::default()),
            dead_letters,
            held: Arc::new(counters::HeldRows::new(workers)),
        }
    }
}

/// Everything the workers of one run share.
pub struct RunShared {
    /// Per source, then per table (index `sources.len() + t`); `None` when nothing reads it.
    pub sources: Vec<Option<SourceState>>,
    pub sinks: Vec<Arc<SinkTarget>>,
    /// Rows out of every operator (per worker), per stream.
    pub operator_rows: Vec<Vec<Arc<counters::RowCounter>>>,
    /// Rows sent by sources, per worker (with `operator_rows`: the per-worker load metric).
    pub source_rows: counters::RowCounter,
    /// Per source, then per table: the event-time watermark per worker (unused without
    /// `event_time`).
    pub watermarks: Vec<Arc<counters::Watermark>>,
    /// End-to-end latency per sink (`metrics/latency.rs`).
    pub latency: Arc<counters::Latency>,
    /// Kafka consumer lag, set by Kafka sources.
    pub partition_lag: counters::PartitionLag,
    /// Statistics of every `route` operator, per stream (`None` for other operators).
    pub route_stats: Vec<Vec<Option<Arc<RouteStats>>>>,
    pub failures: Failures,
    /// Counters of every GPU chain, per stream, at the chain's first stage.
    pub gpu_stages: Vec<Vec<Option<Arc<counters::GpuStage>>>>,
    /// Rows per batch (`PhysicalPlan::batch_size`): what operators cut their output into.
    pub batch_size: usize,
    /// Rows in flight through exchanges; sources pause while it is saturated.
    pub flow: crate::flow::FlowControl,
    /// When the run started (timelines, debug hooks).
    pub started: Instant,
    /// Sources' last commits, run once the sinks have finished and only if the run succeeded.
    pub(crate) final_commits: Mutex<Vec<FinalCommit>>,
}

/// Failures inside operators (I/O, evaluation). Operators record them and stop; sources stop
/// reading at the first one (so a failed run drains and ends instead of reading on), and the
/// run reports them all after the workers finished.
#[derive(Default)]
pub struct Failures {
    list: Mutex<Vec<String>>,
    any: AtomicBool,
}

impl Failures {
    pub fn record(&self, context: &str, error: impl std::fmt::Display) {
        tracing::warn!(context, %error, "operator failed");
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{context}: {error}"));
        self.any.store(true, Ordering::Relaxed);
    }
    /// Whether anything failed so far (sources stop reading and committing positions then).
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl RunShared {
    /// The shared state of a run of `plan` with these sources (then tables) and sinks; counters
    /// at zero, no failures.
    pub fn new(
        plan: &PhysicalPlan,
        sources: Vec<Option<SourceState>>,
        sinks: Vec<Arc<SinkTarget>>,
        started: Instant,
    ) -> RunShared {
        let logical = &plan.logical;
        let operator_rows = logical
            .streams
            .iter()
            .map(|s| {
                s.ops
                    .iter()
                    .map(|_| Arc::new(counters::RowCounter::new(plan.workers)))
                    .collect()
            })
            .collect();
        let watermarks = (0..plan.reads.len())
            .map(|_| Arc::new(counters::Watermark::new(plan.workers)))
            .collect();
        let sink_names: Vec<String> = logical.sinks.iter().map(|s| s.name.clone()).collect();
        // Per stream, per logical stage: statistics of each route stage, counters of each
        // GPU chain (at its first stage).
        let mut route_stats: Vec<Vec<Option<Arc<RouteStats>>>> = logical
            .streams
            .iter()
            .map(|s| vec![None; s.ops.len()])
            .collect();
        let mut gpu_stages: Vec<Vec<Option<Arc<counters::GpuStage>>>> = logical
            .streams
            .iter()
            .map(|s| vec![None; s.ops.len()])
            .collect();
        for (s, stage) in plan.stages() {
            match stage.node {
                Node::Route(_) => {
                    route_stats[s][stage.ops.start] =
                        Some(Arc::new(RouteStats::new(plan.total_workers())))
                }
                Node::GpuChain(_) => {
                    gpu_stages[s][stage.ops.start] = Some(Arc::default());
                }
                _ => {}
            }
        }
        RunShared {
            sources,
            sinks,
            operator_rows,
            source_rows: counters::RowCounter::new(plan.workers),
            watermarks,
            latency: Arc::new(counters::Latency::new(&sink_names, plan.workers)),
            partition_lag: counters::PartitionLag::default(),
            route_stats,
            failures: Failures::default(),
            gpu_stages,
            batch_size: plan.batch_size,
            // A few batches per local worker in flight keep every worker busy (16 x batch_size
            // x workers rows, README "Engine settings"); only exchanges between this process's
            // workers are counted (`flow.rs`).
            flow: crate::flow::FlowControl::new(
                16 * plan.batch_size * plan.workers,
                plan.cluster.local_workers(plan.workers),
                plan.total_workers(),
            ),
            started,
            final_commits: Mutex::new(Vec::new()),
        }
    }

    /// Keeps a closed source's last commit for the end of the run.
    pub fn final_commit(&self, commit: FinalCommit) {
        self.final_commits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(commit);
    }

    /// The source operator's hook (`dataflow/read.rs`), on every batch it sends at timely
    /// time `time`: counts the rows for this worker and notes when data at `time` was first
    /// sent.
    pub fn source_sent(&self, time: u64, rows: usize) {
        self.source_rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.latency.source_sent(time);
    }
}
