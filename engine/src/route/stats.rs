//! What the routers and receivers of one route stage measured, for the run summary.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Counters of one route stage, shared by all workers.
pub struct RouteStats {
    /// Records sent to each worker.
    pub routed: Vec<AtomicU64>,
    /// Records that went to their nearest worker (geo only).
    pub nearest: AtomicU64,
    /// Sum of distances to the chosen worker, in metres (geo only).
    pub distance_m: AtomicU64,
    /// Records processed per worker per epoch: (ms since the run started, worker, rows).
    pub timeline: Mutex<Vec<(u64, u32, u64)>>,
}

impl RouteStats {
    pub fn new(workers: usize) -> RouteStats {
        RouteStats {
            routed: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            nearest: AtomicU64::new(0),
            distance_m: AtomicU64::new(0),
            timeline: Mutex::new(Vec::new()),
        }
    }

    pub fn summary(&self, stream: &str, kind: &str) -> RouteSummary {
        let routed: Vec<u64> = self
            .routed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = routed.iter().sum();
        let mean = total as f64 / routed.len().max(1) as f64;
        let max = routed.iter().copied().max().unwrap_or(0) as f64;
        let geo = kind == "geo" && total > 0;
        let mut timeline = self
            .timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        timeline.sort();
        RouteSummary {
            stream: stream.to_string(),
            kind: kind.to_string(),
            routed,
            max_over_mean: if mean > 0.0 { max / mean } else { 0.0 },
            nearest_share: geo.then(|| self.nearest.load(Ordering::Relaxed) as f64 / total as f64),
            mean_distance_km: geo
                .then(|| self.distance_m.load(Ordering::Relaxed) as f64 / 1000.0 / total as f64),
            timeline,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteSummary {
    pub stream: String,
    /// `geo`, `hash` or `round_robin`.
    pub kind: String,
    /// Records routed to each worker.
    pub routed: Vec<u64>,
    /// Largest worker's count over the mean.
    pub max_over_mean: f64,
    pub nearest_share: Option<f64>,
    pub mean_distance_km: Option<f64>,
    /// (ms since start, worker, rows processed in that epoch).
    pub timeline: Vec<(u64, u32, u64)>,
}

impl RouteSummary {
    /// Adds another process's counts of the same route stage (per-worker counts summed, the
    /// shares weighted by records, timelines joined).
    pub fn add(&mut self, other: RouteSummary) {
        let (mine, theirs) = (
            self.routed.iter().sum::<u64>() as f64,
            other.routed.iter().sum::<u64>() as f64,
        );
        let weighted = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some((a * mine + b * theirs) / (mine + theirs)),
            (a, b) => a.or(b),
        };
        self.nearest_share = weighted(self.nearest_share, other.nearest_share);
        self.mean_distance_km = weighted(self.mean_distance_km, other.mean_distance_km);
        if self.routed.len() < other.routed.len() {
            self.routed.resize(other.routed.len(), 0);
        }
        for (m, o) in self.routed.iter_mut().zip(other.routed) {
            *m += o;
        }
        let total: u64 = self.routed.iter().sum();
        let mean = total as f64 / self.routed.len().max(1) as f64;
        let max = self.routed.iter().copied().max().unwrap_or(0) as f64;
        self.max_over_mean = if mean > 0.0 { max / mean } else { 0.0 };
        self.timeline.extend(other.timeline);
        self.timeline.sort();
    }
}
