//! Flow control across workers. Timely has no backpressure: a source that reads faster than
//! another worker consumes its exchanged batches fills that worker's channel without bound.
//! Every exchange counts the rows it sends and the rows its receiver takes off the channel;
//! sources pause while the rows in flight exceed a limit, so memory stays bounded by the limit
//! plus the operators' own state, whatever the input length.
//!
//! On several processes each process counts only the exchanges between its own workers: a row
//! sent to another process cannot be taken off the count by its receiver (a different counter),
//! so counting it would pause this process's sources for good. Rows between processes are
//! therefore not bounded by flow control (timely buffers them in its network queues).

use std::ops::Range;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::RecordBatch;

use crate::wire::WireBatch;

/// Rows in flight through exchanges, for one run.
pub struct FlowControl {
    in_flight: AtomicI64,
    limit: i64,
    /// Global indices of this process's workers.
    local: Range<usize>,
}

impl FlowControl {
    /// `limit`: rows in flight above which sources pause; `local`: the global indices of this
    /// process's workers (all of them on one process).
    pub fn new(limit: usize, local: Range<usize>) -> FlowControl {
        FlowControl {
            in_flight: AtomicI64::new(0),
            limit: limit as i64,
            local,
        }
    }

    /// Wraps a batch for an exchange to worker `target` and counts its rows as in flight when
    /// that worker is in this process.
    pub fn send(&self, target: usize, batch: RecordBatch) -> WireBatch {
        if self.local.contains(&target) {
            self.in_flight
                .fetch_add(batch.num_rows() as i64, Ordering::Relaxed);
        }
        WireBatch(batch)
    }

    /// Counts a batch from worker `sender` taken off an exchange channel (when `sender` is in
    /// this process, as `send` counted it).
    pub fn receive(&self, sender: usize, batch: &RecordBatch) {
        if self.local.contains(&sender) {
            self.in_flight
                .fetch_sub(batch.num_rows() as i64, Ordering::Relaxed);
        }
    }

    /// Whether sources should wait for consumers to catch up.
    pub fn saturated(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > self.limit
    }
}
