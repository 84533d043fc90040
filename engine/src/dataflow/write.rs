//! The sink operator: encodes every batch with this worker's writer of the shared target and
//! flushes once the input is complete. On several processes a sink that only process 0 writes
//! (`sink_writes_on_every_process`) first gathers its batches there (`to_process_zero`).

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use super::BatchStream;
use crate::connectors::SinkWriter;
use crate::run::RunShared;
use crate::wire::WireBatch;

/// Extension trait: move every batch to a worker of process 0.
pub trait ToProcessZero<'scope> {
    /// Worker `worker` (global) sends its batches to worker `worker % threads`, so process 0's
    /// own workers keep theirs and each of its `threads` workers receives from one worker of
    /// every other process.
    fn to_process_zero(self, worker: usize, threads: usize) -> BatchStream<'scope>;
}

impl<'scope> ToProcessZero<'scope> for BatchStream<'scope> {
    fn to_process_zero(self, worker: usize, threads: usize) -> BatchStream<'scope> {
        let target = (worker % threads.max(1)) as u64;
        self.map(move |batch| (target, WireBatch(batch)))
            .exchange(|(target, _): &(u64, WireBatch)| *target)
            .map(|(_, WireBatch(batch))| batch)
    }
}

/// Extension trait: write a stream of batches to a sink.
pub trait WriteBatches {
    /// Write errors are recorded once in `shared.failures`; later batches are discarded.
    fn write_batches(self, writer: Box<dyn SinkWriter>, context: String, shared: Arc<RunShared>);
}

impl<'scope> WriteBatches for BatchStream<'scope> {
    fn write_batches(self, writer: Box<dyn SinkWriter>, context: String, shared: Arc<RunShared>) {
        let mut writer = Some(writer);
        self.sink(Pipeline, "Write", move |(input, frontier)| {
            input.for_each(|_, data| {
                for batch in data.drain(..) {
                    if let Some(w) = writer.as_mut()
                        && let Err(e) = w.write_batch(&batch)
                    {
                        shared.failures.record(&context, e);
                        writer = None;
                    }
                }
            });
            if frontier.is_empty()
                && let Some(mut w) = writer.take()
                && let Err(e) = w.flush()
            {
                shared.failures.record(&context, e);
            }
        });
    }
}
