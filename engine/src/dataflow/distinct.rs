//! `distinct on k, ... within D`: a row passes unless a row with the same key passed at most
//! `D` earlier in event time. Rows are exchanged by key and held until the frontier passes
//! their event time, then decided in event-time order, so the result does not depend on the
//! order rows arrived in (within `max_out_of_order`) or the worker count. Each worker remembers,
//! per key, the time of the last row it let through, and forgets keys once `time + D` is
//! behind the frontier.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_row::{RowConverter, SortField};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::key_by::KeyBy;
use super::read::from_time;
use super::{BatchStream, Instance};
use crate::arrow_schema_map::arrow_type;
use crate::expr::evaluate;
use crate::physical::DistinctNode;
use crate::shared::RunShared;
use crate::wire::WireBatch;

pub struct DistinctSpec {
    /// What planning decided (`physical::DistinctNode`).
    pub node: DistinctNode,
    /// Which worker runs this instance, and where it counts its rows.
    pub at: Instance,
}

pub trait DistinctRows {
    fn distinct_rows(self, spec: DistinctSpec, shared: Arc<RunShared>) -> Self;
}

impl<'scope> DistinctRows for BatchStream<'scope> {
    fn distinct_rows(self, spec: DistinctSpec, shared: Arc<RunShared>) -> Self {
        let spec = Arc::new(spec);
        let keyed = self.key_by(
            spec.node.keys.clone(),
            spec.at.worker,
            spec.at.workers,
            spec.at.context.clone(),
            shared.clone(),
        );
        keyed.unary_frontier(Pipeline, "Distinct", move |_initial, _| {
            let converter = RowConverter::new(
                spec.node
                    .keys
                    .iter()
                    .map(|k| SortField::new(arrow_type(k.ty)))
                    .collect(),
            )
            .expect("arrow-row encodes every language type");
            let mut last_seen: hashbrown::HashMap<Box<[u8]>, i64> = hashbrown::HashMap::new();
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut held: Option<Capability<u64>> = None;
            move |(input, frontier), output| {
                let _stage = crate::abort::stage(&spec.at.context);
                input.for_each(|cap, data| {
                    let Some(&t) = cap.least() else { return };
                    if held.as_ref().is_none_or(|h| t < *h.time()) {
                        held = Some(cap.delayed(&t, 0));
                    }
                    pending.extend(data.drain(..).map(|(_, sender, WireBatch(b))| {
                        shared.flow.receive(sender as usize, &b);
                        b
                    }));
                });
                let low = frontier.frontier().iter().min().copied();
                let ready_before = low.map_or(i64::MAX, from_time);
                if !pending.is_empty() {
                    match pass(
                        &spec,
                        &converter,
                        &mut last_seen,
                        &mut pending,
                        ready_before,
                    ) {
                        Ok(Some(kept)) => {
                            if let Some(cap) = held.as_ref() {
                                spec.at
                                    .rows_out
                                    .fetch_add(kept.num_rows() as u64, Ordering::Relaxed);
                                output.session(cap).give(kept);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => shared.failures.record(&spec.at.context, e),
                    }
                }
                last_seen.retain(|_, t| *t >= ready_before.saturating_sub(spec.node.within));
                match low {
                    Some(low) if !pending.is_empty() => {
                        if let Some(cap) = held.as_mut()
                            && low > *cap.time()
                        {
                            cap.downgrade(&low);
                        }
                    }
                    _ => held = None,
                }
            }
        })
    }
}

/// Decides the pending rows with event time before `ready_before`, in event-time order (ties in
/// arrival order); keeps the others pending. Returns the rows that pass.
fn pass(
    spec: &DistinctSpec,
    converter: &RowConverter,
    last_seen: &mut hashbrown::HashMap<Box<[u8]>, i64>,
    pending: &mut Vec<RecordBatch>,
    ready_before: i64,
) -> Result<Option<RecordBatch>, Box<dyn std::error::Error>> {
    let schema = pending[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, pending.iter())?;
    pending.clear();
    let keys = spec
        .node
        .keys
        .iter()
        .map(|k| evaluate(k, &all).map(crate::expr::canonical_key))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = converter.convert_columns(&keys)?;
    let times = all
        .column(spec.node.time_column)
        .as_primitive::<TimestampMillisecondType>();
    let (mut ready, mut waiting): (Vec<usize>, Vec<u32>) = (Vec::new(), Vec::new());
    for i in 0..all.num_rows() {
        if times.value(i) < ready_before {
            ready.push(i);
        } else {
            waiting.push(i as u32);
        }
    }
    if !waiting.is_empty() {
        pending.push(arrow_select::take::take_record_batch(
            &all,
            &arrow_array::UInt32Array::from(waiting),
        )?);
    }
    ready.sort_by_key(|&i| (times.value(i), i));
    let mut keep = Vec::new();
    for i in ready {
        let t = times.value(i);
        let key = rows.row(i);
        let dup = last_seen
            .get(key.as_ref())
            .is_some_and(|&prev| (t - prev).abs() <= spec.node.within);
        if !dup {
            last_seen.insert(key.as_ref().into(), t);
            keep.push(i as u32);
        }
    }
    if keep.is_empty() {
        return Ok(None);
    }
    keep.sort_unstable();
    Ok(Some(arrow_select::take::take_record_batch(
        &all,
        &arrow_array::UInt32Array::from(keep),
    )?))
}
