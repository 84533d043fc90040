//! A bounded `table` (file or stdin) read as a stream or by a sink: its contents once it is
//! loaded, one row per key. Rows are exchanged by key; the owner keeps, per key, the row that
//! the table's upserts keep (`table.rs`): the greatest event time (the batch's time without
//! one), and among equal times the last in file order. Worker `w` reads the `w`-th contiguous
//! byte range of a table file and a channel keeps each sender's order, so (sender, arrival)
//! is file order. Rows with a null key are dropped, as the table drops them.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch};
use arrow_row::{RowConverter, SortField};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use super::key_by::KeyBy;
use crate::arrow_schema_map::arrow_type;
use crate::expr::evaluate;
use crate::physical::TableRowsNode;
use crate::shared::RunShared;
use crate::wire::WireBatch;

pub struct TableRowsSpec {
    /// What planning decided (`physical::TableRowsNode`).
    pub node: TableRowsNode,
    pub worker: usize,
    pub workers: usize,
}

/// Extension trait: the current rows of a bounded table, emitted once its input is complete.
pub trait TableRows {
    fn table_rows(self, spec: TableRowsSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> TableRows for BatchStream<'scope> {
    fn table_rows(self, spec: TableRowsSpec, shared: Arc<RunShared>) -> Self {
        let keyed = self.key_by(
            spec.node.key.clone(),
            spec.worker,
            spec.workers,
            spec.node.context.clone(),
            shared.clone(),
        );
        keyed.unary_frontier(Pipeline, "TableRows", move |_initial, _| {
            // (sender, batch time, batch) in arrival order.
            let mut received: Vec<(usize, u64, RecordBatch)> = Vec::new();
            let mut held: Option<Capability<u64>> = None;
            move |(input, frontier), output| {
                let _stage = crate::abort::stage(&spec.node.context);
                input.for_each(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    if held.as_ref().is_none_or(|h| t < *h.time()) {
                        held = Some(cap.delayed(&t, 0));
                    }
                    for (_, sender, WireBatch(batch)) in data.drain(..) {
                        shared.flow.receive(sender as usize, &batch);
                        received.push((sender as usize, t, batch));
                    }
                });
                if !frontier.is_empty() {
                    return;
                }
                let Some(cap) = held.take() else { return };
                match current_rows(&spec, &received) {
                    Ok(Some(rows)) => {
                        let mut session = output.session(&cap);
                        let mut start = 0;
                        while start < rows.num_rows() {
                            let len = shared.batch_size.min(rows.num_rows() - start);
                            session.give(rows.slice(start, len));
                            start += len;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => shared.failures.record(&spec.node.context, e),
                }
                received.clear();
            }
        })
    }
}

/// Per key the row the table keeps; `None` when there is none.
fn current_rows(
    spec: &TableRowsSpec,
    received: &[(usize, u64, RecordBatch)],
) -> Result<Option<RecordBatch>, Box<dyn std::error::Error>> {
    let converter = RowConverter::new(
        spec.node
            .key
            .iter()
            .map(|k| SortField::new(arrow_type(k.ty)))
            .collect(),
    )?;
    // key -> ((time, sender, arrival, row), batch index, row)
    type Rank = (u64, usize, usize, usize);
    let mut kept: hashbrown::HashMap<Box<[u8]>, (Rank, usize)> = hashbrown::HashMap::new();
    for (index, (sender, time, batch)) in received.iter().enumerate() {
        let keys = spec
            .node
            .key
            .iter()
            .map(|k| evaluate(k, batch))
            .collect::<Result<Vec<_>, _>>()?;
        let encoded = converter.convert_columns(&keys)?;
        let times = spec
            .node
            .time_column
            .map(|c| batch.column(c).as_primitive::<TimestampMillisecondType>());
        for row in 0..batch.num_rows() {
            if keys.iter().any(|k| k.is_null(row)) {
                continue;
            }
            let at = match times {
                Some(t) if t.is_valid(row) => super::read::to_time(t.value(row)).max(*time),
                _ => *time,
            };
            let rank = (at, *sender, index, row);
            let key = encoded.row(row);
            match kept.get_mut(key.as_ref()) {
                Some(best) if best.0 >= rank => {}
                Some(best) => *best = (rank, index),
                None => {
                    kept.insert(key.as_ref().into(), (rank, index));
                }
            }
        }
    }
    if kept.is_empty() {
        return Ok(None);
    }
    let mut picks: Vec<(usize, usize)> = kept
        .into_values()
        .map(|((_, _, _, row), index)| (index, row))
        .collect();
    picks.sort_unstable();
    let batches: Vec<&RecordBatch> = received.iter().map(|(_, _, b)| b).collect();
    let rows = arrow_select::interleave::interleave_record_batch(&batches, &picks)?;
    Ok(Some(rows.with_schema(spec.node.schema.clone())?))
}
