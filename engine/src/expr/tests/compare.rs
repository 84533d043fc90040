//! Comparisons on every comparable type.

use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::{DataType, Value};

use super::*;

const B: DataType = DataType::Bool;
const OPS: [BinaryOp; 6] = [
    BinaryOp::Eq,
    BinaryOp::NotEq,
    BinaryOp::Lt,
    BinaryOp::LtEq,
    BinaryOp::Gt,
    BinaryOp::GtEq,
];

/// Evaluates `l op r` for the six operators, in the order of [`OPS`].
fn all_ops(l: &TypedExpr, r: &TypedExpr, b: &RecordBatch) -> Vec<Vec<Option<bool>>> {
    OPS.iter()
        .map(|op| bools(&bin(*op, l.clone(), r.clone(), B), b))
        .collect()
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const N: Option<bool> = None;

#[test]
fn ints_against_a_constant() {
    let b = batch(vec![ints_col(&[Some(1), Some(2), Some(3), None])]);
    let got = all_ops(&col(0, DataType::Int), &int(2), &b);
    assert_eq!(
        got,
        vec![
            vec![F, T, F, N], // ==
            vec![T, F, T, N], // !=
            vec![T, F, F, N], // <
            vec![T, T, F, N], // <=
            vec![F, F, T, N], // >
            vec![F, T, T, N], // >=
        ]
    );
    // Constant on the left, and a null constant.
    assert_eq!(
        bools(&bin(BinaryOp::Lt, int(2), col(0, DataType::Int), B), &b),
        vec![F, F, T, N]
    );
    assert_eq!(
        bools(
            &bin(BinaryOp::Eq, col(0, DataType::Int), null(DataType::Int), B),
            &b
        ),
        vec![N; 4]
    );
}

#[test]
fn strings_compare_by_code_point() {
    let b = batch(vec![
        strs_col(&[Some("apple"), Some("banana"), Some("Zed"), None, Some("é")]),
        strs_col(&[Some("b"), Some("b"), Some("b"), Some("b"), Some("z")]),
    ]);
    let got = all_ops(&col(0, DataType::String), &col(1, DataType::String), &b);
    // "Zed" < "b" ('Z' is 0x5A), "é" (U+00E9) > "z" (U+007A).
    assert_eq!(got[2], vec![T, F, T, N, F]); // <
    assert_eq!(got[4], vec![F, T, F, N, T]); // >
    assert_eq!(
        bools(
            &bin(BinaryOp::Eq, col(0, DataType::String), string("apple"), B),
            &b
        ),
        vec![T, F, F, N, F]
    );
}

#[test]
fn bools_timestamps_durations() {
    let b = batch(vec![
        bools_col(&[Some(false), Some(true), None]),
        ts_col(&[Some(-1), Some(0), Some(5)]),
        dur_col(&[Some(1_000), Some(60_000), None]),
    ]);
    assert_eq!(
        bools(&bin(BinaryOp::Lt, col(0, B), boolean(true), B), &b),
        vec![T, F, N]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Eq, col(0, B), boolean(false), B), &b),
        vec![T, F, N]
    );
    let ts0 = lit(Value::Timestamp(0), DataType::Timestamp);
    assert_eq!(
        all_ops(&col(1, DataType::Timestamp), &ts0, &b)[2],
        vec![T, F, F]
    );
    assert_eq!(
        all_ops(&col(1, DataType::Timestamp), &ts0, &b)[5],
        vec![F, T, T]
    );
    let one_min = lit(Value::Duration(60_000), DataType::Duration);
    assert_eq!(
        all_ops(&col(2, DataType::Duration), &one_min, &b)[3],
        vec![T, T, N]
    );
    assert_eq!(
        all_ops(&col(2, DataType::Duration), &one_min, &b)[1],
        vec![T, F, N]
    );
}

#[test]
fn floats_zero_signs_and_nan() {
    // -0.0 == 0.0; NaN == NaN; NaN is above every other float (incl. inf).
    let b = batch(vec![
        floats_col(&[
            Some(-0.0),
            Some(f64::NAN),
            Some(f64::NAN),
            Some(1.0),
            Some(f64::INFINITY),
            None,
        ]),
        floats_col(&[
            Some(0.0),
            Some(-f64::NAN),
            Some(1.0),
            Some(f64::NAN),
            Some(f64::NAN),
            Some(1.0),
        ]),
    ]);
    let got = all_ops(&col(0, DataType::Float), &col(1, DataType::Float), &b);
    assert_eq!(
        got,
        vec![
            vec![T, T, F, F, F, N], // ==
            vec![F, F, T, T, T, N], // !=
            vec![F, F, F, T, T, N], // <
            vec![T, T, F, T, T, N], // <=
            vec![F, F, T, F, F, N], // >
            vec![T, T, T, F, F, N], // >=
        ]
    );
    // Ordinary values and constants on either side.
    let b = batch(vec![floats_col(&[Some(1.5), Some(2.5), Some(-3.0)])]);
    assert_eq!(
        bools(
            &bin(BinaryOp::Gt, col(0, DataType::Float), float(2.0), B),
            &b
        ),
        vec![F, T, F]
    );
    assert_eq!(
        bools(
            &bin(BinaryOp::LtEq, float(1.5), col(0, DataType::Float), B),
            &b
        ),
        vec![T, T, F]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Lt, float(1.0), float(2.0), B), &b),
        vec![T, T, T]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Lt, float(1.0), null(DataType::Float), B), &b),
        vec![N, N, N]
    );
}

#[test]
fn constant_comparisons_fold() {
    let b = rows(2);
    assert_eq!(bools(&bin(BinaryOp::Lt, int(1), int(2), B), &b), vec![T, T]);
    assert_eq!(
        bools(&bin(BinaryOp::Eq, string("a"), string("a"), B), &b),
        vec![T, T]
    );
    assert_eq!(
        bools(
            &bin(BinaryOp::NotEq, string("a"), null(DataType::String), B),
            &b
        ),
        vec![N, N]
    );
}
