//! The sink operator: encodes every batch with this worker's writer of the shared target and
//! flushes once the input is complete. On several processes a sink that only process 0 writes
//! (`sink_writes_on_every_process`) first gathers its batches there (`to_process_zero`).
//!
//! Its output carries no data; its frontier is the sink's *durable* frontier. When the run has
//! sources that commit positions (Kafka), the operator holds a capability at the lowest time
//! whose rows are not yet durable (flushed to the file, acknowledged by the broker) and
//! releases it after `make_durable`, at most every `DURABLE_EVERY`; sources commit only what
//! that frontier covers (`read::CommitSpec`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use super::BatchStream;
use crate::connectors::SinkWriter;
use crate::shared::RunShared;
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

/// How often a sink with undurable rows flushes (bounds commit latency, not throughput).
const DURABLE_EVERY: Duration = Duration::from_millis(50);

/// The (empty) stream whose frontier is a sink's durable frontier.
pub type DurableStream<'scope> = Stream<'scope, u64, Vec<()>>;

/// Extension trait: write a stream of batches to a sink.
pub trait WriteBatches<'scope> {
    /// Write errors are recorded once in `shared.failures`; later batches are discarded.
    /// `track_durability`: hold the returned frontier back until rows are durable.
    fn write_batches(
        self,
        writer: Box<dyn SinkWriter>,
        context: String,
        shared: Arc<RunShared>,
        track_durability: bool,
    ) -> DurableStream<'scope>;
}

impl<'scope> WriteBatches<'scope> for BatchStream<'scope> {
    fn write_batches(
        self,
        writer: Box<dyn SinkWriter>,
        context: String,
        shared: Arc<RunShared>,
        track_durability: bool,
    ) -> DurableStream<'scope> {
        let scope = self.scope();
        self.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            Pipeline,
            "Write",
            move |_initial, info| {
                let activator = scope.activator_for(info.address);
                let mut writer = Some(writer);
                let mut held: Option<Capability<u64>> = None;
                let mut last_flush = Instant::now();
                let latency = shared.latency.sink_hook(&context);
                move |(input, frontier), _output| {
                    let _stage = crate::abort::stage(&context);
                    input.for_each(|cap, data| {
                        latency.arrived(cap.least().copied(), data);
                        let Some(&time) = cap.least() else {
                            return;
                        };
                        for batch in data.drain(..) {
                            if let Some(w) = writer.as_mut()
                                && let Err(e) = w.write_batch_at(&batch, time)
                            {
                                shared.failures.record(&context, e);
                                writer = None;
                            }
                        }
                        if track_durability
                            && writer.is_some()
                            && held.as_ref().is_none_or(|h| time < *h.time())
                        {
                            held = Some(cap.delayed(&time, 0));
                        }
                    });
                    latency.frontier(frontier);
                    if frontier.is_empty() {
                        if let Some(mut w) = writer.take()
                            && let Err(e) = w.flush()
                        {
                            shared.failures.record(&context, e);
                        }
                        held = None;
                        return;
                    }
                    let Some(h) = held.as_mut() else {
                        return;
                    };
                    if last_flush.elapsed() >= DURABLE_EVERY {
                        last_flush = Instant::now();
                        match writer.as_mut().map(|w| w.make_durable()) {
                            None | Some(Ok(None)) => held = None,
                            Some(Ok(Some(low))) => {
                                if low > *h.time() {
                                    h.downgrade(&low);
                                }
                            }
                            Some(Err(e)) => {
                                shared.failures.record(&context, e);
                                writer = None;
                                held = None;
                            }
                        }
                    }
                    if held.is_some() {
                        activator.activate_after(DURABLE_EVERY);
                    }
                }
            },
        )
    }
}
