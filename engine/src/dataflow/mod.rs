//! Builds one worker's Timely dataflow from the physical plan.
//!
//! Data between operators are Arrow `RecordBatch`es in timely containers (`Vec<RecordBatch>`).
//! Time is a single epoch (`0`) for now: every source holds a capability at 0 and drops it at
//! its end, so frontiers tell operators when a bounded input is complete.

mod aggregate;
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

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use sluice_dsl::plan::{InputRef, OpKind, SourceNode, TExpr, TypedExpr};
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{Scope, Stream};

use crate::connectors::{ConnectorError, SourceContext, SourceReader, open_source};
use crate::physical::PhysicalPlan;
use crate::run::RunShared;

pub use aggregate::{AggregateBatches, AggregateSpec};
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

/// A stream of Arrow batches in a worker's dataflow.
pub type BatchStream<'scope> = Stream<'scope, u64, Vec<RecordBatch>>;

/// Failures inside operators (I/O, evaluation). Operators record them and stop; sources stop
/// reading at the first one (so a failed run drains and ends instead of reading on), and the
/// run reports them all after the workers finished.
#[derive(Default)]
pub struct Failures {
    list: Mutex<Vec<String>>,
    any: std::sync::atomic::AtomicBool,
}

impl Failures {
    pub fn record(&self, context: &str, error: impl std::fmt::Display) {
        tracing::warn!(context, %error, "operator failed");
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{context}: {error}"));
        self.any.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    /// Whether anything failed so far (sources stop reading and committing positions then).
    pub fn any(&self) -> bool {
        self.any.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

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
    for (index, sink) in plan.logical.sinks.iter().enumerate() {
        if let Some(mut stream) = built.input(&sink.input) {
            if plan.cluster.is_multi_process()
                && !crate::connectors::sink::sink_writes_on_every_process(sink)
            {
                stream = stream.to_process_zero(worker, plan.workers);
            }
            let context = crate::metrics::sink_context(&sink.name);
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
}

/// Opens worker `ctx.worker`'s reader of source `index` (sources, then tables):
/// `open_source` in a run, in-memory rows in a test (`crate::testing`).
pub type OpenReader<'a> =
    &'a dyn Fn(usize, &SourceNode, SourceContext) -> Result<Box<dyn SourceReader>, ConnectorError>;

/// The operator spec of GPU chain `chain` of stream `index`.
fn gpu_chain_spec(
    plan: &PhysicalPlan,
    shared: &Arc<RunShared>,
    index: usize,
    chain: &crate::gpu::placement::ChainPlan,
) -> GpuChainSpec {
    let node = &plan.logical.streams[index];
    let range = chain.start..chain.end;
    let stages = node.ops[range.clone()]
        .iter()
        .zip(&plan.arrow_schemas[index][range.clone()])
        .map(|(op, schema)| {
            let op = match &op.kind {
                OpKind::Filter(p) => crate::gpu::codegen::ChainOp::Filter(p.clone()),
                OpKind::Project(items) => crate::gpu::codegen::ChainOp::Project(items.clone()),
                other => unreachable!("placement chains only where/select, not {other:?}"),
            };
            (op, schema.clone())
        })
        .collect();
    let keywords: Vec<&str> = node.ops[range.clone()]
        .iter()
        .map(|o| o.kind.keyword())
        .collect();
    GpuChainSpec {
        stages,
        input_width: chain.input_width,
        offload: chain.offload,
        context: format!(
            "stream `{}`, GPU chain `{}`",
            node.name,
            keywords.join(" | ")
        ),
        rows_out: shared.operator_rows[index][range.clone()].to_vec(),
        metrics: shared.gpu_stages[index][chain.start]
            .clone()
            .unwrap_or_default(),
    }
}

/// One worker's graph without its sinks: what `build` writes to sinks and `crate::testing`
/// captures.
pub struct Built<'scope> {
    /// Per source, then per table; `None` when nothing reads it.
    pub sources: Vec<Option<BatchStream<'scope>>>,
    /// Per stream; `None` when it could not be built.
    pub streams: Vec<Option<BatchStream<'scope>>>,
    /// Per table: its rows, where a stream or sink reads the table (`table_rows.rs`).
    pub tables: Vec<Option<BatchStream<'scope>>>,
}

impl<'scope> Built<'scope> {
    /// The stream of batches that `input` names (`None` when it was not built).
    pub fn input(&self, input: &InputRef) -> Option<BatchStream<'scope>> {
        match input {
            InputRef::Source(i) => self.sources[*i].clone(),
            InputRef::Stream(i) => self.streams[*i].clone(),
            InputRef::Table(t) => self.tables[*t].clone(),
        }
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
    // Per table: the output of the joins that read it (a table stops once they are done).
    let table_readers: Vec<ProbeHandle<u64>> =
        logical.tables.iter().map(|_| ProbeHandle::new()).collect();
    // Sources, then tables (numbered after the sources, as in `RunShared::sources`).
    let mut sources: Vec<Option<BatchStream<'scope>>> =
        vec![None; logical.sources.len() + logical.tables.len()];
    for (index, node) in logical.sources.iter().chain(&logical.tables).enumerate() {
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
                let (shared, name) = (shared.clone(), node.name.clone());
                Some(Arc::new(move |topic: &str, partition: i32, lag: i64| {
                    shared.partition_lag.set(&name, topic, partition, lag)
                }))
            },
        };
        let context = format!("source `{}`", node.name);
        let reader = match open(index, node, ctx) {
            Ok(reader) => {
                tracing::info!(source = %node.name, worker, workers, "source opened");
                Some(reader)
            }
            Err(e) => {
                shared.failures.record(&context, e);
                None
            }
        };
        // Generators and files (read in interleaved stripes) keep their workers' watermarks
        // within `max(max_out_of_order, 1 minute)` of each other. Not Kafka: a worker whose
        // partitions are all idle keeps a low watermark and would stall the others.
        let probe = ProbeHandle::new();
        let aligned = matches!(
            node.connector,
            sluice_dsl::plan::ConnectorSpec::Generator { .. }
                | sluice_dsl::plan::ConnectorSpec::File { .. }
        );
        let event_time = node.event_time.map(|column| EventTimeSpec {
            column,
            max_out_of_order: node.max_out_of_order,
            align: aligned.then(|| (probe.clone(), node.max_out_of_order.max(60_000) as u64)),
            watermark: shared.watermarks[index].clone(),
        });
        let commit = durable
            .filter(|_| {
                matches!(
                    node.connector,
                    sluice_dsl::plan::ConnectorSpec::Kafka { .. }
                )
            })
            .map(|probe| CommitSpec {
                durable: probe.clone(),
                horizon_ms: plan.commit_horizon_ms,
            });
        let table = index.checked_sub(logical.sources.len()).map(|t| TableRead {
            readers: table_readers[t].clone(),
        });
        let stream = read_source(
            scope,
            context,
            reader,
            event_time,
            commit,
            table,
            shared.clone(),
        );
        sources[index] = Some(if aligned {
            stream.probe_with(&probe)
        } else {
            stream
        });
    }

    // A table that a stream or sink reads gives its rows once loaded (bounded tables only:
    // physical planning refuses the others).
    let mut tables: Vec<Option<BatchStream<'scope>>> = vec![None; logical.tables.len()];
    for (t, node) in logical.tables.iter().enumerate() {
        let read = logical
            .streams
            .iter()
            .flat_map(|s| &s.inputs)
            .chain(logical.sinks.iter().map(|s| &s.input));
        if !read.into_iter().any(|i| *i == InputRef::Table(t)) {
            continue;
        }
        let Some(table) = sources[logical.sources.len() + t].clone() else {
            continue;
        };
        let key = node
            .key
            .iter()
            .map(|c| column_expr(&node.schema, *c))
            .collect();
        let rows = table.table_rows(
            TableRowsSpec {
                key,
                time_column: node.event_time,
                schema: crate::arrow_schema_map::arrow_schema(&node.schema),
                batch_size: plan.batch_size,
                worker,
                workers,
                context: format!("table `{}`", node.name),
            },
            shared.clone(),
        );
        tables[t] = Some(rows.probe_with(&table_readers[t]));
    }

    // Each table is arranged once per worker graph, when a join first needs it; every join
    // against it shares that arrangement.
    let mut arranged: Vec<Option<TableArrangement<'scope>>> = vec![None; logical.tables.len()];
    let mut streams: Vec<Option<BatchStream<'scope>>> = vec![None; logical.streams.len()];
    let input_of = |input: &InputRef, streams: &[Option<BatchStream<'scope>>]| match input {
        InputRef::Source(i) => sources[*i].clone(),
        InputRef::Stream(i) => streams[*i].clone(),
        InputRef::Table(t) => tables[*t].clone(),
    };
    for (index, node) in logical.streams.iter().enumerate() {
        let inputs: Vec<_> = node
            .inputs
            .iter()
            .filter_map(|i| input_of(i, &streams))
            .collect();
        if inputs.len() != node.inputs.len() {
            continue;
        }
        let mut stream = if inputs.len() == 1 {
            inputs.into_iter().next().expect("one input")
        } else {
            scope.concatenate(inputs)
        };
        let mut chain_end = 0;
        for (op_index, op) in node.ops.iter().enumerate() {
            if op_index < chain_end {
                continue; // inside a GPU chain built below
            }
            let context = format!("stream `{}`, stage `{}`", node.name, op.kind.keyword());
            if let Some(hook) = &plan.route.debug.panic_at_row
                && hook.stream == node.name
                && hook.stage == op_index + 1
                && hook.worker.is_none_or(|w| w == worker)
            {
                stream = stream.panic_at_row(hook.row, hook.hang, context.clone());
            }
            if let Some(chain) = plan.gpu.chain_at(index, op_index) {
                chain_end = chain.end;
                stream =
                    stream.gpu_chain(gpu_chain_spec(plan, shared, index, chain), shared.clone());
                continue;
            }
            let rows_out = shared.operator_rows[index][op_index].clone();
            // Aggregates, windows and `route by geo` have GPU kernels too (`gpu/stage.rs`).
            let stage_gpu = crate::gpu::stage::stage_gpu(plan.gpu.mode, op.placement);
            stream = match &op.kind {
                OpKind::Filter(predicate) => {
                    stream.filter_batches(predicate.clone(), context, rows_out, shared.clone())
                }
                OpKind::Project(items) => stream.project_batches(
                    items.clone(),
                    plan.arrow_schemas[index][op_index].clone(),
                    context,
                    rows_out,
                    shared.clone(),
                ),
                OpKind::Aggregate {
                    window: Some(kind),
                    keys,
                    aggs,
                } => {
                    let input_schema = op_input_schema(logical, node, op_index);
                    let late = late_rows_sink(logical, node, shared);
                    stream.window_batches(
                        WindowSpec {
                            kind: *kind,
                            keys: keys.clone(),
                            aggs: aggs.clone(),
                            time_column: plan.time_columns[index][op_index].unwrap_or(0),
                            input_schema,
                            schema: plan.arrow_schemas[index][op_index].clone(),
                            batch_size: plan.batch_size,
                            worker,
                            workers,
                            context,
                            rows_out,
                            late,
                            gpu: stage_gpu,
                        },
                        shared.clone(),
                    )
                }
                OpKind::Top { k, by, per } => {
                    let input_schema = op_input_schema(logical, node, op_index);
                    stream.top_rows(
                        TopSpec {
                            k: (*k).max(0) as usize,
                            by: by.clone(),
                            per: per.clone(),
                            input_schema: crate::arrow_schema_map::arrow_schema(&input_schema),
                            schema: plan.arrow_schemas[index][op_index].clone(),
                            worker,
                            workers,
                            context,
                            rows_out,
                        },
                        shared.clone(),
                    )
                }
                OpKind::Distinct { keys, within } => stream.distinct_rows(
                    DistinctSpec {
                        keys: keys.clone(),
                        within: *within,
                        time_column: plan.time_columns[index][op_index].unwrap_or(0),
                        worker,
                        workers,
                        context,
                        rows_out,
                    },
                    shared.clone(),
                ),
                OpKind::Join {
                    left_outer,
                    right: right @ (InputRef::Stream(_) | InputRef::Source(_)),
                    keys,
                    right_columns,
                    within: Some(within),
                    ..
                } => {
                    let Some(right_stream) = input_of(right, &streams) else {
                        continue;
                    };
                    let right_schema = match right {
                        InputRef::Source(s) => &logical.sources[*s].schema,
                        InputRef::Stream(r) => &logical.streams[*r].schema,
                        InputRef::Table(_) => unreachable!("matched above"),
                    };
                    let right_keys = keys
                        .iter()
                        .map(|(_, c)| column_expr(right_schema, *c))
                        .collect();
                    let late = late_rows_sink(logical, node, shared);
                    stream.interval_join(
                        right_stream,
                        IntervalJoinSpec {
                            left_outer: *left_outer,
                            left_keys: keys.iter().map(|(e, _)| e.clone()).collect(),
                            right_keys,
                            right_columns: right_columns.clone(),
                            left_time: plan.time_columns[index][op_index].unwrap_or(0),
                            right_time: crate::physical::input_time_column(logical, right)
                                .unwrap_or(0),
                            within: *within,
                            schema: plan.arrow_schemas[index][op_index].clone(),
                            right_schema: crate::arrow_schema_map::arrow_schema(right_schema),
                            worker,
                            workers,
                            context,
                            rows_out,
                            late,
                        },
                        shared.clone(),
                    )
                }
                OpKind::Join {
                    left_outer,
                    right: InputRef::Table(t),
                    keys,
                    right_columns,
                    ..
                } => {
                    let node = &logical.tables[*t];
                    let table_schema = crate::arrow_schema_map::arrow_schema(&node.schema);
                    if arranged[*t].is_none() {
                        let Some(table) = sources[logical.sources.len() + *t].clone() else {
                            continue;
                        };
                        let held = shared.sources[logical.sources.len() + *t]
                            .as_ref()
                            .map(|s| s.held.clone())
                            .expect("a built table has state");
                        arranged[*t] = Some(table.arrange_table(
                            TableSpec {
                                name: node.name.clone(),
                                schema: table_schema.clone(),
                                key: node.key.clone(),
                                value_columns: value_columns(node),
                                time_column: node.event_time,
                                worker,
                                context: format!("table `{}`", node.name),
                                held,
                            },
                            shared.clone(),
                        ));
                    }
                    let table = arranged[*t].as_ref().expect("arranged above");
                    // The join's conditions, in the table key's order (checked: the whole key).
                    let Some(ordered) = node
                        .key
                        .iter()
                        .map(|k| keys.iter().find(|(_, c)| c == k).map(|(e, _)| e.clone()))
                        .collect::<Option<Vec<_>>>()
                    else {
                        shared
                            .failures
                            .record(&context, "the join does not cover the table's key");
                        continue;
                    };
                    let joined = stream.join_table(
                        table,
                        JoinSpec {
                            left_outer: *left_outer,
                            keys: ordered,
                            key_columns: node.key.clone(),
                            right_columns: right_columns.clone(),
                            table_schema,
                            schema: plan.arrow_schemas[index][op_index].clone(),
                            temporal: node.event_time.map(|_| plan.time_columns[index][op_index]),
                            workers,
                            worker,
                            context,
                            rows_out,
                        },
                        shared.clone(),
                    );
                    joined.probe_with(&table_readers[*t])
                }
                OpKind::Aggregate { keys, aggs, .. }
                    if op_index + 1 == node.ops.len() && plan.updating[index].is_some() =>
                {
                    let mode = plan.updating[index].expect("checked by the guard");
                    stream.updating_aggregate(
                        UpdatingSpec {
                            keys: keys.clone(),
                            aggs: aggs.clone(),
                            mode,
                            schema: updating_schema(&op.schema, mode),
                            batch_size: plan.batch_size,
                            time_column: plan.time_columns[index][op_index],
                            context,
                            rows_out,
                        },
                        shared.clone(),
                    )
                }
                OpKind::Aggregate { keys, aggs, .. } => stream.aggregate_batches(
                    AggregateSpec {
                        keys: keys.clone(),
                        aggs: aggs.clone(),
                        schema: plan.arrow_schemas[index][op_index].clone(),
                        batch_size: plan.batch_size,
                        worker,
                        time_column: plan.time_columns[index][op_index],
                        context,
                        rows_out,
                        gpu: stage_gpu,
                    },
                    shared.clone(),
                ),
                OpKind::Route(kind) => {
                    let stats = shared.route_stats[index][op_index]
                        .clone()
                        .expect("route stages have statistics");
                    stream.route_batches(
                        RouteSpec {
                            kind: kind.clone(),
                            worker,
                            workers,
                            sites: plan.route.sites.clone(),
                            settings: plan.route.settings,
                            epoch: plan.route.epoch,
                            debug: plan.route.debug.clone(),
                            stats,
                            context,
                            rows_out,
                            gpu: stage_gpu,
                        },
                        shared.clone(),
                    )
                }
                other => unreachable!("`{}` is rejected by physical planning", other.keyword()),
            };
        }
        streams[index] = Some(stream);
    }
    Built {
        sources,
        streams,
        tables,
    }
}

/// Column `c` of `schema` as a typed expression (keys of tables and of a join's right side).
fn column_expr(schema: &sluice_dsl::plan::Schema, c: usize) -> TypedExpr {
    let f = &schema.fields[c];
    TypedExpr {
        kind: TExpr::Column(c, f.name.clone()),
        ty: f.ty,
        nullable: f.nullable,
    }
}

/// The schema a stream input carries.
fn input_schema(
    plan: &sluice_dsl::plan::LogicalPlan,
    input: &InputRef,
) -> sluice_dsl::plan::Schema {
    match input {
        InputRef::Source(i) => plan.sources[*i].schema.clone(),
        InputRef::Table(i) => plan.tables[*i].schema.clone(),
        InputRef::Stream(i) => plan.streams[*i].schema.clone(),
    }
}

/// The schema operator `op_index` of `node` reads: the stream's input, or the previous op's.
fn op_input_schema(
    plan: &sluice_dsl::plan::LogicalPlan,
    node: &sluice_dsl::plan::StreamNode,
    op_index: usize,
) -> sluice_dsl::plan::Schema {
    match op_index {
        0 => input_schema(plan, &node.inputs[0]),
        i => node.ops[i - 1].schema.clone(),
    }
}

/// Where a stream's late rows go: the dead-letter output of its (first) root source.
fn late_rows_sink(
    plan: &sluice_dsl::plan::LogicalPlan,
    node: &sluice_dsl::plan::StreamNode,
    shared: &RunShared,
) -> Option<Arc<crate::connectors::DeadLetterSink>> {
    let source = root_source(plan, node.inputs.first()?)?;
    shared.sources[source]
        .as_ref()
        .map(|s| s.dead_letters.clone())
}

/// The first source a stream input reads from (through streams and unions).
pub fn root_source(plan: &sluice_dsl::plan::LogicalPlan, input: &InputRef) -> Option<usize> {
    match input {
        InputRef::Source(i) => Some(*i),
        InputRef::Table(_) => None,
        InputRef::Stream(i) => root_source(plan, plan.streams[*i].inputs.first()?),
    }
}

/// Arrow schema of an updating aggregate's output: its columns, plus `diff` for a changelog.
pub fn updating_schema(
    schema: &sluice_dsl::plan::Schema,
    mode: sluice_dsl::plan::SinkMode,
) -> arrow_schema::SchemaRef {
    let mut schema = schema.clone();
    if mode == sluice_dsl::plan::SinkMode::Changelog {
        schema.fields.push(sluice_dsl::plan::Field::new(
            "diff",
            sluice_dsl::plan::DataType::Int,
            false,
        ));
    }
    crate::arrow_schema_map::arrow_schema(&schema)
}

/// The columns of a Kafka table whose all-null values delete a row's key: all but the key,
/// the event time and the message timestamp (a deletion still says when it happened). Other
/// tables never delete.
fn value_columns(node: &SourceNode) -> Vec<usize> {
    if !matches!(
        node.connector,
        sluice_dsl::plan::ConnectorSpec::Kafka { .. }
    ) {
        return Vec::new();
    }
    (0..node.schema.fields.len())
        .filter(|c| {
            !node.key.contains(c)
                && node.event_time != Some(*c)
                && node.kafka.timestamp_column != Some(*c)
        })
        .collect()
}
