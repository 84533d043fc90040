//! `top K by e [desc], ... [per k, ...]`: the K first rows of each `per` group in the `by`
//! order, with a `rank` column (1-based). Rows are exchanged by the `per` keys (all to worker 0
//! without `per`); each worker keeps, per group, only its current K best rows, and emits them
//! once its input is complete. Ties in `by` are broken by the whole row, so the result does not
//! depend on arrival order or worker count.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, SortOptions};
use arrow_select::concat::concat_batches;
use sluice_dsl::plan::TypedExpr;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::key_by::KeyBy;
use super::{BatchStream, Instance};
use crate::arrow_schema_map::arrow_type;
use crate::expr::evaluate;
use crate::physical::TopNode;
use crate::shared::RunShared;
use crate::wire::WireBatch;

pub struct TopSpec {
    /// What planning decided (`physical::TopNode`).
    pub node: TopNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
}

pub trait TopRows {
    fn top_rows(self, spec: TopSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> TopRows for BatchStream<'scope> {
    fn top_rows(self, spec: TopSpec, shared: Arc<RunShared>) -> Self {
        let spec = Arc::new(spec);
        let keyed = self.key_by(
            spec.node.per.clone(),
            spec.at.worker,
            spec.at.workers,
            spec.at.context.clone(),
            shared.clone(),
        );
        keyed.unary_frontier(Pipeline, "Top", move |_initial, _| {
            let mut kept: Vec<RecordBatch> = Vec::new();
            let mut held: Option<Capability<u64>> = None;
            let mut pending_rows = 0usize;
            move |(input, frontier), output| {
                let _stage = crate::abort::stage(&spec.at.context);
                input.for_each(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    if held.is_none() {
                        held = Some(cap.delayed(&t, 0));
                    }
                    for (_, sender, WireBatch(batch)) in data.drain(..) {
                        shared.flow.receive(sender as usize, &batch);
                        pending_rows += batch.num_rows();
                        kept.push(batch);
                    }
                });
                // Bound the state: prune to the K best per group whenever it grows.
                if pending_rows > 4 * spec.node.k.max(1) * 1024 {
                    match best(&spec, &kept, false) {
                        Ok(batch) => {
                            pending_rows = batch.num_rows();
                            kept = vec![batch];
                        }
                        Err(e) => shared.failures.record(&spec.at.context, e),
                    }
                }
                if !frontier.is_empty() {
                    return;
                }
                let Some(cap) = held.take() else { return };
                match best(&spec, &kept, true) {
                    Ok(batch) if batch.num_rows() > 0 => {
                        spec.at
                            .rows_out
                            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                        output.session(&cap).give(batch);
                    }
                    Ok(_) => {}
                    Err(e) => shared.failures.record(&spec.at.context, e),
                }
                kept.clear();
            }
        })
    }
}

/// The K best rows of every `per` group of `batches`; with `ranked`, in the output schema
/// (with `rank`), else in the input schema.
fn best(
    spec: &TopSpec,
    batches: &[RecordBatch],
    ranked: bool,
) -> Result<RecordBatch, Box<dyn std::error::Error>> {
    let all = concat_batches(&spec.node.input_schema, batches)?;
    let n = all.num_rows();
    let per = spec
        .node
        .per
        .iter()
        .map(|e| evaluate(e, &all))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let by = spec
        .node
        .by
        .iter()
        .map(|(e, _)| evaluate(e, &all))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let sort_fields = |exprs: &[&TypedExpr], desc: &[bool]| {
        exprs
            .iter()
            .zip(desc)
            .map(|(e, d)| {
                SortField::new_with_options(
                    arrow_type(e.ty),
                    SortOptions {
                        descending: *d,
                        nulls_first: false,
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    // Without `per` every row is in one group: arrow-row has no encoding of zero columns (its
    // `Rows` would hold zero rows), so there are no group keys to compare then.
    let per_exprs: Vec<&TypedExpr> = spec.node.per.iter().collect();
    let per_rows = match per.is_empty() {
        true => None,
        false => Some(
            RowConverter::new(sort_fields(&per_exprs, &vec![false; per.len()]))?
                .convert_columns(&per)?,
        ),
    };
    let group_order = |a: usize, b: usize| match &per_rows {
        Some(rows) => rows.row(a).cmp(&rows.row(b)),
        None => std::cmp::Ordering::Equal,
    };
    let by_exprs: Vec<&TypedExpr> = spec.node.by.iter().map(|(e, _)| e).collect();
    let by_desc: Vec<bool> = spec.node.by.iter().map(|(_, d)| *d).collect();
    let by_rows = RowConverter::new(sort_fields(&by_exprs, &by_desc))?.convert_columns(&by)?;
    // Tie-break on the whole row.
    let whole = RowConverter::new(
        all.schema()
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?
    .convert_columns(all.columns())?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        group_order(a, b)
            .then(by_rows.row(a).cmp(&by_rows.row(b)))
            .then(whole.row(a).cmp(&whole.row(b)))
    });
    let (mut picked, mut ranks) = (Vec::new(), Vec::new());
    let mut rank = 0;
    for (i, &row) in order.iter().enumerate() {
        rank = if i > 0 && group_order(order[i - 1], row).is_eq() {
            rank + 1
        } else {
            1
        };
        if rank <= spec.node.k as i64 {
            picked.push(row as u32);
            ranks.push(rank);
        }
    }
    let top = arrow_select::take::take_record_batch(&all, &UInt32Array::from(picked))?;
    if !ranked {
        return Ok(top);
    }
    let mut columns = top.columns().to_vec();
    columns.push(Arc::new(Int64Array::from(ranks)));
    Ok(RecordBatch::try_new(spec.node.schema.clone(), columns).map_err(|e: ArrowError| e)?)
}
