//! `select`: computes the output columns of every batch (bare columns are zero-copy).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_schema::SchemaRef;
use sluice_dsl::plan::TypedExpr;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use crate::expr::project_batch;
use crate::shared::RunShared;

/// Extension trait: project a stream of batches onto computed columns.
pub trait ProjectBatches {
    /// Each output batch has `schema`, with column `i` = `items[i].1` evaluated on the input.
    fn project_batches(
        self,
        items: Vec<(String, TypedExpr)>,
        schema: SchemaRef,
        context: String,
        rows_out: Arc<crate::counters::RowCounter>,
        shared: Arc<RunShared>,
    ) -> Self;
}

impl<'scope> ProjectBatches for BatchStream<'scope> {
    fn project_batches(
        self,
        items: Vec<(String, TypedExpr)>,
        schema: SchemaRef,
        context: String,
        rows_out: Arc<crate::counters::RowCounter>,
        shared: Arc<RunShared>,
    ) -> Self {
        self.unary(Pipeline, "Project", move |_, _| {
            move |input, output| {
                let _stage = crate::abort::stage(&context);
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data.drain(..) {
                        match project_batch(&items, schema.clone(), &batch) {
                            Ok(projected) => {
                                rows_out.fetch_add(projected.num_rows() as u64, Ordering::Relaxed);
                                session.give(projected);
                            }
                            Err(e) => shared.failures.record(&context, e),
                        }
                    }
                });
            }
        })
    }
}
