//! Buffer pools: device buffers, mapped upload staging buffers and readback buffers are
//! reused across batches, because creating (and for staging, mapping) a buffer per batch
//! costs more than the copy itself.
//!
//! Buffers are kept by size class (the next power of two, at least 256 bytes), at most
//! [`KEEP_PER_CLASS`] per class; more are dropped. Reuse is safe without fences: wgpu runs a
//! queue's submissions in order, so a later upload into a returned buffer waits for earlier
//! reads of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const KEEP_PER_CLASS: usize = 16;

fn class_of(bytes: u64) -> u64 {
    bytes.max(256).next_power_of_two()
}

#[derive(Default)]
struct Shelf(Mutex<HashMap<u64, Vec<wgpu::Buffer>>>);

impl Shelf {
    fn take(&self, class: u64) -> Option<wgpu::Buffer> {
        self.0.lock().expect("pool").get_mut(&class)?.pop()
    }

    fn put(&self, class: u64, buffer: wgpu::Buffer) {
        let mut shelves = self.0.lock().expect("pool");
        let shelf = shelves.entry(class).or_default();
        if shelf.len() < KEEP_PER_CLASS {
            shelf.push(buffer);
        }
    }
}

pub(super) struct Pools {
    device: wgpu::Device,
    storage: Shelf,
    /// Upload staging buffers, mapped for writing and ready.
    upload: Shelf,
    readback: Shelf,
}

impl Pools {
    pub(super) fn new(device: wgpu::Device) -> Pools {
        Pools {
            device,
            storage: Shelf::default(),
            upload: Shelf::default(),
            readback: Shelf::default(),
        }
    }

    fn create(&self, class: u64, usage: wgpu::BufferUsages, mapped: bool) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: class,
            usage,
            mapped_at_creation: mapped,
        })
    }

    pub(super) fn storage(self: &Arc<Self>, bytes: u64) -> DeviceBuffer {
        let class = class_of(bytes);
        let buffer = self.storage.take(class).unwrap_or_else(|| {
            self.create(
                class,
                wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                false,
            )
        });
        DeviceBuffer(Arc::new(Pooled {
            buffer,
            bytes,
            class,
            pool: Arc::clone(self),
        }))
    }

    /// A staging buffer of at least `bytes`, mapped for writing. Returns (buffer, class).
    pub(super) fn upload_staging(&self, bytes: u64) -> (wgpu::Buffer, u64) {
        let class = class_of(bytes);
        let buffer = self.upload.take(class).unwrap_or_else(|| {
            self.create(
                class,
                wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                true,
            )
        });
        (buffer, class)
    }

    /// Maps a used staging buffer again once the GPU is done with it, then shelves it.
    pub(super) fn recycle_upload(self: &Arc<Self>, buffer: wgpu::Buffer, class: u64) {
        let pools = Arc::clone(self);
        let shelved = buffer.clone();
        buffer.map_async(wgpu::MapMode::Write, .., move |result| {
            if result.is_ok() {
                pools.upload.put(class, shelved);
            }
        });
    }

    pub(super) fn readback_buffer(&self, bytes: u64) -> (wgpu::Buffer, u64) {
        let class = class_of(bytes);
        let buffer = self.readback.take(class).unwrap_or_else(|| {
            self.create(
                class,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                false,
            )
        });
        (buffer, class)
    }

    pub(super) fn recycle_readback(&self, buffer: wgpu::Buffer, class: u64) {
        self.readback.put(class, buffer);
    }
}

/// A device-resident storage buffer from the pool (usable as a kernel binding and as a copy
/// source or destination). A cheap handle: a submission that uses it holds a clone until the
/// GPU is done, and the buffer goes back to the pool when the last handle is dropped.
#[derive(Clone)]
pub struct DeviceBuffer(pub(super) Arc<Pooled>);

pub(super) struct Pooled {
    pub(super) buffer: wgpu::Buffer,
    /// Bytes asked for (the buffer may be larger).
    bytes: u64,
    class: u64,
    pool: Arc<Pools>,
}

impl DeviceBuffer {
    /// Bytes asked for; the binding covers at least these.
    pub fn len(&self) -> u64 {
        self.0.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.0.bytes == 0
    }

    /// The wgpu buffer, for callers that record their own commands.
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.0.buffer
    }
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceBuffer({} bytes)", self.0.bytes)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.storage.put(self.class, self.buffer.clone());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn size_classes_are_powers_of_two() {
        assert_eq!(super::class_of(0), 256);
        assert_eq!(super::class_of(257), 512);
        assert_eq!(super::class_of(1 << 20), 1 << 20);
    }
}
