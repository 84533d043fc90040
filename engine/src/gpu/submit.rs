//! One unit of GPU work: uploads, dispatches and readbacks recorded into one command
//! encoder, submitted without blocking, and waited for later, so that the CPU prepares the
//! next batch while the GPU runs this one (double buffering across batches).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_buffer::{Buffer, MutableBuffer};

use super::kernel::{Grid, Kernel};
use super::pool::DeviceBuffer;
use super::{Gpu, GpuError};

/// Rounds a byte count up to the copy alignment (4), never below 4.
fn padded(len: u64) -> u64 {
    len.max(1).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT)
}

type MapResult = Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>;

struct Read {
    buffer: wgpu::Buffer,
    class: u64,
    len: u64,
    mapped: MapResult,
}

/// Commands being recorded. Nothing runs until [`Submission::submit`].
pub struct Submission<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    staged: Vec<(wgpu::Buffer, u64)>,
    reads: Vec<Read>,
    /// Buffers the commands use, held until the GPU is done with them.
    held: Vec<DeviceBuffer>,
    bytes_up: u64,
    error: Option<GpuError>,
    scope: wgpu::ErrorScopeGuard,
}

impl Gpu {
    /// A pooled device buffer of at least `bytes` (contents undefined).
    pub fn buffer(&self, bytes: u64) -> DeviceBuffer {
        self.pools.storage(padded(bytes))
    }

    /// Starts recording GPU work.
    pub fn submission(&self) -> Submission<'_> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        Submission {
            gpu: self,
            encoder: self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }),
            staged: Vec::new(),
            reads: Vec::new(),
            held: Vec::new(),
            bytes_up: 0,
            error: None,
            scope,
        }
    }
}

impl<'g> Submission<'g> {
    /// Copies `data` into a new pooled device buffer (through a reused mapped staging buffer).
    pub fn upload(&mut self, data: &[u8]) -> DeviceBuffer {
        self.upload_parts(&[data]).0
    }

    /// Copies `parts` one after the other into one new device buffer, each starting at a
    /// multiple of 8 bytes (so i64/f64 parts stay aligned); returns the byte offset of each.
    pub fn upload_parts(&mut self, parts: &[&[u8]]) -> (DeviceBuffer, Vec<u64>) {
        let mut offsets = Vec::with_capacity(parts.len());
        let mut total = 0u64;
        for part in parts {
            offsets.push(total);
            total = (total + part.len() as u64).next_multiple_of(8);
        }
        let total = padded(total);
        let dst = self.gpu.buffer(total);
        self.write(
            &dst,
            0,
            total,
            parts.iter().copied().zip(offsets.iter().copied()),
        );
        (dst, offsets)
    }

    /// Copies `data` into `dst` at byte `offset` (a multiple of 4).
    pub fn upload_into(&mut self, dst: &DeviceBuffer, offset: u64, data: &[u8]) {
        let len = padded(data.len() as u64);
        self.write(dst, offset, len, std::iter::once((data, 0)));
    }

    fn write<'a>(
        &mut self,
        dst: &DeviceBuffer,
        offset: u64,
        len: u64,
        parts: impl Iterator<Item = (&'a [u8], u64)>,
    ) {
        let (staging, class) = self.gpu.pools.upload_staging(len);
        {
            let mut view = match staging.get_mapped_range_mut(..len) {
                Ok(view) => view,
                Err(e) => {
                    self.error.get_or_insert(GpuError::Map(e.to_string()));
                    return;
                }
            };
            let mut at = 0usize;
            for (part, start) in parts {
                let start = start as usize;
                view.slice(at..start).fill(0);
                view.slice(start..start + part.len()).copy_from_slice(part);
                at = start + part.len();
            }
            view.slice(at..).fill(0);
        }
        staging.unmap();
        self.encoder
            .copy_buffer_to_buffer(&staging, 0, dst.raw(), offset, len);
        self.staged.push((staging, class));
        self.held.push(dst.clone());
        self.bytes_up += len;
    }

    /// Runs `kernel` over `items` invocations (`item_count()` in WGSL); `params` become
    /// `params[1..]`, `buffers[i]` is bound at `i + 1`.
    pub fn dispatch(
        &mut self,
        kernel: &Kernel,
        items: u32,
        params: &[u32],
        buffers: &[&DeviceBuffer],
    ) -> Result<(), GpuError> {
        if buffers.len() != kernel.buffers {
            return Err(GpuError::Dispatch {
                name: kernel.name.clone(),
                message: format!(
                    "{} buffers given, the kernel binds {}",
                    buffers.len(),
                    kernel.buffers
                ),
            });
        }
        let words: Vec<u32> = std::iter::once(items)
            .chain(params.iter().copied())
            .collect();
        let params = self.upload(bytemuck::cast_slice(&words));
        let entries: Vec<_> = std::iter::once(&params)
            .chain(buffers.iter().copied())
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.raw().as_entire_binding(),
            })
            .collect();
        let group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&kernel.name),
                layout: &kernel.layout,
                entries: &entries,
            });
        let grid = Grid::for_items(items, self.gpu.info.max_workgroups_per_dimension);
        {
            let mut pass = self
                .encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(grid.x, grid.y, 1);
        }
        self.held.extend(buffers.iter().map(|b| (*b).clone()));
        self.held.push(params);
        Ok(())
    }

    /// Device-to-device copy (`len` a multiple of 4).
    pub fn copy(
        &mut self,
        src: &DeviceBuffer,
        src_offset: u64,
        dst: &DeviceBuffer,
        dst_offset: u64,
        len: u64,
    ) {
        self.encoder
            .copy_buffer_to_buffer(src.raw(), src_offset, dst.raw(), dst_offset, len);
        self.held.push(src.clone());
        self.held.push(dst.clone());
    }

    /// Reads `len` bytes of `src` from `offset` (a multiple of 4) back once submitted; the
    /// returned index selects it in [`Done::buffers`].
    pub fn read_back(&mut self, src: &DeviceBuffer, offset: u64, len: u64) -> usize {
        let copy = padded(len);
        let (buffer, class) = self.gpu.pools.readback_buffer(copy);
        if len > 0 {
            self.encoder
                .copy_buffer_to_buffer(src.raw(), offset, &buffer, 0, copy);
        }
        self.held.push(src.clone());
        self.reads.push(Read {
            buffer,
            class,
            len,
            mapped: Arc::default(),
        });
        self.reads.len() - 1
    }

    /// Submits the recorded work and returns at once.
    pub fn submit(self) -> InFlight<'g> {
        let Submission {
            gpu,
            encoder,
            staged,
            reads,
            held,
            bytes_up,
            mut error,
            scope,
        } = self;
        let index = gpu.queue.submit(Some(encoder.finish()));
        if let Some(e) = pollster::block_on(scope.pop()) {
            error.get_or_insert(GpuError::Dispatch {
                name: "submission".into(),
                message: e.to_string(),
            });
        }
        for (buffer, class) in staged {
            gpu.pools.recycle_upload(buffer, class);
        }
        for read in reads.iter().filter(|r| r.len > 0) {
            let mapped = Arc::clone(&read.mapped);
            read.buffer
                .map_async(wgpu::MapMode::Read, ..padded(read.len), move |r| {
                    *mapped.lock().expect("map flag") = Some(r);
                });
        }
        gpu.count_up(bytes_up);
        InFlight {
            gpu,
            index,
            reads,
            _held: held,
            started: Instant::now(),
            error,
            bytes_up,
        }
    }
}

/// Submitted work; [`InFlight::wait`] blocks until it is done and returns the readbacks.
pub struct InFlight<'g> {
    gpu: &'g Gpu,
    index: wgpu::SubmissionIndex,
    reads: Vec<Read>,
    _held: Vec<DeviceBuffer>,
    started: Instant,
    error: Option<GpuError>,
    bytes_up: u64,
}

/// The result of a finished submission.
#[derive(Debug)]
pub struct Done {
    /// One buffer per `read_back`, in order (64-byte aligned: views as i64/f64 are free).
    pub buffers: Vec<Buffer>,
    /// Submit to readback complete.
    pub elapsed: Duration,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl InFlight<'_> {
    pub fn wait(self) -> Result<Done, GpuError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let gpu = self.gpu;
        gpu.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(self.index),
                timeout: None,
            })
            .map_err(|e| GpuError::Poll(e.to_string()))?;
        let mut buffers = Vec::with_capacity(self.reads.len());
        let mut bytes_down = 0;
        for read in self.reads {
            if read.len == 0 {
                buffers.push(Buffer::from(MutableBuffer::new(0)));
                gpu.pools.recycle_readback(read.buffer, read.class);
                continue;
            }
            // The callback runs during a poll after the submission; poll until it has.
            loop {
                if let Some(result) = read.mapped.lock().expect("map flag").take() {
                    result.map_err(|e| GpuError::Map(e.to_string()))?;
                    break;
                }
                gpu.device
                    .poll(wgpu::PollType::Wait {
                        submission_index: None,
                        timeout: Some(Duration::from_secs(1)),
                    })
                    .map_err(|e| GpuError::Poll(e.to_string()))?;
            }
            let len = read.len as usize;
            let mut out = MutableBuffer::from_len_zeroed(len);
            {
                let view = read
                    .buffer
                    .get_mapped_range(..padded(read.len))
                    .map_err(|e| GpuError::Map(e.to_string()))?;
                out.as_slice_mut().copy_from_slice(&view[..len]);
            }
            read.buffer.unmap();
            gpu.pools.recycle_readback(read.buffer, read.class);
            bytes_down += read.len;
            buffers.push(out.into());
        }
        let elapsed = self.started.elapsed();
        let totals = &gpu.totals;
        totals.bytes_down.fetch_add(bytes_down, Ordering::Relaxed);
        totals
            .busy_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        totals.submissions.fetch_add(1, Ordering::Relaxed);
        Ok(Done {
            buffers,
            elapsed,
            bytes_up: self.bytes_up,
            bytes_down,
        })
    }
}
