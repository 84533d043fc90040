//! Counters of one fused GPU chain, read by the exporter (`metrics/gpu.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one GPU chain (shared by the workers).
#[derive(Debug, Default)]
pub struct GpuStage {
    pub batches_gpu: AtomicU64,
    pub batches_cpu: AtomicU64,
    pub gpu_ns: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
}

impl GpuStage {
    pub fn gpu_batch(&self, elapsed_ns: u64, up: u64, down: u64) {
        self.batches_gpu.fetch_add(1, Ordering::Relaxed);
        self.gpu_ns.fetch_add(elapsed_ns, Ordering::Relaxed);
        self.bytes_up.fetch_add(up, Ordering::Relaxed);
        self.bytes_down.fetch_add(down, Ordering::Relaxed);
    }

    pub fn cpu_batch(&self) {
        self.batches_cpu.fetch_add(1, Ordering::Relaxed);
    }
}
