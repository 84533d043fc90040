//! An un-windowed `aggregate` whose sink asks for `mode = changelog` or
//! `mode = snapshot_every(D)`: the result is an updating table. Every worker folds each batch
//! into partials and sends them to the groups' owners at once; an owner merges them and, for
//! `changelog`, emits for every group that changed a retraction of its previous row
//! (`diff = -1`) and its new row (`diff = +1`); for `snapshot_every(D)`, every `D` of processing
//! time (and at the end) all current rows. Folding the changelog gives the final aggregate.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt32Array};
use sluice_dsl::plan::SinkMode;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, Exchange};

use super::{BatchStream, Instance};
use crate::aggregate::{GroupTable, Partial, split_rows};
use crate::physical::UpdatingNode;
use crate::shared::RunShared;

pub struct UpdatingSpec {
    /// What planning decided (`physical::UpdatingNode`).
    pub node: UpdatingNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
}

pub trait UpdatingAggregate {
    fn updating_aggregate(self, spec: UpdatingSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> UpdatingAggregate for BatchStream<'scope> {
    fn updating_aggregate(self, spec: UpdatingSpec, shared: Arc<RunShared>) -> Self {
        let spec = Arc::new(spec);
        let (partial_spec, partial_shared) = (spec.clone(), shared.clone());
        let partials = self.unary::<CapacityContainerBuilder<Vec<Partial>>, _, _, _>(
            Pipeline,
            "PartialAggregate",
            move |_, _| {
                let mut table = GroupTable::new(&partial_spec.node.keys, &partial_spec.node.aggs)
                    .map(|t| t.with_time_column(partial_spec.node.time_column));
                move |input, output| {
                    let _stage = crate::abort::stage(&partial_spec.at.context);
                    input.for_each(|cap, data| {
                        let Ok(t) = table.as_mut() else { return };
                        for batch in data.drain(..) {
                            if let Err(e) = t.update(&batch) {
                                partial_shared.failures.record(&partial_spec.at.context, e);
                            }
                        }
                        output
                            .session(&cap)
                            .give_iterator(t.drain_partials().into_iter());
                    });
                }
            },
        );
        partials.exchange(|p: &Partial| p.owner).unary_frontier(
            Pipeline,
            "UpdatingAggregate",
            move |_initial, info| {
                let mut table = GroupTable::new(&spec.node.keys, &spec.node.aggs).ok();
                // Last emitted row of every group (changelog), as a one-row batch.
                let mut emitted: Vec<Option<RecordBatch>> = Vec::new();
                let mut changed: Vec<u32> = Vec::new();
                let mut held: Option<Capability<u64>> = None;
                let mut last_snapshot = Instant::now();
                let period = match spec.node.mode {
                    SinkMode::SnapshotEvery(ms) => Duration::from_millis(ms.max(1) as u64),
                    _ => Duration::ZERO,
                };
                let _ = info;
                move |(input, frontier), output| {
                    let _stage = crate::abort::stage(&spec.at.context);
                    input.for_each(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        if held.as_ref().is_none_or(|h| t < *h.time()) {
                            held = Some(cap.delayed(&t, 0));
                        }
                        if let Some(table) = table.as_mut() {
                            changed.extend(data.drain(..).map(|p| table.merge(p)));
                        }
                    });
                    let done = frontier.is_empty();
                    let Some(table) = table.as_ref() else { return };
                    let result = match spec.node.mode {
                        SinkMode::Changelog if !changed.is_empty() => {
                            changed.sort_unstable();
                            changed.dedup();
                            let groups = std::mem::take(&mut changed);
                            changelog(&spec, table, &mut emitted, &groups)
                        }
                        SinkMode::SnapshotEvery(_)
                            if (done || last_snapshot.elapsed() >= period) && !table.is_empty() =>
                        {
                            last_snapshot = Instant::now();
                            snapshot(&spec, table, shared.batch_size)
                        }
                        _ => Ok(Vec::new()),
                    };
                    match result {
                        Ok(batches) => {
                            if let Some(cap) = held.as_ref() {
                                for batch in batches {
                                    spec.at
                                        .rows_out
                                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                                    output.session(cap).give(batch);
                                }
                            }
                        }
                        Err(e) => shared.failures.record(&spec.at.context, e),
                    }
                    match frontier.frontier().iter().min() {
                        Some(&low) => {
                            if let Some(cap) = held.as_mut()
                                && low > *cap.time()
                            {
                                cap.downgrade(&low);
                            }
                        }
                        None => held = None,
                    }
                }
            },
        )
    }
}

/// The current rows of every group (keys then aggregates).
fn current(table: &GroupTable) -> Result<Vec<ArrayRef>, Box<dyn std::error::Error>> {
    let (mut columns, aggs) = table.finish_columns()?;
    columns.extend(aggs);
    Ok(columns)
}

fn snapshot(
    spec: &UpdatingSpec,
    table: &GroupTable,
    batch_size: usize,
) -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
    let batch = RecordBatch::try_new(spec.node.schema.clone(), current(table)?)?;
    Ok(split_rows(&batch, batch_size))
}

fn changelog(
    spec: &UpdatingSpec,
    table: &GroupTable,
    emitted: &mut Vec<Option<RecordBatch>>,
    groups: &[u32],
) -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
    let columns = current(table)?;
    let indices = UInt32Array::from(groups.to_vec());
    let new_rows: Vec<ArrayRef> = columns
        .iter()
        .map(|c| arrow_select::take::take(c, &indices, None))
        .collect::<Result<_, _>>()?;
    let value_schema = Arc::new(arrow_schema::Schema::new(
        spec.node.schema.fields()[..spec.node.schema.fields().len() - 1].to_vec(),
    ));
    let new_rows = RecordBatch::try_new(value_schema.clone(), new_rows)?;
    if emitted.len() < table_len(table) {
        emitted.resize(table_len(table), None);
    }
    let mut retract = Vec::new();
    let mut insert = Vec::new();
    for (i, &g) in groups.iter().enumerate() {
        let row = new_rows.slice(i, 1);
        match &emitted[g as usize] {
            Some(old) if same_row(old, &row) => continue,
            Some(old) => retract.push(old.clone()),
            None => {}
        }
        insert.push(row.clone());
        emitted[g as usize] = Some(row);
    }
    let with_diff = |rows: &[RecordBatch],
                     diff: i64|
     -> Result<Option<RecordBatch>, Box<dyn std::error::Error>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let all = arrow_select::concat::concat_batches(&value_schema, rows)?;
        let mut columns = all.columns().to_vec();
        columns.push(Arc::new(Int64Array::from(vec![diff; all.num_rows()])));
        Ok(Some(RecordBatch::try_new(
            spec.node.schema.clone(),
            columns,
        )?))
    };
    Ok([with_diff(&retract, -1)?, with_diff(&insert, 1)?]
        .into_iter()
        .flatten()
        .collect())
}

fn table_len(table: &GroupTable) -> usize {
    table.groups()
}

fn same_row(a: &RecordBatch, b: &RecordBatch) -> bool {
    a.columns()
        .iter()
        .zip(b.columns())
        .all(|(x, y)| x.to_data() == y.to_data())
}
