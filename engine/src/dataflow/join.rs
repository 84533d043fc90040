//! `join TABLE on ...` / `left join TABLE on ...`: a lookup join of a stream against a table
//! arranged once over all workers (`table.rs`). Each stream row is exchanged to the worker
//! owning its key (`hash(key) % workers`, the arrangement's own partitioning) and looked up
//! in that worker's share of the table trace.
//!
//! Which version of the table a row sees:
//! - a table without `event_time` (a file, or Kafka on processing time): the table as it is
//!   when the row is looked up, once its initial load (the whole file, or the topic up to the
//!   ends seen at start) is in — rows wait only for that;
//! - a table with `event_time` (temporal join): the table as of the row's time (its event
//!   time, else the wall clock when it reaches the join): every update at or before it. The
//!   row waits until the table's frontier has passed that time.
//!
//! The table input is not connected to the output: the output frontier follows the stream
//! and the rows held, so an unbounded table never holds back a stream that has ended.
//! Output: the left columns, then the kept right columns (null for unmatched rows of a
//! `left join`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_buffer::NullBuffer;
use arrow_row::{RowConverter, Rows, SortField};
use differential_dataflow::hashable::Hashable;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, CursorList, cursor_list};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, Exchange};
use timely::progress::Antichain;

use super::read::{to_time, wall_clock};
use super::table::{TableArrangement, TableTrace};
use super::{BatchStream, Instance};
use crate::expr::evaluate;
use crate::physical::LookupJoinNode;
use crate::route::{Routed, as_routed, split_by_target};
use crate::shared::RunShared;
use crate::wire::WireBatch;

/// Everything a lookup join needs on one worker.
pub struct JoinSpec {
    /// What planning decided (`physical::LookupJoinNode`).
    pub node: LookupJoinNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
}

/// Extension trait: look every row up in a table.
pub trait JoinTable<'scope> {
    fn join_table(
        self,
        table: &TableArrangement<'scope>,
        spec: JoinSpec,
        shared: Arc<RunShared>,
    ) -> Self;
}

/// A batch waiting for the table, with the time it looks the table up at (the largest of
/// its rows') and per row (temporal joins).
struct Held {
    cap: Capability<u64>,
    batch: RecordBatch,
    until: u64,
    times: Option<Vec<u64>>,
}

impl<'scope> JoinTable<'scope> for BatchStream<'scope> {
    fn join_table(
        self,
        table: &TableArrangement<'scope>,
        spec: JoinSpec,
        shared: Arc<RunShared>,
    ) -> Self {
        let scope = self.scope();
        let spec = Arc::new(spec);
        let keys = match KeyEncoder::new(&spec) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                shared.failures.record(&spec.at.context, e);
                return timely::dataflow::operators::generic::operator::empty(scope);
            }
        };
        let (route_spec, route_keys, route_shared) = (spec.clone(), keys.clone(), shared.clone());
        let routed = self
            .unary::<CapacityContainerBuilder<Vec<Routed>>, _, _, _>(
                Pipeline,
                "KeyByTable",
                move |_, _| {
                    move |input, output| {
                        let _stage = crate::abort::stage(&route_spec.at.context);
                        input.for_each(|cap, data| {
                            let mut session = output.session(&cap);
                            for batch in data.drain(..) {
                                let parts = route_keys.targets(&route_spec, &batch).and_then(|t| {
                                    Ok(split_by_target(&batch, &t, route_spec.at.workers)?)
                                });
                                match parts {
                                    Ok(parts) => session.give_iterator(as_routed(
                                        parts,
                                        route_spec.at.worker,
                                        &route_shared.flow,
                                    )),
                                    Err(e) => {
                                        route_shared.failures.record(&route_spec.at.context, e)
                                    }
                                }
                            }
                        });
                    }
                },
            )
            .exchange(|r: &Routed| r.0);

        let mut builder = OperatorBuilder::new("LookupJoin".to_string(), scope);
        let mut stream_in = builder.new_input(routed, Pipeline);
        let no_connection = Vec::<(usize, Antichain<u64>)>::new();
        let mut table_in =
            builder.new_input_connection(table.stream.clone(), Pipeline, no_connection);
        let (output, joined) = builder.new_output_connection([(0, Antichain::from_elem(0))]);
        let mut output =
            OutputBuilder::<_, CapacityContainerBuilder<Vec<RecordBatch>>>::from(output);
        let mut trace: TableTrace = table.trace.clone();
        builder.build(move |_initial| {
            let mut held: Vec<Held> = Vec::new();
            move |frontiers| {
                let _stage = crate::abort::stage(&spec.at.context);
                stream_in.for_each(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    for (_, sender, WireBatch(batch)) in data.drain(..) {
                        shared.flow.receive(sender as usize, &batch);
                        let times = spec
                            .node
                            .temporal
                            .map(|column| lookup_times(&batch, column, time));
                        let until = times
                            .as_ref()
                            .map_or(0, |t| t.iter().copied().max().unwrap_or(time));
                        held.push(Held {
                            cap: cap.delayed(&time, 0),
                            batch,
                            until,
                            times,
                        });
                    }
                });
                table_in.for_each(|_, data| data.clear());
                let table_frontier = frontiers[1].frontier().to_owned();
                let ready = |h: &Held| !table_frontier.less_equal(&h.until);
                if held.iter().any(ready) {
                    match trace.batches_through(Antichain::new().borrow()) {
                        Some(batches) => {
                            let (mut cursor, storage) = cursor_list(batches);
                            let mut out = output.activate();
                            let mut i = 0;
                            while i < held.len() {
                                if !ready(&held[i]) {
                                    i += 1;
                                    continue;
                                }
                                let h = held.swap_remove(i);
                                match lookup(&spec, &keys, &mut cursor, &storage, &h) {
                                    Ok(joined) if joined.num_rows() > 0 => {
                                        spec.at
                                            .rows_out
                                            .fetch_add(joined.num_rows() as u64, Ordering::Relaxed);
                                        out.session(&h.cap).give(joined);
                                    }
                                    Ok(_) => {}
                                    Err(e) => shared.failures.record(&spec.at.context, e),
                                }
                            }
                        }
                        None => shared
                            .failures
                            .record(&spec.at.context, "the table trace cannot be read"),
                    }
                }
                // Later lookups read at or after the stream frontier and the rows still held
                // (temporal), or only the current table: the trace may forget older history.
                let stream_done = frontiers[0].frontier().is_empty() && held.is_empty();
                let mut compaction = Antichain::new();
                if !stream_done {
                    let low = match spec.node.temporal {
                        Some(_) => frontiers[0]
                            .frontier()
                            .iter()
                            .copied()
                            .chain(held.iter().map(|h| *h.cap.time()))
                            .min(),
                        None => Some(table_frontier.first().copied().unwrap_or(u64::MAX)),
                    };
                    compaction.insert(low.unwrap_or(u64::MAX));
                }
                trace.set_logical_compaction(compaction.borrow());
                trace.set_physical_compaction(if stream_done {
                    compaction.borrow()
                } else {
                    table_frontier.borrow()
                });
            }
        });
        joined
    }
}

/// Per row, the time a temporal lookup reads the table at: the row's event time (from
/// `column`) or, without one, the wall clock now; never before the batch's own time.
fn lookup_times(batch: &RecordBatch, column: Option<usize>, time: u64) -> Vec<u64> {
    match column {
        Some(c) => {
            let times = batch.column(c).as_primitive::<TimestampMillisecondType>();
            (0..batch.num_rows())
                .map(|i| match times.is_valid(i) {
                    true => to_time(times.value(i)).max(time),
                    false => time,
                })
                .collect()
        }
        None => vec![wall_clock().max(time); batch.num_rows()],
    }
}

/// Encodes a stream's join keys as the table's keys: cast to the table's key types, arrow-row
/// encoded like `table.rs` does, so equal keys hash to the same worker and compare equal.
struct KeyEncoder {
    keys: RowConverter,
    rows: RowConverter,
}

impl KeyEncoder {
    fn new(spec: &JoinSpec) -> Result<KeyEncoder, arrow_schema::ArrowError> {
        let field =
            |c: &usize| SortField::new(spec.node.table_schema.field(*c).data_type().clone());
        Ok(KeyEncoder {
            keys: RowConverter::new(spec.node.key_columns.iter().map(field).collect())?,
            rows: RowConverter::new(
                (0..spec.node.table_schema.fields().len())
                    .map(|c| field(&c))
                    .collect(),
            )?,
        })
    }

    /// The batch's keys, encoded once; rows lend them as slices (no copy per row).
    fn encode(
        &self,
        spec: &JoinSpec,
        batch: &RecordBatch,
    ) -> Result<EncodedKeys, Box<dyn std::error::Error + Send + Sync>> {
        let mut columns = Vec::with_capacity(spec.node.keys.len());
        for (expr, column) in spec.node.keys.iter().zip(&spec.node.key_columns) {
            let values = evaluate(expr, batch)?;
            let wanted = spec.node.table_schema.field(*column).data_type();
            columns.push(crate::expr::canonical_key(
                if values.data_type() == wanted {
                    values
                } else {
                    arrow_cast::cast(&values, wanted)?
                },
            ));
        }
        let nulls = columns.iter().fold(None, |acc, c| {
            NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
        });
        Ok(EncodedKeys {
            rows: self.keys.convert_columns(&columns)?,
            nulls,
        })
    }

    /// The worker owning each row's key; rows with a null key stay here.
    fn targets(
        &self,
        spec: &JoinSpec,
        batch: &RecordBatch,
    ) -> Result<Vec<u32>, Box<dyn std::error::Error + Send + Sync>> {
        let keys = self.encode(spec, batch)?;
        Ok((0..batch.num_rows())
            .map(|i| match keys.get(i) {
                // Hashes like the table's `Vec<u8>` keys: a Vec hashes as its slice.
                Some(k) => (k.hashed() % spec.at.workers as u64) as u32,
                None => spec.at.worker as u32,
            })
            .collect())
    }
}

/// A batch's join keys in the table's arrow-row encoding.
struct EncodedKeys {
    rows: Rows,
    /// Rows with a null key value (they match nothing).
    nulls: Option<NullBuffer>,
}

impl EncodedKeys {
    fn get(&self, row: usize) -> Option<&[u8]> {
        match &self.nulls {
            Some(n) if n.is_null(row) => None,
            _ => Some(self.rows.row(row).data()),
        }
    }
}

type TableCursor = CursorList<
    <<TableTrace as TraceReader>::Batch as differential_dataflow::trace::cursor::Navigable>::Cursor,
>;
type TableStorage = Vec<<TableTrace as TraceReader>::Batch>;

/// Joins one held batch with the table at the batch's lookup times.
fn lookup(
    spec: &JoinSpec,
    keys: &KeyEncoder,
    cursor: &mut TableCursor,
    storage: &TableStorage,
    held: &Held,
) -> Result<RecordBatch, Box<dyn std::error::Error + Send + Sync>> {
    let batch = &held.batch;
    let encoded = keys.encode(spec, batch)?;
    // Without lookup times, the rows of one key all see the same table row: look up each
    // distinct key once (its first row) and copy the result to the others afterwards.
    let mut first_of: hashbrown::HashMap<&[u8], usize> = hashbrown::HashMap::new();
    let mut order: Vec<usize> = Vec::new();
    for i in 0..batch.num_rows() {
        let Some(key) = encoded.get(i) else { continue };
        if held.times.is_some() || first_of.try_insert(key, i).is_ok() {
            order.push(i);
        }
    }
    // Seek keys in order: a cursor only moves forward.
    order.sort_unstable_by(|a, b| encoded.get(*a).cmp(&encoded.get(*b)));
    let mut found: Vec<Option<usize>> = vec![None; batch.num_rows()];
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    cursor.rewind_keys(storage);
    // The trace's keys are `Vec<u8>`: one reused buffer to seek with, not one per row.
    let mut seek: Vec<u8> = Vec::new();
    // Rows with the same key (and lookup time) share one table row: a batch has far fewer
    // distinct keys than rows, and each payload is decoded once.
    let mut previous: Option<(&[u8], Option<u64>, Option<usize>)> = None;
    for i in order {
        let key = encoded.get(i).expect("filtered on Some");
        let limit = held.times.as_ref().map(|t| t[i]);
        if let Some((k, l, result)) = previous
            && k == key
            && l == limit
        {
            found[i] = result;
            continue;
        }
        previous = Some((key, limit, None));
        seek.clear();
        seek.extend_from_slice(key);
        cursor.seek_key(storage, &seek);
        if cursor.get_key(storage) != Some(&seek) {
            continue;
        }
        cursor.rewind_vals(storage);
        let mut current: Option<&Vec<u8>> = None;
        while let Some(val) = cursor.get_val(storage) {
            let mut count = 0isize;
            cursor.map_times(storage, |time, diff| {
                if limit.is_none_or(|l| *time <= l) {
                    count += *diff;
                }
            });
            if count > 0 {
                current = val.1.as_ref();
            }
            cursor.step_val(storage);
        }
        if let Some(row) = current {
            found[i] = Some(payloads.len());
            previous = Some((key, limit, found[i]));
            payloads.push(row.clone());
        }
    }

    if held.times.is_none() {
        for i in 0..found.len() {
            if let Some(key) = encoded.get(i) {
                found[i] = found[first_of[key]];
            }
        }
    }
    let (mut left_rows, mut right_rows) = (Vec::new(), Vec::new());
    for (i, f) in found.iter().enumerate() {
        match f {
            Some(r) => {
                left_rows.push(i as u32);
                right_rows.push(Some(*r as u32));
            }
            None if spec.node.left_outer => {
                left_rows.push(i as u32);
                right_rows.push(None);
            }
            None => {}
        }
    }
    let left_indices = UInt32Array::from(left_rows);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(spec.node.schema.fields().len());
    for column in batch.columns() {
        columns.push(arrow_select::take::take(column, &left_indices, None)?);
    }
    if payloads.is_empty() {
        for &c in &spec.node.right_columns {
            let ty = spec.node.table_schema.field(c).data_type();
            columns.push(arrow_array::new_null_array(ty, left_indices.len()));
        }
    } else {
        let parser = keys.rows.parser();
        let table = keys
            .rows
            .convert_rows(payloads.iter().map(|p| parser.parse(p)))?;
        let right_indices = UInt32Array::from(right_rows);
        for &c in &spec.node.right_columns {
            columns.push(arrow_select::take::take(&table[c], &right_indices, None)?);
        }
    }
    Ok(RecordBatch::try_new(spec.node.schema.clone(), columns)?)
}
