//! `KeyBy`: the exchange in front of every keyed operator (windows, top, distinct, interval
//! joins). Each batch is split by the hash of its key columns and every piece is sent, counted
//! by flow control, to the worker that owns those keys; without keys everything goes to
//! worker 0.

use std::sync::Arc;

use sluice_dsl::plan::TypedExpr;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use crate::route::{Routed, as_routed, hash_targets, split_by_target};
use crate::shared::RunShared;

/// Extension trait: exchange batches by key.
pub trait KeyBy<'scope> {
    /// The pieces arrive at their owners as `(owner, sender, batch)`; receivers must call
    /// `shared.flow.receive(sender, batch)` for each.
    fn key_by(
        self,
        keys: Vec<TypedExpr>,
        worker: usize,
        workers: usize,
        context: String,
        shared: Arc<RunShared>,
    ) -> Stream<'scope, u64, Vec<Routed>>;
}

impl<'scope> KeyBy<'scope> for BatchStream<'scope> {
    fn key_by(
        self,
        keys: Vec<TypedExpr>,
        worker: usize,
        workers: usize,
        context: String,
        shared: Arc<RunShared>,
    ) -> Stream<'scope, u64, Vec<Routed>> {
        self.unary::<CapacityContainerBuilder<Vec<Routed>>, _, _, _>(
            Pipeline,
            "KeyBy",
            move |_, _| {
                move |input, output| {
                    let _stage = crate::abort::stage(&context);
                    input.for_each(|cap, data| {
                        let mut session = output.session(&cap);
                        for batch in data.drain(..) {
                            let parts = if keys.is_empty() {
                                Ok(vec![(0, batch)])
                            } else {
                                hash_targets(&keys, &batch, workers)
                                    .map_err(|e| e.to_string())
                                    .and_then(|t| {
                                        split_by_target(&batch, &t, workers)
                                            .map_err(|e| e.to_string())
                                    })
                            };
                            match parts {
                                Ok(parts) => {
                                    session.give_iterator(as_routed(parts, worker, &shared.flow))
                                }
                                Err(e) => shared.failures.record(&context, e),
                            }
                        }
                    });
                }
            },
        )
        .exchange(|r: &Routed| r.0)
    }
}
