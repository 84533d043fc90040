//! The run's metrics as a `prometheus_client` collector: every scrape reads the run's atomics.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use sluice_dsl::plan::{OpKind, RouteKind};

use crate::physical::PhysicalPlan;
use crate::route::stats::RouteStats;
use crate::run::RunShared;

/// What a scrape needs to know about the plan: names, in `RunShared`'s order.
struct Layout {
    workers: usize,
    sources: Vec<String>,
    sinks: Vec<String>,
    /// Per stream: its name and the keyword of every operator.
    streams: Vec<(String, Vec<&'static str>)>,
    /// Per stream, per operator: whether it is `route by geo`.
    geo: Vec<Vec<bool>>,
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

impl RunCollector {
    pub fn new(plan: &PhysicalPlan, shared: Arc<RunShared>) -> RunCollector {
        let logical = &plan.logical;
        let layout = Layout {
            workers: plan.total_workers(),
            sources: logical.sources.iter().map(|s| s.name.clone()).collect(),
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
            geo: logical
                .streams
                .iter()
                .map(|s| {
                    s.ops
                        .iter()
                        .map(|op| matches!(op.kind, OpKind::Route(RouteKind::Geo { .. })))
                        .collect()
                })
                .collect(),
        };
        RunCollector { layout, shared }
    }

    /// Reads every counter, downstream first (sinks, operators, routes, then sources), so that
    /// no scrape shows more records out of a stage than went into it.
    fn snapshot(&self) -> Snapshot {
        let shared = &self.shared;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let sinks = shared.sinks.iter().map(|s| (s.rows(), s.bytes())).collect();
        let operators = shared
            .operator_rows
            .iter()
            .map(|rows| rows.iter().map(|r| load(r)).collect())
            .collect();
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
        Snapshot {
            uptime_s: shared.started.elapsed().as_secs_f64(),
            sources,
            operators,
            routes,
            sinks,
        }
    }
}

struct Snapshot {
    uptime_s: f64,
    sources: Vec<SourceSnapshot>,
    /// Per stream, per operator.
    operators: Vec<Vec<u64>>,
    routes: Vec<RouteSnapshot>,
    /// (records, bytes) per sink.
    sinks: Vec<(u64, u64)>,
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
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for s in &snap.sources {
                counter(&mut family, &[("source", source_name(s))], field(s))?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "sluice_source_dead_letters_by_reason",
                "Dead letters by reason class (quoted values and numbers removed)",
                None,
                MetricType::Counter,
            )?;
            for s in &snap.sources {
                for (reason, n) in &s.dead_letter_reasons {
                    let labels = [("source", source_name(s)), ("reason", reason.as_str())];
                    counter(&mut family, &labels, *n)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "sluice_operator_rows_out",
                "Rows out of each operator",
                None,
                MetricType::Counter,
            )?;
            for ((stream, stages), rows) in layout.streams.iter().zip(&snap.operators) {
                for (index, (stage, rows)) in stages.iter().zip(rows).enumerate() {
                    let index = index.to_string();
                    let labels = [
                        ("stream", stream.as_str()),
                        ("stage", stage),
                        ("index", &index),
                    ];
                    counter(&mut family, &labels, *rows)?;
                }
            }
        }
        type SinkField = fn(&(u64, u64)) -> u64;
        let sink_counters: [(&str, &str, SinkField); 2] = [
            ("sluice_sink_records", "Records written", |s| s.0),
            ("sluice_sink_bytes", "Bytes written", |s| s.1),
        ];
        for (name, help, field) in sink_counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (sink, values) in layout.sinks.iter().zip(&snap.sinks) {
                counter(&mut family, &[("sink", sink.as_str())], field(values))?;
            }
        }

        let route_labels = |r: &RouteSnapshot| (layout.streams[r.stream].0.as_str(), r.index);
        {
            let mut family = encoder.encode_descriptor(
                "sluice_route_records",
                "Records a route stage sent to each worker",
                None,
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
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for r in &snap.routes {
                let (stream, index) = route_labels(r);
                if let Some(v) = value(r, layout.geo[r.stream][r.index]) {
                    let index = index.to_string();
                    gauge(&mut family, &[("stream", stream), ("index", &index)], v)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "sluice_route_worker_load_rows",
                "Rows each worker processed in its latest load-report epoch",
                None,
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
        encoder
            .encode_descriptor(
                "sluice_uptime_seconds",
                "Seconds since the run started",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&snap.uptime_s)?;
        encoder
            .encode_descriptor(
                "sluice_workers",
                "Workers of the run over all processes",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(layout.workers as u64))?;
        Ok(())
    }
}
