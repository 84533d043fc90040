//! Lowering: decides every operator of the run — its node, schema, placement and settings —
//! and rejects, with a diagnostic on the stage, what this engine cannot run (E04xx). What it
//! returns is all that the builder (`dataflow/build.rs`), `explain`, the metrics and `sluice
//! test` read: nothing is decided again later.

use std::net::SocketAddr;
use std::time::Duration;

use sluice_dsl::ast::Span;
use sluice_dsl::diagnostic::Diagnostic;
use sluice_dsl::plan::{
    AggFunc, ConnectorSpec, InputRef, LogicalPlan, OpKind, Operator, Schema, SinkMode, SourceNode,
    TExpr, TypedExpr,
};
use sluice_dsl::plan_inputs::changelog_schema;

use super::node::*;
use super::{PhysicalPlan, RoutePlan, updating_stream};
use crate::arrow_schema_map::arrow_schema;
use crate::config::{EngineConfig, GpuMode};
use crate::gpu::placement::{GpuPlan, Offload, chain_op};

/// Why a Kafka table cannot be read as a stream, and what to write instead.
const TABLE_AS_STREAM_HINT: &str = "a Kafka table never finishes loading, so it has no final \
rows to stream (file and stdin tables do); to read every message of the topic as a stream, \
declare it as a `source`";

fn unsupported(what: &str, span: Span, hint: &str) -> Diagnostic {
    Diagnostic::error(
        "E0401",
        format!("{what} cannot run in this version of the engine"),
        span,
    )
    .with_label("not supported by `sluice run` yet")
    .with_hint(hint)
}

/// A setting of the engine's configuration that does not fit this plan (no span: it is not
/// in the pipeline file).
fn bad_setting(message: String) -> Diagnostic {
    Diagnostic::setting("E0410", message)
}

/// Lowers a checked plan; every stage the engine cannot run is reported, not just the first.
pub fn lower(plan: &LogicalPlan, config: &EngineConfig) -> Result<PhysicalPlan, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let gpu = match crate::gpu::placement::place(plan, &config.gpu) {
        Ok(gpu) => gpu,
        Err(diags) => {
            errors.extend(diags);
            GpuPlan::default()
        }
    };
    let route = RoutePlan {
        sites: crate::route::sites(config),
        settings: crate::route::balancer_settings(config),
        epoch: Duration::from_millis(config.route.geo.epoch_ms),
    };
    let lowering = Lowering {
        plan,
        config,
        gpu: &gpu,
        route: &route,
    };
    let streams: Vec<StreamPlan> = (0..plan.streams.len())
        .map(|s| lowering.stream(s, &mut errors))
        .collect();
    let reads = lowering.reads();
    let writes = lowering.writes(&mut errors);
    let mut gpu = gpu;
    let on_device = streams
        .iter()
        .flat_map(|s| &s.stages)
        .any(|stage| stage.node.device() == Some(&Device::Gpu));
    if on_device && gpu.adapter.is_none() {
        // An aggregate, window or route placed on the GPU opened the device at planning
        // (`Lowering::device`): the `GPU:` line and the adapter metric name it.
        gpu.adapter = crate::gpu::Gpu::shared().ok().map(|g| g.info().clone());
    }
    let metrics_listen = metrics_listen(config, &mut errors);
    if let Some(hook) = &config.debug.panic_at_row
        && !plan
            .streams
            .iter()
            .any(|s| s.name == hook.stream && (1..=s.ops.len()).contains(&hook.stage))
    {
        errors.push(bad_setting(format!(
            "`debug.panic_at_row`: stream `{}` has no stage {}",
            hook.stream, hook.stage
        )));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PhysicalPlan {
        logical: plan.clone(),
        workers: config.workers,
        cluster: config.cluster.clone(),
        batch_size: config.batch_size,
        reads,
        streams,
        writes,
        route,
        metrics_listen,
        commit_horizon_ms: crate::commit_horizon::commit_horizon_ms(plan),
        gpu,
        stop_timeout: Duration::from_millis(config.stop_timeout_ms),
    })
}

/// Process I of a multi-process run serves metrics on port + I, so processes on one host do
/// not collide (port 0, any free port, stays 0).
fn metrics_listen(config: &EngineConfig, errors: &mut Vec<Diagnostic>) -> Option<SocketAddr> {
    let listen = config.metrics.listen.as_ref()?;
    let Ok(mut addr) = listen.parse::<SocketAddr>() else {
        errors.push(bad_setting(format!(
            "`metrics.listen = {listen:?}` is not host:port"
        )));
        return None;
    };
    if addr.port() == 0 {
        return Some(addr);
    }
    match u16::try_from(config.cluster.process)
        .ok()
        .and_then(|p| addr.port().checked_add(p))
    {
        Some(port) => {
            addr.set_port(port);
            Some(addr)
        }
        None => {
            errors.push(bad_setting(format!(
                "`metrics.listen = {listen:?}`: port + process index {} is over 65535",
                config.cluster.process
            )));
            None
        }
    }
}

struct Lowering<'a> {
    plan: &'a LogicalPlan,
    config: &'a EngineConfig,
    gpu: &'a GpuPlan,
    route: &'a RoutePlan,
}

impl Lowering<'_> {
    fn unbounded_table(&self, input: InputRef) -> bool {
        match input {
            InputRef::Table(t) => {
                matches!(self.plan.tables[t].connector, ConnectorSpec::Kafka { .. })
            }
            _ => false,
        }
    }

    /// The stages of stream `s`: GPU chains where placement fused them, else one per operator.
    fn stream(&self, s: usize, errors: &mut Vec<Diagnostic>) -> StreamPlan {
        let stream = &self.plan.streams[s];
        if stream.inputs.iter().any(|i| self.unbounded_table(*i)) {
            errors.push(unsupported(
                "reading a Kafka `table` as a stream",
                stream.span,
                TABLE_AS_STREAM_HINT,
            ));
        }
        let mut stages = Vec::new();
        let mut op = 0;
        while op < stream.ops.len() {
            let panic_at_row = self
                .config
                .debug
                .panic_at_row
                .as_ref()
                .filter(|h| h.stream == stream.name && h.stage == op + 1)
                .map(|h| PanicAtRowNode {
                    row: h.row,
                    hang: h.hang,
                    worker: h.worker,
                });
            let (ops, context, node) = match self.gpu.chain_at(s, op) {
                Some(chain) => {
                    let node = self.gpu_chain(s, chain);
                    let context =
                        format!("stream `{}`, GPU chain `{}`", stream.name, node.keywords);
                    (chain.start..chain.end, context, Some(Node::GpuChain(node)))
                }
                None => {
                    let keyword = stream.ops[op].kind.keyword();
                    let context = format!("stream `{}`, stage `{keyword}`", stream.name);
                    (op..op + 1, context, self.operator(s, op, errors))
                }
            };
            op = ops.end;
            if let Some(node) = node {
                stages.push(Stage {
                    ops,
                    context,
                    panic_at_row,
                    node,
                });
            }
        }
        StreamPlan {
            name: stream.name.clone(),
            inputs: stream.inputs.clone(),
            stages,
        }
    }

    fn gpu_chain(&self, s: usize, chain: &crate::gpu::placement::ChainPlan) -> GpuChainNode {
        let ops = &self.plan.streams[s].ops[chain.start..chain.end];
        // Placement chains only stages that have a chain op (`where`/`select`).
        let stages = ops
            .iter()
            .filter_map(|op| Some((chain_op(&op.kind)?, arrow_schema(&op.schema))))
            .collect();
        let keywords: Vec<&str> = ops.iter().map(|o| o.kind.keyword()).collect();
        GpuChainNode {
            stages,
            keywords: keywords.join(" | "),
            input_width: chain.input_width,
            offload: chain.offload,
            never_because: match (&chain.offload, &self.gpu.calibration) {
                (Offload::Never, Some(Err(_))) => "the calibration failed".into(),
                (Offload::Never, _) => "the calibration found the CPU faster".into(),
                _ => String::new(),
            },
        }
    }

    /// Where a stage with a GPU kernel besides its CPU one runs (aggregates, windows, `route
    /// by geo`): the GPU under `mode = on` or `@gpu` (not under `off` or `@cpu`) when an
    /// adapter opens; else the CPU. `auto` keeps them on the CPU (`gpu/stage.rs` says why).
    fn device(&self, op: &Operator) -> Device {
        match crate::gpu::stage::stage_gpu(self.config.gpu.mode, op.placement) {
            Some(_) => Device::Gpu,
            None => Device::Cpu,
        }
    }

    /// The node of operator `op` of stream `s`, or `None` (with a diagnostic) when this
    /// engine cannot run it.
    fn operator(&self, s: usize, op_index: usize, errors: &mut Vec<Diagnostic>) -> Option<Node> {
        let plan = self.plan;
        let stream = &plan.streams[s];
        let op = &stream.ops[op_index];
        let time_column = plan.stage_event_time(s, op_index);
        let schema = arrow_schema(&op.schema);
        let cpu_because = || match self.gpu.stages.get(s).and_then(|st| st.get(op_index)) {
            Some(crate::gpu::placement::StagePlace::Cpu(why))
                if self.gpu.mode != GpuMode::Off && !why.is_empty() =>
            {
                why.clone()
            }
            _ => String::new(),
        };
        let needs_time = |code: &'static str, message: String| {
            Diagnostic::error(code, message, op.span)
                .with_label("no event-time column in the input")
                .with_hint("set `event_time` on the source and keep that column in the `select`")
        };
        let ordered = |aggs: &[sluice_dsl::plan::AggCall]| {
            aggs.iter()
                .find(|c| matches!(c.func, AggFunc::First | AggFunc::Last))
                .filter(|_| time_column.is_none())
                .map(|call| {
                    needs_time(
                        "E0404",
                        format!("`{}` needs the event time of every row", call.func.name()),
                    )
                })
        };
        Some(match &op.kind {
            OpKind::Filter(predicate) => Node::Filter(FilterNode {
                predicate: predicate.clone(),
                cpu_because: cpu_because(),
            }),
            OpKind::Project(items) => Node::Project(ProjectNode {
                items: items.clone(),
                schema,
                cpu_because: cpu_because(),
            }),
            OpKind::Aggregate {
                window: Some(kind),
                keys,
                aggs,
            } => {
                let Some(time_column) = time_column else {
                    let name = plan.event_time_name(stream.inputs[0]).unwrap_or_default();
                    errors.push(
                        Diagnostic::error(
                            "E0403",
                            format!("the window needs the event-time column `{name}` in its input"),
                            op.span,
                        )
                        .with_label("event time not in the input")
                        .with_hint(format!(
                            "keep `{name}` (unrenamed) in the `select` before the window"
                        )),
                    );
                    return None;
                };
                Node::Window(WindowNode {
                    kind: *kind,
                    keys: keys.clone(),
                    aggs: aggs.clone(),
                    input_schema: plan.stage_input_schema(s, op_index)?.clone(),
                    time_column,
                    schema,
                    device: self.device(op),
                })
            }
            OpKind::Aggregate { keys, aggs, .. } => {
                if let Some(error) = ordered(aggs) {
                    errors.push(error);
                    return None;
                }
                match self
                    .updating_mode(s)
                    .filter(|_| op_index + 1 == stream.ops.len())
                {
                    Some(mode) => Node::Updating(UpdatingNode {
                        keys: keys.clone(),
                        aggs: aggs.clone(),
                        mode,
                        schema: arrow_schema(&match mode {
                            SinkMode::Changelog => changelog_schema(&op.schema),
                            _ => op.schema.clone(),
                        }),
                        time_column,
                    }),
                    None => Node::Aggregate(AggregateNode {
                        keys: keys.clone(),
                        aggs: aggs.clone(),
                        schema,
                        time_column,
                        device: self.device(op),
                    }),
                }
            }
            OpKind::Route(kind) => Node::Route(RouteNode {
                kind: kind.clone(),
                sites: self.route.sites.clone(),
                settings: self.route.settings,
                epoch: self.route.epoch,
                debug: self.config.debug.clone(),
                device: self.device(op),
            }),
            OpKind::Top { k, by, per } => Node::Top(TopNode {
                k: (*k).max(0) as usize,
                by: by.clone(),
                per: per.clone(),
                input_schema: arrow_schema(plan.stage_input_schema(s, op_index)?),
                schema,
            }),
            OpKind::Distinct { keys, within } => {
                let Some(time_column) = time_column else {
                    errors.push(needs_time(
                        "E0406",
                        "`distinct ... within` needs the event time of every row".into(),
                    ));
                    return None;
                };
                Node::Distinct(DistinctNode {
                    keys: keys.clone(),
                    within: *within,
                    time_column,
                })
            }
            OpKind::Join {
                left_outer,
                right: right @ (InputRef::Stream(_) | InputRef::Source(_)),
                right_name,
                keys,
                right_columns,
                within: Some(within),
            } => {
                let (Some(left_time), Some(right_time)) =
                    (time_column, plan.input_event_time(*right))
                else {
                    errors.push(
                        Diagnostic::error(
                            "E0405",
                            "a stream-stream join needs the event-time column of both sides in its inputs",
                            op.span,
                        )
                        .with_label("no event time on one side")
                        .with_hint("set `event_time` on both sources and keep those columns in the `select`s"),
                    );
                    return None;
                };
                let right_schema = plan.input_schema(*right)?;
                Node::IntervalJoin(IntervalJoinNode {
                    right: *right,
                    right_name: right_name.clone(),
                    left_outer: *left_outer,
                    left_keys: keys.iter().map(|(e, _)| e.clone()).collect(),
                    right_keys: keys
                        .iter()
                        .map(|(_, c)| column_expr(right_schema, *c))
                        .collect(),
                    right_columns: right_columns.clone(),
                    left_time,
                    right_time,
                    within: *within,
                    schema,
                    right_schema: arrow_schema(right_schema),
                })
            }
            // Tables come from files, stdin or Kafka (the checker allows no other).
            OpKind::Join {
                left_outer,
                right: InputRef::Table(t),
                keys,
                right_columns,
                within: None,
                ..
            } => {
                let table = &plan.tables[*t];
                // The join's conditions, in the table key's order (checked: the whole key).
                let Some(ordered) = table
                    .key
                    .iter()
                    .map(|k| keys.iter().find(|(_, c)| c == k).map(|(e, _)| e.clone()))
                    .collect::<Option<Vec<_>>>()
                else {
                    errors.push(unsupported(
                        "a join on part of a table's key",
                        op.span,
                        "join on every column of the table's `key`",
                    ));
                    return None;
                };
                Node::LookupJoin(LookupJoinNode {
                    table: *t,
                    left_outer: *left_outer,
                    keys: ordered,
                    key_columns: table.key.clone(),
                    right_columns: right_columns.clone(),
                    table_schema: arrow_schema(&table.schema),
                    schema,
                    temporal: table.event_time.map(|_| time_column),
                })
            }
            // The checker allows no other join: a table without `within`, a source or stream
            // with it.
            OpKind::Join { .. } => {
                errors.push(unsupported(
                    "this join",
                    op.span,
                    "join a `table` without `within`, or a source or stream with `within`",
                ));
                return None;
            }
        })
    }

    /// The mode of the non-append sink that reads stream `s` as an updating table, if one does.
    fn updating_mode(&self, s: usize) -> Option<SinkMode> {
        self.plan
            .sinks
            .iter()
            .filter(|sink| sink.mode != SinkMode::Append)
            .find(|sink| updating_stream(self.plan, sink) == Some(s))
            .map(|sink| sink.mode)
    }

    /// Every reader: the sources, then the tables.
    fn reads(&self) -> Vec<ReadNode> {
        let plan = self.plan;
        let read_as_stream = |input: InputRef| {
            plan.streams
                .iter()
                .flat_map(|s| &s.inputs)
                .chain(plan.sinks.iter().map(|s| &s.input))
                .any(|i| *i == input)
        };
        let joined = |input: InputRef| {
            plan.streams
                .iter()
                .flat_map(|s| &s.ops)
                .any(|op| matches!(&op.kind, OpKind::Join { right, .. } if *right == input))
        };
        let mut reads = Vec::new();
        for (r, node) in plan.reads().enumerate() {
            let table = r.checked_sub(plan.sources.len());
            let input = match table {
                Some(t) => InputRef::Table(t),
                None => InputRef::Source(r),
            };
            let aligned = matches!(
                node.connector,
                ConnectorSpec::Generator { .. } | ConnectorSpec::File { .. }
            );
            reads.push(ReadNode {
                name: node.name.clone(),
                format: node.format,
                split: split(node, table.is_some()),
                used: read_as_stream(input) || joined(input),
                // Generators and files (read in interleaved stripes) keep their workers'
                // watermarks within `max(max_out_of_order, 1 minute)` of each other.
                event_time: node.event_time.map(|column| EventTimeNode {
                    column,
                    max_out_of_order: node.max_out_of_order,
                    align_ms: aligned.then(|| node.max_out_of_order.max(60_000) as u64),
                }),
                commits: matches!(node.connector, ConnectorSpec::Kafka { .. }),
                table: table.map(|index| TableNode {
                    index,
                    arrange: joined(input).then(|| ArrangeNode {
                        name: node.name.clone(),
                        schema: arrow_schema(&node.schema),
                        key: node.key.clone(),
                        value_columns: value_columns(node),
                        time_column: node.event_time,
                        context: format!("table `{}`", node.name),
                    }),
                    rows: read_as_stream(input).then(|| TableRowsNode {
                        key: node
                            .key
                            .iter()
                            .map(|c| column_expr(&node.schema, *c))
                            .collect(),
                        time_column: node.event_time,
                        schema: arrow_schema(&node.schema),
                        context: format!("table `{}`", node.name),
                    }),
                }),
            });
        }
        reads
    }

    fn writes(&self, errors: &mut Vec<Diagnostic>) -> Vec<WriteNode> {
        let plan = self.plan;
        let mut writes = Vec::new();
        for sink in &plan.sinks {
            if self.unbounded_table(sink.input) {
                errors.push(unsupported(
                    "a sink reading a Kafka `table`",
                    sink.span,
                    TABLE_AS_STREAM_HINT,
                ));
            }
            if sink.mode != SinkMode::Append && updating_stream(plan, sink).is_none() {
                errors.push(
                    Diagnostic::error(
                        "E0407",
                        "`mode = changelog` and `snapshot_every` need a stream that ends with an un-windowed `aggregate` and feeds only sinks",
                        sink.span,
                    )
                    .with_label("not an updating table")
                    .with_hint("write the sink from the stream whose last stage is `aggregate`, or use `mode = append`"),
                );
            }
            writes.push(WriteNode {
                name: sink.name.clone(),
                input: sink.input,
                // A changelog sink writes the `diff` column the updating aggregate adds.
                schema: match sink.mode {
                    SinkMode::Changelog => changelog_schema(&sink.schema),
                    _ => sink.schema.clone(),
                },
                to_process_zero: self.config.cluster.is_multi_process()
                    && !crate::connectors::sink::sink_writes_on_every_process(sink),
            });
        }
        writes
    }
}

/// How a source's input is split between the workers.
fn split(node: &SourceNode, table: bool) -> Split {
    match &node.connector {
        ConnectorSpec::File { path } if node.quoted_newlines => {
            Split::WorkerZeroFile { path: path.clone() }
        }
        ConnectorSpec::File { path } => Split::Stripes { path: path.clone() },
        ConnectorSpec::Stdin => Split::Stdin,
        ConnectorSpec::Generator { events, .. } => Split::Generator { events: *events },
        ConnectorSpec::Kafka {
            topic,
            brokers,
            group,
        } => Split::Kafka {
            topic: topic.clone(),
            brokers: brokers.clone(),
            group: group.clone().unwrap_or_else(|| "sluice".into()),
            table: table.then_some(node.event_time.is_some()),
        },
        other => Split::Other(format!("{other:?}")),
    }
}

/// Column `c` of `schema` as a typed expression (keys of tables and of a join's right side).
fn column_expr(schema: &Schema, c: usize) -> TypedExpr {
    let f = &schema.fields[c];
    TypedExpr {
        kind: TExpr::Column(c, f.name.clone()),
        ty: f.ty,
        nullable: f.nullable,
    }
}

/// The columns of a Kafka table whose all-null values delete a row's key: all but the key,
/// the event time and the message timestamp (a deletion still says when it happened). Other
/// tables never delete.
fn value_columns(node: &SourceNode) -> Vec<usize> {
    if !matches!(node.connector, ConnectorSpec::Kafka { .. }) {
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
