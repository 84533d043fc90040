//! The builder: adds a physical plan's nodes to one worker's timely graph, each node to its
//! operator in a few lines, with the runtime handles (counters, dead letters, the GPU) the
//! node leaves out. Shared by `run` (`build`, sinks included) and `sluice test`
//! (`build_streams`, outputs captured).

use std::sync::Arc;

use sluice_dsl::plan::{InputRef, SourceNode};
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{ProbeHandle, Scope};

use super::*;
use crate::connectors::{ConnectorError, SourceContext, SourceReader, open_source};
use crate::physical::{Device, Node, PhysicalPlan, Stage};
use crate::shared::RunShared;

/// Adds the whole pipeline to `scope` for worker `worker` of `workers`: sources read through
/// their connectors, sinks write to `shared.sinks`.
pub fn build<'scope>(
    scope: Scope<'scope, u64>,
    plan: &PhysicalPlan,
    shared: &Arc<RunShared>,
    worker: usize,
    workers: usize,
) {
    let open = |_: usize, node: &SourceNode, ctx| open_source(node, ctx);
    // Sinks' durable frontier, for the sources that commit positions (built before the sinks).
    let durable = ProbeHandle::new();
    let built = build_streams(scope, plan, shared, worker, workers, &open, Some(&durable));
    let track_durability = plan.commits_positions();
    for (index, write) in plan.writes.iter().enumerate() {
        let Some(mut stream) = built.input(&write.input) else {
            continue;
        };
        if write.to_process_zero {
            stream = stream.to_process_zero(worker, plan.workers);
        }
        let context = crate::counters::sink_context(&write.name);
        match shared.sinks[index].writer() {
            Ok(writer) => {
                stream
                    .write_batches(writer, context, shared.clone(), track_durability)
                    .probe_with(&durable);
            }
            Err(e) => shared.failures.record(&context, e),
        }
    }
}

/// Opens worker `ctx.worker`'s reader of reader `index` (`PhysicalPlan::reads`):
/// `open_source` in a run, in-memory rows in a test (`crate::testing`).
pub type OpenReader<'a> =
    &'a dyn Fn(usize, &SourceNode, SourceContext) -> Result<Box<dyn SourceReader>, ConnectorError>;

/// One worker's graph without its sinks: what `build` writes to sinks and `crate::testing`
/// captures.
pub struct Built<'scope> {
    /// Per reader (sources, then tables); `None` when nothing reads it.
    pub reads: Vec<Option<BatchStream<'scope>>>,
    /// Per stream; `None` when it could not be built.
    pub streams: Vec<Option<BatchStream<'scope>>>,
    /// Per table: its rows, where a stream or sink reads the table (`table_rows.rs`).
    pub tables: Vec<Option<BatchStream<'scope>>>,
}

impl<'scope> Built<'scope> {
    /// The stream of batches that `input` names (`None` when it was not built).
    pub fn input(&self, input: &InputRef) -> Option<BatchStream<'scope>> {
        match input {
            InputRef::Source(i) => self.reads[*i].clone(),
            InputRef::Stream(i) => self.streams[*i].clone(),
            InputRef::Table(t) => self.tables[*t].clone(),
        }
    }
}

/// Who runs an operator instance: the worker, the run's workers and the shared context.
struct Worker<'a> {
    plan: &'a PhysicalPlan,
    shared: &'a Arc<RunShared>,
    index: usize,
    workers: usize,
}

impl Worker<'_> {
    fn gpu(&self, device: &Device) -> Option<&'static crate::gpu::Gpu> {
        match device {
            // Placement opened it already; it is the process's one device.
            Device::Gpu => crate::gpu::Gpu::shared().ok(),
            Device::Cpu => None,
        }
    }

    /// Where a stream's late rows go: the dead-letter output of its (first) root source.
    fn late_rows(&self, stream: usize) -> Option<Arc<crate::connectors::DeadLetterSink>> {
        let logical = &self.plan.logical;
        let source = logical.root_source(*logical.streams[stream].inputs.first()?)?;
        let state = self.shared.sources[source].as_ref()?;
        Some(state.dead_letters.clone())
    }
}

/// Adds the sources (opened with `open`) and every stream of the pipeline to `scope`.
pub fn build_streams<'scope>(
    scope: Scope<'scope, u64>,
    plan: &PhysicalPlan,
    shared: &Arc<RunShared>,
    worker: usize,
    workers: usize,
    open: OpenReader<'_>,
    durable: Option<&ProbeHandle<u64>>,
) -> Built<'scope> {
    let logical = &plan.logical;
    let at = Worker {
        plan,
        shared,
        index: worker,
        workers,
    };
    // Per table: the output of the joins that read it (a table stops once they are done).
    let table_readers: Vec<ProbeHandle<u64>> =
        logical.tables.iter().map(|_| ProbeHandle::new()).collect();
    let mut reads: Vec<Option<BatchStream<'scope>>> = vec![None; plan.reads.len()];
    let mut tables: Vec<Option<BatchStream<'scope>>> = vec![None; logical.tables.len()];
    let mut arranged: Vec<Option<TableArrangement<'scope>>> = vec![None; logical.tables.len()];
    for ((index, read), node) in plan.reads.iter().enumerate().zip(logical.reads()) {
        let Some(state) = &shared.sources[index] else {
            continue; // not read by anything
        };
        let ctx = SourceContext {
            worker,
            workers,
            batch_size: plan.batch_size,
            dead_letters: state.dead_letters.clone(),
            counters: state.counters.clone(),
            lag: {
                let (shared, name) = (shared.clone(), read.name.clone());
                Some(Arc::new(move |topic: &str, partition: i32, lag: i64| {
                    shared.partition_lag.set(&name, topic, partition, lag)
                }))
            },
        };
        let context = format!("source `{}`", read.name);
        let reader = match open(index, node, ctx) {
            Ok(reader) => {
                tracing::info!(source = %read.name, worker, workers, "source opened");
                Some(reader)
            }
            Err(e) => {
                shared.failures.record(&context, e);
                None
            }
        };
        let probe = ProbeHandle::new();
        let event_time = read.event_time.as_ref().map(|e| EventTimeSpec {
            column: e.column,
            max_out_of_order: e.max_out_of_order,
            align: e.align_ms.map(|ms| (probe.clone(), ms)),
            watermark: shared.watermarks[index].clone(),
        });
        let commit = durable.filter(|_| read.commits).map(|probe| CommitSpec {
            durable: probe.clone(),
            horizon_ms: plan.commit_horizon_ms,
        });
        let table = read.table.as_ref().map(|t| TableRead {
            readers: table_readers[t.index].clone(),
        });
        let aligned = event_time.as_ref().is_some_and(|e| e.align.is_some());
        let mut stream = read_source(
            scope,
            context,
            reader,
            event_time,
            commit,
            table,
            shared.clone(),
        );
        if aligned {
            stream = stream.probe_with(&probe);
        }
        if let Some(table) = &read.table {
            // Each table is arranged once per worker graph; every join against it shares it.
            if let Some(node) = &table.arrange {
                arranged[table.index] = Some(stream.clone().arrange_table(
                    TableSpec {
                        node: node.clone(),
                        worker,
                        held: state.held.clone(),
                    },
                    shared.clone(),
                ));
            }
            // A table that a stream or sink reads gives its rows once loaded.
            if let Some(node) = &table.rows {
                let rows = stream.clone().table_rows(
                    TableRowsSpec {
                        node: node.clone(),
                        worker,
                        workers,
                    },
                    shared.clone(),
                );
                tables[table.index] = Some(rows.probe_with(&table_readers[table.index]));
            }
        }
        reads[index] = Some(stream);
    }

    let mut streams: Vec<Option<BatchStream<'scope>>> = vec![None; plan.streams.len()];
    for (index, stream_plan) in plan.streams.iter().enumerate() {
        let input_of = |input: &InputRef, streams: &[Option<BatchStream<'scope>>]| match input {
            InputRef::Source(i) => reads[*i].clone(),
            InputRef::Stream(i) => streams[*i].clone(),
            InputRef::Table(t) => tables[*t].clone(),
        };
        let Some(inputs) = stream_plan
            .inputs
            .iter()
            .map(|i| input_of(i, &streams))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let stream = match inputs.len() {
            1 => inputs.into_iter().next().expect("one input"),
            _ => scope.concatenate(inputs),
        };
        streams[index] = stream_plan
            .stages
            .iter()
            .try_fold(stream, |mut stream, stage| {
                if let Some(hook) = &stage.panic_at_row
                    && hook.worker.is_none_or(|w| w == worker)
                {
                    stream = stream.panic_at_row(hook.row, hook.hang, stage.context.clone());
                }
                match &stage.node {
                    Node::IntervalJoin(node) => {
                        let right = input_of(&node.right, &streams)?;
                        add_stage(stream, &at, index, stage, Some(right), None)
                    }
                    Node::LookupJoin(node) => {
                        let table = arranged[node.table].as_ref()?;
                        add_stage(stream, &at, index, stage, None, Some(table))
                            .map(|joined| joined.probe_with(&table_readers[node.table]))
                    }
                    _ => add_stage(stream, &at, index, stage, None, None),
                }
            });
    }
    Built {
        reads,
        streams,
        tables,
    }
}

/// The operator of one stage of stream `s` (`None` when an input it joins was not built).
fn add_stage<'scope>(
    stream: BatchStream<'scope>,
    at: &Worker<'_>,
    s: usize,
    stage: &Stage,
    right: Option<BatchStream<'scope>>,
    table: Option<&TableArrangement<'scope>>,
) -> Option<BatchStream<'scope>> {
    let shared = at.shared.clone();
    let instance = Instance {
        worker: at.index,
        workers: at.workers,
        context: stage.context.clone(),
        rows_out: at.shared.operator_rows[s][stage.ops.start].clone(),
    };
    let Instance {
        context, rows_out, ..
    } = instance.clone();
    Some(match &stage.node {
        Node::Filter(node) => {
            stream.filter_batches(node.predicate.clone(), context, rows_out, shared)
        }
        Node::Project(node) => stream.project_batches(
            node.items.clone(),
            node.schema.clone(),
            context,
            rows_out,
            shared,
        ),
        Node::GpuChain(node) => {
            let spec = GpuChainSpec {
                node: node.clone(),
                context,
                rows_out: at.shared.operator_rows[s][stage.ops.clone()].to_vec(),
                metrics: at.shared.gpu_stages[s][stage.ops.start]
                    .clone()
                    .unwrap_or_default(),
            };
            stream.gpu_chain(spec, shared)
        }
        Node::Aggregate(node) => {
            let gpu = at.gpu(&node.device);
            let (node, at) = (node.clone(), instance);
            stream.aggregate_batches(AggregateSpec { node, at, gpu }, shared)
        }
        Node::Window(node) => {
            let (late, gpu) = (at.late_rows(s), at.gpu(&node.device));
            let (node, at) = (node.clone(), instance);
            stream.window_batches(
                WindowSpec {
                    node,
                    at,
                    late,
                    gpu,
                },
                shared,
            )
        }
        Node::Updating(node) => {
            let (node, at) = (node.clone(), instance);
            stream.updating_aggregate(UpdatingSpec { node, at }, shared)
        }
        Node::LookupJoin(node) => {
            let (node, at) = (node.clone(), instance);
            stream.join_table(table?, JoinSpec { node, at }, shared)
        }
        Node::IntervalJoin(node) => {
            let late = at.late_rows(s);
            let (node, at) = (node.clone(), instance);
            stream.interval_join(right?, IntervalJoinSpec { node, at, late }, shared)
        }
        Node::Top(node) => {
            let (node, at) = (node.clone(), instance);
            stream.top_rows(TopSpec { node, at }, shared)
        }
        Node::Distinct(node) => {
            let (node, at) = (node.clone(), instance);
            stream.distinct_rows(DistinctSpec { node, at }, shared)
        }
        Node::Route(node) => {
            let stats = at.shared.route_stats[s][stage.ops.start]
                .clone()
                .expect("route stages have statistics");
            let gpu = at.gpu(&node.device);
            let (node, at) = (node.clone(), instance);
            stream.route_batches(
                RouteSpec {
                    node,
                    at,
                    stats,
                    gpu,
                },
                shared,
            )
        }
    })
}
