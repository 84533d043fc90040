//! Flow control across workers. Timely has no backpressure: a source that reads faster than
//! another worker consumes its exchanged batches fills that worker's channel without bound.
//! Every exchange counts the rows it sends and the rows its receiver takes off the channel;
//! sources pause while the rows in flight exceed a limit, so memory stays bounded by the limit
//! plus the operators' own state, whatever the input length.

use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::RecordBatch;

use crate::metrics::QueueDepth;
use crate::wire::WireBatch;

/// Rows in flight through exchanges, for one run.
pub struct FlowControl {
    in_flight: AtomicI64,
    limit: i64,
    /// The same rows by receiving worker (the metrics' queue depth).
    queued: QueueDepth,
}

impl FlowControl {
    /// `limit`: rows in flight above which sources pause.
    pub fn new(limit: usize, workers: usize) -> FlowControl {
        FlowControl {
            in_flight: AtomicI64::new(0),
            limit: limit as i64,
            queued: QueueDepth::new(workers),
        }
    }

    /// Wraps a batch for an exchange to worker `target` and counts its rows as in flight.
    pub fn send(&self, target: usize, batch: RecordBatch) -> WireBatch {
        let rows = batch.num_rows() as i64;
        self.in_flight.fetch_add(rows, Ordering::Relaxed);
        self.queued.sent_to(target, rows);
        WireBatch(batch)
    }

    /// Counts a batch taken off an exchange channel by the calling worker.
    pub fn receive(&self, batch: &RecordBatch) {
        let rows = batch.num_rows() as i64;
        self.in_flight.fetch_sub(rows, Ordering::Relaxed);
        self.queued.received_here(rows);
    }

    /// Rows in flight now (sent into exchanges, not yet taken off by their receivers).
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed).max(0)
    }

    /// Rows in flight to each worker.
    pub fn queued_per_worker(&self) -> Vec<i64> {
        self.queued.per_worker()
    }

    /// Whether sources should wait for consumers to catch up.
    pub fn saturated(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > self.limit
    }
}
