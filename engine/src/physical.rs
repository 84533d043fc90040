//! Physical planning: decides how each logical node runs (parallel reads, partial + final
//! aggregation around an exchange, shared sink writers) and rejects, with a diagnostic on the
//! stage, what this engine cannot run yet. `Display` prints one node a line (`sluice explain`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use arrow_schema::SchemaRef;
use sluice_dsl::ast::Span;
use sluice_dsl::diagnostic::Diagnostic;
use sluice_dsl::plan::{
    AggFunc, ConnectorSpec, Format, InputRef, LogicalPlan, OpKind, RouteKind, SinkMode,
};

use crate::arrow_schema_map::arrow_schema;
use crate::cluster::ClusterSpec;
use crate::config::{DebugConfig, EngineConfig, GpuMode};
use crate::gpu::placement::GpuPlan;
use crate::route::balancer::{BalancerSettings, Policy, Site};

/// A logical plan with the engine's decisions attached.
#[derive(Clone, Debug)]
pub struct PhysicalPlan {
    pub logical: LogicalPlan,
    /// Worker threads of each process.
    pub workers: usize,
    /// The processes of the run (one unless `--processes`/`--local-cluster`).
    pub cluster: ClusterSpec,
    pub batch_size: usize,
    /// Output schema of every operator, per stream (Arrow form).
    pub arrow_schemas: Vec<Vec<SchemaRef>>,
    /// The event-time column in each operator's input, when it has one (per stream, per
    /// operator): windows and `first`/`last` read it.
    pub time_columns: Vec<Vec<Option<usize>>>,
    /// Streams whose final aggregate runs as an updating table, with the sink mode.
    pub updating: Vec<Option<SinkMode>>,
    /// How `route` stages run.
    pub route: RoutePlan,
    /// Where to serve Prometheus metrics while the run lasts (`[metrics] listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// How long past its event time a row may still change the output (`commit_horizon`).
    pub commit_horizon_ms: Option<i64>,
    /// Which `where`/`select` stages run on the GPU (`gpu/placement.rs`).
    pub gpu: GpuPlan,
    /// How long a graceful stop may take before the run fails (`stop_timeout_ms`).
    pub stop_timeout: Duration,
}

impl PhysicalPlan {
    /// Whether some source commits its read positions (Kafka): sinks then track durability.
    pub fn commits_positions(&self) -> bool {
        self.logical
            .sources
            .iter()
            .chain(&self.logical.tables)
            .any(|s| matches!(s.connector, ConnectorSpec::Kafka { .. }))
    }
}

impl PhysicalPlan {
    /// Workers over all processes: what byte ranges, generator shares, hash exchanges and
    /// route statistics divide by (worker indices are global).
    pub fn total_workers(&self) -> usize {
        self.workers * self.cluster.processes
    }
}

/// Settings of every `route` stage of a run.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// Location and capacity of each worker (`route by geo`).
    pub sites: Vec<Site>,
    pub settings: BalancerSettings,
    /// Load report period.
    pub epoch: Duration,
    pub debug: DebugConfig,
}

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

/// Lowers a checked plan; every stage the engine cannot run is reported, not just the first.
pub fn lower(plan: &LogicalPlan, config: &EngineConfig) -> Result<PhysicalPlan, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let unbounded_table = |input: &InputRef| match input {
        InputRef::Table(t) => matches!(plan.tables[*t].connector, ConnectorSpec::Kafka { .. }),
        _ => false,
    };
    for stream in &plan.streams {
        if stream.inputs.iter().any(unbounded_table) {
            errors.push(unsupported(
                "reading a Kafka `table` as a stream",
                stream.span,
                TABLE_AS_STREAM_HINT,
            ));
        }
        for (index, op) in stream.ops.iter().enumerate() {
            match &op.kind {
                OpKind::Filter(_) | OpKind::Project(_) | OpKind::Route(_) => {}
                OpKind::Join {
                    right: right @ (InputRef::Stream(_) | InputRef::Source(_)),
                    within: Some(_),
                    ..
                } => {
                    if time_column_of(plan, stream, index).is_none()
                        || input_time_column(plan, right).is_none()
                    {
                        errors.push(
                            Diagnostic::error(
                                "E0405",
                                "a stream-stream join needs the event-time column of both sides in its inputs",
                                op.span,
                            )
                            .with_label("no event time on one side")
                            .with_hint("set `event_time` on both sources and keep those columns in the `select`s"),
                        );
                    }
                }
                // Tables come from files, stdin or Kafka (the checker allows no other).
                OpKind::Join {
                    right: InputRef::Table(_),
                    within: None,
                    ..
                } => {}
                OpKind::Top { .. } => {}
                OpKind::Distinct { .. } => {
                    if time_column_of(plan, stream, index).is_none() {
                        errors.push(
                            Diagnostic::error("E0406", "`distinct ... within` needs the event time of every row", op.span)
                                .with_label("no event-time column in the input")
                                .with_hint("set `event_time` on the source and keep that column in the `select`"),
                        );
                    }
                }
                OpKind::Aggregate { window, aggs, .. } => {
                    if window.is_some() && time_column_of(plan, stream, index).is_none() {
                        let name = crate::dataflow::root_source(plan, &stream.inputs[0])
                            .and_then(|s| {
                                let source = &plan.sources[s];
                                source
                                    .event_time
                                    .map(|c| source.schema.fields[c].name.clone())
                            })
                            .unwrap_or_default();
                        errors.push(
                            Diagnostic::error(
                                "E0403",
                                format!(
                                    "the window needs the event-time column `{name}` in its input"
                                ),
                                op.span,
                            )
                            .with_label("event time not in the input")
                            .with_hint(format!(
                                "keep `{name}` (unrenamed) in the `select` before the window"
                            )),
                        );
                    }
                    let ordered = aggs
                        .iter()
                        .find(|c| matches!(c.func, AggFunc::First | AggFunc::Last));
                    if let Some(call) = ordered
                        && time_column_of(plan, stream, index).is_none()
                    {
                        errors.push(
                            Diagnostic::error(
                                "E0404",
                                format!("`{}` needs the event time of every row", call.func.name()),
                                op.span,
                            )
                            .with_label("no event-time column in the input")
                            .with_hint("set `event_time` on the source and keep that column in the `select`"),
                        );
                    }
                }
                // The checker allows no other join: a table without `within`, a source or
                // stream with it.
                OpKind::Join { .. } => errors.push(unsupported(
                    "this join",
                    op.span,
                    "join a `table` without `within`, or a source or stream with `within`",
                )),
            }
        }
    }
    for sink in &plan.sinks {
        if unbounded_table(&sink.input) {
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
    }
    let gpu = match crate::gpu::placement::place(plan, &config.gpu) {
        Ok(gpu) => gpu,
        Err(diags) => {
            errors.extend(diags);
            GpuPlan::default()
        }
    };
    let metrics_listen = match &config.metrics.listen {
        None => None,
        Some(listen) => match listen.parse::<SocketAddr>() {
            // Process I of a multi-process run serves on port + I, so processes on one host
            // do not collide (port 0, any free port, stays 0).
            Ok(mut addr) => match addr.port() {
                0 => Some(addr),
                port => match u16::try_from(config.cluster.process)
                    .ok()
                    .and_then(|p| port.checked_add(p))
                {
                    Some(port) => {
                        addr.set_port(port);
                        Some(addr)
                    }
                    None => {
                        errors.push(Diagnostic::error(
                            "E0402",
                            format!(
                                "`metrics.listen = {listen:?}`: port + process index {} is over 65535",
                                config.cluster.process
                            ),
                            Span::default(),
                        ));
                        None
                    }
                },
            },
            Err(_) => {
                errors.push(Diagnostic::error(
                    "E0402",
                    format!("`metrics.listen = {listen:?}` is not host:port"),
                    Span::default(),
                ));
                None
            }
        },
    };
    if let Some(hook) = &config.debug.panic_at_row
        && !plan
            .streams
            .iter()
            .any(|s| s.name == hook.stream && (1..=s.ops.len()).contains(&hook.stage))
    {
        errors.push(Diagnostic::error(
            "E0402",
            format!(
                "`debug.panic_at_row`: stream `{}` has no stage {}",
                hook.stream, hook.stage
            ),
            Span::default(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let arrow_schemas = plan
        .streams
        .iter()
        .map(|s| s.ops.iter().map(|op| arrow_schema(&op.schema)).collect())
        .collect();
    Ok(PhysicalPlan {
        logical: plan.clone(),
        workers: config.workers,
        cluster: config.cluster.clone(),
        batch_size: config.batch_size,
        arrow_schemas,
        time_columns: plan
            .streams
            .iter()
            .map(|s| {
                (0..s.ops.len())
                    .map(|i| time_column_of(plan, s, i))
                    .collect()
            })
            .collect(),
        updating: {
            let mut modes = vec![None; plan.streams.len()];
            for sink in plan.sinks.iter().filter(|s| s.mode != SinkMode::Append) {
                if let Some(i) = updating_stream(plan, sink) {
                    modes[i] = Some(sink.mode);
                }
            }
            modes
        },
        route: RoutePlan {
            sites: crate::route::sites(config),
            settings: crate::route::balancer_settings(config),
            epoch: Duration::from_millis(config.route.geo.epoch_ms),
            debug: config.debug.clone(),
        },
        metrics_listen,
        commit_horizon_ms: crate::commit_horizon::commit_horizon_ms(plan),
        gpu,
        stop_timeout: Duration::from_millis(config.stop_timeout_ms),
    })
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

/// The event-time column of a stream input: its root source's `event_time` column, found by
/// name (and type) in the input's schema.
pub fn input_time_column(plan: &LogicalPlan, input: &InputRef) -> Option<usize> {
    let source = &plan.sources[crate::dataflow::root_source(plan, input)?];
    let name = &source.schema.fields[source.event_time?].name;
    let schema = match input {
        InputRef::Source(i) => &plan.sources[*i].schema,
        InputRef::Table(i) => &plan.tables[*i].schema,
        InputRef::Stream(i) => &plan.streams[*i].schema,
    };
    crate::aggregate::window::time_column(schema, name)
}

/// The event-time column in the input of operator `index` of `stream`: the root source's
/// `event_time` column, found by name (and type) in that input's schema.
fn time_column_of(
    plan: &LogicalPlan,
    stream: &sluice_dsl::plan::StreamNode,
    index: usize,
) -> Option<usize> {
    let source = &plan.sources[crate::dataflow::root_source(plan, stream.inputs.first()?)?];
    let name = &source.schema.fields[source.event_time?].name;
    let input = if index == 0 {
        match &stream.inputs[0] {
            InputRef::Source(i) => &plan.sources[*i].schema,
            InputRef::Table(i) => &plan.tables[*i].schema,
            InputRef::Stream(i) => &plan.streams[*i].schema,
        }
    } else {
        &stream.ops[index - 1].schema
    };
    crate::aggregate::window::time_column(input, name)
}

fn format_name(format: Option<Format>) -> &'static str {
    match format {
        Some(Format::Csv) => "csv",
        Some(Format::Jsonl) => "jsonl",
        None => "rows",
    }
}

/// The explain line of a table read as a stream (`dataflow/table_rows.rs`).
fn table_rows_line(table: &sluice_dsl::plan::SourceNode, workers: usize) -> String {
    format!(
        "  TableRows {}: rows exchanged by hash(key) % {workers}, one row per key (the last), emitted once the table is loaded",
        table.name
    )
}

fn input_name(plan: &LogicalPlan, input: &InputRef) -> String {
    match input {
        InputRef::Source(i) => plan.sources[*i].name.clone(),
        InputRef::Table(i) => plan.tables[*i].name.clone(),
        InputRef::Stream(i) => plan.streams[*i].name.clone(),
    }
}

impl fmt::Display for PhysicalPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = &self.logical;
        let n = self.total_workers();
        if self.cluster.is_multi_process() {
            writeln!(
                f,
                "physical plan: processes={} x workers={} ({n} workers) batch_size={}",
                self.cluster.processes, self.workers, self.batch_size
            )?;
        } else {
            writeln!(
                f,
                "physical plan: workers={n} batch_size={}",
                self.batch_size
            )?;
        }
        if self.gpu.mode != GpuMode::Off {
            writeln!(f, "{}", self.gpu.summary())?;
        }
        for source in plan.sources.iter().chain(&plan.tables) {
            let how = match &source.connector {
                ConnectorSpec::File { path } if source.quoted_newlines => {
                    format!("file {path:?}, read by worker 0 (quoted_newlines), batches shared")
                }
                ConnectorSpec::File { path } => {
                    format!("file {path:?}, one byte range per worker ({n})")
                }
                ConnectorSpec::Stdin => "stdin, read by worker 0".to_string(),
                ConnectorSpec::Generator { events, .. } => {
                    format!("generator, {events} records, every {n}th record per worker")
                }
                ConnectorSpec::Kafka {
                    topic,
                    brokers,
                    group,
                } if !source.key.is_empty() => format!(
                    "kafka topic {topic:?} on {brokers}, group {:?}, partitions p % {n} per worker, \
                     read from the start (a table), {}",
                    group.as_deref().unwrap_or("sluice"),
                    match source.event_time {
                        Some(_) => "versioned by event time",
                        None => "initial load at time 0, then updates at arrival",
                    },
                ),
                ConnectorSpec::Kafka {
                    topic,
                    brokers,
                    group,
                } => format!(
                    "kafka topic {topic:?} on {brokers}, group {:?}, partitions p % {n} per worker, \
                     offsets committed behind the sinks' durable frontier (horizon {})",
                    group.as_deref().unwrap_or("sluice"),
                    self.commit_horizon_ms
                        .map_or("unbounded".to_string(), |ms| format!("{ms} ms")),
                ),
                other => format!("{other:?}"),
            };
            writeln!(
                f,
                "Read {}: {} {how}",
                source.name,
                format_name(source.format)
            )?;
        }
        for stream in &plan.streams {
            let inputs: Vec<String> = stream.inputs.iter().map(|i| input_name(plan, i)).collect();
            if inputs.len() > 1 {
                writeln!(f, "Union {} <- {}", stream.name, inputs.join(", "))?;
            } else {
                writeln!(f, "Stream {} <- {}", stream.name, inputs.join(", "))?;
            }
            for input in &stream.inputs {
                if let InputRef::Table(t) = input {
                    writeln!(f, "{}", table_rows_line(&plan.tables[*t], n))?;
                }
            }
            let stream_index = plan
                .streams
                .iter()
                .position(|s| std::ptr::eq(s, stream))
                .unwrap_or(0);
            for (op_index, op) in stream.ops.iter().enumerate() {
                let place = self.gpu.explain_stage(stream_index, op_index);
                match &op.kind {
                    OpKind::Filter(_) if place.starts_with("GPU") => {
                        writeln!(f, "  Filter: {place}, per worker")?
                    }
                    OpKind::Project(items) if place.starts_with("GPU") => {
                        writeln!(f, "  Project: {} columns, {place}, per worker", items.len())?
                    }
                    OpKind::Filter(_) => writeln!(
                        f,
                        "  Filter: vectorised on Arrow kernels, per worker{place}"
                    )?,
                    OpKind::Project(items) => writeln!(
                        f,
                        "  Project: {} columns, vectorised, per worker{place}",
                        items.len()
                    )?,
                    OpKind::Aggregate {
                        window: Some(kind),
                        keys,
                        aggs,
                    } => {
                        writeln!(
                            f,
                            "  KeyBy: {} keys, exchange by hash(keys) % {n}",
                            keys.len()
                        )?;
                        writeln!(
                            f,
                            "  WindowAggregate: {kind:?}, {} aggregates, emitted when the watermark passes the window end; late rows to dead letters",
                            aggs.len()
                        )?;
                    }
                    OpKind::Aggregate { keys, aggs, .. } => {
                        writeln!(
                            f,
                            "  PartialAggregate: {} keys, {} aggregates, per worker",
                            keys.len(),
                            aggs.len()
                        )?;
                        if keys.is_empty() {
                            writeln!(f, "  Exchange: all partials to worker 0")?;
                        } else {
                            writeln!(f, "  Exchange: hash(keys) % {n}")?;
                        }
                        writeln!(f, "  FinalAggregate: merge at owner when input is complete")?;
                    }
                    OpKind::Route(RouteKind::Geo { .. }) => {
                        let r = &self.route;
                        let policy = match r.settings.policy {
                            Policy::Bounded => {
                                format!("nearest within load bound 1+{}", r.settings.slack)
                            }
                            Policy::Nearest => "nearest only".to_string(),
                        };
                        writeln!(
                            f,
                            "  RouteGeo: {policy}, backlog limit {} rows, load reports every {} ms",
                            r.settings.max_backlog_rows,
                            r.epoch.as_millis()
                        )?;
                        for (i, site) in r.sites.iter().enumerate() {
                            writeln!(
                                f,
                                "    worker {i}: lat {:.4} lon {:.4} capacity {}",
                                site.lat, site.lon, site.capacity
                            )?;
                        }
                        writeln!(f, "  Exchange: to the chosen worker")?;
                    }
                    OpKind::Route(RouteKind::Hash(keys)) => {
                        writeln!(f, "  RouteHash: {} keys", keys.len())?;
                        writeln!(f, "  Exchange: hash(keys) % {n}")?;
                    }
                    OpKind::Route(RouteKind::RoundRobin) => {
                        writeln!(f, "  RouteRoundRobin")?;
                        writeln!(f, "  Exchange: row i of worker w to (w + i) % {n}")?;
                    }
                    OpKind::Top { k, per, .. } if per.is_empty() => {
                        writeln!(f, "  KeyBy: every row to worker 0 (no `per`)")?;
                        writeln!(
                            f,
                            "  Top: {k} best rows of the whole input, ranked, emitted when the input is complete"
                        )?;
                    }
                    OpKind::Top { k, per, .. } => {
                        writeln!(f, "  KeyBy: {} per-keys, exchange by hash % {n}", per.len())?;
                        writeln!(
                            f,
                            "  Top: {k} best rows per group, ranked, emitted when the input is complete"
                        )?;
                    }
                    OpKind::Distinct { keys, within } => {
                        writeln!(f, "  KeyBy: {} keys, exchange by hash % {n}", keys.len())?;
                        writeln!(
                            f,
                            "  Distinct: drop rows within {within} ms of the last passed row of their key"
                        )?;
                    }
                    OpKind::Join {
                        left_outer,
                        right_name,
                        within: Some(within),
                        ..
                    } => {
                        writeln!(f, "  KeyBy: both sides exchanged by hash(keys) % {n}")?;
                        writeln!(
                            f,
                            "  IntervalJoin{} {right_name}: |t_left - t_right| <= {within} ms, state dropped once time + within < frontier",
                            if *left_outer { " (left)" } else { "" }
                        )?;
                    }
                    OpKind::Join {
                        left_outer,
                        right_name,
                        right,
                        ..
                    } => {
                        let versioned = match right {
                            InputRef::Table(t) => plan.tables[*t].event_time.is_some(),
                            _ => false,
                        };
                        writeln!(
                            f,
                            "  ArrangeTable {right_name}: upserts by key, one arrangement partitioned by hash(key) % {n}, shared by its joins"
                        )?;
                        writeln!(
                            f,
                            "  KeyBy: stream rows to the key's owner, hash(key) % {n}"
                        )?;
                        if versioned {
                            writeln!(
                                f,
                                "  LookupJoin{}: temporal, each row sees the table as of its event time, held until the table's frontier passes it",
                                if *left_outer { " (left)" } else { "" }
                            )?;
                        } else {
                            writeln!(
                                f,
                                "  LookupJoin{}: each row sees the current table, rows held until its initial load is complete",
                                if *left_outer { " (left)" } else { "" }
                            )?;
                        }
                    }
                }
            }
        }
        for sink in &plan.sinks {
            let target = match &sink.connector {
                ConnectorSpec::File { path } => {
                    format!("file {path:?}, one encoder per worker, shared writer")
                }
                ConnectorSpec::Stdout => {
                    "stdout, one encoder per worker, shared writer".to_string()
                }
                ConnectorSpec::Kafka { topic, brokers, .. } => format!(
                    "kafka topic {topic:?} on {brokers}, one producer per worker, a message per row, acks=all"
                ),
                other => format!("{other:?}"),
            };
            let gathered = if self.cluster.is_multi_process()
                && !crate::connectors::sink::sink_writes_on_every_process(sink)
            {
                "exchanged to process 0, "
            } else {
                ""
            };
            if let InputRef::Table(t) = sink.input {
                writeln!(f, "{}", table_rows_line(&plan.tables[t], n))?;
            }
            writeln!(
                f,
                "Write {} <- {}: {} {gathered}{target}",
                sink.name,
                input_name(plan, &sink.input),
                format_name(Some(sink.format)),
            )?;
        }
        if let Some(addr) = self.metrics_listen {
            writeln!(
                f,
                "Metrics: OpenMetrics text on http://{addr}/metrics while running"
            )?;
        }
        Ok(())
    }
}
