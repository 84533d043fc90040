//! `where`: keeps the rows whose predicate is true, batch at a time on Arrow kernels.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sluice_dsl::plan::TypedExpr;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use crate::expr::filter_batch;
use crate::shared::RunShared;

/// Extension trait: filter a stream of batches by a typed predicate.
///
/// Why a trait per operator: the dataflow builder reads as a pipe of stages, like the language.
pub trait FilterBatches {
    /// Rows where `predicate` is true pass (SQL: null drops the row); empty batches are dropped.
    fn filter_batches(
        self,
        predicate: TypedExpr,
        context: String,
        rows_out: Arc<crate::counters::RowCounter>,
        shared: Arc<RunShared>,
    ) -> Self;
}

impl<'scope> FilterBatches for BatchStream<'scope> {
    fn filter_batches(
        self,
        predicate: TypedExpr,
        context: String,
        rows_out: Arc<crate::counters::RowCounter>,
        shared: Arc<RunShared>,
    ) -> Self {
        self.unary(Pipeline, "Filter", move |_, _| {
            move |input, output| {
                let _stage = crate::abort::stage(&context);
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data.drain(..) {
                        match filter_batch(&predicate, &batch) {
                            Ok(kept) if kept.num_rows() > 0 => {
                                rows_out.fetch_add(kept.num_rows() as u64, Ordering::Relaxed);
                                session.give(kept);
                            }
                            Ok(_) => {}
                            Err(e) => shared.failures.record(&context, e),
                        }
                    }
                });
            }
        })
    }
}
