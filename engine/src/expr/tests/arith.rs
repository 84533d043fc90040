//! `+ - * / %` and unary minus.

use sluice_dsl::ast::{BinaryOp, UnaryOp};
use sluice_dsl::plan::{DataType, TExpr, Value};

use super::*;
use crate::expr::ExprError;

const I: DataType = DataType::Int;
const F: DataType = DataType::Float;
const TS: DataType = DataType::Timestamp;
const DUR: DataType = DataType::Duration;

fn neg(e: TypedExpr, ty: DataType) -> TypedExpr {
    te(TExpr::Unary(UnaryOp::Neg, Box::new(e)), ty)
}

#[test]
fn int_arithmetic_with_nulls() {
    let b = batch(vec![
        ints_col(&[Some(1), None, Some(3)]),
        ints_col(&[Some(10), Some(20), None]),
    ]);
    let (x, y) = (col(0, I), col(1, I));
    assert_eq!(
        ints(&bin(BinaryOp::Add, x.clone(), y.clone(), I), &b),
        vec![Some(11), None, None]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Sub, x.clone(), y.clone(), I), &b),
        vec![Some(-9), None, None]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Mul, x.clone(), y.clone(), I), &b),
        vec![Some(10), None, None]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Add, x.clone(), int(5), I), &b),
        vec![Some(6), None, Some(8)]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Sub, int(5), x.clone(), I), &b),
        vec![Some(4), None, Some(2)]
    );
    assert_eq!(ints(&bin(BinaryOp::Add, x, null(I), I), &b), vec![None; 3]);
}

#[test]
fn int_overflow_gives_null_for_that_row_only() {
    let b = batch(vec![ints_col(&[
        Some(i64::MAX),
        Some(1),
        None,
        Some(i64::MIN),
    ])]);
    let x = col(0, I);
    assert_eq!(
        ints(&bin(BinaryOp::Add, x.clone(), int(1), I), &b),
        vec![None, Some(2), None, Some(i64::MIN + 1)]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Sub, x.clone(), int(1), I), &b),
        vec![Some(i64::MAX - 1), Some(0), None, None]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Mul, x.clone(), int(2), I), &b),
        vec![None, Some(2), None, None]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Mul, x.clone(), int(-1), I), &b),
        vec![Some(-i64::MAX), Some(-1), None, None]
    );
    assert_eq!(
        ints(&neg(x, I), &b),
        vec![Some(-i64::MAX), Some(-1), None, None]
    );
    // Two constants that overflow: null, broadcast.
    let e = bin(BinaryOp::Add, int(i64::MAX), int(1), I);
    assert_eq!(ints(&e, &rows(2)), vec![None, None]);
    let e = bin(BinaryOp::Mul, int(1 << 62), int(4), I);
    assert_eq!(ints(&e, &rows(1)), vec![None]);
}

#[test]
fn int_division_truncates_and_zero_divisor_is_null() {
    let b = batch(vec![
        ints_col(&[
            Some(7),
            Some(-7),
            Some(7),
            Some(-7),
            Some(5),
            Some(i64::MIN),
            None,
            Some(0),
        ]),
        ints_col(&[
            Some(2),
            Some(2),
            Some(-2),
            Some(-2),
            Some(0),
            Some(-1),
            Some(1),
            Some(3),
        ]),
    ]);
    let (x, y) = (col(0, I), col(1, I));
    assert_eq!(
        ints(&bin(BinaryOp::Div, x.clone(), y.clone(), I), &b),
        vec![
            Some(3),
            Some(-3),
            Some(-3),
            Some(3),
            None,
            None,
            None,
            Some(0)
        ]
    );
    // `%` takes the dividend's sign; MIN % -1 is 0.
    assert_eq!(
        ints(&bin(BinaryOp::Mod, x.clone(), y, I), &b),
        vec![
            Some(1),
            Some(-1),
            Some(1),
            Some(-1),
            None,
            Some(0),
            None,
            Some(0)
        ]
    );
    // A constant zero divisor: every row null.
    assert_eq!(
        ints(&bin(BinaryOp::Div, x.clone(), int(0), I), &b),
        vec![None; 8]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Mod, x.clone(), int(0), I), &b),
        vec![None; 8]
    );
    // No failing row: the kernel's result.
    assert_eq!(
        ints(&bin(BinaryOp::Div, x, int(3), I), &b),
        vec![
            Some(2),
            Some(-2),
            Some(2),
            Some(-2),
            Some(1),
            Some(i64::MIN / 3),
            None,
            Some(0)
        ]
    );
}

#[test]
fn float_arithmetic_is_ieee() {
    let b = batch(vec![
        floats_col(&[
            Some(1.0),
            Some(-1.0),
            Some(0.0),
            Some(7.5),
            None,
            Some(f64::NAN),
        ]),
        floats_col(&[
            Some(0.0),
            Some(0.0),
            Some(0.0),
            Some(2.5),
            Some(1.0),
            Some(1.0),
        ]),
    ]);
    let (x, y) = (col(0, F), col(1, F));
    let q = floats(&bin(BinaryOp::Div, x.clone(), y.clone(), F), &b);
    assert_eq!(q[0], Some(f64::INFINITY));
    assert_eq!(q[1], Some(f64::NEG_INFINITY));
    assert!(q[2].unwrap().is_nan());
    assert_eq!(q[3], Some(3.0));
    assert_eq!(q[4], None);
    assert!(q[5].unwrap().is_nan());
    let r = floats(&bin(BinaryOp::Mod, x.clone(), y.clone(), F), &b);
    assert!(r[0].unwrap().is_nan()); // x % 0.0
    assert_eq!(r[3], Some(0.0)); // 7.5 % 2.5
    assert_eq!(
        floats(&bin(BinaryOp::Mod, float(-7.5), float(2.0), F), &rows(1)),
        vec![Some(-1.5)]
    );
    assert_eq!(
        floats(&bin(BinaryOp::Add, x.clone(), float(0.5), F), &b)[..5],
        [Some(1.5), Some(-0.5), Some(0.5), Some(8.0), None]
    );
    assert_eq!(
        floats(&bin(BinaryOp::Sub, x.clone(), y.clone(), F), &b)[3],
        Some(5.0)
    );
    assert_eq!(
        floats(&bin(BinaryOp::Mul, x.clone(), y, F), &b)[3],
        Some(18.75)
    );
    assert_eq!(
        floats(
            &bin(BinaryOp::Mul, float(f64::MAX), float(2.0), F),
            &rows(1)
        ),
        vec![Some(f64::INFINITY)]
    );
    let n = floats(&neg(x, F), &b);
    assert_eq!(
        n[..5],
        [Some(-1.0), Some(1.0), Some(-0.0), Some(-7.5), None]
    );
    assert!(n[2].unwrap().is_sign_negative());
}

#[test]
fn timestamp_and_duration_arithmetic() {
    let b = batch(vec![
        ts_col(&[Some(1_000), None, Some(i64::MAX)]),
        dur_col(&[Some(500), Some(1), Some(1)]),
        ts_col(&[Some(400), Some(0), Some(0)]),
    ]);
    let (t, d, t2) = (col(0, TS), col(1, DUR), col(2, TS));
    assert_eq!(
        timestamps(&bin(BinaryOp::Add, t.clone(), d.clone(), TS), &b),
        vec![Some(1_500), None, None]
    );
    assert_eq!(
        timestamps(&bin(BinaryOp::Add, d.clone(), t.clone(), TS), &b),
        vec![Some(1_500), None, None]
    );
    assert_eq!(
        timestamps(&bin(BinaryOp::Sub, t.clone(), d.clone(), TS), &b),
        vec![Some(500), None, Some(i64::MAX - 1)]
    );
    assert_eq!(
        durations(&bin(BinaryOp::Sub, t.clone(), t2, DUR), &b),
        vec![Some(600), None, Some(i64::MAX)]
    );
    assert_eq!(
        durations(&bin(BinaryOp::Add, d.clone(), d.clone(), DUR), &b),
        vec![Some(1_000), Some(2), Some(2)]
    );
    assert_eq!(
        durations(
            &bin(
                BinaryOp::Sub,
                d.clone(),
                lit(Value::Duration(100), DUR),
                DUR
            ),
            &b
        ),
        vec![Some(400), Some(-99), Some(-99)]
    );
    assert_eq!(
        durations(&bin(BinaryOp::Mul, d.clone(), int(3), DUR), &b),
        vec![Some(1_500), Some(3), Some(3)]
    );
    assert_eq!(
        durations(&bin(BinaryOp::Mul, int(3), d.clone(), DUR), &b),
        vec![Some(1_500), Some(3), Some(3)]
    );
    assert_eq!(
        durations(&bin(BinaryOp::Div, d.clone(), int(2), DUR), &b),
        vec![Some(250), Some(0), Some(0)]
    );
    assert_eq!(
        durations(&bin(BinaryOp::Div, d.clone(), int(0), DUR), &b),
        vec![None; 3]
    );
    let d300 = lit(Value::Duration(300), DUR);
    assert_eq!(
        durations(&bin(BinaryOp::Mod, d.clone(), d300, DUR), &b),
        vec![Some(200), Some(1), Some(1)]
    );
    assert_eq!(
        durations(&neg(d, DUR), &b),
        vec![Some(-500), Some(-1), Some(-1)]
    );
    // ts + 1h with a literal.
    let e = bin(
        BinaryOp::Add,
        lit(Value::Timestamp(0), TS),
        lit(Value::Duration(3_600_000), DUR),
        TS,
    );
    assert_eq!(timestamps(&e, &rows(1)), vec![Some(3_600_000)]);
}

#[test]
fn ill_typed_arithmetic_is_an_error() {
    let b = rows(1);
    let e = bin(BinaryOp::Add, int(1), string("a"), I);
    assert!(matches!(
        evaluate(&e, &b),
        Err(ExprError::TypeMismatch { .. })
    ));
    let e = bin(
        BinaryOp::Add,
        lit(Value::Timestamp(0), TS),
        lit(Value::Timestamp(0), TS),
        TS,
    );
    assert!(matches!(
        evaluate(&e, &b),
        Err(ExprError::TypeMismatch { .. })
    ));
    // Declared result type disagrees with the operands.
    let e = bin(
        BinaryOp::Sub,
        lit(Value::Timestamp(0), TS),
        lit(Value::Timestamp(0), TS),
        TS,
    );
    assert!(matches!(
        evaluate(&e, &b),
        Err(ExprError::TypeMismatch { .. })
    ));
    let e = neg(string("a"), DataType::String);
    assert!(matches!(
        evaluate(&e, &b),
        Err(ExprError::TypeMismatch { .. })
    ));
}
