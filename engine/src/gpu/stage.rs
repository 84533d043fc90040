//! Placement of the stages whose kernels are `geo.rs` (`route by geo`) and `aggregate/gpu_partials.rs`
//! (`aggregate`, windowed or not): given the run's `[gpu] mode` and the stage's `@gpu`/`@cpu`,
//! the GPU to use or `None` for the CPU. Asked once per stage at planning (`physical::lower`
//! records the answer as the node's `Device`, which `explain` prints); the builder then takes
//! the process's one device for the stages placed on it.
//!
//! Why `auto` keeps them on the CPU: on the 2-core lavapipe machine the partial aggregates
//! are 10-15x slower than the CPU at every batch size and the geo kernels at most 1.6x faster
//! than one CPU thread while using the same cores (benches/README.md, GPU section), and no
//! calibration for them exists yet; `on` or `@gpu` puts them on the GPU.

use sluice_dsl::plan::Placement;

use super::Gpu;
use crate::config::GpuMode;

/// The GPU for a route or aggregate stage, or `None` (CPU). A GPU that was asked for but is
/// missing falls back to the CPU with a warning (the `where`/`select` placement reports it).
pub fn stage_gpu(mode: GpuMode, placement: Placement) -> Option<&'static Gpu> {
    let wanted = match (mode, placement) {
        (GpuMode::Off, _) | (_, Placement::Cpu) => false,
        (GpuMode::On, _) | (_, Placement::Gpu) => true,
        (GpuMode::Auto, Placement::Auto) => false,
    };
    if !wanted {
        return None;
    }
    Gpu::shared()
        .inspect_err(|e| tracing::warn!("a stage placed on the GPU runs on the CPU: {e}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_and_cpu_pins_never_use_the_gpu() {
        for placement in [Placement::Auto, Placement::Gpu, Placement::Cpu] {
            assert!(stage_gpu(GpuMode::Off, placement).is_none());
        }
        assert!(stage_gpu(GpuMode::On, Placement::Cpu).is_none());
        assert!(stage_gpu(GpuMode::Auto, Placement::Auto).is_none());
    }

    #[test]
    fn on_and_gpu_pins_use_it_when_there_is_one() {
        let Some(gpu) = Gpu::for_tests("on_and_gpu_pins_use_it_when_there_is_one") else {
            return;
        };
        for (mode, placement) in [
            (GpuMode::On, Placement::Auto),
            (GpuMode::Auto, Placement::Gpu),
        ] {
            assert!(std::ptr::eq(stage_gpu(mode, placement).unwrap(), gpu));
        }
    }
}
