//! How long past its event time a row can still change what the sinks write: the horizon a
//! committing source (Kafka) adds to a message's event time before its offset may be
//! committed (`dataflow::read::CommitSpec`).
//!
//! Per stage: a window holds a row until the window closes (`size` past the row, at most);
//! an interval join until `within` past it; a `snapshot_every(D)` sink until the next
//! snapshot; session windows for as long as their session lasts, which has no bound (`None`).
//! Filters, projections, lookup joins, `top`, `distinct` and changelog aggregates emit at the
//! row's own time (0). A stream's horizon is the largest of its inputs' plus its stages'; the
//! plan's is the largest over every sink.

use sluice_dsl::plan::{InputRef, LogicalPlan, OpKind, SinkMode, WindowKind};

/// The plan's commit horizon in ms; `None` when unbounded.
pub fn commit_horizon_ms(plan: &LogicalPlan) -> Option<i64> {
    let mut streams: Vec<Option<i64>> = Vec::with_capacity(plan.streams.len());
    let of = |input: &InputRef, streams: &[Option<i64>]| match input {
        // Streams come in order: a later one cannot be an input.
        InputRef::Stream(i) => streams.get(*i).copied().unwrap_or(None),
        InputRef::Source(_) | InputRef::Table(_) => Some(0),
    };
    for stream in &plan.streams {
        let mut horizon = stream
            .inputs
            .iter()
            .map(|i| of(i, &streams))
            .try_fold(0i64, |acc, h| h.map(|h| acc.max(h)));
        for op in &stream.ops {
            let (right, hold) = match &op.kind {
                OpKind::Aggregate {
                    window: Some(window),
                    ..
                } => (
                    None,
                    match window {
                        WindowKind::Tumbling { size } | WindowKind::Sliding { size, .. } => {
                            Some(*size)
                        }
                        WindowKind::Session { .. } => None,
                    },
                ),
                OpKind::Join {
                    right,
                    within: Some(within),
                    ..
                } => (Some(of(right, &streams)), Some(*within)),
                _ => (None, Some(0)),
            };
            horizon = match (horizon, right, hold) {
                (Some(h), None, Some(d)) => Some(h.saturating_add(d)),
                (Some(h), Some(Some(r)), Some(d)) => Some(h.max(r).saturating_add(d)),
                _ => None,
            };
        }
        streams.push(horizon);
    }
    plan.sinks
        .iter()
        .map(|sink| {
            let extra = match sink.mode {
                SinkMode::SnapshotEvery(ms) => ms,
                SinkMode::Append | SinkMode::Changelog => 0,
            };
            of(&sink.input, &streams).map(|h| h.saturating_add(extra))
        })
        .try_fold(0i64, |acc, h| h.map(|h| acc.max(h)))
}
