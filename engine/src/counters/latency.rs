//! End-to-end latency per sink.
//!
//! Definition: a batch that reaches a sink at timely time `t` has the latency
//! `now - origin(t')`, where `t'` is the greatest time `<= t` at which a source of this process
//! sent a batch, and `origin(t')` is the wall-clock instant of the first such send. For a
//! stateless stream (`where`, `select`, ...) `t' = t`: the time from the source handing a batch
//! to the dataflow until the sink receiving it (before encoding). For a window, whose rows come
//! out at the window's end, it is the time from the sources' watermark first reaching that end
//! until the sink receives the window's rows. Each row counts as one observation. Only
//! event-time data is measured: sources without `event_time` send everything at time 0, where
//! "first send" would be the start of the run.
//!
//! The origins are one small ordered map for the whole process, pruned as the sinks' frontiers
//! advance (a future batch is never earlier than the least sink frontier, so it needs only the
//! greatest origin at or below it) and capped, so memory stays bounded even when a sink's
//! frontier stalls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arrow_array::RecordBatch;
use hdrhistogram::Histogram;
use timely::progress::frontier::MutableAntichain;

use super::worker::current_worker;

/// Quantiles exposed per sink.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Histogram range in microseconds: 1 us to 1 hour (longer latencies are recorded as 1 hour).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Origins kept before pruning is tried, and at most.
const PRUNE_ABOVE: usize = 1024;
const MAX_ORIGINS: usize = 1 << 16;

/// The context string an operator of sink `name` reports failures under; the sink hook finds
/// its sink by it, so `dataflow::build` builds it with this function.
pub fn sink_context(name: &str) -> String {
    format!("sink `{name}`")
}

/// The latency bookkeeping of one run.
pub struct Latency {
    /// Timely time -> the instant a source of this process first sent a batch at that time.
    origins: Mutex<BTreeMap<u64, Instant>>,
    /// Per worker: the time its sources last recorded, so that `origins` is locked only when a
    /// source's time changes (once per watermark step), not once per batch.
    last_recorded: Box<[AtomicU64]>,
    sinks: Vec<SinkLatency>,
}

struct SinkLatency {
    name: String,
    /// Microseconds, one count per row.
    histogram: Mutex<Histogram<u64>>,
    /// Per worker: the least time this sink's input may still bring (`u64::MAX` when complete).
    frontiers: Box<[AtomicU64]>,
}

/// What a scrape shows of one sink.
pub struct SinkLatencySnapshot {
    pub sink: String,
    /// Rows measured.
    pub count: u64,
    /// Seconds, in `QUANTILES` order.
    pub quantiles: [f64; 4],
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Latency {
    pub fn new(sinks: &[String], workers: usize) -> Latency {
        let slots = |v: u64| (0..workers.max(1)).map(|_| AtomicU64::new(v)).collect();
        Latency {
            origins: Mutex::new(BTreeMap::new()),
            last_recorded: slots(0),
            sinks: sinks
                .iter()
                .map(|name| SinkLatency {
                    name: name.clone(),
                    histogram: Mutex::new(
                        Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
                            .expect("valid static histogram bounds"),
                    ),
                    frontiers: slots(0),
                })
                .collect(),
        }
    }

    /// A source of the calling worker sends a batch at timely time `time`.
    pub fn source_sent(&self, time: u64) {
        if time == 0 {
            return; // no event time (see the module comment)
        }
        let worker = current_worker() % self.last_recorded.len();
        if self.last_recorded[worker].swap(time, Ordering::Relaxed) == time {
            return;
        }
        let mut origins = lock(&self.origins);
        origins.entry(time).or_insert_with(Instant::now);
        if origins.len() > PRUNE_ABOVE {
            self.prune(&mut origins);
        }
    }

    fn prune(&self, origins: &mut BTreeMap<u64, Instant>) {
        let least_frontier = self
            .sinks
            .iter()
            .flat_map(|s| s.frontiers.iter())
            .map(|f| f.load(Ordering::Relaxed))
            .min()
            .unwrap_or(u64::MAX);
        if let Some((&keep, _)) = origins.range(..=least_frontier).next_back() {
            *origins = origins.split_off(&keep);
        }
        while origins.len() > MAX_ORIGINS {
            origins.pop_first();
        }
    }

    /// The hook of the sink operator whose failure context is `context` (`sink_context`), on
    /// the calling worker; it measures nothing when no sink has that context.
    pub fn sink_hook(self: &Arc<Self>, context: &str) -> SinkLatencyHook {
        SinkLatencyHook {
            latency: self.clone(),
            sink: self
                .sinks
                .iter()
                .position(|s| sink_context(&s.name) == context),
            worker: current_worker(),
        }
    }

    /// Per sink, in plan order.
    pub fn snapshot(&self) -> Vec<SinkLatencySnapshot> {
        self.sinks
            .iter()
            .map(|s| {
                let h = lock(&s.histogram);
                SinkLatencySnapshot {
                    sink: s.name.clone(),
                    count: h.len(),
                    quantiles: QUANTILES.map(|q| h.value_at_quantile(q) as f64 / 1e6),
                }
            })
            .collect()
    }
}

/// What the sink operator of one sink on one worker calls.
pub struct SinkLatencyHook {
    latency: Arc<Latency>,
    sink: Option<usize>,
    worker: usize,
}

impl SinkLatencyHook {
    /// Batches at timely time `time` reached the sink (`None`: a time that is not totally
    /// ordered, which `u64` never is; it keeps the hook one line).
    pub fn arrived(&self, time: Option<u64>, batches: &[RecordBatch]) {
        let (Some(sink), Some(time)) = (self.sink, time) else {
            return;
        };
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if rows == 0 {
            return;
        }
        let origin = lock(&self.latency.origins)
            .range(..=time)
            .next_back()
            .map(|(_, at)| *at);
        if let Some(origin) = origin {
            let us = origin.elapsed().as_micros().min(u64::MAX as u128) as u64;
            lock(&self.latency.sinks[sink].histogram).saturating_record_n(us.max(LOWEST_US), rows);
        }
    }

    /// The sink's input frontier now (lets the origins below it be dropped).
    pub fn frontier(&self, frontier: &MutableAntichain<u64>) {
        let Some(sink) = self.sink else { return };
        let least = frontier
            .frontier()
            .iter()
            .min()
            .copied()
            .unwrap_or(u64::MAX);
        let slots = &self.latency.sinks[sink].frontiers;
        slots[self.worker % slots.len()].store(least, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn rows(n: i64) -> RecordBatch {
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        RecordBatch::try_from_iter([("x", column)]).unwrap()
    }

    #[test]
    fn a_sink_batch_is_measured_from_the_greatest_origin_at_or_below_its_time() {
        let latency = Arc::new(Latency::new(&["out".to_string()], 1));
        latency.source_sent(100);
        std::thread::sleep(Duration::from_millis(30));
        latency.source_sent(200);
        let hook = latency.sink_hook(&sink_context("out"));
        hook.arrived(Some(150), &[rows(3)]); // origin: time 100, >= 30 ms ago
        hook.arrived(Some(0), &[rows(5)]); // no origin at or below 0: not measured
        let snap = &latency.snapshot()[0];
        assert_eq!(snap.count, 3);
        assert!(snap.quantiles[0] >= 0.030, "{:?}", snap.quantiles);
        assert!(snap.quantiles.windows(2).all(|q| q[0] <= q[1]));
        assert!(latency.sink_hook("sink `other`").sink.is_none());
    }

    #[test]
    fn origins_below_every_sink_frontier_are_pruned_but_one() {
        let latency = Arc::new(Latency::new(&["out".to_string()], 1));
        let hook = latency.sink_hook(&sink_context("out"));
        let mut frontier = MutableAntichain::new();
        frontier.update_iter([(5_000u64, 1)]);
        hook.frontier(&frontier);
        for t in 1..=(PRUNE_ABOVE as u64 * 10) {
            latency.source_sent(t);
        }
        let origins = lock(&latency.origins);
        assert_eq!(origins.keys().next(), Some(&5_000));
        assert!(origins.len() <= 10 * PRUNE_ABOVE - 5_000 + 1);
    }
}
