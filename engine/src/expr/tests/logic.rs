//! `and`/`or`/`not`, `is null`, `in`, `if`, `coalesce`.

use sluice_dsl::ast::{BinaryOp, UnaryOp};
use sluice_dsl::plan::{DataType, TExpr};

use super::*;

const B: DataType = DataType::Bool;
const I: DataType = DataType::Int;
const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const N: Option<bool> = None;

fn not(e: TypedExpr) -> TypedExpr {
    te(TExpr::Unary(UnaryOp::Not, Box::new(e)), B)
}

fn in_list(e: TypedExpr, items: Vec<TypedExpr>, negated: bool) -> TypedExpr {
    te(TExpr::InList(Box::new(e), items, negated), B)
}

fn if_(c: TypedExpr, t: TypedExpr, f: TypedExpr) -> TypedExpr {
    let ty = t.ty;
    te(TExpr::If(Box::new(c), Box::new(t), Box::new(f)), ty)
}

fn coalesce(args: Vec<TypedExpr>) -> TypedExpr {
    let ty = args[0].ty;
    te(TExpr::Coalesce(args), ty)
}

#[test]
fn kleene_truth_table() {
    let b = batch(vec![
        bools_col(&[T, T, T, F, F, F, N, N, N]),
        bools_col(&[T, F, N, T, F, N, T, F, N]),
    ]);
    let (x, y) = (col(0, B), col(1, B));
    assert_eq!(
        bools(&bin(BinaryOp::And, x.clone(), y.clone(), B), &b),
        vec![T, F, N, F, F, F, N, F, N]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Or, x.clone(), y.clone(), B), &b),
        vec![T, T, T, T, F, N, T, N, N]
    );
    assert_eq!(bools(&not(x), &b), vec![F, F, F, T, T, T, N, N, N]);
}

#[test]
fn kleene_with_constants() {
    let b = batch(vec![bools_col(&[T, F, N])]);
    let x = col(0, B);
    let and = |r: TypedExpr| bools(&bin(BinaryOp::And, x.clone(), r, B), &b);
    let or = |r: TypedExpr| bools(&bin(BinaryOp::Or, x.clone(), r, B), &b);
    assert_eq!(and(boolean(true)), vec![T, F, N]);
    assert_eq!(and(boolean(false)), vec![F, F, F]);
    assert_eq!(and(null(B)), vec![N, F, N]);
    assert_eq!(or(boolean(true)), vec![T, T, T]);
    assert_eq!(or(boolean(false)), vec![T, F, N]);
    assert_eq!(or(null(B)), vec![T, N, N]);
    // Constant on the left (the right side is not evaluated when the left decides).
    assert_eq!(
        bools(&bin(BinaryOp::And, boolean(false), x.clone(), B), &b),
        vec![F, F, F]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Or, boolean(true), x.clone(), B), &b),
        vec![T, T, T]
    );
    assert_eq!(
        bools(&bin(BinaryOp::And, null(B), x.clone(), B), &b),
        vec![N, F, N]
    );
    // All constants.
    assert_eq!(
        bools(&bin(BinaryOp::And, null(B), boolean(true), B), &b),
        vec![N, N, N]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Or, null(B), boolean(true), B), &b),
        vec![T, T, T]
    );
    assert_eq!(bools(&not(null(B)), &b), vec![N, N, N]);
}

#[test]
fn is_null_and_is_not_null() {
    let b = batch(vec![ints_col(&[Some(1), None])]);
    let is_null = |e: TypedExpr, negated| te(TExpr::IsNull(Box::new(e), negated), B);
    assert_eq!(bools(&is_null(col(0, I), false), &b), vec![F, T]);
    assert_eq!(bools(&is_null(col(0, I), true), &b), vec![T, F]);
    assert_eq!(bools(&is_null(null(I), false), &b), vec![T, T]);
    assert_eq!(bools(&is_null(int(1), false), &b), vec![F, F]);
    // 1 / 0 is null.
    let div0 = bin(BinaryOp::Div, col(0, I), int(0), I);
    assert_eq!(bools(&is_null(div0, false), &b), vec![T, T]);
}

#[test]
fn in_list_sql_null_rules() {
    let b = batch(vec![ints_col(&[Some(1), Some(2), None])]);
    let x = col(0, I);
    assert_eq!(
        bools(&in_list(x.clone(), vec![int(1), int(3)], false), &b),
        vec![T, F, N]
    );
    // No match but a null in the list: null.
    assert_eq!(
        bools(&in_list(x.clone(), vec![int(1), null(I)], false), &b),
        vec![T, N, N]
    );
    assert_eq!(
        bools(&in_list(x.clone(), vec![int(1), int(3)], true), &b),
        vec![F, T, N]
    );
    assert_eq!(
        bools(&in_list(x.clone(), vec![int(1), null(I)], true), &b),
        vec![F, N, N]
    );
    assert_eq!(bools(&in_list(x.clone(), vec![], false), &b), vec![F, F, F]);
    // Items may be columns.
    assert_eq!(
        bools(&in_list(int(2), vec![x.clone(), int(9)], false), &b),
        vec![F, T, N]
    );
    // Constant x.
    assert_eq!(
        bools(&in_list(int(3), vec![int(1), int(3)], false), &b),
        vec![T, T, T]
    );
    assert_eq!(
        bools(&in_list(null(I), vec![int(1)], false), &b),
        vec![N, N, N]
    );
}

#[test]
fn in_list_strings_and_floats() {
    let b = batch(vec![
        strs_col(&[Some("a"), Some("b"), None]),
        floats_col(&[Some(f64::NAN), Some(-0.0), Some(2.0)]),
    ]);
    let e = in_list(
        col(0, DataType::String),
        vec![string("b"), string("c")],
        false,
    );
    assert_eq!(bools(&e, &b), vec![F, T, N]);
    // Float membership uses the language's float equality (NaN = NaN, -0.0 = 0.0).
    let e = in_list(
        col(1, DataType::Float),
        vec![float(f64::NAN), float(0.0)],
        false,
    );
    assert_eq!(bools(&e, &b), vec![T, T, F]);
}

#[test]
fn if_null_condition_takes_else() {
    let b = batch(vec![
        bools_col(&[T, F, N]),
        ints_col(&[Some(1), Some(2), None]),
    ]);
    let c = col(0, B);
    assert_eq!(
        ints(&if_(c.clone(), col(1, I), int(0)), &b),
        vec![Some(1), Some(0), Some(0)]
    );
    assert_eq!(
        ints(&if_(c.clone(), int(0), col(1, I)), &b),
        vec![Some(0), Some(2), None]
    );
    assert_eq!(
        ints(&if_(c.clone(), int(7), int(8)), &b),
        vec![Some(7), Some(8), Some(8)]
    );
    assert_eq!(
        ints(&if_(c, null(I), int(8)), &b),
        vec![None, Some(8), Some(8)]
    );
    // Constant conditions pick a branch.
    assert_eq!(
        ints(&if_(boolean(true), col(1, I), int(0)), &b),
        vec![Some(1), Some(2), None]
    );
    assert_eq!(ints(&if_(null(B), col(1, I), int(0)), &b), vec![Some(0); 3]);
    // A mask that is all true or all false/null.
    let b = batch(vec![bools_col(&[T, T]), strs_col(&[Some("x"), None])]);
    assert_eq!(
        strs(&if_(col(0, B), col(1, DataType::String), string("y")), &b),
        owned(&[Some("x"), None])
    );
    let b = batch(vec![bools_col(&[F, N]), strs_col(&[Some("x"), None])]);
    assert_eq!(
        strs(&if_(col(0, B), col(1, DataType::String), string("y")), &b),
        owned(&[Some("y"), Some("y")])
    );
}

#[test]
fn coalesce_first_non_null() {
    let b = batch(vec![
        ints_col(&[None, Some(1), None]),
        ints_col(&[Some(10), Some(20), None]),
    ]);
    let (x, y) = (col(0, I), col(1, I));
    assert_eq!(
        ints(&coalesce(vec![x.clone(), y.clone(), int(0)]), &b),
        vec![Some(10), Some(1), Some(0)]
    );
    assert_eq!(
        ints(&coalesce(vec![x.clone(), y.clone()]), &b),
        vec![Some(10), Some(1), None]
    );
    assert_eq!(
        ints(&coalesce(vec![null(I), x.clone()]), &b),
        vec![None, Some(1), None]
    );
    assert_eq!(
        ints(&coalesce(vec![x.clone()]), &b),
        vec![None, Some(1), None]
    );
    assert_eq!(ints(&coalesce(vec![int(5), x]), &b), vec![Some(5); 3]);
    assert_eq!(ints(&coalesce(vec![null(I), null(I)]), &b), vec![None; 3]);
    let s = coalesce(vec![null(DataType::String), string("d")]);
    assert_eq!(strs(&s, &b), owned(&[Some("d"); 3]));
}
