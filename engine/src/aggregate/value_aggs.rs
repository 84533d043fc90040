//! Aggregates whose state is made of values rather than numbers: `count_distinct` (exact set),
//! `first`/`last` (by event time), `percentile` (DDSketch). Values are kept as arrow-row bytes,
//! so one implementation serves every type and compares the same way on every worker.
//!
//! `percentile(x, q)` uses DDSketch (Masson, Rim, Lee, VLDB 2019; crate `sketches-ddsketch`)
//! with relative accuracy `PERCENTILE_ALPHA` = 1%: the returned value `v` satisfies
//! `|v - x_q| <= 0.01 * |x_q|` where `x_q` is the exact lower quantile of rank
//! `floor(q * (n - 1))`. Memory per group is bounded by `PERCENTILE_MAX_BINS` (2048) bins per
//! sign, ~32 KiB at most, whatever the number of values; 2048 bins cover values over a range
//! of about 10^17 before the lowest bins collapse (`engine/src/aggregate/value_aggs.rs` tests
//! check the bound on skewed data).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, new_null_array};
use arrow_row::{RowConverter, SortField};
use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

use crate::arrow_schema_map::arrow_type;
use sluice_dsl::plan::DataType;

pub const PERCENTILE_ALPHA: f64 = 0.01;
pub const PERCENTILE_MAX_BINS: u32 = 2048;

fn converter(ty: DataType) -> RowConverter {
    RowConverter::new(vec![SortField::new(arrow_type(ty))])
        .expect("arrow-row encodes every language type")
}

/// `count_distinct(x)`: the set of distinct non-null values per group.
#[derive(Debug)]
pub struct DistinctColumn {
    converter: RowConverter,
    sets: Vec<hashbrown::HashSet<Box<[u8]>>>,
}

impl DistinctColumn {
    pub fn new(ty: DataType) -> DistinctColumn {
        DistinctColumn {
            converter: converter(ty),
            sets: Vec::new(),
        }
    }
    pub fn resize(&mut self, groups: usize) {
        self.sets.resize_with(groups, Default::default);
    }
    pub fn update(&mut self, groups: &[u32], arg: &ArrayRef) {
        let canonical = crate::expr::canonical_key(Arc::clone(arg));
        let Ok(rows) = self
            .converter
            .convert_columns(std::slice::from_ref(&canonical))
        else {
            return;
        };
        for (i, &g) in groups.iter().enumerate() {
            if arg.is_valid(i) {
                let set = &mut self.sets[g as usize];
                if !set.contains(rows.row(i).as_ref()) {
                    set.insert(rows.row(i).as_ref().into());
                }
            }
        }
    }
    pub fn partial(&self, g: usize) -> Vec<Vec<u8>> {
        self.sets[g].iter().map(|v| v.to_vec()).collect()
    }
    pub fn merge(&mut self, g: usize, values: Vec<Vec<u8>>) {
        self.sets[g].extend(values.into_iter().map(Vec::into_boxed_slice));
    }
    pub fn finish(&self) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            self.sets.iter().map(|s| s.len() as i64),
        ))
    }
}

/// `first(x)` / `last(x)`: the value with the smallest / largest event time; ties go to the
/// smallest / largest value, so the result never depends on arrival order.
#[derive(Debug)]
pub struct OrderedColumn {
    last: bool,
    converter: RowConverter,
    ty: DataType,
    values: Vec<Option<(i64, Box<[u8]>)>>,
}

impl OrderedColumn {
    pub fn new(ty: DataType, last: bool) -> OrderedColumn {
        OrderedColumn {
            last,
            converter: converter(ty),
            ty,
            values: Vec::new(),
        }
    }
    pub fn resize(&mut self, groups: usize) {
        self.values.resize(groups, None);
    }
    fn offer(&mut self, g: usize, time: i64, value: &[u8]) {
        let better = match &self.values[g] {
            None => true,
            Some((t, v)) => {
                let ord = (time, value).cmp(&(*t, v.as_ref()));
                if self.last { ord.is_gt() } else { ord.is_lt() }
            }
        };
        if better {
            self.values[g] = Some((time, value.into()));
        }
    }
    pub fn update(&mut self, groups: &[u32], arg: &ArrayRef, times: &[i64]) {
        let Ok(rows) = self.converter.convert_columns(std::slice::from_ref(arg)) else {
            return;
        };
        for (i, &g) in groups.iter().enumerate() {
            if arg.is_valid(i) {
                self.offer(g as usize, times[i], rows.row(i).as_ref());
            }
        }
    }
    pub fn partial(&self, g: usize) -> Option<(i64, Vec<u8>)> {
        self.values[g].as_ref().map(|(t, v)| (*t, v.to_vec()))
    }
    pub fn merge(&mut self, g: usize, value: Option<(i64, Vec<u8>)>) {
        if let Some((t, v)) = value {
            self.offer(g, t, &v);
        }
    }
    pub fn finish(&self) -> ArrayRef {
        let null = new_null_array(&arrow_type(self.ty), 1);
        let null_rows = self
            .converter
            .convert_columns(&[null])
            .expect("a null encodes");
        let parser = self.converter.parser();
        let rows = self.values.iter().map(|v| match v {
            Some((_, bytes)) => parser.parse(bytes),
            None => null_rows.row(0),
        });
        let mut columns = self
            .converter
            .convert_rows(rows)
            .expect("rows this converter encoded decode");
        columns.remove(0)
    }
}

/// `percentile(x, q)`: one DDSketch per group.
pub struct PercentileColumn {
    q: f64,
    sketches: Vec<Option<DDSketch>>,
}

fn new_sketch() -> DDSketch {
    DDSketch::new(Config::new(PERCENTILE_ALPHA, PERCENTILE_MAX_BINS, 1.0e-9))
}

impl PercentileColumn {
    pub fn new(q: f64) -> PercentileColumn {
        PercentileColumn {
            q,
            sketches: Vec::new(),
        }
    }
    pub fn resize(&mut self, groups: usize) {
        self.sketches.resize_with(groups, || None);
    }
    pub fn update(&mut self, groups: &[u32], values: &[f64], valid: impl Fn(usize) -> bool) {
        for (i, &g) in groups.iter().enumerate() {
            if valid(i) && !values[i].is_nan() {
                self.sketches[g as usize]
                    .get_or_insert_with(new_sketch)
                    .add(values[i]);
            }
        }
    }
    pub fn partial(&self, g: usize) -> Option<SketchState> {
        self.sketches[g].clone().map(SketchState)
    }
    pub fn merge(&mut self, g: usize, sketch: Option<SketchState>) {
        if let Some(SketchState(other)) = sketch {
            let slot = self.sketches[g].get_or_insert_with(new_sketch);
            // Same configuration on every worker: merging cannot fail.
            let _ = slot.merge(&other);
        }
    }
    pub fn finish(&self) -> ArrayRef {
        Arc::new(Float64Array::from_iter(self.sketches.iter().map(|s| {
            s.as_ref().and_then(|s| s.quantile(self.q).ok().flatten())
        })))
    }
}

/// A sketch as sent between workers.
#[derive(Clone, Serialize, Deserialize)]
pub struct SketchState(pub DDSketch);

impl std::fmt::Debug for SketchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DDSketch(count = {})", self.0.count())
    }
}

impl std::fmt::Debug for PercentileColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PercentileColumn(q = {}, groups = {})",
            self.q,
            self.sketches.len()
        )
    }
}

impl PartialEq for SketchState {
    fn eq(&self, other: &SketchState) -> bool {
        self.0.count() == other.0.count() && self.0.sum() == other.0.sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented bound: every estimate within 1% of the exact lower quantile, on data
    /// spanning nine orders of magnitude, in one sketch and merged from parts.
    #[test]
    fn percentile_estimates_are_within_the_relative_error_bound() {
        let mut values: Vec<f64> = (1..=100_000u64)
            .map(|i| {
                let x = (i.wrapping_mul(2654435761) % 1_000_003) as f64 / 1_000_003.0;
                (x * 20.0).exp() * if i % 5 == 0 { -1.0 } else { 1.0 } * 1e-3
            })
            .collect();
        let mut one = PercentileColumn::new(0.0);
        one.resize(1);
        one.update(&vec![0; values.len()], &values, |_| true);
        let mut merged = PercentileColumn::new(0.0);
        merged.resize(1);
        for chunk in values.chunks(7_777) {
            let mut part = PercentileColumn::new(0.0);
            part.resize(1);
            part.update(&vec![0; chunk.len()], chunk, |_| true);
            merged.merge(0, part.partial(0));
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = values[(q * (values.len() - 1) as f64).floor() as usize];
            for column in [&mut one, &mut merged] {
                column.q = q;
                let got = column
                    .finish()
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
                    .value(0);
                assert!(
                    (got - exact).abs() <= PERCENTILE_ALPHA * exact.abs() + 1e-12,
                    "q={q}: estimate {got} vs exact {exact}"
                );
            }
        }
    }

    #[test]
    fn first_and_last_follow_event_time_then_value() {
        let arg: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![
            Some("b"),
            Some("a"),
            None,
            Some("z"),
        ]));
        let times = [10, 10, 1, 20];
        let mut first = OrderedColumn::new(DataType::String, false);
        let mut last = OrderedColumn::new(DataType::String, true);
        for c in [&mut first, &mut last] {
            c.resize(2);
            c.update(&[0, 0, 0, 1], &arg, &times);
        }
        let f = first.finish();
        let f = f
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        assert_eq!((f.value(0), f.value(1)), ("a", "z"));
        let l = last.finish();
        let l = l
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        assert_eq!((l.value(0), l.value(1)), ("b", "z"));
    }

    #[test]
    fn count_distinct_merges_sets() {
        let arg: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(1), None]));
        let mut a = DistinctColumn::new(DataType::Int);
        a.resize(1);
        a.update(&[0, 0, 0, 0], &arg);
        let mut b = DistinctColumn::new(DataType::Int);
        b.resize(1);
        b.update(
            &[0, 0],
            &(Arc::new(Int64Array::from(vec![3, 2])) as ArrayRef),
        );
        a.merge(0, b.partial(0));
        assert_eq!(
            a.finish()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            3
        );
    }
}
