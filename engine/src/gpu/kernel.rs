//! Compute pipelines, compiled once per distinct WGSL source and cached, and the dispatch grid.

use std::sync::Arc;

use super::{Gpu, GpuError};

/// Prepended to every kernel: binding 0 `params`, `item_index`, `item_count`.
pub const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");

/// Invocations per workgroup; `WORKGROUP_SIZE` in the prelude.
pub const WORKGROUP_SIZE: u32 = 64;

/// How a kernel uses a buffer it is given (bindings 1, 2, ... in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A compiled compute pipeline with an explicit bind-group layout (so an unused binding in
/// the WGSL does not change what callers bind).
#[derive(Debug)]
pub struct Kernel {
    pub name: String,
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) layout: wgpu::BindGroupLayout,
    pub(super) buffers: usize,
}

/// Workgroups of a dispatch over `items` invocations: a 2-D grid, since every dimension is
/// capped (65,535 on lavapipe and NVIDIA); `item_index` in the prelude undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
}

impl Grid {
    pub fn for_items(items: u32, max_per_dimension: u32) -> Grid {
        let groups = items.div_ceil(WORKGROUP_SIZE).max(1);
        let x = groups.min(max_per_dimension.max(1));
        Grid {
            x,
            y: groups.div_ceil(x),
        }
    }
}

impl Gpu {
    /// The pipeline for `source` (the prelude is prepended), compiled on first use and cached
    /// by its source text. Entry point `main`. `buffers[i]` is the access of binding `i + 1`.
    pub fn kernel(
        &self,
        name: &str,
        source: &str,
        buffers: &[Access],
    ) -> Result<Arc<Kernel>, GpuError> {
        let full = format!("{PRELUDE}\n{source}");
        let key = format!("{buffers:?}\n{full}");
        if let Some(k) = self.kernels.lock().expect("kernel cache").get(&key) {
            return Ok(Arc::clone(k));
        }
        let kernel = Arc::new(self.compile(name, &full, buffers)?);
        self.kernels
            .lock()
            .expect("kernel cache")
            .insert(key, Arc::clone(&kernel));
        Ok(kernel)
    }

    /// Number of distinct kernels compiled so far.
    pub fn cached_kernels(&self) -> usize {
        self.kernels.lock().expect("kernel cache").len()
    }

    fn compile(&self, name: &str, source: &str, buffers: &[Access]) -> Result<Kernel, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let entries: Vec<_> = std::iter::once(storage(0, true))
            .chain(
                buffers
                    .iter()
                    .enumerate()
                    .map(|(i, a)| storage(i as u32 + 1, *a == Access::Read)),
            )
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(name),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel {
                name: name.to_string(),
                message: error.to_string(),
            });
        }
        Ok(Kernel {
            name: name.to_string(),
            pipeline,
            layout,
            buffers: buffers.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_stays_under_the_dimension_limit() {
        assert_eq!(Grid::for_items(0, 65_535), Grid { x: 1, y: 1 });
        assert_eq!(Grid::for_items(64, 65_535), Grid { x: 1, y: 1 });
        assert_eq!(Grid::for_items(65, 65_535), Grid { x: 2, y: 1 });
        // 65,536 workgroups: one more than a dimension holds.
        let g = Grid::for_items(65_536 * 64, 65_535);
        assert_eq!(g, Grid { x: 65_535, y: 2 });
        let g = Grid::for_items(u32::MAX, 65_535);
        assert!(g.x <= 65_535 && g.y <= 65_535);
        assert!(u64::from(g.x) * u64::from(g.y) * 64 >= u64::from(u32::MAX));
    }
}
