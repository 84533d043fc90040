//! GPU metrics: per fused chain, batches on the GPU and on the CPU, device time and bytes
//! moved; plus the adapter. Kept apart from `registry.rs` (its own collector) because only
//! runs with GPU chains have them. Families:
//! - `sluice_gpu_batches_total{stream, index, stages, placement="gpu"|"cpu"}` — batches of the
//!   chain that starts at stage `index` (stages `stages`, e.g. `where+select`), by where they ran.
//! - `sluice_gpu_offload_share{stream, index, stages}` — share of its batches on the GPU.
//! - `sluice_gpu_seconds_total{stream, index, stages}` — submit-to-readback time (upload,
//!   kernel and readback; the CPU work of other batches overlaps with it).
//! - `sluice_gpu_transfer_bytes_total{stream, index, stages, direction="up"|"down"}`.
//! - `sluice_gpu_transfer_bytes_per_second{stream, index, stages}` — bytes both ways over
//!   GPU seconds (0 before the first GPU batch).
//! - `sluice_gpu_adapter_info{adapter, backend, device_type}` — 1 while a GPU is in use.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::registry::describe;
use crate::counters::GpuStage;
use crate::physical::{Node, PhysicalPlan};

struct Chain {
    labels: Vec<(String, String)>,
    stage: Arc<GpuStage>,
}

/// Reads the chains' counters at scrape time.
pub struct GpuCollector {
    chains: Vec<Chain>,
    adapter: Option<Vec<(String, String)>>,
}

impl fmt::Debug for GpuCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpuCollector({} chains)", self.chains.len())
    }
}

impl GpuCollector {
    pub fn new(plan: &PhysicalPlan, stages: &[Vec<Option<Arc<GpuStage>>>]) -> GpuCollector {
        let mut chains = Vec::new();
        for (s, stage) in plan.stages() {
            let (Node::GpuChain(node), Some(counters)) = (&stage.node, &stages[s][stage.ops.start])
            else {
                continue;
            };
            chains.push(Chain {
                labels: vec![
                    ("stream".into(), plan.streams[s].name.clone()),
                    ("index".into(), stage.ops.start.to_string()),
                    ("stages".into(), node.keywords.replace(" | ", "+")),
                ],
                stage: Arc::clone(counters),
            });
        }
        let adapter = plan.gpu.adapter.as_ref().map(|a| {
            vec![
                ("adapter".into(), a.name.clone()),
                ("backend".into(), a.backend.clone()),
                ("device_type".into(), a.device_type.clone()),
            ]
        });
        GpuCollector { chains, adapter }
    }
}

fn counter(family: &mut MetricEncoder, labels: &[(String, String)], v: f64) -> fmt::Result {
    family
        .encode_family(&labels.to_vec())?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn gauge(family: &mut MetricEncoder, labels: &[(String, String)], v: f64) -> fmt::Result {
    family.encode_family(&labels.to_vec())?.encode_gauge(&v)
}

fn with(labels: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut l = labels.to_vec();
    l.push((key.into(), value.into()));
    l
}

impl Collector for GpuCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        {
            let mut family = describe(
                &mut encoder,
                "sluice_gpu_batches",
                "Batches of a fused where/select chain, by where they ran",
                MetricType::Counter,
            )?;
            for c in &self.chains {
                for (placement, n) in [
                    ("gpu", load(&c.stage.batches_gpu) as f64),
                    ("cpu", load(&c.stage.batches_cpu) as f64),
                ] {
                    counter(&mut family, &with(&c.labels, "placement", placement), n)?;
                }
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_gpu_offload_share",
                "Share of a chain's batches that ran on the GPU",
                MetricType::Gauge,
            )?;
            for c in &self.chains {
                let (g, all) = (
                    load(&c.stage.batches_gpu),
                    load(&c.stage.batches_gpu) + load(&c.stage.batches_cpu),
                );
                let share = if all == 0 { 0.0 } else { g as f64 / all as f64 };
                gauge(&mut family, &c.labels, share)?;
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_gpu_seconds",
                "Submit-to-readback time of a chain's GPU batches",
                MetricType::Counter,
            )?;
            for c in &self.chains {
                counter(&mut family, &c.labels, load(&c.stage.gpu_ns) as f64 / 1e9)?;
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_gpu_transfer_bytes",
                "Bytes uploaded to and read back from the GPU by a chain",
                MetricType::Counter,
            )?;
            for c in &self.chains {
                for (direction, n) in [
                    ("up", load(&c.stage.bytes_up) as f64),
                    ("down", load(&c.stage.bytes_down) as f64),
                ] {
                    counter(&mut family, &with(&c.labels, "direction", direction), n)?;
                }
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_gpu_transfer_bytes_per_second",
                "Bytes moved both ways per second of GPU time",
                MetricType::Gauge,
            )?;
            for c in &self.chains {
                let secs = load(&c.stage.gpu_ns) as f64 / 1e9;
                let bytes = (load(&c.stage.bytes_up) + load(&c.stage.bytes_down)) as f64;
                let rate = if secs > 0.0 { bytes / secs } else { 0.0 };
                gauge(&mut family, &c.labels, rate)?;
            }
        }
        {
            let mut family = describe(
                &mut encoder,
                "sluice_gpu_adapter_info",
                "The GPU adapter in use",
                MetricType::Gauge,
            )?;
            if let Some(labels) = &self.adapter {
                gauge(&mut family, labels, 1.0)?;
            }
        }
        Ok(())
    }
}
