//! Accumulator state of `aggregate`, stored per aggregate as one column over groups, so a
//! batch updates it with one typed loop per aggregate (no per-row dispatch on the function).
//!
//! A worker folds its rows into partial states, sends each group's partial (`PartialValue`s)
//! to the group's owner, and the owner merges them and builds the final columns.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, DurationMillisecondArray, Float64Array, Int64Array,
    StringArray, TimestampMillisecondArray,
};
use arrow_schema::DataType as ArrowType;
use serde::{Deserialize, Serialize};
use sluice_dsl::plan::{AggCall, AggFunc, DataType};

use super::exact_sum::ExactSum;
use super::value_aggs::{DistinctColumn, OrderedColumn, PercentileColumn, SketchState};

/// One aggregate's state for every group of a worker.
#[derive(Debug)]
pub enum AggColumn {
    /// `count()` and `count(x)`.
    Count(Vec<i64>),
    /// `sum(int)`: i128 cannot overflow in practice; a result outside i64 becomes null.
    SumInt(Vec<Option<i128>>),
    /// `sum(float)`: exact, so the result does not depend on how rows met.
    SumFloat(Vec<Option<ExactSum>>),
    /// `avg`: exact sum and count of non-null values.
    Avg(Vec<(ExactSum, i64)>),
    /// `min`/`max` over int, timestamp, duration, date (days) and bool (as 0/1).
    ExtremeInt { max: bool, values: Vec<Option<i64>> },
    /// `min`/`max` over floats in total order, NaN above +inf (as in SQL engines).
    ExtremeFloat { max: bool, values: Vec<Option<f64>> },
    ExtremeString {
        max: bool,
        values: Vec<Option<String>>,
    },
    /// `count_distinct(x)`.
    Distinct(DistinctColumn),
    /// `first(x)` / `last(x)` by event time.
    Ordered(OrderedColumn),
    /// `percentile(x, q)`.
    Percentile(PercentileColumn),
}

/// One group's state of one aggregate, as sent between workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PartialValue {
    Count(i64),
    SumInt(Option<i128>),
    SumFloat(Option<ExactSum>),
    Avg(ExactSum, i64),
    Int(Option<i64>),
    Float(Option<f64>),
    String(Option<String>),
    Distinct(Vec<Vec<u8>>),
    Ordered(Option<(i64, Vec<u8>)>),
    Sketch(Option<SketchState>),
}

/// Aggregates the engine runs today; the others are rejected at planning time.
pub fn supported(_func: AggFunc) -> bool {
    true
}

fn canonical_float(x: f64) -> f64 {
    if x.is_nan() { f64::NAN } else { x }
}

impl AggColumn {
    /// Empty state for `call`. Panics only on a function `supported` rejects.
    pub fn new(call: &AggCall) -> AggColumn {
        let arg_ty = call.arg.as_ref().map(|a| a.ty);
        match (call.func, arg_ty) {
            (AggFunc::CountRows | AggFunc::Count, _) => AggColumn::Count(Vec::new()),
            (AggFunc::Sum, Some(DataType::Float)) => AggColumn::SumFloat(Vec::new()),
            (AggFunc::Sum, _) => AggColumn::SumInt(Vec::new()),
            (AggFunc::Avg, _) => AggColumn::Avg(Vec::new()),
            (AggFunc::Min | AggFunc::Max, Some(ty)) => {
                let max = call.func == AggFunc::Max;
                match ty {
                    DataType::Float => AggColumn::ExtremeFloat {
                        max,
                        values: Vec::new(),
                    },
                    DataType::String => AggColumn::ExtremeString {
                        max,
                        values: Vec::new(),
                    },
                    _ => AggColumn::ExtremeInt {
                        max,
                        values: Vec::new(),
                    },
                }
            }
            (AggFunc::CountDistinct, Some(ty)) => AggColumn::Distinct(DistinctColumn::new(ty)),
            (AggFunc::First, Some(ty)) => AggColumn::Ordered(OrderedColumn::new(ty, false)),
            (AggFunc::Last, Some(ty)) => AggColumn::Ordered(OrderedColumn::new(ty, true)),
            (AggFunc::Percentile(q), _) => AggColumn::Percentile(PercentileColumn::new(q)),
            (func, None) => unreachable!("aggregate {func:?} always has an argument (checker)"),
        }
    }

    /// Makes room for `groups` groups.
    pub fn resize(&mut self, groups: usize) {
        match self {
            AggColumn::Count(v) => v.resize(groups, 0),
            AggColumn::SumInt(v) => v.resize(groups, None),
            AggColumn::SumFloat(v) => v.resize(groups, None),
            AggColumn::Avg(v) => v.resize(groups, (ExactSum::default(), 0)),
            AggColumn::ExtremeInt { values, .. } => values.resize(groups, None),
            AggColumn::ExtremeFloat { values, .. } => values.resize(groups, None),
            AggColumn::ExtremeString { values, .. } => values.resize(groups, None),
            AggColumn::Distinct(c) => c.resize(groups),
            AggColumn::Ordered(c) => c.resize(groups),
            AggColumn::Percentile(c) => c.resize(groups),
        }
    }

    /// Folds a batch: row `i` belongs to group `groups[i]`; `arg` is the evaluated argument
    /// (`None` for `count()`). Nulls are skipped.
    /// `times` holds each row's event time; `first`/`last` need it (the planner ensures it).
    pub fn update(&mut self, groups: &[u32], arg: Option<&ArrayRef>, times: Option<&[i64]>) {
        let Some(arg) = arg else {
            if let AggColumn::Count(counts) = self {
                groups.iter().for_each(|&g| counts[g as usize] += 1);
            }
            return;
        };
        let valid = |i: usize| arg.is_valid(i);
        match self {
            AggColumn::Distinct(c) => c.update(groups, arg),
            AggColumn::Ordered(c) => {
                if let Some(times) = times {
                    c.update(groups, arg, times);
                }
            }
            AggColumn::Percentile(c) => {
                let values = float_values(arg);
                c.update(groups, &values, valid);
            }
            AggColumn::Count(counts) => {
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        counts[g as usize] += 1;
                    }
                }
            }
            AggColumn::SumInt(sums) => {
                let values = arg.as_primitive::<Int64Type>().values();
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        let s = sums[g as usize].get_or_insert(0);
                        *s += values[i] as i128;
                    }
                }
            }
            AggColumn::SumFloat(sums) => {
                let values = arg.as_primitive::<Float64Type>().values();
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        sums[g as usize]
                            .get_or_insert_with(ExactSum::default)
                            .add(values[i]);
                    }
                }
            }
            AggColumn::Avg(states) => {
                let values = float_values(arg);
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        let (sum, n) = &mut states[g as usize];
                        sum.add(values[i]);
                        *n += 1;
                    }
                }
            }
            AggColumn::ExtremeInt { max, values } => {
                let ints = int_values(arg);
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        fold_extreme(&mut values[g as usize], ints[i], *max, |a, b| a.cmp(b));
                    }
                }
            }
            AggColumn::ExtremeFloat { max, values } => {
                let floats = arg.as_primitive::<Float64Type>().values();
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        let x = canonical_float(floats[i]);
                        fold_extreme(&mut values[g as usize], x, *max, f64::total_cmp);
                    }
                }
            }
            AggColumn::ExtremeString { max, values } => {
                let strings = arg.as_string::<i32>();
                for (i, &g) in groups.iter().enumerate() {
                    if valid(i) {
                        let s = strings.value(i);
                        let slot = &mut values[g as usize];
                        let better = match slot {
                            None => true,
                            Some(cur) => (s > cur.as_str()) == *max && s != cur.as_str(),
                        };
                        if better {
                            *slot = Some(s.to_owned());
                        }
                    }
                }
            }
        }
    }

    /// The state of group `g`, to send to its owner.
    pub fn partial(&self, g: usize) -> PartialValue {
        match self {
            AggColumn::Count(v) => PartialValue::Count(v[g]),
            AggColumn::SumInt(v) => PartialValue::SumInt(v[g]),
            AggColumn::SumFloat(v) => PartialValue::SumFloat(v[g].clone()),
            AggColumn::Avg(v) => PartialValue::Avg(v[g].0.clone(), v[g].1),
            AggColumn::ExtremeInt { values, .. } => PartialValue::Int(values[g]),
            AggColumn::ExtremeFloat { values, .. } => PartialValue::Float(values[g]),
            AggColumn::ExtremeString { values, .. } => PartialValue::String(values[g].clone()),
            AggColumn::Distinct(c) => PartialValue::Distinct(c.partial(g)),
            AggColumn::Ordered(c) => PartialValue::Ordered(c.partial(g)),
            AggColumn::Percentile(c) => PartialValue::Sketch(c.partial(g)),
        }
    }

    /// Merges another worker's partial into group `g`.
    pub fn merge(&mut self, g: usize, partial: PartialValue) {
        match (self, partial) {
            (AggColumn::Count(v), PartialValue::Count(n)) => v[g] += n,
            (AggColumn::SumInt(v), PartialValue::SumInt(Some(s))) => *v[g].get_or_insert(0) += s,
            (AggColumn::SumFloat(v), PartialValue::SumFloat(Some(s))) => {
                v[g].get_or_insert_with(ExactSum::default).merge(&s)
            }
            (AggColumn::Avg(v), PartialValue::Avg(s, n)) => {
                v[g].0.merge(&s);
                v[g].1 += n;
            }
            (AggColumn::ExtremeInt { max, values }, PartialValue::Int(Some(x))) => {
                fold_extreme(&mut values[g], x, *max, |a, b| a.cmp(b))
            }
            (AggColumn::ExtremeFloat { max, values }, PartialValue::Float(Some(x))) => {
                fold_extreme(&mut values[g], x, *max, f64::total_cmp)
            }
            (AggColumn::ExtremeString { max, values }, PartialValue::String(Some(s))) => {
                let better = match &values[g] {
                    None => true,
                    Some(cur) => (s.as_str() > cur.as_str()) == *max && &s != cur,
                };
                if better {
                    values[g] = Some(s);
                }
            }
            (AggColumn::Distinct(c), PartialValue::Distinct(values)) => c.merge(g, values),
            (AggColumn::Ordered(c), PartialValue::Ordered(value)) => c.merge(g, value),
            (AggColumn::Percentile(c), PartialValue::Sketch(sketch)) => c.merge(g, sketch),
            (_, PartialValue::SumInt(None) | PartialValue::SumFloat(None)) => {}
            (
                _,
                PartialValue::Int(None) | PartialValue::Float(None) | PartialValue::String(None),
            ) => {}
            (column, partial) => unreachable!("partial {partial:?} does not fit {column:?}"),
        }
    }

    /// The result column for `call` (of its declared output type).
    pub fn finish(&self, call: &AggCall) -> ArrayRef {
        match self {
            AggColumn::Count(v) => Arc::new(Int64Array::from(v.clone())),
            AggColumn::SumInt(v) => Arc::new(Int64Array::from_iter(
                v.iter().map(|s| s.and_then(|s| i64::try_from(s).ok())),
            )),
            AggColumn::SumFloat(v) => Arc::new(Float64Array::from_iter(
                v.iter().map(|s| s.as_ref().map(ExactSum::value)),
            )),
            AggColumn::Avg(v) => Arc::new(Float64Array::from_iter(
                v.iter()
                    .map(|(s, n)| (*n > 0).then(|| s.value() / *n as f64)),
            )),
            AggColumn::ExtremeInt { values, .. } => {
                let values = values.clone();
                match call.ty {
                    DataType::Bool => Arc::new(BooleanArray::from_iter(
                        values.iter().map(|v| v.map(|x| x != 0)),
                    )),
                    DataType::Timestamp => Arc::new(TimestampMillisecondArray::from(values)),
                    DataType::Duration => Arc::new(DurationMillisecondArray::from(values)),
                    DataType::Date => Arc::new(Date32Array::from_iter(
                        values.iter().map(|v| v.map(|d| d as i32)),
                    )),
                    _ => Arc::new(Int64Array::from(values)),
                }
            }
            AggColumn::ExtremeFloat { values, .. } => Arc::new(Float64Array::from(values.clone())),
            AggColumn::ExtremeString { values, .. } => {
                Arc::new(StringArray::from_iter(values.iter().map(|s| s.as_deref())))
            }
            AggColumn::Distinct(c) => c.finish(),
            AggColumn::Ordered(c) => c.finish(),
            AggColumn::Percentile(c) => c.finish(),
        }
    }
}

fn fold_extreme<T: Copy>(
    slot: &mut Option<T>,
    x: T,
    max: bool,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    let better = match slot {
        None => true,
        Some(cur) => {
            let ord = cmp(&x, cur);
            if max { ord.is_gt() } else { ord.is_lt() }
        }
    };
    if better {
        *slot = Some(x);
    }
}

/// i64 view of an int, timestamp, duration, date or bool column.
pub(crate) fn int_values(arg: &ArrayRef) -> std::borrow::Cow<'_, [i64]> {
    match arg.data_type() {
        ArrowType::Int64 => arg.as_primitive::<Int64Type>().values().as_ref().into(),
        ArrowType::Timestamp(..) => arg
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .as_ref()
            .into(),
        ArrowType::Duration(..) => arg
            .as_primitive::<DurationMillisecondType>()
            .values()
            .as_ref()
            .into(),
        ArrowType::Date32 => arg
            .as_primitive::<Date32Type>()
            .values()
            .iter()
            .map(|&d| i64::from(d))
            .collect::<Vec<_>>()
            .into(),
        ArrowType::Boolean => {
            let b = arg.as_boolean();
            (0..b.len())
                .map(|i| i64::from(b.value(i)))
                .collect::<Vec<_>>()
                .into()
        }
        other => unreachable!("min/max over {other} is rejected by the checker"),
    }
}

/// f64 view of a float column, or its ints converted (avg and percentile of ints).
pub(crate) fn float_values(arg: &ArrayRef) -> std::borrow::Cow<'_, [f64]> {
    match arg.data_type() {
        ArrowType::Float64 => arg.as_primitive::<Float64Type>().values().as_ref().into(),
        _ => arg
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(|&v| v as f64)
            .collect::<Vec<_>>()
            .into(),
    }
}
