//! The source operator: pulls batches from a connector reader, a few milliseconds per
//! activation, so one source cannot starve the other operators of its worker.
//!
//! Time: with `event_time` set, the operator holds its capability at this worker's
//! watermark, `max event time seen - max_out_of_order` (ms since the epoch), sends each batch
//! at the watermark as it was before the batch, then downgrades. Timely's frontier is then
//! the minimum watermark over all workers: a window closes when the frontier passes its end.
//! Without `event_time` everything is sent at time 0 (processing time, one epoch).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{ProbeHandle, Scope};

use super::BatchStream;
use crate::connectors::{Pulled, SourceReader};
use crate::shared::RunShared;

/// How long one activation may read before yielding to other operators.
const SLICE: Duration = Duration::from_millis(5);

/// Event-time settings of a source.
#[derive(Clone, Debug)]
pub struct EventTimeSpec {
    /// Column of the batches that holds the event time (a timestamp).
    pub column: usize,
    /// Milliseconds.
    pub max_out_of_order: i64,
    /// Watermark alignment: the source's own output frontier (the minimum watermark over its
    /// workers) and how far, in ms, this worker may run ahead of it. Without it a worker that
    /// reads faster than another keeps every window between their watermarks open, and state
    /// grows with the input. Kafka sources leave it off (an idle worker would stall the others).
    /// The bound widens to `ALIGN_BATCH_SPANS` times the widest batch's event-time span.
    pub align: Option<(ProbeHandle<u64>, u64)>,
    /// Where this worker's watermark is shown to the metrics.
    pub watermark: Arc<crate::counters::Watermark>,
}

/// Timely time of an event time: ms since the epoch shifted by 2^62, so event times before
/// 1970 (down to about 146 million years back) order and compare like the others. Sources
/// without `event_time` send everything at time 0, below every event time.
pub const TIME_OFFSET: i128 = 1 << 62;

pub fn to_time(ms: i64) -> u64 {
    (ms as i128 + TIME_OFFSET).clamp(0, u64::MAX as i128) as u64
}

/// Event time (ms since the epoch) of a timely time; saturates at the ends of i64.
pub fn from_time(time: u64) -> i64 {
    (time as i128 - TIME_OFFSET).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The watermark after seeing `batch`: `max(current, max event time - max_out_of_order)`.
/// A worker may run ahead of the slowest by this many batch spans at least. Files are dealt to
/// workers in stripes: with a bound narrower than a stripe's event-time span, workers would take
/// turns instead of reading side by side.
const ALIGN_BATCH_SPANS: u64 = 8;

/// Event-time span of a batch (max - min, ms).
fn event_time_span(batch: &RecordBatch, spec: &EventTimeSpec) -> u64 {
    let times = batch
        .column(spec.column)
        .as_primitive::<TimestampMillisecondType>();
    match (
        arrow_arith::aggregate::min(times),
        arrow_arith::aggregate::max(times),
    ) {
        (Some(lo), Some(hi)) => hi.saturating_sub(lo).max(0) as u64,
        _ => 0,
    }
}

fn advance(current: u64, batch: &RecordBatch, spec: &EventTimeSpec) -> u64 {
    let times = batch
        .column(spec.column)
        .as_primitive::<TimestampMillisecondType>();
    match arrow_arith::aggregate::max(times) {
        Some(max) => current.max(to_time(max.saturating_sub(spec.max_out_of_order))),
        None => current,
    }
}

/// How a source's positions are committed (sources that commit, i.e. Kafka).
#[derive(Clone)]
pub struct CommitSpec {
    /// The frontier below which every sink has made its rows durable (all workers).
    pub durable: ProbeHandle<u64>,
    /// The longest a stage holds a row past its event time, ms (`None`: unbounded, session
    /// windows): a batch is written for good once `durable` passes `max(sent, e + horizon)`.
    pub horizon_ms: Option<i64>,
}

impl CommitSpec {
    /// The time past which the durable frontier must be for `batch`, sent at `sent`, to be
    /// written for good.
    fn bound(&self, sent: u64, batch: &RecordBatch, event_time: Option<&EventTimeSpec>) -> u64 {
        let Some(horizon) = self.horizon_ms else {
            return u64::MAX;
        };
        if horizon == 0 {
            return sent;
        }
        let latest = match event_time {
            Some(spec) => arrow_arith::aggregate::max(
                batch
                    .column(spec.column)
                    .as_primitive::<TimestampMillisecondType>(),
            )
            .unwrap_or(from_time(sent)),
            None => from_time(sent),
        };
        sent.max(to_time(latest.saturating_add(horizon)))
    }
}

/// What a `table`'s reader does differently from a source's (`dataflow::table`).
#[derive(Clone)]
pub struct TableRead {
    /// The output frontier of every lookup join reading the table: once it is empty (the
    /// joined streams ended), the table stops reading, so an unbounded table does not keep
    /// a run with bounded streams alive.
    pub readers: ProbeHandle<u64>,
}

/// Wall-clock ms since the epoch, as a timely time (processing time of unbounded sources).
pub(super) fn wall_clock() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    to_time(ms)
}

/// Moves the capability of a partitioned source to its slowest partition's event time minus
/// `max_out_of_order`.
fn follow_partitions(
    cap: &mut timely::dataflow::operators::Capability<u64>,
    reader: &dyn SourceReader,
    event_time: Option<&EventTimeSpec>,
) {
    if let (Some(spec), Some(Some(low))) = (event_time, reader.per_partition_event_time()) {
        let w = to_time(low.saturating_sub(spec.max_out_of_order));
        if w > *cap.time() {
            cap.downgrade(&w);
        }
    }
}

/// A stream of the batches `reader` yields (an empty stream when `reader` is `None`, e.g.
/// because opening it failed). Read errors are recorded in `shared.failures` and end the stream.
/// Without `event_time`, a bounded source sends everything at time 0 and an unbounded one at
/// the wall clock. A stop request (SIGINT/SIGTERM) ends every source.
pub fn read_source<'scope>(
    scope: Scope<'scope, u64>,
    context: String,
    reader: Option<Box<dyn SourceReader>>,
    event_time: Option<EventTimeSpec>,
    commit: Option<CommitSpec>,
    table: Option<TableRead>,
    shared: Arc<RunShared>,
) -> BatchStream<'scope> {
    source(scope, &context.clone(), move |capability, info| {
        let activator = scope.activator_for(info.address);
        let unbounded = reader.as_ref().is_some_and(|r| r.unbounded());
        let wall = event_time.is_none() && unbounded;
        // A processing-time table sends its initial load (up to the ends of its partitions)
        // at time 0, then follows the wall clock: lookups wait for time 0 to pass.
        let mut loading = wall && table.is_some();
        let mut capability = reader.is_some().then_some(capability);
        let mut reader = reader;
        // Widest event-time span of one batch so far (ms), for watermark alignment.
        let mut batch_span = 0u64;
        move |output| {
            let _stage = crate::abort::stage(&context);
            let (Some(cap), Some(r)) = (capability.as_mut(), reader.as_mut()) else {
                return;
            };
            if loading && r.caught_up() {
                loading = false;
            }
            if wall && !loading {
                let now = wall_clock();
                if now > *cap.time() {
                    cap.downgrade(&now);
                }
            }
            if let (Some(spec), true) = (&event_time, table.is_some() && unbounded)
                && r.caught_up()
            {
                // An event-time table with nothing more to read does not hold lookups back:
                // its watermark follows the wall clock; older rows arriving later are late
                // and apply at the time they arrive.
                let w = wall_clock().saturating_sub(spec.max_out_of_order.max(0) as u64);
                if w > *cap.time() {
                    cap.downgrade(&w);
                    spec.watermark.advance_to(from_time(w));
                }
            }
            if let Some(c) = &commit
                && !shared.failures.any()
            {
                r.durable(c.durable.with_frontier(|f| f.iter().min().copied()));
            }
            let started = Instant::now();
            // A failure anywhere in the run stops reading too: the run drains and fails.
            let mut done = crate::stop::requested()
                || shared.failures.any()
                || table.as_ref().is_some_and(|t| t.readers.done());
            let mut idle = false;
            let ahead = event_time
                .as_ref()
                .and_then(|spec| spec.align.as_ref())
                .is_some_and(|(probe, max)| {
                    let max = (*max).max(ALIGN_BATCH_SPANS.saturating_mul(batch_span));
                    probe.with_frontier(|f| {
                        f.iter()
                            .min()
                            .is_some_and(|low| *cap.time() > low.saturating_add(max))
                    })
                });
            if !done && (shared.flow.saturated() || ahead) {
                // Consumers on other workers, or other workers' sources, are behind: wait.
                activator.activate_after(Duration::from_micros(200));
                return;
            }
            while !done && started.elapsed() < SLICE && !shared.flow.saturated() {
                match r.pull() {
                    Ok(Pulled::Batch(batch)) => {
                        if let Some(spec) = event_time.as_ref().filter(|s| s.align.is_some()) {
                            batch_span = batch_span.max(event_time_span(&batch, spec));
                        }
                        let sent = *cap.time();
                        if let Some(c) = &commit {
                            r.sent(c.bound(sent, &batch, event_time.as_ref()));
                        }
                        let watermark = match (&event_time, r.per_partition_event_time()) {
                            (Some(spec), None) => Some(advance(sent, &batch, spec)),
                            _ => None,
                        };
                        shared.source_sent(sent, batch.num_rows());
                        output.session(&*cap).give(batch);
                        if let Some(w) = watermark
                            && w > *cap.time()
                        {
                            cap.downgrade(&w);
                            event_time
                                .iter()
                                .for_each(|s| s.watermark.advance_to(from_time(w)));
                        }
                        follow_partitions(cap, r.as_ref(), event_time.as_ref());
                    }
                    Ok(Pulled::Idle) => {
                        follow_partitions(cap, r.as_ref(), event_time.as_ref());
                        idle = true;
                        break;
                    }
                    Ok(Pulled::Done) => done = true,
                    Err(e) => {
                        shared.failures.record(&context, e);
                        done = true;
                    }
                }
            }
            if done {
                capability = None;
                if let Some(r) = reader.take()
                    && let Some(last) = r.close()
                {
                    shared.final_commit(last);
                }
            } else if idle {
                activator.activate_after(Duration::from_millis(5));
            } else {
                activator.activate();
            }
        }
    })
}
