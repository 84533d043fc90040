//! `group by` + `aggregate` on bounded input: partial aggregation on every worker, exchange of
//! the partials by key hash, final merge at the owner once the input is complete (the
//! frontier is empty). The result does not depend on the number of workers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::{BatchStream, Instance};
use crate::aggregate::{GroupTable, Partial};
use crate::physical::AggregateNode;
use crate::shared::RunShared;

/// What the aggregate computes and where it reports.
pub struct AggregateSpec {
    /// What planning decided (`physical::AggregateNode`).
    pub node: AggregateNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
    /// Where the per-batch partials are computed (`gpu::stage::stage_gpu`); `None`: CPU.
    pub gpu: Option<&'static crate::gpu::Gpu>,
}

/// Extension trait: aggregate a bounded stream of batches per group.
pub trait AggregateBatches {
    /// One output row per group, emitted when the input is complete.
    fn aggregate_batches(self, spec: AggregateSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> AggregateBatches for BatchStream<'scope> {
    fn aggregate_batches(self, spec: AggregateSpec, shared: Arc<RunShared>) -> Self {
        let AggregateSpec {
            node:
                AggregateNode {
                    keys,
                    aggs,
                    schema,
                    time_column,
                    ..
                },
            at:
                Instance {
                    worker,
                    context,
                    rows_out,
                    ..
                },
            gpu,
        } = spec;
        let batch_size = shared.batch_size;
        let global = keys.is_empty();
        let new_table = {
            let (keys, aggs, context, shared) =
                (keys.clone(), aggs.clone(), context.clone(), shared.clone());
            move || match GroupTable::new(&keys, &aggs).map(|t| t.with_time_column(time_column)) {
                Ok(table) => Some(table),
                Err(e) => {
                    shared.failures.record(&context, e);
                    None
                }
            }
        };
        let new_final_table = new_table.clone();
        let partial_context = context.clone();
        let partial_shared = shared.clone();
        let partials = self.unary_frontier::<CapacityContainerBuilder<Vec<Partial>>, _, _, _>(
            Pipeline,
            "PartialAggregate",
            move |capability, _| {
                let mut table = new_table();
                let mut capability = Some(capability);
                move |(input, frontier), output| {
                    let _stage = crate::abort::stage(&partial_context);
                    input.for_each(|_, data| {
                        for batch in data.drain(..) {
                            if let Some(t) = table.as_mut()
                                && let Err(e) = t.update_placed(&batch, gpu)
                            {
                                partial_shared.failures.record(&partial_context, e);
                            }
                        }
                    });
                    if frontier.is_empty()
                        && let Some(cap) = capability.take()
                        && let Some(t) = table.as_mut()
                    {
                        output
                            .session(&cap)
                            .give_iterator(t.drain_partials().into_iter());
                    }
                }
            },
        );
        partials.exchange(|p: &Partial| p.owner).unary_frontier(
            Pipeline,
            "FinalAggregate",
            move |capability, _| {
                let mut table = new_final_table();
                let mut capability = Some(capability);
                move |(input, frontier), output| {
                    let _stage = crate::abort::stage(&context);
                    input.for_each(|_, data| {
                        if let Some(t) = table.as_mut() {
                            data.drain(..).for_each(|p| {
                                t.merge(p);
                            });
                        }
                    });
                    if !frontier.is_empty() {
                        return;
                    }
                    let (Some(cap), Some(t)) = (capability.take(), table.take()) else {
                        return;
                    };
                    if (global && worker != 0) || (!global && t.is_empty()) {
                        return;
                    }
                    match t.finish(&schema, batch_size) {
                        Ok(batches) => {
                            let mut session = output.session(&cap);
                            for batch in batches {
                                rows_out.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                                session.give(batch);
                            }
                        }
                        Err(e) => shared.failures.record(&context, e),
                    }
                }
            },
        )
    }
}
