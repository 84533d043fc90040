//! A `table` as one differential-dataflow arrangement partitioned over all workers: each
//! table row becomes an upsert `(key, value, time)`, and differential's `arrange_from_upsert`
//! exchanges it to the worker owning `hash(key) % workers` and keeps, per key, the history
//! of its values. Lookup joins (`join.rs`) read that trace; no worker holds a copy of rows
//! it does not own.
//!
//! Keys and rows are arrow-row encodings (`RowConverter`), so any key types work and a row
//! decodes back to Arrow columns. Values carry an ordering number, `(worker << 40) | n`,
//! because upserts at one time keep the greatest value: for a file table (everything at
//! time 0) worker `w` reads the `w`-th contiguous byte range (tables are not striped), so the greatest number is the last row
//! of the key in file order; for Kafka a key's messages come from one partition, read by
//! one worker in offset order. A deletion is kept as a value without a row (a tombstone),
//! so that it too is ordered against values of the same time.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch};
use arrow_row::{RowConverter, SortField};
use arrow_schema::ArrowError;
use differential_dataflow::operators::arrange::upsert::arrange_from_upsert;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::BatchStream;
use super::read::to_time;
use crate::physical::ArrangeNode;
use crate::shared::RunShared;

/// A table key: the arrow-row encoding of its key columns.
pub type TableKey = Vec<u8>;
/// A table value: its ordering number and the arrow-row encoding of the whole row (`None`:
/// the key was deleted).
pub type TableVal = (u64, Option<Vec<u8>>);
type Spine = ValSpine<TableKey, TableVal, u64, isize>;
type Builder = ValBuilder<TableKey, TableVal, u64, isize>;
/// A worker's handle on the shared table trace.
pub type TableTrace = TraceAgent<Spine>;
/// The arranged table: its batches of changes and the trace.
pub type TableArrangement<'scope> = Arranged<'scope, TableTrace>;

/// How table rows become upserts.
pub struct TableSpec {
    /// What planning decided (`physical::ArrangeNode`).
    pub node: ArrangeNode,
    pub worker: usize,
    /// Where this process counts the rows each worker holds.
    pub held: Arc<crate::counters::HeldRows>,
}

/// Extension trait: arrange a table's batches by key, over all workers.
pub trait ArrangeTable<'scope> {
    fn arrange_table(self, spec: TableSpec, shared: Arc<RunShared>) -> TableArrangement<'scope>;
}

impl<'scope> ArrangeTable<'scope> for BatchStream<'scope> {
    fn arrange_table(self, spec: TableSpec, shared: Arc<RunShared>) -> TableArrangement<'scope> {
        let name = format!("Table {}", spec.node.name);
        let held = spec.held.clone();
        let upserts = self
            .unary::<CapacityContainerBuilder<Vec<(TableKey, Option<TableVal>, u64)>>, _, _, _>(
                Pipeline,
                "TableUpserts",
                move |_, _| {
                    let mut encoder = match Encoder::new(&spec) {
                        Ok(e) => Some(e),
                        Err(e) => {
                            shared.failures.record(&spec.node.context, e);
                            None
                        }
                    };
                    move |input, output| {
                        let _stage = crate::abort::stage(&spec.node.context);
                        input.for_each(|cap, data| {
                            let Some(encoder) = encoder.as_mut() else {
                                data.clear();
                                return;
                            };
                            let Some(&time) = cap.least() else { return };
                            let mut session = output.session(&cap);
                            for batch in data.drain(..) {
                                match encoder.upserts(&spec, &batch, time) {
                                    Ok(updates) => session.give_iterator(updates.into_iter()),
                                    Err(e) => shared.failures.record(&spec.node.context, e),
                                }
                            }
                        });
                    }
                },
            );
        let arranged = arrange_from_upsert::<Builder, Spine, TableKey, TableVal>(upserts, &name);
        count_rows(&arranged, held);
        arranged
    }
}

/// Encodes rows as upserts; numbers them in reading order.
struct Encoder {
    keys: RowConverter,
    rows: RowConverter,
    /// All null: a deletion (none: rows never delete).
    values: Vec<usize>,
    next: u64,
}

impl Encoder {
    fn new(spec: &TableSpec) -> Result<Encoder, ArrowError> {
        let field = |c: &usize| SortField::new(spec.node.schema.field(*c).data_type().clone());
        let all: Vec<usize> = (0..spec.node.schema.fields().len()).collect();
        Ok(Encoder {
            keys: RowConverter::new(spec.node.key.iter().map(field).collect())?,
            rows: RowConverter::new(all.iter().map(field).collect())?,
            values: spec.node.value_columns.clone(),
            next: (spec.worker as u64) << 40,
        })
    }

    fn upserts(
        &mut self,
        spec: &TableSpec,
        batch: &RecordBatch,
        time: u64,
    ) -> Result<Vec<(TableKey, Option<TableVal>, u64)>, ArrowError> {
        let key_columns: Vec<_> = spec
            .node
            .key
            .iter()
            .map(|c| crate::expr::canonical_key(batch.column(*c).clone()))
            .collect();
        let keys = self.keys.convert_columns(&key_columns)?;
        let rows = self.rows.convert_columns(batch.columns())?;
        let times = spec
            .node
            .time_column
            .map(|c| batch.column(c).as_primitive::<TimestampMillisecondType>());
        let mut out = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            if key_columns.iter().any(|c| c.is_null(i)) {
                continue; // a null key can never be looked up
            }
            let deleted =
                !self.values.is_empty() && self.values.iter().all(|c| batch.column(*c).is_null(i));
            let at = match times {
                Some(t) if t.is_valid(i) => to_time(t.value(i)).max(time),
                _ => time,
            };
            let row = (!deleted).then(|| rows.row(i).as_ref().to_vec());
            out.push((keys.row(i).as_ref().to_vec(), Some((self.next, row)), at));
            self.next += 1;
        }
        Ok(out)
    }
}

/// Counts the rows (live keys) this worker holds, for the run summary.
fn count_rows(arranged: &TableArrangement<'_>, held: Arc<crate::counters::HeldRows>) {
    use differential_dataflow::trace::cursor::{Cursor, Navigable};
    arranged
        .stream
        .clone()
        .sink(Pipeline, "TableRows", move |(input, _)| {
            input.for_each(|_, data| {
                for span in data.drain(..) {
                    let Some(batch) = span.inner else { continue };
                    let mut cursor = batch.cursor();
                    let mut delta = 0i64;
                    while cursor.key_valid(&batch) {
                        while let Some(val) = cursor.get_val(&batch) {
                            if val.1.is_some() {
                                cursor.map_times(&batch, |_, diff| delta += *diff as i64);
                            }
                            cursor.step_val(&batch);
                        }
                        cursor.step_key(&batch);
                    }
                    held.add(delta);
                }
            });
        });
}
