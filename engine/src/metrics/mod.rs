//! The Prometheus endpoint: while a run lasts, `GET /metrics` on `[metrics] listen` (or
//! `sluice run --metrics-listen ADDR`) answers the run's counters in the OpenMetrics text format
//! (`application/openmetrics-text; version=1.0.0`, which Prometheus scrapes as is).
//!
//! Nothing is added to the data path: each scrape reads the counters the run keeps anyway
//! (`RunShared`), downstream ones before upstream ones, so that one scrape never shows more
//! records out of a stage than into it. Counter samples carry the `_total` suffix; the
//! `# TYPE` line names the family without it, as OpenMetrics wants.
//!
//! Families (labels in braces):
//! - `sluice_source_records_total{source}` — records read (decoded into rows).
//! - `sluice_source_bytes_total{source}` — bytes read.
//! - `sluice_source_empty_lines_total{source}` — empty lines skipped.
//! - `sluice_source_dead_letters_total{source}` — records sent to the dead-letter output.
//! - `sluice_source_dead_letters_by_reason_total{source, reason}` — the same by reason class
//!   (`connectors::dead_letter::reason_class`: the reason without quoted values or numbers,
//!   e.g. `invalid int`; at most 32 classes per source, then `other`).
//! - `sluice_operator_rows_out_total{stream, stage, index}` — rows out of each operator; `stage`
//!   is its keyword (`where`, `select`, `route`, ...), `index` its position in the stream.
//! - `sluice_operator_rows_in_total{stream, stage, index}` — rows handed to each operator (in
//!   flight included): the rows out of the operator before it, for the first operator the rows
//!   out of the stream's inputs (a source's records, another stream's last operator), plus, for
//!   a stream-stream join, the right stream's rows. A lookup join's table is not counted.
//!   Derived at scrape time: every operator counts every row it sends.
//! - `sluice_source_watermark_ms{source}` — an event-time source's watermark (ms since the
//!   epoch), the minimum over this process's workers that have sent a batch.
//! - `sluice_source_watermark_lag_seconds{source}` — wall clock now minus that watermark.
//! - `sluice_worker_rows_processed_total{worker}` — rows out of sources and operators on each
//!   worker (its share of the work; a row counts once per stage it leaves).
//! - `sluice_worker_queue_depth_rows{worker}` — rows sent into exchanges to each worker and not
//!   yet taken off by it (`flow.rs`).
//! - `sluice_exchange_rows_in_flight` — the same over all workers (sources pause above a limit).
//! - `sluice_sink_latency_seconds{sink, quantile}` — end-to-end latency quantiles (0.5, 0.9,
//!   0.99, 0.999) over every row measured since the run started; definition in `latency.rs`
//!   (event-time data only). `sluice_sink_latency_seconds_count{sink}` — rows measured.
//! - `sluice_kafka_consumer_lag_messages{source, topic, partition}` — messages between a
//!   partition's end and the consumer's position, as the Kafka source last reported it (the
//!   family is always present, empty without Kafka sources).
//! - `sluice_sink_records_total{sink}` — records written.
//! - `sluice_sink_bytes_total{sink}` — bytes written.
//! - `sluice_route_records_total{stream, index, worker}` — records a route stage sent to each
//!   worker.
//! - `sluice_route_nearest_share{stream, index}` — share of routed records that went to their
//!   nearest worker (`route by geo` only).
//! - `sluice_route_max_over_mean_load{stream, index}` — largest worker's routed count over the
//!   mean (1.0 is perfectly even).
//! - `sluice_route_mean_distance_km{stream, index}` — mean distance from a record to the worker
//!   it went to (`route by geo` only).
//! - `sluice_route_worker_load_rows{stream, index, worker}` — rows each worker processed in its
//!   latest load-report epoch (`[route.geo] epoch_ms`).
//! - `sluice_gpu_*` — GPU chains: batches by placement, offload share, GPU seconds, transfer
//!   bytes and bytes per second, the adapter (`gpu.rs`).
//! - `sluice_uptime_seconds` — seconds since the run started.
//! - `sluice_workers` — workers of the run, over all processes (each process of a
//!   multi-process run serves only its own counters, on port + its index).

pub mod gpu;
mod registry;
mod server;

pub use registry::RunCollector;
pub use server::MetricsServer;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use prometheus_client::registry::Registry;

use crate::physical::PhysicalPlan;
use crate::shared::RunShared;

/// Binds the listening socket; done before anything else of the run so that a taken port fails
/// the run before it opens its outputs.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Serves `/metrics` for this run on its own thread until the returned server is stopped
/// (or dropped).
pub fn serve(
    listener: TcpListener,
    plan: &PhysicalPlan,
    shared: Arc<RunShared>,
) -> std::io::Result<MetricsServer> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(gpu::GpuCollector::new(plan, &shared.gpu_stages)));
    registry.register_collector(Box::new(RunCollector::new(plan, shared)));
    MetricsServer::start(listener, registry)
}
