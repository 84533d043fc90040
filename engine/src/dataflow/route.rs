//! `route by ...`: an exchange whose route function picks a worker per record.
//!
//! ```text
//!            reports (broadcast, through a feedback edge) <---------------+
//!                     v                                                    |
//! batches --> Route (split per target) --exchange--> Receive (measure) --+--> batches
//! ```
//! `route by geo` closes a loop: every `Receive` counts what it processed from each router and
//! broadcasts a `LoadReport` every epoch; each `Route` folds the reports into its balancer.
//! The report input of `Route` is declared unconnected to its output, so the loop never holds
//! back the data frontier; `Receive` stops reporting once its input is complete.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use sluice_dsl::plan::{RouteKind, TypedExpr};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, ConnectLoop, Exchange, Feedback};
use timely::progress::Antichain;

use super::{BatchStream, Instance};
use crate::expr::{ExprError, evaluate};
use crate::gpu::Gpu;
use crate::gpu::geo::site_distances;
use crate::physical::RouteNode;
use crate::route::balancer::Balancer;
use crate::route::stats::RouteStats;
use crate::route::{LoadReport, Routed, as_routed, hash_targets, split_by_target};
use crate::shared::RunShared;
use crate::wire::WireBatch;

/// Everything a route stage needs on one worker.
pub struct RouteSpec {
    /// What planning decided (`physical::RouteNode`).
    pub node: RouteNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
    pub stats: Arc<RouteStats>,
    /// Where placement put the geo distances of a batch: the GPU, or `None` for the CPU.
    pub gpu: Option<&'static Gpu>,
}

/// Extension trait: send every record to the worker its route picks.
pub trait RouteBatches {
    fn route_batches(self, spec: RouteSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> RouteBatches for BatchStream<'scope> {
    fn route_batches(self, spec: RouteSpec, shared: Arc<RunShared>) -> Self {
        let scope = self.scope();
        let (report_handle, reports) = scope.feedback::<Vec<LoadReport>>(1);
        let spec = Arc::new(spec);

        // Route: one input for data, one (unconnected to the output) for load reports.
        let mut builder = OperatorBuilder::new("Route".to_string(), scope);
        let mut data_in = builder.new_input(self, Pipeline);
        let no_connection = Vec::<(usize, Antichain<u64>)>::new();
        let mut report_in = builder.new_input_connection(reports, Pipeline, no_connection);
        // Only the data input (0) reaches the output; `new_output` would connect both.
        let (output, routed) = builder.new_output_connection([(0, Antichain::from_elem(0))]);
        let mut output = OutputBuilder::<_, CapacityContainerBuilder<Vec<Routed>>>::from(output);
        let (route_spec, route_shared) = (spec.clone(), shared.clone());
        builder.build(move |_initial| {
            let spec = route_spec;
            let mut router = Router::new(&spec);
            move |_frontiers| {
                let _stage = crate::abort::stage(&spec.at.context);
                report_in.for_each(|_, data| {
                    for r in data
                        .drain(..)
                        .filter(|r| r.router as usize == spec.at.worker)
                    {
                        router.observe(&r, spec.node.epoch);
                    }
                });
                data_in.for_each(|cap, data| {
                    let mut out = output.activate();
                    let mut session = out.session(&cap);
                    for batch in data.drain(..) {
                        match router.route(&batch, &spec) {
                            Ok(parts) => session.give_iterator(as_routed(
                                parts,
                                spec.at.worker,
                                &route_shared.flow,
                            )),
                            Err(e) => route_shared.failures.record(&spec.at.context, e),
                        }
                    }
                });
            }
        });

        // Receive: unwraps batches, emulates service time (debug), reports load every epoch.
        let exchanged = routed.exchange(|r: &Routed| r.0);
        let mut builder = OperatorBuilder::new("Receive".to_string(), scope);
        let info = builder.operator_info();
        let mut input = builder.new_input(exchanged, Pipeline);
        let (data_output, data) = builder.new_output();
        let (report_output, load_reports) = builder.new_output();
        let mut data_output =
            OutputBuilder::<_, CapacityContainerBuilder<Vec<RecordBatch>>>::from(data_output);
        let mut report_output =
            OutputBuilder::<_, CapacityContainerBuilder<Vec<LoadReport>>>::from(report_output);
        let activator = scope.activator_for(info.address);
        builder.build(move |mut capabilities| {
            let mut report_cap = capabilities.pop();
            drop(capabilities);
            let mut receiver = Receiver::new(&spec, shared.started);
            move |frontiers| {
                let _stage = crate::abort::stage(&spec.at.context);
                input.for_each(|cap, data| {
                    let Some(cap) = cap.retain_least(0) else {
                        return;
                    };
                    for (_, source, WireBatch(batch)) in data.drain(..) {
                        shared.flow.receive(source as usize, &batch);
                        receiver.enqueue(cap.clone(), source as usize, batch);
                    }
                });
                for (cap, batch) in receiver.serve() {
                    spec.at
                        .rows_out
                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    data_output.activate().session(&cap).give(batch);
                }
                let done = frontiers[0].is_empty() && receiver.next_due().is_none();
                if let Some(cap) = report_cap.as_ref()
                    && (done || receiver.epoch_over())
                {
                    let reports = receiver.reports();
                    report_output
                        .activate()
                        .session(cap)
                        .give_iterator(reports.into_iter());
                }
                if done {
                    report_cap = None;
                } else {
                    let until_due = receiver
                        .next_due()
                        .map(|t| t.saturating_duration_since(Instant::now()));
                    activator.activate_after(
                        until_due.map_or(spec.node.epoch, |d| d.min(spec.node.epoch)),
                    );
                }
            }
        });
        load_reports.broadcast().connect_loop(report_handle);
        data
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(b) = &self.balancer {
            tracing::debug!(sent = ?b.sent_counts(), effective = ?b.effective_capacities(), "router done");
        }
    }
}

/// One worker's routing state.
struct Router {
    balancer: Option<Balancer>,
    next_round_robin: usize,
    targets: Vec<u32>,
}

impl Router {
    fn new(spec: &RouteSpec) -> Router {
        let balancer = matches!(spec.node.kind, RouteKind::Geo { .. })
            .then(|| Balancer::new(spec.node.sites.clone(), spec.node.settings));
        Router {
            balancer,
            next_round_robin: spec.at.worker,
            targets: Vec::new(),
        }
    }

    fn observe(&mut self, report: &LoadReport, epoch: Duration) {
        if let Some(b) = self.balancer.as_mut() {
            b.observe(
                report.worker as usize,
                report.processed,
                report.rate,
                epoch.as_secs_f64(),
            );
            tracing::trace!(?report, effective = ?b.effective_capacities(), "load report");
        }
    }

    fn route(
        &mut self,
        batch: &RecordBatch,
        spec: &RouteSpec,
    ) -> Result<Vec<(u32, RecordBatch)>, ExprError> {
        let n = spec.at.workers;
        self.targets.clear();
        match &spec.node.kind {
            RouteKind::Geo { lat, lon } => {
                let balancer = self.balancer.as_mut().expect("geo route has a balancer");
                geo_targets(
                    balancer,
                    lat,
                    lon,
                    batch,
                    &spec.stats,
                    &mut self.targets,
                    spec.gpu,
                )?;
            }
            RouteKind::Hash(keys) => self.targets = hash_targets(keys, batch, n)?,
            RouteKind::RoundRobin => {
                for _ in 0..batch.num_rows() {
                    self.targets.push(self.next_round_robin as u32);
                    self.next_round_robin = (self.next_round_robin + 1) % n;
                }
            }
        }
        for &t in &self.targets {
            spec.stats.routed[t as usize].fetch_add(1, Ordering::Relaxed);
        }
        Ok(split_by_target(batch, &self.targets, n)?)
    }
}

/// The balancer's choice for every row of `batch`; with `gpu`, the distances from every row to
/// every site come from one kernel for the whole batch (f32, see `crate::gpu::geo`), and if
/// the GPU fails the batch is routed on the CPU.
fn geo_targets(
    balancer: &mut Balancer,
    lat: &TypedExpr,
    lon: &TypedExpr,
    batch: &RecordBatch,
    stats: &RouteStats,
    targets: &mut Vec<u32>,
    gpu: Option<&Gpu>,
) -> Result<(), ExprError> {
    let (lat, lon) = (evaluate(lat, batch)?, evaluate(lon, batch)?);
    let (lat, lon) = (
        lat.as_primitive::<Float64Type>(),
        lon.as_primitive::<Float64Type>(),
    );
    let value = |a: &arrow_array::Float64Array, i: usize| {
        if a.is_valid(i) { a.value(i) } else { f64::NAN }
    };
    let rows = batch.num_rows();
    let distances = gpu.filter(|_| rows > 0).and_then(|gpu| {
        let f32s = |a| (0..rows).map(|i| value(a, i) as f32).collect::<Vec<f32>>();
        site_distances(gpu, &f32s(lat), &f32s(lon), &balancer.site_coordinates())
            .inspect_err(|e| tracing::warn!("geo distances on the GPU failed, using the CPU: {e}"))
            .ok()
    });
    let sites = balancer.workers();
    let (mut nearest, mut metres) = (0u64, 0f64);
    for i in 0..rows {
        let choice = match &distances {
            Some(d) => balancer
                .choose_with_distances(d[i * sites..(i + 1) * sites].iter().map(|&x| f64::from(x))),
            None => balancer.choose(value(lat, i), value(lon, i)),
        };
        targets.push(choice.worker as u32);
        nearest += u64::from(choice.nearest);
        if choice.distance_km.is_finite() {
            metres += choice.distance_km * 1000.0;
        }
    }
    stats.nearest.fetch_add(nearest, Ordering::Relaxed);
    stats.distance_m.fetch_add(metres as u64, Ordering::Relaxed);
    Ok(())
}

/// A received batch waiting for its (emulated) service to complete.
struct Queued {
    cap: Capability<u64>,
    source: usize,
    batch: RecordBatch,
    ready_at: Instant,
}

/// One worker's receiving side: a queue served at the worker's (emulated) speed, counts of
/// what was processed, and the load reports built from them.
///
/// The emulated service (debug `row_cost_ns`, `slow_worker`) is a single-server queue on a
/// virtual clock: a batch is released when the server would have finished it. Nothing sleeps,
/// so the worker's other operators (its source, its router) keep their speed: the slow-down
/// is that of the routed work alone.
struct Receiver {
    worker: usize,
    epoch: Duration,
    started: Instant,
    stats: Arc<RouteStats>,
    /// Rows processed from each router: in total, and in the current epoch.
    processed: Vec<u64>,
    in_epoch: Vec<u64>,
    epoch_started: Instant,
    /// Emulated service time (debug): ns per row, the slowed factor and when it starts.
    row_cost_ns: f64,
    slow: Option<(f64, Duration)>,
    queue: VecDeque<Queued>,
    /// When the emulated server finishes the last queued batch.
    busy_until: Instant,
}

impl Receiver {
    fn new(spec: &RouteSpec, started: Instant) -> Receiver {
        let slow = spec
            .node
            .debug
            .slow_worker
            .as_ref()
            .filter(|s| s.index == spec.at.worker)
            .map(|s| (s.factor, Duration::from_millis(s.after_ms)));
        Receiver {
            worker: spec.at.worker,
            epoch: spec.node.epoch,
            started,
            stats: spec.stats.clone(),
            processed: vec![0; spec.at.workers],
            in_epoch: vec![0; spec.at.workers],
            epoch_started: Instant::now(),
            row_cost_ns: spec.node.debug.row_cost_ns as f64,
            slow,
            queue: VecDeque::new(),
            busy_until: Instant::now(),
        }
    }

    fn enqueue(&mut self, cap: Capability<u64>, source: usize, batch: RecordBatch) {
        let mut per_row = self.row_cost_ns;
        if let Some((factor, after)) = self.slow
            && self.started.elapsed() >= after
        {
            per_row = per_row.max(1000.0) * factor;
        }
        let cost = Duration::from_nanos((per_row * batch.num_rows() as f64) as u64);
        let ready_at = self.busy_until.max(Instant::now()) + cost;
        self.busy_until = ready_at;
        self.queue.push_back(Queued {
            cap,
            source,
            batch,
            ready_at,
        });
    }

    /// When the next queued batch is due, if any.
    fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|q| q.ready_at)
    }

    /// The batches whose service has completed.
    fn serve(&mut self) -> Vec<(Capability<u64>, RecordBatch)> {
        let now = Instant::now();
        let mut served = Vec::new();
        while self.queue.front().is_some_and(|q| q.ready_at <= now) {
            let done = self.queue.pop_front().expect("checked above");
            let rows = done.batch.num_rows() as u64;
            self.processed[done.source] += rows;
            self.in_epoch[done.source] += rows;
            served.push((done.cap, done.batch));
        }
        served
    }

    fn epoch_over(&self) -> bool {
        self.epoch_started.elapsed() >= self.epoch
    }

    /// This epoch's reports (one per router) and its timeline entry; starts the next epoch.
    fn reports(&mut self) -> Vec<LoadReport> {
        let secs = self.epoch_started.elapsed().as_secs_f64().max(1e-6);
        let rows: u64 = self.in_epoch.iter().sum();
        let at = self.started.elapsed().as_millis() as u64;
        self.stats
            .timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((at, self.worker as u32, rows));
        let reports = (0..self.processed.len())
            .map(|router| LoadReport {
                worker: self.worker as u32,
                router: router as u32,
                processed: self.processed[router],
                rate: self.in_epoch[router] as f64 / secs,
            })
            .collect();
        self.in_epoch.iter_mut().for_each(|c| *c = 0);
        self.epoch_started = Instant::now();
        reports
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use arrow_schema::{DataType as ArrowType, Field, Schema};
    use sluice_dsl::plan::{DataType, TExpr, TypedExpr};

    use super::*;
    use crate::route::balancer::{BalancerSettings, Policy, Site};

    fn col(i: usize) -> TypedExpr {
        TypedExpr {
            kind: TExpr::Column(i, format!("c{i}")),
            ty: DataType::Float,
            nullable: true,
        }
    }

    /// Nearest-worker routing with GPU distances picks the CPU's worker for every record but
    /// near-ties (sites within the f32 kernel's tolerance of each other), nulls included.
    #[test]
    fn gpu_distances_route_like_the_cpu() {
        let Some(gpu) = Gpu::for_tests("gpu_distances_route_like_the_cpu") else {
            return;
        };
        let sites: Vec<Site> = [
            (40.71, -74.01),
            (41.88, -87.63),
            (34.05, -118.24),
            (29.76, -95.37),
        ]
        .into_iter()
        .map(|(lat, lon)| Site {
            lat,
            lon,
            capacity: 1.0,
        })
        .collect();
        let settings = BalancerSettings {
            policy: Policy::Nearest,
            slack: 0.05,
            window_rows: 65_536,
            max_backlog_rows: u64::MAX,
            adaptive: false,
        };
        let n = 20_000;
        let lat = Float64Array::from_iter(
            (0..n).map(|i| (i % 97 != 0).then(|| 25.0 + (i as f64 * 0.618).fract() * 25.0)),
        );
        let lon = Float64Array::from_iter(
            (0..n).map(|i| Some(-125.0 + (i as f64 * 0.414).fract() * 55.0)),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("lat", ArrowType::Float64, true),
            Field::new("lon", ArrowType::Float64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![Arc::new(lat.clone()), Arc::new(lon.clone())];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let route = |gpu: Option<&Gpu>| {
            let mut balancer = Balancer::new(sites.clone(), settings);
            let stats = RouteStats::new(sites.len());
            let mut targets = Vec::new();
            geo_targets(
                &mut balancer,
                &col(0),
                &col(1),
                &batch,
                &stats,
                &mut targets,
                gpu,
            )
            .unwrap();
            (targets, stats.nearest.load(Ordering::Relaxed))
        };
        let (cpu, cpu_nearest) = route(None);
        let (on_gpu, gpu_nearest) = route(Some(gpu));
        assert_eq!(cpu.len(), n);
        let mut differ = 0;
        for (i, (&a, &b)) in cpu.iter().zip(&on_gpu).enumerate() {
            if a != b {
                differ += 1;
                let d = |w: u32| haversine_at(&lat, &lon, i, &sites[w as usize]);
                assert!(
                    (d(a) - d(b)).abs() <= 1e-3 * d(a) + 0.02,
                    "row {i}: cpu {a} gpu {b}"
                );
            }
        }
        assert!(
            differ <= n / 1000,
            "{differ} of {n} rows routed differently"
        );
        // Null points have no distance: worker 0 on both paths, and not counted as nearest.
        let nulls = (0..n).filter(|i| i % 97 == 0).count();
        assert!((0..n).step_by(97).all(|i| cpu[i] == 0 && on_gpu[i] == 0));
        assert_eq!(
            (cpu_nearest, gpu_nearest),
            ((n - nulls) as u64, (n - nulls) as u64)
        );
    }

    fn haversine_at(lat: &Float64Array, lon: &Float64Array, i: usize, site: &Site) -> f64 {
        use arrow_array::Array;
        let v = |a: &Float64Array| if a.is_valid(i) { a.value(i) } else { f64::NAN };
        crate::expr::haversine(v(lat), v(lon), site.lat, site.lon)
    }
}
