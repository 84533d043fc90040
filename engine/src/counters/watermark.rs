//! Source watermarks as the metrics see them: one slot per worker, written by the source
//! operator each time it downgrades its capability (`dataflow/read.rs`).

use std::sync::atomic::{AtomicI64, Ordering};

use super::worker::current_worker;

/// A slot that no worker has written yet.
const NONE: i64 = i64::MIN;

/// One event-time source's watermark per worker, in ms since the epoch.
#[derive(Debug)]
pub struct Watermark {
    slots: Box<[AtomicI64]>,
}

impl Default for Watermark {
    fn default() -> Watermark {
        Watermark::new(1)
    }
}

impl Watermark {
    pub fn new(workers: usize) -> Watermark {
        Watermark {
            slots: (0..workers.max(1)).map(|_| AtomicI64::new(NONE)).collect(),
        }
    }

    /// The calling worker's source moved its watermark to `ms`.
    pub fn advance_to(&self, ms: i64) {
        self.slots[current_worker() % self.slots.len()].fetch_max(ms, Ordering::Relaxed);
    }

    /// The minimum over the workers that have a watermark (`None` before the first one). A
    /// worker that has not sent a batch yet does not hold it back: its source is still at the
    /// initial capability, which is no event time at all.
    pub fn min_ms(&self) -> Option<i64> {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&ms| ms != NONE)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_over_workers_that_reported() {
        let w = std::sync::Arc::new(Watermark::new(3));
        assert_eq!(w.min_ms(), None);
        w.advance_to(5_000);
        let other = w.clone();
        std::thread::spawn(move || {
            super::super::worker::set_current_worker(2);
            other.advance_to(3_000);
        })
        .join()
        .unwrap();
        w.advance_to(4_000); // never backwards
        assert_eq!(w.min_ms(), Some(3_000));
    }
}
