//! `sluice explain`'s physical plan: a node a line, in the order the builder adds them
//! (reads, each stream's stages, writes). A node that owns an exchange prints it on the line
//! before its own (`KeyBy`/`Exchange`), since the builder emits both as one operator.

use std::fmt;

use sluice_dsl::plan::{Format, InputRef, RouteKind, SinkMode};

use super::PhysicalPlan;
use super::node::*;
use crate::config::GpuMode;
use crate::gpu::placement::Offload;
use crate::route::balancer::Policy;

fn format_name(format: Option<Format>) -> &'static str {
    match format {
        Some(Format::Csv) => "csv",
        Some(Format::Jsonl) => "jsonl",
        None => "rows",
    }
}

fn outer(left_outer: bool) -> &'static str {
    if left_outer { " (left)" } else { "" }
}

fn device(device: &Device, what: &str) -> String {
    match device {
        Device::Gpu => format!(", {what} on the GPU"),
        Device::Cpu => String::new(),
    }
}

impl PhysicalPlan {
    fn fmt_read(&self, f: &mut fmt::Formatter<'_>, read: &ReadNode) -> fmt::Result {
        let n = self.total_workers();
        let how = match &read.split {
            Split::WorkerZeroFile { path } => {
                format!("file {path:?}, read by worker 0 (quoted_newlines), batches shared")
            }
            Split::Stripes { path } => {
                format!("file {path:?}, 1 MiB stripes (byte ranges), stripe i to worker i % {n}")
            }
            Split::Stdin => "stdin, read by worker 0".to_string(),
            Split::Generator { events } => {
                format!("generator, {events} records, record i to worker i % {n}")
            }
            Split::Kafka {
                topic,
                brokers,
                group,
                table: Some(versioned),
            } => format!(
                "kafka topic {topic:?} on {brokers}, group {group:?}, partitions p % {n} per worker, \
                 read from the start (a table), {}",
                match versioned {
                    true => "versioned by event time",
                    false => "initial load at time 0, then updates at arrival",
                },
            ),
            Split::Kafka {
                topic,
                brokers,
                group,
                table: None,
            } => format!(
                "kafka topic {topic:?} on {brokers}, group {group:?}, partitions p % {n} per worker, \
                 offsets committed behind the sinks' durable frontier (horizon {})",
                self.commit_horizon_ms
                    .map_or("unbounded".to_string(), |ms| format!("{ms} ms")),
            ),
            Split::Other(what) => what.clone(),
        };
        let unused = if read.used {
            ""
        } else {
            " (not read: skipped)"
        };
        writeln!(
            f,
            "Read {}: {} {how}{unused}",
            read.name,
            format_name(read.format)
        )
    }

    fn fmt_table_rows(&self, f: &mut fmt::Formatter<'_>, table: usize) -> fmt::Result {
        let name = &self.logical.tables[table].name;
        writeln!(
            f,
            "  TableRows {name}: rows exchanged by hash(key) % {}, one row per key (the last), emitted once the table is loaded",
            self.total_workers()
        )
    }

    fn fmt_stage(&self, f: &mut fmt::Formatter<'_>, stage: &Stage) -> fmt::Result {
        let n = self.total_workers();
        if let Some(hook) = &stage.panic_at_row {
            writeln!(
                f,
                "  PanicAtRow: [debug] {} at input row {}{}",
                if hook.hang { "hangs" } else { "panics" },
                hook.row,
                hook.worker
                    .map_or(String::new(), |w| format!(" of worker {w}"))
            )?;
        }
        let cpu = |why: &str| match why {
            "" => String::new(),
            why => format!("; CPU: {why}"),
        };
        match &stage.node {
            Node::Filter(node) => writeln!(
                f,
                "  Filter: vectorised on Arrow kernels, per worker{}",
                cpu(&node.cpu_because)
            ),
            Node::Project(node) => writeln!(
                f,
                "  Project: {} columns, vectorised, per worker{}",
                node.items.len(),
                cpu(&node.cpu_because)
            ),
            Node::GpuChain(node) => {
                let when = match node.offload {
                    Offload::Never => {
                        return writeln!(
                            f,
                            "  GpuChain {}: CPU evaluator: auto: {}",
                            node.keywords, node.never_because
                        );
                    }
                    Offload::Always => "every non-empty batch".to_string(),
                    Offload::AtLeast(rows) => format!("batches of >= {rows} rows"),
                };
                let stages = match stage.ops.len() {
                    1 => format!("stage {}", stage.ops.end),
                    _ => format!("stages {}..{}", stage.ops.start + 1, stage.ops.end),
                };
                writeln!(
                    f,
                    "  GpuChain {}: GPU (fused chain of {stages}: {when}; CPU evaluator otherwise), per worker",
                    node.keywords
                )
            }
            Node::Window(node) => {
                writeln!(
                    f,
                    "  KeyBy: {} keys, exchange by hash(keys) % {n}",
                    node.keys.len()
                )?;
                writeln!(
                    f,
                    "  WindowAggregate: {:?}, {} aggregates, emitted when the watermark passes the window end; late rows to dead letters{}",
                    node.kind,
                    node.aggs.len(),
                    device(&node.device, "partials")
                )
            }
            Node::Aggregate(node) => {
                writeln!(
                    f,
                    "  PartialAggregate: {} keys, {} aggregates, per worker{}",
                    node.keys.len(),
                    node.aggs.len(),
                    device(&node.device, "partials")
                )?;
                if node.keys.is_empty() {
                    writeln!(f, "  Exchange: all partials to worker 0")?;
                } else {
                    writeln!(f, "  Exchange: hash(keys) % {n}")?;
                }
                writeln!(f, "  FinalAggregate: merge at owner when input is complete")
            }
            Node::Updating(node) => {
                let emits = match node.mode {
                    SinkMode::Changelog => {
                        "a changelog (+1/-1 diff) of the groups changed at each time".to_string()
                    }
                    SinkMode::SnapshotEvery(every_ms) => {
                        format!("every group's current row every {every_ms} ms")
                    }
                    SinkMode::Append => "appends".to_string(),
                };
                writeln!(
                    f,
                    "  PartialAggregate: {} keys, {} aggregates, per worker, sent at once",
                    node.keys.len(),
                    node.aggs.len()
                )?;
                match node.keys.is_empty() {
                    true => writeln!(f, "  Exchange: all partials to worker 0")?,
                    false => writeln!(f, "  Exchange: hash(keys) % {n}")?,
                }
                writeln!(f, "  UpdatingAggregate: merge at owner, emits {emits}")
            }
            Node::Route(node) => match &node.kind {
                RouteKind::Geo { .. } => {
                    let policy = match node.settings.policy {
                        Policy::Bounded => {
                            format!("nearest within load bound 1+{}", node.settings.slack)
                        }
                        Policy::Nearest => "nearest only".to_string(),
                    };
                    writeln!(
                        f,
                        "  RouteGeo: {policy}, backlog limit {} rows, load reports every {} ms{}",
                        node.settings.max_backlog_rows,
                        node.epoch.as_millis(),
                        device(&node.device, "distances")
                    )?;
                    for (i, site) in node.sites.iter().enumerate() {
                        writeln!(
                            f,
                            "    worker {i}: lat {:.4} lon {:.4} capacity {}",
                            site.lat, site.lon, site.capacity
                        )?;
                    }
                    writeln!(f, "  Exchange: to the chosen worker")
                }
                RouteKind::Hash(keys) => {
                    writeln!(f, "  RouteHash: {} keys", keys.len())?;
                    writeln!(f, "  Exchange: hash(keys) % {n}")
                }
                RouteKind::RoundRobin => {
                    writeln!(f, "  RouteRoundRobin")?;
                    writeln!(f, "  Exchange: row i of worker w to (w + i) % {n}")
                }
            },
            Node::Top(node) if node.per.is_empty() => {
                writeln!(f, "  KeyBy: every row to worker 0 (no `per`)")?;
                writeln!(
                    f,
                    "  Top: {} best rows of the whole input, ranked, emitted when the input is complete",
                    node.k
                )
            }
            Node::Top(node) => {
                writeln!(
                    f,
                    "  KeyBy: {} per-keys, exchange by hash % {n}",
                    node.per.len()
                )?;
                writeln!(
                    f,
                    "  Top: {} best rows per group, ranked, emitted when the input is complete",
                    node.k
                )
            }
            Node::Distinct(node) => {
                writeln!(
                    f,
                    "  KeyBy: {} keys, exchange by hash % {n}",
                    node.keys.len()
                )?;
                writeln!(
                    f,
                    "  Distinct: drop rows within {} ms of the last passed row of their key",
                    node.within
                )
            }
            Node::IntervalJoin(node) => {
                writeln!(f, "  KeyBy: both sides exchanged by hash(keys) % {n}")?;
                writeln!(
                    f,
                    "  IntervalJoin{} {}: |t_left - t_right| <= {} ms, state dropped once time + within < frontier",
                    outer(node.left_outer),
                    node.right_name,
                    node.within
                )
            }
            Node::LookupJoin(node) => {
                let name = &self.logical.tables[node.table].name;
                writeln!(
                    f,
                    "  ArrangeTable {name}: upserts by key, one arrangement partitioned by hash(key) % {n}, shared by its joins"
                )?;
                writeln!(
                    f,
                    "  KeyBy: stream rows to the key's owner, hash(key) % {n}"
                )?;
                match node.temporal {
                    Some(_) => writeln!(
                        f,
                        "  LookupJoin{}: temporal, each row sees the table as of its event time, held until the table's frontier passes it",
                        outer(node.left_outer)
                    ),
                    None => writeln!(
                        f,
                        "  LookupJoin{}: each row sees the current table, rows held until its initial load is complete",
                        outer(node.left_outer)
                    ),
                }
            }
        }
    }

    fn fmt_write(&self, f: &mut fmt::Formatter<'_>, index: usize) -> fmt::Result {
        let (write, sink) = (&self.writes[index], &self.logical.sinks[index]);
        let target = match &sink.connector {
            sluice_dsl::plan::ConnectorSpec::File { path } => {
                format!("file {path:?}, one encoder per worker, shared writer")
            }
            sluice_dsl::plan::ConnectorSpec::Stdout => {
                "stdout, one encoder per worker, shared writer".to_string()
            }
            sluice_dsl::plan::ConnectorSpec::Kafka { topic, brokers, .. } => format!(
                "kafka topic {topic:?} on {brokers}, one producer per worker, a message per row, acks=all"
            ),
            other => format!("{other:?}"),
        };
        let gathered = match write.to_process_zero {
            true => "exchanged to process 0, ",
            false => "",
        };
        if let InputRef::Table(t) = write.input {
            self.fmt_table_rows(f, t)?;
        }
        writeln!(
            f,
            "Write {} <- {}: {} {gathered}{target}",
            write.name,
            self.logical.input_name(write.input),
            format_name(Some(sink.format)),
        )
    }
}

impl fmt::Display for PhysicalPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        for read in &self.reads {
            self.fmt_read(f, read)?;
        }
        for stream in &self.streams {
            let inputs: Vec<&str> = stream
                .inputs
                .iter()
                .map(|i| self.logical.input_name(*i))
                .collect();
            let word = if inputs.len() > 1 { "Union" } else { "Stream" };
            writeln!(f, "{word} {} <- {}", stream.name, inputs.join(", "))?;
            for input in &stream.inputs {
                if let InputRef::Table(t) = input {
                    self.fmt_table_rows(f, *t)?;
                }
            }
            for stage in &stream.stages {
                self.fmt_stage(f, stage)?;
            }
        }
        for index in 0..self.writes.len() {
            self.fmt_write(f, index)?;
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
