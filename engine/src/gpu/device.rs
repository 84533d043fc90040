//! Adapter and device set-up, once per process (`OnceLock`), and what is known about them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::GpuError;
use super::kernel::Kernel;
use super::pool::Pools;

/// What the adapter is, for logs, `sluice explain` and placement.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    /// `Vulkan`, ...
    pub backend: String,
    /// `Cpu` (lavapipe), `DiscreteGpu`, ...
    pub device_type: String,
    pub driver: String,
    /// `SHADER_F64`: float columns computed in f64, exactly as on the CPU.
    pub f64: bool,
    /// `SHADER_INT64`: int, timestamp and duration columns computed in i64.
    pub i64: bool,
    pub max_workgroups_per_dimension: u32,
    pub max_buffer_bytes: u64,
    /// Adapter + device creation time.
    pub startup: Duration,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, f64 {}, i64 {})",
            self.name,
            self.backend,
            self.device_type,
            if self.f64 { "yes" } else { "no" },
            if self.i64 { "yes" } else { "no" }
        )
    }
}

/// Bytes moved and time spent on the device since start, over every worker.
#[derive(Debug, Default)]
pub struct TransferTotals {
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    /// Submit-to-readback wall time of every waited submission, in ns.
    pub busy_ns: AtomicU64,
    pub submissions: AtomicU64,
}

/// The process's GPU: device, queue, pipeline cache and buffer pools.
pub struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) info: AdapterSummary,
    pub(super) kernels: Mutex<HashMap<String, Arc<Kernel>>>,
    pub(super) pools: Arc<Pools>,
    pub(super) totals: TransferTotals,
}

static SHARED: OnceLock<Result<Gpu, GpuError>> = OnceLock::new();
static PROBED: OnceLock<Result<AdapterKind, GpuError>> = OnceLock::new();

/// The adapter `Gpu::open` would pick, seen without opening a device (no queue, no memory).
#[derive(Clone, Debug)]
pub struct AdapterKind {
    pub name: String,
    /// A software rasterizer on the CPU's own cores (Mesa's lavapipe/llvmpipe).
    pub software: bool,
}

impl Gpu {
    /// The process's GPU, set up on the first call (later calls, from any thread, share it).
    /// `Err` when there is no adapter or it could not be opened; the error is kept too.
    pub fn shared() -> Result<&'static Gpu, GpuError> {
        SHARED.get_or_init(Gpu::open).as_ref().map_err(Clone::clone)
    }

    /// The GPU if it has already been set up successfully (never starts it).
    pub fn if_started() -> Option<&'static Gpu> {
        SHARED.get().and_then(|r| r.as_ref().ok())
    }

    /// Which adapter `open` would choose, asked once per process. `gpu.mode = auto` uses this
    /// to leave a software adapter unopened: it computes on the same cores as the CPU path, so
    /// it cannot win, and opening it costs start-up time and memory on every run.
    pub fn probe() -> Result<&'static AdapterKind, GpuError> {
        PROBED
            .get_or_init(|| {
                let adapter = Gpu::adapter()?;
                let info = adapter.get_info();
                Ok(AdapterKind {
                    name: info.name,
                    software: info.device_type == wgpu::DeviceType::Cpu,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The first high-performance adapter wgpu finds (what both `probe` and `open` look at).
    fn adapter() -> Result<wgpu::Adapter, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))
    }

    /// Opens the first high-performance adapter wgpu finds (Vulkan), with `SHADER_F64` and
    /// `SHADER_INT64` when the adapter has them, and the adapter's own limits.
    pub fn open() -> Result<Gpu, GpuError> {
        let started = Instant::now();
        let adapter = Gpu::adapter()?;
        let wanted = wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("sluice"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        let adapter_info = adapter.get_info();
        let info = AdapterSummary {
            name: adapter_info.name,
            backend: format!("{:?}", adapter_info.backend),
            device_type: format!("{:?}", adapter_info.device_type),
            driver: adapter_info.driver,
            f64: features.contains(wgpu::Features::SHADER_F64),
            i64: features.contains(wgpu::Features::SHADER_INT64),
            max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_buffer_bytes: limits
                .max_buffer_size
                .min(limits.max_storage_buffer_binding_size),
            startup: started.elapsed(),
        };
        Ok(Gpu {
            pools: Arc::new(Pools::new(device.clone())),
            device,
            queue,
            info,
            kernels: Mutex::new(HashMap::new()),
            totals: TransferTotals::default(),
        })
    }

    pub fn info(&self) -> &AdapterSummary {
        &self.info
    }

    /// Bytes and device time so far (all workers).
    pub fn totals(&self) -> &TransferTotals {
        &self.totals
    }

    /// The wgpu device, for kernels that need more than the helpers here.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    pub(super) fn count_up(&self, bytes: u64) {
        self.totals.bytes_up.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Gpu {
    /// For tests: the shared GPU, or `None` after a loud "SKIPPED" line when there is no
    /// adapter. Under `CI=true` a missing adapter panics, so CI cannot pass without one.
    pub fn for_tests(test: &str) -> Option<&'static Gpu> {
        match Gpu::shared() {
            Ok(gpu) => Some(gpu),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: CI=true and no GPU: {e} (install mesa-vulkan-drivers)")
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: no GPU adapter: {e}");
                None
            }
        }
    }
}
