//! The GPU runtime: one wgpu device per process, shared by every worker thread.
//!
//! Why one module owns all of it: adapter start-up costs from milliseconds (lavapipe) to a
//! second (NVIDIA), and pipelines and buffers are expensive to create, so they are made once
//! and reused across batches and workers. Operators only describe work:
//!
//! ```text
//! let gpu = Gpu::shared()?;                          // OnceLock: set up on first use
//! let kernel = gpu.kernel("double", SOURCE, &[Access::Read, Access::ReadWrite])?;  // cached
//! let mut job = gpu.submission();
//! let input = job.upload(bytemuck::cast_slice(&values));  // reused mapped staging buffer
//! let output = gpu.buffer(bytes);                         // pooled device buffer
//! job.dispatch(&kernel, rows, &[], &[&input, &output])?;  // 2-D grid, <= 65,535 per dim
//! let back = job.read_back(&output, 0, bytes);            // pooled MAP_READ buffer
//! let pending = job.submit();                             // returns at once
//! // ... CPU work (the next batch's upload) overlaps with the GPU here ...
//! let done = pending.wait()?;                             // done.buffers[back]: Arrow Buffer
//! ```
//!
//! Kernels are WGSL: the runtime prepends `shaders/prelude.wgsl` (binding 0 = `params`,
//! `item_index`, `item_count`, `WORKGROUP_SIZE`) and binds the caller's buffers from 1 on.
//! Every transfer is counted ([`TransferTotals`]) for the metrics.
//!
//! Module map: `device.rs` (adapter, device, [`AdapterSummary`]), `pool.rs` (buffer pools),
//! `kernel.rs` (pipeline cache, dispatch grid), `submit.rs` (upload, dispatch, readback),
//! `codegen.rs` (typed expressions to WGSL), `chain.rs` (a fused `where`/`select` chain on a
//! batch, GPU or CPU), `calibrate.rs` (start-up CPU vs GPU timing for `auto`),
//! `placement.rs` (which stages run on the GPU, fused how, from which batch size).

pub mod calibrate;
pub mod chain;
pub mod codegen;
mod device;
mod kernel;
pub mod placement;
mod pool;
mod submit;

pub use device::{AdapterKind, AdapterSummary, Gpu, TransferTotals};
pub use kernel::{Access, Grid, Kernel, PRELUDE, WORKGROUP_SIZE};
pub use pool::DeviceBuffer;
pub use submit::{Done, InFlight, Submission};

/// Why the GPU runtime could not do something. Cloneable: the start-up result is kept for the
/// whole process and handed to every caller.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found ({0})")]
    NoAdapter(String),
    #[error("the GPU device could not be opened: {0}")]
    Device(String),
    #[error("GPU kernel `{name}` is invalid: {message}")]
    Kernel { name: String, message: String },
    #[error("GPU dispatch of `{name}` failed: {message}")]
    Dispatch { name: String, message: String },
    #[error("waiting for the GPU failed: {0}")]
    Poll(String),
    #[error("mapping a GPU buffer failed: {0}")]
    Map(String),
    #[error("the GPU adapter lacks {0}")]
    MissingFeature(&'static str),
}

// Kernels on top of the runtime: geo distance (`geo.rs`), what kernels refuse (`limits.rs`).
// The partial-aggregate kernels live with the aggregates (`aggregate/gpu_partials.rs`).
pub mod geo;
#[cfg(test)]
mod kernel_tests;
pub mod limits;
pub mod stage;
