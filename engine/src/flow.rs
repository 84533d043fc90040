//! Flow control across workers. Timely has no backpressure: a source that reads faster than
//! another worker consumes its exchanged batches fills that worker's channel without bound.
//! Every exchange counts the rows it sends and the rows its receiver takes off the channel;
//! sources pause while the rows in flight exceed a limit, so memory stays bounded by the limit
//! plus the operators' own state, whatever the input length.

use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::RecordBatch;

use crate::wire::WireBatch;

/// Rows in flight through exchanges, for one run.
pub struct FlowControl {
    in_flight: AtomicI64,
    limit: i64,
}

impl FlowControl {
    /// `limit`: rows in flight above which sources pause.
    pub fn new(limit: usize) -> FlowControl {
        FlowControl {
            in_flight: AtomicI64::new(0),
            limit: limit as i64,
        }
    }

    /// Wraps a batch for an exchange and counts its rows as in flight.
    pub fn send(&self, batch: RecordBatch) -> WireBatch {
        self.in_flight
            .fetch_add(batch.num_rows() as i64, Ordering::Relaxed);
        WireBatch(batch)
    }

    /// Counts a batch taken off an exchange channel.
    pub fn receive(&self, batch: &RecordBatch) {
        self.in_flight
            .fetch_sub(batch.num_rows() as i64, Ordering::Relaxed);
    }

    /// Whether sources should wait for consumers to catch up.
    pub fn saturated(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > self.limit
    }
}
