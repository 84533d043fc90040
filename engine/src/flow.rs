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

use crate::counters::QueueDepth;
use crate::wire::WireBatch;

/// Rows in flight through exchanges, for one run.
pub struct FlowControl {
    in_flight: AtomicI64,
    limit: i64,
    /// Global indices of this process's workers.
    local: Range<usize>,
    /// The same rows by receiving worker (the metrics' queue depth).
    queued: QueueDepth,
}

impl FlowControl {
    /// `limit`: rows in flight above which sources pause; `local`: the global indices of this
    /// process's workers (all of them on one process); `workers`: all workers of the run.
    pub fn new(limit: usize, local: Range<usize>, workers: usize) -> FlowControl {
        FlowControl {
            in_flight: AtomicI64::new(0),
            limit: limit as i64,
            local,
            queued: QueueDepth::new(workers),
        }
    }

    /// Wraps a batch for an exchange to worker `target` and counts its rows as in flight when
    /// that worker is in this process.
    pub fn send(&self, target: usize, batch: RecordBatch) -> WireBatch {
        if self.local.contains(&target) {
            let rows = batch.num_rows() as i64;
            self.in_flight.fetch_add(rows, Ordering::Relaxed);
            self.queued.sent_to(target, rows);
        }
        WireBatch(batch)
    }

    /// Counts a batch from worker `sender` taken off an exchange channel by the calling worker
    /// (when `sender` is in this process, as `send` counted it).
    pub fn receive(&self, sender: usize, batch: &RecordBatch) {
        if self.local.contains(&sender) {
            let rows = batch.num_rows() as i64;
            self.in_flight.fetch_sub(rows, Ordering::Relaxed);
            self.queued.received_here(rows);
        }
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

#[cfg(test)]
mod tests {
    use arrow_array::{Int64Array, RecordBatch};

    use super::*;

    fn rows(n: i64) -> RecordBatch {
        RecordBatch::try_from_iter([(
            "x",
            std::sync::Arc::new(Int64Array::from_iter_values(0..n)) as _,
        )])
        .unwrap()
    }

    #[test]
    fn only_exchanges_between_local_workers_are_counted() {
        // Process 1 of 2 with 2 threads: workers 2 and 3 are local.
        let flow = FlowControl::new(5, 2..4, 4);
        let _remote = flow.send(0, rows(10));
        assert!(
            !flow.saturated(),
            "rows to another process never pause sources"
        );
        let local = flow.send(3, rows(10));
        assert!(flow.saturated());
        flow.receive(1, &local.0); // from a remote sender: not counted by `send` here
        assert!(flow.saturated());
        flow.receive(2, &local.0);
        assert!(!flow.saturated());
    }
}
