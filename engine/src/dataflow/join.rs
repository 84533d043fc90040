//! `join TABLE on ...` / `left join TABLE on ...`: a lookup join of a stream against a table
//! read from a bounded file. Every worker reads a share of the table file and broadcasts it;
//! each worker builds the whole lookup (key -> row) once the table input is complete, holding
//! stream batches (and their capabilities) back until then. A key that appears twice keeps
//! its last row in file order (upsert). Output: the left columns, then the kept right columns
//! (null for unmatched rows of a `left join`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, SchemaRef};
use arrow_select::concat::concat_batches;
use sluice_dsl::plan::TypedExpr;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, Exchange};

use super::BatchStream;
use crate::expr::evaluate;
use crate::route::Routed;
use crate::run::RunShared;
use crate::wire::WireBatch;

/// Everything a lookup join needs on one worker.
pub struct JoinSpec {
    pub left_outer: bool,
    /// (expression over the left input, key column of the table).
    pub keys: Vec<(TypedExpr, usize)>,
    /// Table columns in the output, in order.
    pub right_columns: Vec<usize>,
    /// The table's schema (Arrow).
    pub table_schema: SchemaRef,
    /// Output schema.
    pub schema: SchemaRef,
    pub workers: usize,
    pub worker: usize,
    pub context: String,
    pub rows_out: Arc<crate::metrics::RowCounter>,
}

/// Extension trait: look every row up in a table.
pub trait JoinTable<'scope> {
    fn join_table(self, table: BatchStream<'scope>, spec: JoinSpec, shared: Arc<RunShared>)
    -> Self;
}

impl<'scope> JoinTable<'scope> for BatchStream<'scope> {
    fn join_table(
        self,
        table: BatchStream<'scope>,
        spec: JoinSpec,
        shared: Arc<RunShared>,
    ) -> Self {
        let (workers, worker) = (spec.workers, spec.worker);
        let table_shared = shared.clone();
        let broadcast = table
            .unary::<CapacityContainerBuilder<Vec<Routed>>, _, _, _>(
                Pipeline,
                "BroadcastTable",
                move |_, _| {
                    move |input, output| {
                        input.for_each(|cap, data| {
                            let mut session = output.session(&cap);
                            for batch in data.drain(..) {
                                for target in 0..workers {
                                    session.give((
                                        target as u64,
                                        worker as u32,
                                        table_shared.flow.send(target, batch.clone()),
                                    ));
                                }
                            }
                        });
                    }
                },
            )
            .exchange(|r: &Routed| r.0);
        self.binary_frontier(
            broadcast,
            Pipeline,
            Pipeline,
            "LookupJoin",
            move |_initial, _| {
                let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); workers];
                let mut lookup: Option<Lookup> = None;
                let mut held: Vec<(Capability<u64>, RecordBatch)> = Vec::new();
                move |(left, _), (right, right_frontier), output| {
                    right.for_each(|_, data| {
                        for (_, source, WireBatch(batch)) in data.drain(..) {
                            shared.flow.receive(source as usize, &batch);
                            parts[source as usize].push(batch);
                        }
                    });
                    if lookup.is_none() && right_frontier.is_empty() {
                        // Worker w read the w-th byte range: (worker, arrival) is file order.
                        let ordered: Vec<RecordBatch> = parts.drain(..).flatten().collect();
                        match Lookup::build(&spec, &ordered) {
                            Ok(l) => lookup = Some(l),
                            Err(e) => shared.failures.record(&spec.context, e),
                        }
                    }
                    left.for_each(|cap, data| {
                        let Some(&time) = cap.least() else { return };
                        for batch in data.drain(..) {
                            held.push((cap.delayed(&time, 0), batch));
                        }
                    });
                    let Some(lookup) = lookup.as_ref() else {
                        return;
                    };
                    for (cap, batch) in held.drain(..) {
                        match lookup.join(&spec, &batch) {
                            Ok(joined) if joined.num_rows() > 0 => {
                                spec.rows_out
                                    .fetch_add(joined.num_rows() as u64, Ordering::Relaxed);
                                output.session(&cap).give(joined);
                            }
                            Ok(_) => {}
                            Err(e) => shared.failures.record(&spec.context, e),
                        }
                    }
                }
            },
        )
    }
}

/// The whole table and a hash index on its key.
struct Lookup {
    table: RecordBatch,
    converter: RowConverter,
    index: hashbrown::HashMap<Box<[u8]>, u32>,
}

impl Lookup {
    fn build(spec: &JoinSpec, parts: &[RecordBatch]) -> Result<Lookup, ArrowError> {
        let table = concat_batches(&spec.table_schema, parts)?;
        let key_types = spec
            .keys
            .iter()
            .map(|(_, c)| spec.table_schema.field(*c).data_type().clone());
        let converter = RowConverter::new(key_types.map(SortField::new).collect())?;
        let key_columns: Vec<ArrayRef> = spec
            .keys
            .iter()
            .map(|(_, c)| table.column(*c).clone())
            .collect();
        let rows = converter.convert_columns(&key_columns)?;
        let mut index = hashbrown::HashMap::with_capacity(table.num_rows());
        for (i, row) in rows.iter().enumerate() {
            // Later rows overwrite earlier ones: the last row of a key wins.
            if key_columns.iter().all(|c| c.is_valid(i)) {
                index.insert(Box::<[u8]>::from(row.as_ref()), i as u32);
            }
        }
        Ok(Lookup {
            table,
            converter,
            index,
        })
    }

    fn join(
        &self,
        spec: &JoinSpec,
        batch: &RecordBatch,
    ) -> Result<RecordBatch, Box<dyn std::error::Error>> {
        let mut key_columns = Vec::with_capacity(spec.keys.len());
        for (expr, column) in &spec.keys {
            let values = evaluate(expr, batch)?;
            let wanted = spec.table_schema.field(*column).data_type();
            key_columns.push(if values.data_type() == wanted {
                values
            } else {
                arrow_cast::cast(&values, wanted)?
            });
        }
        let rows = self.converter.convert_columns(&key_columns)?;
        let (mut left_rows, mut right_rows) = (Vec::new(), Vec::new());
        for (i, row) in rows.iter().enumerate() {
            let valid = key_columns.iter().all(|c| c.is_valid(i));
            match self.index.get(row.as_ref()).filter(|_| valid) {
                Some(&r) => {
                    left_rows.push(i as u32);
                    right_rows.push(Some(r));
                }
                None if spec.left_outer => {
                    left_rows.push(i as u32);
                    right_rows.push(None);
                }
                None => {}
            }
        }
        let left_indices = UInt32Array::from(left_rows);
        let right_indices = UInt32Array::from(right_rows);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(spec.schema.fields().len());
        for column in batch.columns() {
            columns.push(arrow_select::take::take(column, &left_indices, None)?);
        }
        for &c in &spec.right_columns {
            columns.push(arrow_select::take::take(
                self.table.column(c),
                &right_indices,
                None,
            )?);
        }
        Ok(RecordBatch::try_new(spec.schema.clone(), columns)?)
    }
}
