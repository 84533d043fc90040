//! The sink operator: encodes every batch with this worker's writer of the shared target and
//! flushes once the input is complete.

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use crate::connectors::SinkWriter;
use crate::run::RunShared;

/// Extension trait: write a stream of batches to a sink.
pub trait WriteBatches {
    /// Write errors are recorded once in `shared.failures`; later batches are discarded.
    fn write_batches(self, writer: Box<dyn SinkWriter>, context: String, shared: Arc<RunShared>);
}

impl<'scope> WriteBatches for BatchStream<'scope> {
    fn write_batches(self, writer: Box<dyn SinkWriter>, context: String, shared: Arc<RunShared>) {
        let mut writer = Some(writer);
        let latency = shared.latency.sink_hook(&context);
        self.sink(Pipeline, "Write", move |(input, frontier)| {
            input.for_each(|time, data| {
                latency.arrived(time.least().copied(), data);
                for batch in data.drain(..) {
                    if let Some(w) = writer.as_mut()
                        && let Err(e) = w.write_batch(&batch)
                    {
                        shared.failures.record(&context, e);
                        writer = None;
                    }
                }
            });
            latency.frontier(frontier);
            if frontier.is_empty()
                && let Some(mut w) = writer.take()
                && let Err(e) = w.flush()
            {
                shared.failures.record(&context, e);
            }
        });
    }
}
