//! The run's metrics as a `prometheus_client` collector: every scrape reads the run's atomics.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use sluice_dsl::plan::{InputRef, RouteKind};

use crate::counters::{QUANTILES, SinkLatencySnapshot};
use crate::physical::{Node, PhysicalPlan};
use crate::route::stats::RouteStats;
use crate::shared::RunShared;

/// What a scrape needs to know about the plan: names, in `RunShared`'s order.
struct Layout {
    workers: usize,
    sources: Vec<String>,
    sinks: Vec<String>,
    /// Per stream: its name and the keyword of every operator.
    streams: Vec<(String, Vec<&'static str>)>,
    /// Per stream, per operator: whether it is `route by geo`.
    geo: Vec<Vec<bool>>,
    /// Per stream: its inputs (what feeds its first operator).
    inputs: Vec<Vec<InputRef>>,
    /// Per stream, per operator: the right stream of a stream-stream join.
    right_inputs: Vec<Vec<Option<usize>>>,
    /// Per source: whether it has `event_time` (only those have a watermark).
    event_time: Vec<bool>,
}

/// Reads a run's counters on every scrape.
pub struct RunCollector {
    layout: Layout,
    shared: Arc<RunShared>,
}

impl fmt::Debug for RunCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunCollector")
            .field("sources", &self.layout.sources)
            .field("sinks", &self.layout.sinks)
            .finish_non_exhaustive()
    }
}

/// `what` of every logical stage of every stream, from the node that runs it (the default
/// for the stages inside a fused chain after its first).
fn per_stage<T: Default + Clone>(plan: &PhysicalPlan, what: impl Fn(&Node) -> T) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = plan
        .logical
        .streams
        .iter()
        .map(|s| vec![T::default(); s.ops.len()])
        .collect();
    for (s, stage) in plan.stages() {
        out[s][stage.ops.start] = what(&stage.node);
    }
    out
}

impl RunCollector {
    pub fn new(plan: &PhysicalPlan, shared: Arc<RunShared>) -> RunCollector {
        let logical = &plan.logical;
        let layout = Layout {
            workers: plan.total_workers(),
            // Sources, then tables (as `RunShared::sources`): a table reads records too.
            sources: plan.reads.iter().map(|r| r.name.clone()).collect(),
            sinks: logical.sinks.iter().map(|s| s.name.clone()).collect(),
            streams: logical
                .streams
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.ops.iter().map(|op| op.kind.keyword()).collect(),
                    )
                })
                .collect(),
            geo: per_stage(
                plan,
                |node| matches!(node, Node::Route(r) if matches!(r.kind, RouteKind::Geo { .. })),
            ),
            inputs: logical.streams.iter().map(|s| s.inputs.clone()).collect(),
            right_inputs: per_stage(plan, |node| match node {
                Node::IntervalJoin(join) => match join.right {
                    InputRef::Stream(r) => Some(r),
                    _ => None,
                },
                _ => None,
            }),
            event_time: plan.reads.iter().map(|r| r.event_time.is_some()).collect(),
        };
        RunCollector { layout, shared }
    }

    /// Reads every counter, downstream first (sinks, operators, routes, then sources), so that
    /// no scrape shows more records out of a stage than went into it.
    fn snapshot(&self) -> Snapshot {
        let shared = &self.shared;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let latency = shared.latency.snapshot();
        let sinks = shared.sinks.iter().map(|s| (s.rows(), s.bytes())).collect();
        // Last stream and last operator first: streams come after the streams they read.
        let mut operators: Vec<Vec<u64>> = shared
            .operator_rows
            .iter()
            .rev()
            .map(|rows| {
                let mut rows: Vec<u64> = rows
                    .iter()
                    .rev()
                    .map(|r| r.load(Ordering::Relaxed))
                    .collect();
                rows.reverse();
                rows
            })
            .collect();
        operators.reverse();
        let mut worker_rows = shared.source_rows.per_worker();
        for counter in shared.operator_rows.iter().flatten() {
            for (total, rows) in worker_rows.iter_mut().zip(counter.per_worker()) {
                *total += rows;
            }
        }
        let routes = shared
            .route_stats
            .iter()
            .enumerate()
            .flat_map(|(stream, stats)| {
                stats.iter().enumerate().filter_map(move |(index, stats)| {
                    stats
                        .as_ref()
                        .map(|s| RouteSnapshot::read(stream, index, s))
                })
            })
            .collect();
        fence(Ordering::Acquire);
        let sources = shared
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, state)| {
                let state = state.as_ref()?;
                Some(SourceSnapshot {
                    index: i,
                    dead_letter_reasons: state.dead_letters.reasons(),
                    dead_letters: state.dead_letters.count(),
                    records: load(&state.counters.records),
                    bytes: load(&state.counters.bytes),
                    empty_lines: load(&state.counters.empty_lines),
                })
            })
            .collect();
        let watermarks_ms = shared.watermarks.iter().map(|w| w.min_ms()).collect();
        Snapshot {
            uptime_s: shared.started.elapsed().as_secs_f64(),
            now_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            sources,
            operators,
            routes,
            sinks,
            worker_rows,
            queued: shared.flow.queued_per_worker(),
            in_flight: shared.flow.in_flight(),
            watermarks_ms,
            latency,
            partition_lag: shared.partition_lag.snapshot(),
        }
    }
}

struct Snapshot {
    uptime_s: f64,
    /// Wall clock, ms since the epoch.
    now_ms: i64,
    sources: Vec<SourceSnapshot>,
    /// Per stream, per operator.
    operators: Vec<Vec<u64>>,
    routes: Vec<RouteSnapshot>,
    /// (records, bytes) per sink.
    sinks: Vec<(u64, u64)>,
    /// Rows out of sources and operators per worker.
    worker_rows: Vec<u64>,
    /// Rows in flight to each worker, and in all.
    queued: Vec<i64>,
    in_flight: i64,
    /// Per source (then table): the watermark in event-time ms, once a worker has one.
    watermarks_ms: Vec<Option<i64>>,
    latency: Vec<SinkLatencySnapshot>,
    partition_lag: Vec<((String, String, i32), i64)>,
}

impl Snapshot {
    /// Rows into every operator, per stream (see `sluice_operator_rows_in` in `mod.rs`).
    fn rows_in(&self, layout: &Layout) -> Vec<Vec<u64>> {
        let mut records = vec![0; layout.sources.len()];
        for s in &self.sources {
            if let Some(r) = records.get_mut(s.index) {
                *r = s.records;
            }
        }
        layout
            .inputs
            .iter()
            .enumerate()
            .map(|(stream, inputs)| {
                (0..self.operators[stream].len())
                    .map(|op| {
                        let main = match op {
                            0 => inputs
                                .iter()
                                .map(|i| self.rows_out_of(layout, &records, i))
                                .sum(),
                            _ => self.operators[stream][op - 1],
                        };
                        let right = layout.right_inputs[stream][op].map_or(0, |r| {
                            self.rows_out_of(layout, &records, &InputRef::Stream(r))
                        });
                        main + right
                    })
                    .collect()
            })
            .collect()
    }

    /// Rows out of a stream input: a source's records, a stream's last operator's rows (or its
    /// own inputs' when it has no operator).
    fn rows_out_of(&self, layout: &Layout, records: &[u64], input: &InputRef) -> u64 {
        match input {
            InputRef::Source(i) => records.get(*i).copied().unwrap_or(0),
            InputRef::Table(_) => 0,
            InputRef::Stream(s) => match self.operators[*s].last() {
                Some(rows) => *rows,
                None => layout.inputs[*s]
                    .iter()
                    .map(|i| self.rows_out_of(layout, records, i))
                    .sum(),
            },
        }
    }
}

struct SourceSnapshot {
    index: usize,
    records: u64,
    bytes: u64,
    empty_lines: u64,
    dead_letters: u64,
    dead_letter_reasons: Vec<(String, u64)>,
}

struct RouteSnapshot {
    stream: usize,
    index: usize,
    routed: Vec<u64>,
    nearest: u64,
    distance_m: u64,
    /// Rows per worker in its latest epoch (`None` before its first report).
    latest_load: Vec<Option<u64>>,
}

impl RouteSnapshot {
    fn read(stream: usize, index: usize, stats: &RouteStats) -> RouteSnapshot {
        // Latest report per worker: (ms, rows).
        let mut latest: Vec<Option<(u64, u64)>> = vec![None; stats.routed.len()];
        for &(ms, worker, rows) in stats
            .timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if let Some(slot) = latest.get_mut(worker as usize)
                && slot.is_none_or(|(at, _)| ms >= at)
            {
                *slot = Some((ms, rows));
            }
        }
        // `nearest` and `distance_m` before `routed`: a record is routed after it is measured.
        let nearest = stats.nearest.load(Ordering::Relaxed);
        let distance_m = stats.distance_m.load(Ordering::Relaxed);
        RouteSnapshot {
            stream,
            index,
            routed: stats
                .routed
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            nearest,
            distance_m,
            latest_load: latest
                .into_iter()
                .map(|l| l.map(|(_, rows)| rows))
                .collect(),
        }
    }

    fn total(&self) -> u64 {
        self.routed.iter().sum()
    }
}

fn counter(family: &mut MetricEncoder, labels: &impl EncodeLabelSet, v: u64) -> fmt::Result {
    family
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn gauge(family: &mut MetricEncoder, labels: &impl EncodeLabelSet, v: f64) -> fmt::Result {
    family.encode_family(labels)?.encode_gauge(&v)
}

/// Describes one metric family (no unit) and returns its encoder.
pub(super) fn describe<'a>(
    encoder: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
    kind: MetricType,
) -> Result<MetricEncoder<'a>, fmt::Error> {
    encoder.encode_descriptor(name, help, None, kind)
}

impl Collector for RunCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let snap = self.snapshot();
        let layout = &self.layout;
        let source_name = |s: &SourceSnapshot| layout.sources[s.index].as_str();

        type SourceField = fn(&SourceSnapshot) -> u64;
        let source_counters: [(&str, &str, SourceField); 4] = [
            ("sluice_source_records", "Records read", |s| s.records),
            ("sluice_source_bytes", "Bytes read", |s| s.bytes),
            ("sluice_source_empty_lines", "Empty lines skipped", |s| {
                s.empty_lines
            }),
            (
                "sluice_source_dead_letters",
                "Records sent to the dead-letter output",
                |s| s.dead_letters,
            ),
        ];
        for (name, help, field) in source_counters {
            let mut family = describe(&mut encoder, name, help, MetricType::Counter)?;
            for s in &snap.sources {
                counter(&mut family, &[("source", source_name(s))], field(s))?;
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_source_dead_letters_by_reason",
                "Dead letters by reason class (quoted values and numbers removed)",
                MetricType::Counter,
            )?;
            for s in &snap.sources {
                for (reason, n) in &s.dead_letter_reasons {
                    let labels = [("source", source_name(s)), ("reason", reason.as_str())];
                    counter(&mut family, &labels, *n)?;
                }
            }
        }
        let operator_rows = [
            (
                "sluice_operator_rows_out",
                "Rows out of each operator",
                snap.operators.clone(),
            ),
            (
                "sluice_operator_rows_in",
                "Rows handed to each operator (the rows out of its inputs)",
                snap.rows_in(layout),
            ),
        ];
        for (name, help, per_stream) in operator_rows {
            let mut family = describe(&mut encoder, name, help, MetricType::Counter)?;
            for ((stream, stages), rows) in layout.streams.iter().zip(per_stream) {
                for (index, (stage, rows)) in stages.iter().zip(rows).enumerate() {
                    let index = index.to_string();
                    let labels = [
                        ("stream", stream.as_str()),
                        ("stage", stage),
                        ("index", &index),
                    ];
                    counter(&mut family, &labels, rows)?;
                }
            }
        }
        type SinkField = fn(&(u64, u64)) -> u64;
        let sink_counters: [(&str, &str, SinkField); 2] = [
            ("sluice_sink_records", "Records written", |s| s.0),
            ("sluice_sink_bytes", "Bytes written", |s| s.1),
        ];
        for (name, help, field) in sink_counters {
            let mut family = describe(&mut encoder, name, help, MetricType::Counter)?;
            for (sink, values) in layout.sinks.iter().zip(&snap.sinks) {
                counter(&mut family, &[("sink", sink.as_str())], field(values))?;
            }
        }

        let route_labels = |r: &RouteSnapshot| (layout.streams[r.stream].0.as_str(), r.index);
        {
            let mut family = describe(
                &mut encoder,
                "sluice_route_records",
                "Records a route stage sent to each worker",
                MetricType::Counter,
            )?;
            for r in &snap.routes {
                let (stream, index) = route_labels(r);
                let index = index.to_string();
                for (worker, n) in r.routed.iter().enumerate() {
                    let worker = worker.to_string();
                    let labels = [("stream", stream), ("index", &index), ("worker", &worker)];
                    counter(&mut family, &labels, *n)?;
                }
            }
        }
        type RouteGauge = fn(&RouteSnapshot, bool) -> Option<f64>;
        let route_gauges: [(&str, &str, RouteGauge); 3] = [
            (
                "sluice_route_nearest_share",
                "Share of routed records that went to their nearest worker (route by geo)",
                |r, geo| (geo && r.total() > 0).then(|| r.nearest as f64 / r.total() as f64),
            ),
            (
                "sluice_route_max_over_mean_load",
                "Largest worker's routed count over the mean (1 = even)",
                |r, _| {
                    let mean = r.total() as f64 / r.routed.len().max(1) as f64;
                    let max = r.routed.iter().copied().max().unwrap_or(0) as f64;
                    Some(if mean > 0.0 { max / mean } else { 0.0 })
                },
            ),
            (
                "sluice_route_mean_distance_km",
                "Mean distance from a record to the worker it went to, in km (route by geo)",
                |r, geo| {
                    (geo && r.total() > 0).then(|| r.distance_m as f64 / 1000.0 / r.total() as f64)
                },
            ),
        ];
        for (name, help, value) in route_gauges {
            let mut family = describe(&mut encoder, name, help, MetricType::Gauge)?;
            for r in &snap.routes {
                let (stream, index) = route_labels(r);
                if let Some(v) = value(r, layout.geo[r.stream][r.index]) {
                    let index = index.to_string();
                    gauge(&mut family, &[("stream", stream), ("index", &index)], v)?;
                }
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_route_worker_load_rows",
                "Rows each worker processed in its latest load-report epoch",
                MetricType::Gauge,
            )?;
            for r in &snap.routes {
                let (stream, index) = route_labels(r);
                let index = index.to_string();
                for (worker, rows) in r.latest_load.iter().enumerate() {
                    if let Some(rows) = rows {
                        let worker = worker.to_string();
                        let labels = [("stream", stream), ("index", &index), ("worker", &worker)];
                        gauge(&mut family, &labels, *rows as f64)?;
                    }
                }
            }
        }
        encode_watermarks(&mut encoder, layout, &snap)?;
        encode_workers(&mut encoder, &snap)?;
        encode_latency(&mut encoder, &snap)?;
        encode_partition_lag(&mut encoder, &snap)?;
        describe(
            &mut encoder,
            "sluice_uptime_seconds",
            "Seconds since the run started",
            MetricType::Gauge,
        )?
        .encode_gauge(&snap.uptime_s)?;
        describe(
            &mut encoder,
            "sluice_workers",
            "Workers of the run over all processes",
            MetricType::Gauge,
        )?
        .encode_gauge(&(layout.workers as u64))?;
        Ok(())
    }
}

fn encode_watermarks(
    encoder: &mut DescriptorEncoder,
    layout: &Layout,
    snap: &Snapshot,
) -> fmt::Result {
    let with_watermark = || {
        layout
            .sources
            .iter()
            .zip(&layout.event_time)
            .zip(&snap.watermarks_ms)
            .filter_map(|((name, event_time), ms)| {
                Some((name.as_str(), (*event_time).then_some(*ms)??))
            })
    };
    let mut family = describe(
        encoder,
        "sluice_source_watermark_ms",
        "Event-time watermark of a source, ms since the epoch (minimum over workers)",
        MetricType::Gauge,
    )?;
    for (source, ms) in with_watermark() {
        family
            .encode_family(&[("source", source)])?
            .encode_gauge(&ms)?;
    }
    let mut family = describe(
        encoder,
        "sluice_source_watermark_lag_seconds",
        "Wall clock now minus the source's event-time watermark",
        MetricType::Gauge,
    )?;
    for (source, ms) in with_watermark() {
        let lag_s = snap.now_ms.saturating_sub(ms) as f64 / 1000.0;
        gauge(&mut family, &[("source", source)], lag_s)?;
    }
    Ok(())
}

fn encode_workers(encoder: &mut DescriptorEncoder, snap: &Snapshot) -> fmt::Result {
    let mut family = describe(
        encoder,
        "sluice_worker_rows_processed",
        "Rows out of sources and operators on each worker",
        MetricType::Counter,
    )?;
    for (worker, rows) in snap.worker_rows.iter().enumerate() {
        counter(&mut family, &[("worker", worker.to_string())], *rows)?;
    }
    let mut family = describe(
        encoder,
        "sluice_worker_queue_depth_rows",
        "Rows sent into exchanges to each worker and not yet taken off by it",
        MetricType::Gauge,
    )?;
    for (worker, rows) in snap.queued.iter().enumerate() {
        let labels = [("worker", worker.to_string())];
        family.encode_family(&labels)?.encode_gauge(rows)?;
    }
    describe(
        encoder,
        "sluice_exchange_rows_in_flight",
        "Rows sent into exchanges and not yet received (sources pause above a limit)",
        MetricType::Gauge,
    )?
    .encode_gauge(&snap.in_flight)
}

fn encode_latency(encoder: &mut DescriptorEncoder, snap: &Snapshot) -> fmt::Result {
    let measured = || snap.latency.iter().filter(|s| s.count > 0);
    let mut family = describe(
        encoder,
        "sluice_sink_latency_seconds",
        "End-to-end latency quantiles per sink since the run started (event-time data)",
        MetricType::Gauge,
    )?;
    for s in measured() {
        for (q, seconds) in QUANTILES.iter().zip(s.quantiles) {
            let labels = [("sink", s.sink.clone()), ("quantile", q.to_string())];
            gauge(&mut family, &labels, seconds)?;
        }
    }
    // A gauge, not a counter: a counter's samples would be named `..._count_total`.
    let mut family = describe(
        encoder,
        "sluice_sink_latency_seconds_count",
        "Rows whose end-to-end latency was measured, per sink",
        MetricType::Gauge,
    )?;
    for s in measured() {
        let labels = [("sink", s.sink.as_str())];
        family.encode_family(&labels)?.encode_gauge(&s.count)?;
    }
    Ok(())
}

fn encode_partition_lag(encoder: &mut DescriptorEncoder, snap: &Snapshot) -> fmt::Result {
    // Always described, so that dashboards and alerts find the family before any Kafka source.
    let mut family = describe(
        encoder,
        "sluice_kafka_consumer_lag_messages",
        "Messages between a Kafka partition's end and the consumer's position",
        MetricType::Gauge,
    )?;
    for ((source, topic, partition), lag) in &snap.partition_lag {
        let partition = partition.to_string();
        let labels = [
            ("source", source.as_str()),
            ("topic", topic.as_str()),
            ("partition", partition.as_str()),
        ];
        family.encode_family(&labels)?.encode_gauge(lag)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::config::EngineConfig;

    const PIPELINE: &str = "pipeline t
source points = generator(geo_points, events = 10, seed = 1)
stream kept = points | where value >= 0.0 | select id
sink out = stdout as csv <- kept
";

    fn plan() -> PhysicalPlan {
        let logical =
            sluice_dsl::compile(PIPELINE, "t", &|_| None).unwrap_or_else(|d| panic!("{d:#?}"));
        crate::physical::lower(&logical, &EngineConfig::default())
            .unwrap_or_else(|d| panic!("{d:#?}"))
    }

    fn scrape(plan: &PhysicalPlan, shared: &Arc<RunShared>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RunCollector::new(plan, shared.clone())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn kafka_lag_family_is_always_described_and_shows_what_was_set() {
        let plan = plan();
        let shared = Arc::new(RunShared::new(
            &plan,
            vec![None],
            Vec::new(),
            Instant::now(),
        ));
        let empty = scrape(&plan, &shared);
        assert!(
            empty.contains("# TYPE sluice_kafka_consumer_lag_messages gauge\n"),
            "{empty}"
        );
        assert!(
            !empty.contains("sluice_kafka_consumer_lag_messages{"),
            "{empty}"
        );

        shared.partition_lag.set("bids", "nexmark-bids", 3, 42);
        shared.partition_lag.set("bids", "nexmark-bids", 3, 17); // the latest value wins
        let text = scrape(&plan, &shared);
        assert!(
            text.contains(
                "sluice_kafka_consumer_lag_messages{source=\"bids\",topic=\"nexmark-bids\",partition=\"3\"} 17\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn rows_in_are_the_rows_out_of_the_stage_before() {
        let plan = plan();
        let shared = Arc::new(RunShared::new(
            &plan,
            vec![None],
            Vec::new(),
            Instant::now(),
        ));
        shared.operator_rows[0][0].fetch_add(7, Ordering::Relaxed); // where
        shared.operator_rows[0][1].fetch_add(7, Ordering::Relaxed); // select
        let text = scrape(&plan, &shared);
        let line = |stage: &str, index: usize, rows: u64| {
            format!(
                "sluice_operator_rows_in_total{{stream=\"kept\",stage=\"{stage}\",index=\"{index}\"}} {rows}\n"
            )
        };
        // The source is not read in this test (no state): the `where` gets nothing.
        assert!(text.contains(&line("where", 0, 0)), "{text}");
        assert!(text.contains(&line("select", 1, 7)), "{text}");
        assert!(
            text.contains("sluice_worker_rows_processed_total{worker=\"0\"} 14\n"),
            "{text}"
        );
        assert!(
            text.contains("sluice_exchange_rows_in_flight 0\n"),
            "{text}"
        );
    }
}
