//! Event-time windows: which windows a row belongs to, per-window group tables, and closing
//! the windows the watermark has passed. Pure logic; the timely operator is
//! `dataflow/window.rs`.
//!
//! - `tumbling(size)`: `[floor(t / size) * size, + size)`.
//! - `sliding(size, every)`: every window `[k * every, k * every + size)` that contains `t`
//!   (aligned to multiples of `every` since the epoch).
//! - `session(gap)`: per key, rows closer than `gap` to the previous one join its session;
//!   a session `[first, last + gap)` closes when the watermark reaches `last + gap`.
//!
//! A row is late when its window (for sessions: `t + gap`) ends at or before the watermark the
//! row arrived under: that window may already have been emitted, so the row goes to the
//! dead-letter output instead of changing a result that was already written.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use sluice_dsl::plan::{AggCall, TypedExpr, WindowKind};

use super::{GroupError, GroupTable, split_rows};

/// Open windows of one operator instance.
pub struct WindowState {
    kind: WindowKind,
    keys: Vec<(String, TypedExpr)>,
    aggs: Vec<AggCall>,
    /// Column of the input holding the event time.
    time_column: usize,
    /// Tumbling and sliding: one group table per window, by (end, start).
    open: BTreeMap<(i64, i64), GroupTable>,
    /// Sessions: rows of sessions not closed yet.
    pending: Vec<RecordBatch>,
    /// Sessions: per key, the end of its last emitted session; a row before it would have
    /// joined a session that was already written, so it is late.
    closed_until: hashbrown::HashMap<Vec<u8>, i64>,
    /// Output: keys, window_start, window_end, aggregates.
    schema: SchemaRef,
    batch_size: usize,
    /// Where each window's per-batch partials are computed; `None`: CPU.
    gpu: Option<&'static crate::gpu::Gpu>,
}

/// Rows of an inserted batch that arrived too late.
pub struct Late {
    pub rows: Vec<usize>,
}

impl WindowState {
    pub fn new(
        kind: WindowKind,
        keys: Vec<(String, TypedExpr)>,
        aggs: Vec<AggCall>,
        time_column: usize,
        schema: SchemaRef,
        batch_size: usize,
    ) -> WindowState {
        WindowState {
            kind,
            keys,
            aggs,
            time_column,
            open: BTreeMap::new(),
            pending: Vec::new(),
            closed_until: hashbrown::HashMap::new(),
            schema,
            batch_size,
            gpu: None,
        }
    }

    /// Computes each window's per-batch partials on `gpu` (`gpu::stage::stage_gpu`).
    pub fn with_gpu(mut self, gpu: Option<&'static crate::gpu::Gpu>) -> WindowState {
        self.gpu = gpu;
        self
    }

    /// Whether any window is still open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.pending.is_empty()
    }

    /// Adds the rows of `batch`, which arrived under `watermark`; returns the late rows.
    pub fn insert(&mut self, batch: &RecordBatch, watermark: i64) -> Result<Late, GroupError> {
        let times = batch
            .column(self.time_column)
            .as_primitive::<TimestampMillisecondType>();
        let mut late = Vec::new();
        let mut by_window: BTreeMap<(i64, i64), Vec<u32>> = BTreeMap::new();
        let mut session_rows = Vec::new();
        let session_keys = match self.kind {
            WindowKind::Session { .. } => encode_keys(&self.keys, batch)?,
            _ => Vec::new(),
        };
        for row in 0..batch.num_rows() {
            if times.is_null(row) {
                late.push(row); // no event time: cannot be placed (reported as late)
                continue;
            }
            let t = times.value(row);
            match self.kind {
                WindowKind::Tumbling { size } => {
                    let start = t.div_euclid(size) * size;
                    if start + size <= watermark {
                        late.push(row);
                    } else {
                        by_window
                            .entry((start + size, start))
                            .or_default()
                            .push(row as u32);
                    }
                }
                WindowKind::Sliding { size, every } => {
                    let last_start = t.div_euclid(every) * every;
                    let mut start = last_start;
                    let mut placed = false;
                    while start > t - size {
                        if start + size > watermark {
                            by_window
                                .entry((start + size, start))
                                .or_default()
                                .push(row as u32);
                            placed = true;
                        }
                        start -= every;
                    }
                    if !placed {
                        late.push(row);
                    }
                }
                WindowKind::Session { gap } => {
                    let emitted = session_keys
                        .get(row)
                        .and_then(|key| self.closed_until.get(key))
                        .is_some_and(|end| t < *end);
                    if t + gap <= watermark || emitted {
                        late.push(row);
                    } else {
                        session_rows.push(row as u32);
                    }
                }
            }
        }
        if !by_window.is_empty() {
            // One take puts each window's rows side by side; every window then folds a
            // zero-copy slice (a batch spans many small windows: a take per window would
            // allocate every column once per window).
            let order: Vec<u32> = by_window.values().flatten().copied().collect();
            let identity = order.len() == batch.num_rows()
                && order.iter().enumerate().all(|(i, &r)| r as usize == i);
            let sorted = if identity {
                batch.clone()
            } else {
                take_record_batch(batch, &UInt32Array::from(order))?
            };
            let mut offset = 0;
            for (window, rows) in by_window {
                let table = match self.open.entry(window) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(
                        GroupTable::new(&self.keys, &self.aggs)?
                            .with_time_column(Some(self.time_column)),
                    ),
                };
                table.update_placed(&sorted.slice(offset, rows.len()), self.gpu)?;
                offset += rows.len();
            }
        }
        if !session_rows.is_empty() {
            let rows = if session_rows.len() == batch.num_rows() {
                batch.clone()
            } else {
                take_record_batch(batch, &UInt32Array::from(session_rows))?
            };
            self.pending.push(rows);
        }
        Ok(Late { rows: late })
    }

    /// Results of every window that ends at or before `watermark` (`i64::MAX`: all of them).
    pub fn close(&mut self, watermark: i64) -> Result<Vec<RecordBatch>, GroupError> {
        let mut closed = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            let (end, start) = *entry.key();
            if end > watermark {
                break;
            }
            let table = entry.remove();
            closed.push(self.result(&table, |_| (start, end))?);
        }
        if matches!(self.kind, WindowKind::Session { .. }) && !self.pending.is_empty() {
            closed.extend(self.close_sessions(watermark)?);
        }
        // Many small windows close at once: emit them as full batches, not one per window.
        Ok(match closed.len() {
            0 => Vec::new(),
            1 => split_rows(&closed[0], self.batch_size),
            _ => split_rows(&concat_batches(&self.schema, &closed)?, self.batch_size),
        })
    }

    /// Sorts pending rows by (key, time), cuts them into sessions, aggregates the closed ones
    /// (one result batch per session) and keeps the rows of open ones.
    fn close_sessions(&mut self, watermark: i64) -> Result<Vec<RecordBatch>, GroupError> {
        let WindowKind::Session { gap } = self.kind else {
            return Ok(Vec::new());
        };
        let schema = self.pending[0].schema();
        let rows = concat_batches(&schema, &self.pending)?;
        self.pending.clear();
        let encoded = encode_keys(&self.keys, &rows)?;
        let times = rows
            .column(self.time_column)
            .as_primitive::<TimestampMillisecondType>()
            .clone();
        let mut order: Vec<usize> = (0..rows.num_rows()).collect();
        order.sort_by(|&a, &b| {
            encoded[a]
                .cmp(&encoded[b])
                .then(times.value(a).cmp(&times.value(b)))
        });
        // Sweep: a session is a maximal run of one key with gaps < gap.
        let mut closed: Vec<(Vec<u32>, i64, i64)> = Vec::new();
        let mut keep: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let mut j = i + 1;
            while j < order.len()
                && encoded[order[j]] == encoded[order[i]]
                && times.value(order[j]) - times.value(order[j - 1]) < gap
            {
                j += 1;
            }
            let members: Vec<u32> = order[i..j].iter().map(|&r| r as u32).collect();
            let (first, last) = (times.value(order[i]), times.value(order[j - 1]));
            if last + gap <= watermark {
                let end = self
                    .closed_until
                    .entry(encoded[order[i]].clone())
                    .or_insert(i64::MIN);
                *end = (*end).max(last + gap);
                closed.push((members, first, last + gap));
            } else {
                keep.extend(members);
            }
            i = j;
        }
        // A row before an emitted session's end is late anyway once `t + gap <= watermark`.
        self.closed_until
            .retain(|_, end| end.saturating_add(gap) > watermark);
        if !keep.is_empty() {
            keep.sort_unstable();
            self.pending
                .push(take_record_batch(&rows, &UInt32Array::from(keep))?);
        }
        let mut out = Vec::new();
        for (members, start, end) in closed {
            let mut table =
                GroupTable::new(&self.keys, &self.aggs)?.with_time_column(Some(self.time_column));
            table.update_placed(
                &take_record_batch(&rows, &UInt32Array::from(members))?,
                self.gpu,
            )?;
            out.push(self.result(&table, |_| (start, end))?);
        }
        Ok(out)
    }

    /// A table's groups as output rows with the window columns.
    fn result(
        &self,
        table: &GroupTable,
        window: impl Fn(usize) -> (i64, i64),
    ) -> Result<RecordBatch, GroupError> {
        let (mut columns, aggs) = table.finish_columns()?;
        let groups = aggs
            .first()
            .map_or(columns.first().map_or(0, |c| c.len()), |c| c.len());
        let (starts, ends): (Vec<i64>, Vec<i64>) = (0..groups).map(&window).unzip();
        columns.push(Arc::new(TimestampMillisecondArray::from(starts)));
        columns.push(Arc::new(TimestampMillisecondArray::from(ends)));
        columns.extend(aggs);
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// The arrow-row encoding of each row's keys (all empty without keys).
fn encode_keys(
    keys: &[(String, TypedExpr)],
    batch: &RecordBatch,
) -> Result<Vec<Vec<u8>>, GroupError> {
    if keys.is_empty() {
        return Ok(vec![Vec::new(); batch.num_rows()]);
    }
    let arrays = keys
        .iter()
        .map(|(_, k)| crate::expr::evaluate(k, batch).map(crate::expr::canonical_key))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let converter = arrow_row::RowConverter::new(
        arrays
            .iter()
            .map(|a| arrow_row::SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&arrays)?;
    Ok(rows.iter().map(|r| r.as_ref().to_vec()).collect())
}
