//! What the geo and partial-aggregate kernels can refuse: a batch whose buffers would not fit
//! one storage binding. Callers fall back to the CPU (or split the batch) on these errors.

use super::{Gpu, GpuError};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("{what} needs a {bytes}-byte GPU buffer; this adapter binds at most {max}")]
    TooLarge { what: String, bytes: u64, max: u64 },
}

/// `Err(TooLarge)` unless a buffer of `bytes` fits one binding of `gpu`.
pub fn check_fits(gpu: &Gpu, what: impl FnOnce() -> String, bytes: u64) -> Result<(), KernelError> {
    let max = gpu.info().max_buffer_bytes;
    if bytes > max {
        return Err(KernelError::TooLarge {
            what: what(),
            bytes,
            max,
        });
    }
    Ok(())
}
