//! Per-worker counters. The worker index lives in a thread-local set once when a timely worker
//! thread starts, so hooks on the data path need no worker argument (and operators' signatures
//! did not change to gain one).

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

thread_local! {
    static CURRENT_WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as timely worker `index` (called at the start of every worker closure).
pub fn set_current_worker(index: usize) {
    CURRENT_WORKER.with(|w| w.set(index));
}

/// The worker this thread runs (0 outside timely workers, e.g. in unit tests).
pub fn current_worker() -> usize {
    CURRENT_WORKER.with(Cell::get)
}

/// A row counter with one slot per worker: adds go to the calling worker's slot, scrapes sum.
pub struct RowCounter {
    slots: Box<[AtomicU64]>,
}

impl RowCounter {
    pub fn new(workers: usize) -> RowCounter {
        RowCounter {
            slots: (0..workers.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Same signature as `AtomicU64::fetch_add`, which operators called before counting per
    /// worker; returns the calling worker's previous count.
    pub fn fetch_add(&self, rows: u64, ordering: Ordering) -> u64 {
        self.slots[current_worker() % self.slots.len()].fetch_add(rows, ordering)
    }

    /// The total over workers.
    pub fn load(&self, ordering: Ordering) -> u64 {
        self.slots.iter().map(|s| s.load(ordering)).sum()
    }

    /// Per worker.
    pub fn per_worker(&self) -> Vec<u64> {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect()
    }
}

/// Rows of a table each worker holds (its share of the partitioned arrangement); changes
/// are signed (a deletion or the first row of a key).
pub struct HeldRows {
    slots: Box<[AtomicI64]>,
}

impl HeldRows {
    pub fn new(workers: usize) -> HeldRows {
        HeldRows {
            slots: (0..workers.max(1)).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    /// Adds `delta` to the calling worker's count.
    pub fn add(&self, delta: i64) {
        self.slots[current_worker() % self.slots.len()].fetch_add(delta, Ordering::Relaxed);
    }

    pub fn per_worker(&self) -> Vec<i64> {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect()
    }
}

/// Rows queued for each worker: added by the sender, which knows the target, subtracted by the
/// receiving worker itself.
pub struct QueueDepth {
    slots: Box<[AtomicI64]>,
}

impl QueueDepth {
    pub fn new(workers: usize) -> QueueDepth {
        QueueDepth {
            slots: (0..workers.max(1)).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    pub fn sent_to(&self, target: usize, rows: i64) {
        self.slots[target % self.slots.len()].fetch_add(rows, Ordering::Relaxed);
    }

    pub fn received_here(&self, rows: i64) {
        self.slots[current_worker() % self.slots.len()].fetch_sub(rows, Ordering::Relaxed);
    }

    /// Per worker; a worker's value can be read a moment before its matching send is, so it is
    /// clamped at 0.
    pub fn per_worker(&self) -> Vec<i64> {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed).max(0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_go_to_the_calling_workers_slot() {
        let rows = std::sync::Arc::new(RowCounter::new(2));
        let queue = std::sync::Arc::new(QueueDepth::new(2));
        let (r, q) = (rows.clone(), queue.clone());
        std::thread::spawn(move || {
            set_current_worker(1);
            r.fetch_add(5, Ordering::Relaxed);
            q.received_here(3);
        })
        .join()
        .unwrap();
        rows.fetch_add(2, Ordering::Relaxed);
        queue.sent_to(1, 10);
        assert_eq!(rows.per_worker(), vec![2, 5]);
        assert_eq!(rows.load(Ordering::Relaxed), 7);
        assert_eq!(queue.per_worker(), vec![0, 7]);
    }
}
