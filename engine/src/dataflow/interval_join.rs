//! `join STREAM on a == STREAM.b [and ...] within D` (and `left join ... within D`): an
//! event-time interval join of two streams. Rows of both sides are exchanged by key; each
//! worker keeps every row whose partners may still arrive, probes the other side's rows on
//! arrival, and emits a pair when the keys are equal and the event times are at most `D`
//! apart. State is bounded by `D` and the watermark: a row is dropped once
//! `time + D < frontier`, because every later row that is not late has a time at or after the
//! frontier. A row behind its batch's watermark is late: dead-lettered with reason `late`.
//! A `left join` emits a left row that found no partner, with nulls, when it is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array, new_null_array};
use arrow_row::{RowConverter, SortField};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::key_by::KeyBy;
use super::read::from_time;
use super::{BatchStream, Instance};
use crate::arrow_schema_map::arrow_type;
use crate::connectors::DeadLetterSink;
use crate::expr::evaluate;
use crate::physical::IntervalJoinNode;
use crate::shared::RunShared;
use crate::wire::WireBatch;

/// Everything an interval join needs on one worker.
pub struct IntervalJoinSpec {
    /// What planning decided (`physical::IntervalJoinNode`).
    pub node: IntervalJoinNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
    pub late: Option<Arc<DeadLetterSink>>,
}

/// Extension trait: interval join of two streams.
pub trait IntervalJoin<'scope> {
    fn interval_join(
        self,
        right: BatchStream<'scope>,
        spec: IntervalJoinSpec,
        shared: Arc<RunShared>,
    ) -> Self;
}

impl<'scope> IntervalJoin<'scope> for BatchStream<'scope> {
    fn interval_join(
        self,
        right: BatchStream<'scope>,
        spec: IntervalJoinSpec,
        shared: Arc<RunShared>,
    ) -> Self {
        let (w, n) = (spec.at.worker, spec.at.workers);
        let left = self.key_by(
            spec.node.left_keys.clone(),
            w,
            n,
            spec.at.context.clone(),
            shared.clone(),
        );
        let right = right.key_by(
            spec.node.right_keys.clone(),
            w,
            n,
            spec.at.context.clone(),
            shared.clone(),
        );
        left.binary_frontier(
            right,
            Pipeline,
            Pipeline,
            "IntervalJoin",
            move |_initial, _| {
                let converter = RowConverter::new(
                    spec.node
                        .left_keys
                        .iter()
                        .map(|k| SortField::new(arrow_type(k.ty)))
                        .collect(),
                )
                .expect("arrow-row encodes every language type");
                let mut sides = [Side::default(), Side::default()];
                let mut held: Option<Capability<u64>> = None;
                move |(left, left_frontier), (right, right_frontier), output| {
                    let _stage = crate::abort::stage(&spec.at.context);
                    let mut arrivals: Vec<(usize, Capability<u64>, RecordBatch)> = Vec::new();
                    left.for_each(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        data.drain(..).for_each(|(_, sender, WireBatch(b))| {
                            shared.flow.receive(sender as usize, &b);
                            arrivals.push((0, cap.delayed(&t, 0), b))
                        });
                    });
                    right.for_each(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        data.drain(..).for_each(|(_, sender, WireBatch(b))| {
                            shared.flow.receive(sender as usize, &b);
                            arrivals.push((1, cap.delayed(&t, 0), b))
                        });
                    });
                    for (side, cap, batch) in arrivals {
                        if held.as_ref().is_none_or(|h| cap.time() < h.time()) {
                            held = Some(cap.clone());
                        }
                        match arrive(&spec, &converter, &mut sides, side, &batch, *cap.time()) {
                            Ok(Some(joined)) => {
                                spec.at
                                    .rows_out
                                    .fetch_add(joined.num_rows() as u64, Ordering::Relaxed);
                                output.session(&cap).give(joined);
                            }
                            Ok(None) => {}
                            Err(e) => shared.failures.record(&spec.at.context, e),
                        }
                    }
                    // Drop rows no later row can match; a left join emits the unmatched ones.
                    let low = left_frontier
                        .frontier()
                        .iter()
                        .chain(right_frontier.frontier().iter())
                        .min()
                        .copied();
                    let horizon = low.map_or(i64::MAX, from_time);
                    let unmatched = sides[0].purge(
                        horizon.saturating_sub(spec.node.within),
                        spec.node.left_outer,
                    );
                    sides[1].purge(horizon.saturating_sub(spec.node.within), false);
                    if let (Some(cap), false) = (held.as_ref(), unmatched.is_empty()) {
                        match left_only(&spec, &sides[0], &unmatched) {
                            Ok(batch) => {
                                spec.at
                                    .rows_out
                                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                                output.session(cap).give(batch);
                            }
                            Err(e) => shared.failures.record(&spec.at.context, e),
                        }
                    }
                    sides[0].compact();
                    sides[1].compact();
                    match low {
                        Some(low) if !sides.iter().all(Side::is_empty) => {
                            if let Some(cap) = held.as_mut()
                                && low > *cap.time()
                            {
                                cap.downgrade(&low);
                            }
                        }
                        _ => held = None,
                    }
                }
            },
        )
    }
}

/// One side's live rows: stored batches and an index key -> (time, batch, row, matched).
#[derive(Default)]
struct Side {
    batches: Vec<Option<RecordBatch>>,
    live: Vec<usize>,
    index: hashbrown::HashMap<Box<[u8]>, Vec<Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    time: i64,
    batch: u32,
    row: u32,
    matched: bool,
}

impl Side {
    fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Removes entries with `time < limit`; returns the unmatched ones when asked.
    fn purge(&mut self, limit: i64, want_unmatched: bool) -> Vec<(u32, u32)> {
        let mut unmatched = Vec::new();
        let live = &mut self.live;
        self.index.retain(|_, entries| {
            entries.retain(|e| {
                if e.time >= limit {
                    return true;
                }
                if want_unmatched && !e.matched {
                    unmatched.push((e.batch, e.row));
                }
                live[e.batch as usize] -= 1;
                false
            });
            !entries.is_empty()
        });
        unmatched
    }

    /// Frees batches without live rows.
    fn compact(&mut self) {
        for (batch, live) in self.batches.iter_mut().zip(&self.live) {
            if *live == 0 {
                *batch = None;
            }
        }
    }
}

/// Adds a batch to `side` (0 left, 1 right), probing the other side; returns the joined rows.
fn arrive(
    spec: &IntervalJoinSpec,
    converter: &RowConverter,
    sides: &mut [Side; 2],
    side: usize,
    batch: &RecordBatch,
    watermark: u64,
) -> Result<Option<RecordBatch>, Box<dyn std::error::Error>> {
    let (keys, time_column) = if side == 0 {
        (&spec.node.left_keys, spec.node.left_time)
    } else {
        (&spec.node.right_keys, spec.node.right_time)
    };
    let mut key_arrays = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let values = evaluate(k, batch)?;
        let wanted = arrow_type(spec.node.left_keys[i].ty);
        key_arrays.push(crate::expr::canonical_key(
            if *values.data_type() == wanted {
                values
            } else {
                arrow_cast::cast(&values, &wanted)?
            },
        ));
    }
    let rows = converter.convert_columns(&key_arrays)?;
    let times = batch
        .column(time_column)
        .as_primitive::<TimestampMillisecondType>();
    let batch_id = sides[side].batches.len() as u32;
    let (mine, other) = if side == 0 {
        let [a, b] = sides;
        (a, b)
    } else {
        let [a, b] = sides;
        (b, a)
    };
    mine.batches.push(Some(batch.clone()));
    mine.live.push(0);
    let mut pairs: Vec<((u32, u32), (u32, u32))> = Vec::new(); // (left (batch,row), right (batch,row))
    let mut late = Vec::new();
    for i in 0..batch.num_rows() {
        if times.is_null(i) || key_arrays.iter().any(|k| k.is_null(i)) {
            continue; // a null key or time joins nothing
        }
        let t = times.value(i);
        if t < from_time(watermark) {
            late.push(i);
            continue;
        }
        let key = rows.row(i);
        let mut matched = false;
        if let Some(entries) = other.index.get_mut(key.as_ref()) {
            for e in entries
                .iter_mut()
                .filter(|e| (e.time - t).abs() <= spec.node.within)
            {
                e.matched = true;
                matched = true;
                let me = (batch_id, i as u32);
                let them = (e.batch, e.row);
                pairs.push(if side == 0 { (me, them) } else { (them, me) });
            }
        }
        mine.index
            .entry(key.as_ref().into())
            .or_default()
            .push(Entry {
                time: t,
                batch: batch_id,
                row: i as u32,
                matched,
            });
        mine.live[batch_id as usize] += 1;
    }
    if !late.is_empty()
        && let Some(sink) = &spec.late
    {
        let position = format!(
            "{}, watermark {}",
            spec.at.context,
            sluice_dsl::display::timestamp(from_time(watermark))
        );
        for i in late {
            let raw = format!(
                "{{\"row\":{i},\"event_time\":\"{}\"}}",
                sluice_dsl::display::timestamp(times.value(i))
            );
            sink.send("late", &position, raw.as_bytes())?;
        }
    }
    if pairs.is_empty() {
        return Ok(None);
    }
    let (left_side, right_side) = (&sides[0], &sides[1]);
    let gather = |side: &Side,
                  picks: &[(u32, u32)],
                  columns: Option<&[usize]>|
     -> Result<Vec<ArrayRef>, arrow_schema::ArrowError> {
        let first = picks
            .iter()
            .find_map(|(b, _)| side.batches[*b as usize].as_ref())
            .expect("paired rows are stored");
        let indices: Vec<usize> =
            columns.map_or_else(|| (0..first.num_columns()).collect(), |c| c.to_vec());
        let mut used: Vec<u32> = picks.iter().map(|(b, _)| *b).collect();
        used.sort_unstable();
        used.dedup();
        let position = |b: u32| used.binary_search(&b).expect("in used");
        let picks: Vec<(usize, usize)> = picks
            .iter()
            .map(|(b, r)| (position(*b), *r as usize))
            .collect();
        indices
            .iter()
            .map(|&c| {
                let arrays: Vec<&dyn Array> = used
                    .iter()
                    .map(|b| {
                        side.batches[*b as usize]
                            .as_ref()
                            .expect("stored")
                            .column(c)
                            .as_ref()
                    })
                    .collect();
                arrow_select::interleave::interleave(&arrays, &picks)
            })
            .collect()
    };
    let lefts: Vec<(u32, u32)> = pairs.iter().map(|p| p.0).collect();
    let rights: Vec<(u32, u32)> = pairs.iter().map(|p| p.1).collect();
    let mut columns = gather(left_side, &lefts, None)?;
    columns.extend(gather(right_side, &rights, Some(&spec.node.right_columns))?);
    Ok(Some(RecordBatch::try_new(
        spec.node.schema.clone(),
        columns,
    )?))
}

/// Left rows without a partner, with null right columns.
fn left_only(
    spec: &IntervalJoinSpec,
    left: &Side,
    rows: &[(u32, u32)],
) -> Result<RecordBatch, Box<dyn std::error::Error>> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut by_batch: Vec<(u32, Vec<u32>)> = Vec::new();
    for &(b, r) in rows {
        match by_batch.last_mut() {
            Some((last, rs)) if *last == b => rs.push(r),
            _ => by_batch.push((b, vec![r])),
        }
    }
    let mut parts = Vec::new();
    for (b, rs) in by_batch {
        let batch = left.batches[b as usize]
            .as_ref()
            .expect("unmatched rows are stored");
        parts.push(arrow_select::take::take_record_batch(
            batch,
            &UInt32Array::from(rs),
        )?);
    }
    let left_schema = parts[0].schema();
    let all = arrow_select::concat::concat_batches(&left_schema, &parts)?;
    columns.extend(all.columns().iter().cloned());
    for &c in &spec.node.right_columns {
        columns.push(new_null_array(
            spec.node.right_schema.field(c).data_type(),
            all.num_rows(),
        ));
    }
    Ok(RecordBatch::try_new(spec.node.schema.clone(), columns)?)
}
