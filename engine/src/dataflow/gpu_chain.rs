//! A fused chain of `where`/`select` stages placed on the GPU (`gpu/placement.rs`): one
//! operator instead of one per stage, each batch on the GPU or, when the placement says it is
//! too small, on the CPU evaluator — the same rows either way.
//!
//! Why batches are queued: up to [`IN_FLIGHT`] batches are submitted before the oldest is
//! waited for, so uploading batch i+1 overlaps with the kernel and readback of batch i.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::RecordBatch;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use crate::counters::GpuStage;
use crate::counters::RowCounter;
use crate::gpu::Gpu;
use crate::gpu::chain::{ChainOutput, GpuChain, Pending};
use crate::physical::GpuChainNode;
use crate::shared::RunShared;

/// Batches submitted and not yet waited for, per worker.
const IN_FLIGHT: usize = 3;

/// What a chain operator needs.
pub struct GpuChainSpec {
    /// What planning decided (`physical::GpuChainNode`).
    pub node: GpuChainNode,
    pub context: String,
    /// Rows out of each stage of the chain.
    pub rows_out: Vec<Arc<RowCounter>>,
    pub metrics: Arc<GpuStage>,
}

/// Extension trait: run a fused `where`/`select` chain.
pub trait GpuChainBatches {
    fn gpu_chain(self, spec: GpuChainSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> GpuChainBatches for BatchStream<'scope> {
    fn gpu_chain(self, spec: GpuChainSpec, shared: Arc<RunShared>) -> Self {
        let chain = Gpu::shared()
            .map_err(crate::gpu::chain::ChainError::from)
            .and_then(|gpu| GpuChain::new(gpu, spec.node.stages.clone(), spec.node.input_width));
        let chain = match chain {
            Ok(c) => Some(c),
            Err(e) => {
                shared.failures.record(&spec.context, e);
                None
            }
        };
        self.unary(Pipeline, "GpuChain", move |_, _| {
            let mut queue = VecDeque::new();
            move |input, output| {
                let _stage = crate::abort::stage(&spec.context);
                let Some(chain) = chain.as_ref() else {
                    input.for_each(|_, data| data.clear());
                    return;
                };
                let mut emit = |cap, out: Result<ChainOutput, _>| match out {
                    Ok(ChainOutput { batch, stage_rows }) => {
                        for (counter, rows) in spec.rows_out.iter().zip(stage_rows) {
                            counter.fetch_add(rows, Ordering::Relaxed);
                        }
                        if batch.num_rows() > 0 {
                            output.session(&cap).give(batch);
                        }
                    }
                    Err(e) => shared.failures.record(&spec.context, e),
                };
                input.for_each(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    for batch in data.drain(..) {
                        let rows = batch.num_rows();
                        let pending = if spec.node.offload.takes(rows) && chain.fits(rows) {
                            match chain.submit(&batch) {
                                Ok(p) => Some(p),
                                Err(e) => {
                                    shared.failures.record(&spec.context, e);
                                    continue;
                                }
                            }
                        } else {
                            None
                        };
                        queue.push_back((cap.delayed(&time, 0), batch, pending));
                        while queue.len() > IN_FLIGHT {
                            let (cap, batch, pending) = queue.pop_front().expect("queued");
                            emit(cap, finish(chain, &spec.metrics, &batch, pending));
                        }
                    }
                });
                // Nothing is held across activations: the queue drains before returning.
                while let Some((cap, batch, pending)) = queue.pop_front() {
                    emit(cap, finish(chain, &spec.metrics, &batch, pending));
                }
            }
        })
    }
}

fn finish(
    chain: &GpuChain,
    metrics: &GpuStage,
    batch: &RecordBatch,
    pending: Option<Pending>,
) -> Result<ChainOutput, crate::gpu::chain::ChainError> {
    match pending {
        Some(p) => {
            let (out, done) = chain.finish_timed(batch, p)?;
            metrics.gpu_batch(done.0, done.1, done.2);
            Ok(out)
        }
        None => {
            metrics.cpu_batch();
            chain.run_cpu(batch)
        }
    }
}
