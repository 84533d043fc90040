//! The partial-aggregate kernels against the CPU's partials on random and edge-case columns:
//! nulls, NaN, infinities, signed zeros, extreme values, empty batches, one row, sizes that are
//! not a multiple of the workgroup size and a batch needing more than 65,535 workgroups.
//! Without an adapter every test skips loudly (and fails under CI=true).

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::gpu_partials::{AggInput, PartialKind, batch_partials};
use super::state::{AggColumn, PartialValue};
use crate::gpu::{Gpu, WORKGROUP_SIZE};

/// Rows that need more than 65,535 workgroups of 256 threads.
const HUGE: usize = 65_535 * WORKGROUP_SIZE as usize + 1_001;
const SIZES: [usize; 6] = [0, 1, 255, 257, 4_099, 100_003];

fn ints(n: usize, groups: u32, seed: u64) -> (Vec<u32>, ArrayRef) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let edge = [
        i64::MAX,
        i64::MIN,
        -1,
        0,
        1,
        i64::MAX,
        i64::MIN + 1,
        1 << 32,
        -(1 << 32),
    ];
    let ids = (0..n).map(|_| rng.random_range(0..groups)).collect();
    let values: Int64Array = (0..n)
        .map(|i| match (i % 7, edge.get(i)) {
            (_, Some(&v)) => Some(v),
            (0, _) => None,
            (1, _) => Some(rng.random::<i64>()),
            _ => Some(rng.random_range(-1_000_000..1_000_000)),
        })
        .collect();
    (ids, Arc::new(values))
}

fn floats(n: usize, groups: u32, seed: u64) -> (Vec<u32>, ArrayRef) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let edge = [
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        1e300,
        -1e-300,
    ];
    let ids = (0..n).map(|_| rng.random_range(0..groups)).collect();
    let values: Float64Array = (0..n)
        .map(|i| match (i % 5, edge.get(i)) {
            // Edge values spread over the batch so some groups see none of them.
            (_, Some(&v)) if n > 100 => Some(v),
            (0, _) => None,
            (1, _) => Some(f64::from_bits(rng.random::<u64>())),
            (2, _) => Some(rng.random_range(-1e6..1e6)),
            _ => Some(rng.random_range(-1.0..1.0) * 10f64.powi(rng.random_range(-20..20))),
        })
        .collect();
    (ids, Arc::new(values))
}

/// The CPU's partials: the state column updated as `GroupTable::update` does, read per group.
fn cpu_partials(
    kind: PartialKind,
    ids: &[u32],
    groups: usize,
    arg: Option<&ArrayRef>,
) -> Vec<PartialValue> {
    let mut column = match kind {
        PartialKind::Count => AggColumn::Count(Vec::new()),
        PartialKind::SumInt => AggColumn::SumInt(Vec::new()),
        PartialKind::SumFloat => AggColumn::SumFloat(Vec::new()),
        PartialKind::Avg => AggColumn::Avg(Vec::new()),
        PartialKind::ExtremeInt { max } => AggColumn::ExtremeInt {
            max,
            values: Vec::new(),
        },
        PartialKind::ExtremeFloat { max } => AggColumn::ExtremeFloat {
            max,
            values: Vec::new(),
        },
    };
    column.resize(groups);
    column.update(ids, arg, None);
    (0..groups).map(|g| column.partial(g)).collect()
}

/// Partials compared as results: exact sums by their rounded value's bits (their bucket
/// layout may differ in normalisation), everything else as is; floats by bits.
fn same(a: &PartialValue, b: &PartialValue) -> bool {
    use PartialValue as P;
    match (a, b) {
        (P::SumFloat(Some(x)), P::SumFloat(Some(y))) => x.value().to_bits() == y.value().to_bits(),
        (P::Avg(x, n), P::Avg(y, m)) => n == m && x.value().to_bits() == y.value().to_bits(),
        (P::Float(Some(x)), P::Float(Some(y))) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn check_partials(
    kind: PartialKind,
    ids: &[u32],
    groups: usize,
    arg: Option<&ArrayRef>,
    max_rows: Option<usize>,
) {
    let Some(gpu) = Gpu::for_tests(module_path!()) else {
        return;
    };
    let gpu = batch_partials(gpu, ids, groups, &[AggInput { kind, arg }], max_rows).unwrap();
    let expected = if ids.is_empty() {
        Vec::new()
    } else {
        cpu_partials(kind, ids, groups, arg)
    };
    assert_eq!(gpu[0].len(), expected.len(), "{kind:?}: groups");
    for (g, (x, y)) in gpu[0].iter().zip(&expected).enumerate() {
        assert!(
            same(x, y),
            "{kind:?} rows {} group {g}: gpu {x:?} cpu {y:?}",
            ids.len()
        );
    }
}

const INT_KINDS: [PartialKind; 4] = [
    PartialKind::Count,
    PartialKind::SumInt,
    PartialKind::ExtremeInt { max: true },
    PartialKind::ExtremeInt { max: false },
];
const FLOAT_KINDS: [PartialKind; 5] = [
    PartialKind::Count,
    PartialKind::SumFloat,
    PartialKind::Avg,
    PartialKind::ExtremeFloat { max: true },
    PartialKind::ExtremeFloat { max: false },
];

#[test]
fn int_partials_match_cpu() {
    for (k, n) in SIZES.into_iter().enumerate() {
        for groups in [1, 7, 1000] {
            let (ids, values) = ints(n, groups, k as u64 * 31 + u64::from(groups));
            for kind in INT_KINDS {
                check_partials(kind, &ids, groups as usize, Some(&values), None);
            }
            check_partials(PartialKind::Count, &ids, groups as usize, None, None);
        }
    }
}

#[test]
fn float_partials_match_cpu() {
    for (k, n) in SIZES.into_iter().enumerate() {
        for groups in [1, 7, 1000] {
            let (ids, values) = floats(n, groups, k as u64 * 17 + u64::from(groups));
            for kind in FLOAT_KINDS {
                check_partials(kind, &ids, groups as usize, Some(&values), None);
            }
        }
    }
}

#[test]
fn avg_of_ints_and_extremes_of_bools_match_cpu() {
    let (ids, values) = ints(10_007, 13, 5);
    check_partials(PartialKind::Avg, &ids, 13, Some(&values), None);
    let bools: ArrayRef = Arc::new(BooleanArray::from_iter(
        (0..10_007).map(|i| (i % 11 != 0).then_some(i % 3 == 0)),
    ));
    for kind in [
        PartialKind::ExtremeInt { max: true },
        PartialKind::ExtremeInt { max: false },
    ] {
        check_partials(kind, &ids, 13, Some(&bools), None);
    }
}

#[test]
fn sliced_arrays_and_chunked_batches_match_cpu() {
    // A slice at a bit offset that is not a multiple of 8 (validity re-packing), and a batch
    // split into chunks of 1,000 rows whose partials merge on the CPU.
    let (ids, values) = floats(20_011, 9, 77);
    let sliced = values.slice(3, 20_000);
    for kind in FLOAT_KINDS {
        check_partials(kind, &ids[3..20_003], 9, Some(&sliced), None);
        check_partials(kind, &ids, 9, Some(&values), Some(1_000));
    }
    let (ids, values) = ints(20_011, 9, 78);
    for kind in INT_KINDS {
        check_partials(kind, &ids, 9, Some(&values), Some(1_000));
    }
}

#[test]
fn int_sum_overflowing_i64_stays_exact() {
    // 4,000 x i64::MAX in one group: far beyond i64, exact in the i128 partial (null at finish).
    let values: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX; 4_000]));
    check_partials(PartialKind::SumInt, &[0; 4_000], 1, Some(&values), None);
    let values: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN; 4_000]));
    check_partials(PartialKind::SumInt, &[0; 4_000], 1, Some(&values), None);
}

#[test]
fn partials_beyond_65535_workgroups() {
    let (ids, values) = ints(HUGE, 64, 123);
    for kind in [
        PartialKind::Count,
        PartialKind::SumInt,
        PartialKind::ExtremeInt { max: true },
    ] {
        check_partials(kind, &ids, 64, Some(&values), None);
    }
}
