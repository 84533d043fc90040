//! `window ... | group by ... | aggregate ...`: rows are exchanged by key, each worker keeps the
//! open windows of its keys (`aggregate/window.rs`) and emits a window's rows once the frontier
//! (the minimum watermark over all sources' workers) has passed its end. Late rows go to the
//! source's dead-letter output with reason `late`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::{RecordBatch, UInt32Array};
use sluice_dsl::plan::Format;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::key_by::KeyBy;
use super::read::from_time;
use super::{BatchStream, Instance};
use crate::aggregate::window::WindowState;
use crate::connectors::{DeadLetterSink, Encoder};
use crate::physical::WindowNode;
use crate::shared::RunShared;
use crate::wire::WireBatch;

/// Everything a window stage needs on one worker.
pub struct WindowSpec {
    /// What planning decided (`physical::WindowNode`).
    pub node: WindowNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
    /// Where late rows go (the stream's source's dead-letter output).
    pub late: Option<Arc<DeadLetterSink>>,
    /// Where each window's per-batch partials are computed; `None`: CPU.
    pub gpu: Option<&'static crate::gpu::Gpu>,
}

/// Extension trait: event-time windowed aggregation.
pub trait WindowBatches {
    fn window_batches(self, spec: WindowSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> WindowBatches for BatchStream<'scope> {
    fn window_batches(self, spec: WindowSpec, shared: Arc<RunShared>) -> Self {
        let spec = Arc::new(spec);
        let keys = spec.node.keys.iter().map(|(_, k)| k.clone()).collect();
        let keyed = self.key_by(
            keys,
            spec.at.worker,
            spec.at.workers,
            spec.at.context.clone(),
            shared.clone(),
        );
        keyed.unary_frontier(Pipeline, "Window", move |_initial, _| {
            let mut state = WindowState::new(
                spec.node.kind,
                spec.node.keys.clone(),
                spec.node.aggs.clone(),
                spec.node.time_column,
                spec.node.schema.clone(),
                shared.batch_size,
            )
            .with_gpu(spec.gpu);
            let encoder = Encoder::new(Format::Jsonl, &spec.node.input_schema);
            // The earliest time at which results may still be emitted.
            let mut held: Option<Capability<u64>> = None;
            move |(input, frontier), output| {
                let _stage = crate::abort::stage(&spec.at.context);
                input.for_each(|cap, data| {
                    let Some(&time) = cap.least() else {
                        return;
                    };
                    if held.as_ref().is_none_or(|h| time < *h.time()) {
                        held = Some(cap.delayed(&time, 0));
                    }
                    for (_, sender, WireBatch(batch)) in data.drain(..) {
                        shared.flow.receive(sender as usize, &batch);
                        match state.insert(&batch, from_time(time)) {
                            Ok(late) if !late.rows.is_empty() => {
                                send_late(&spec, &encoder, &batch, &late.rows, time, &shared)
                            }
                            Ok(_) => {}
                            Err(e) => shared.failures.record(&spec.at.context, e),
                        }
                    }
                });
                let low = frontier.frontier().iter().min().copied();
                let watermark = low.map_or(i64::MAX, from_time);
                match state.close(watermark) {
                    Ok(batches) if !batches.is_empty() => {
                        if let Some(cap) = held.as_ref() {
                            let mut session = output.session(cap);
                            for batch in batches {
                                spec.at
                                    .rows_out
                                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                                session.give(batch);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => shared.failures.record(&spec.at.context, e),
                }
                match (low, state.is_empty()) {
                    (None, _) | (_, true) => held = None,
                    (Some(low), false) => {
                        if let Some(cap) = held.as_mut()
                            && low > *cap.time()
                        {
                            cap.downgrade(&low);
                        }
                    }
                }
            }
        })
    }
}

/// Late rows to the dead-letter output (reason `late`), as JSON lines of the row.
fn send_late(
    spec: &WindowSpec,
    encoder: &Encoder,
    batch: &RecordBatch,
    rows: &[usize],
    watermark: u64,
    shared: &RunShared,
) {
    let Some(sink) = &spec.late else { return };
    let picked = UInt32Array::from(rows.iter().map(|&r| r as u32).collect::<Vec<_>>());
    let late = match arrow_select::take::take_record_batch(batch, &picked) {
        Ok(late) => late,
        Err(e) => return shared.failures.record(&spec.at.context, e),
    };
    let mut text = Vec::new();
    if let Err(e) = encoder.encode(&late, &mut text) {
        return shared.failures.record(&spec.at.context, e);
    }
    let position = format!(
        "{}, watermark {}",
        spec.at.context,
        sluice_dsl::display::timestamp(from_time(watermark))
    );
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = sink.send("late", &position, line) {
            return shared.failures.record(&spec.at.context, e);
        }
    }
}
