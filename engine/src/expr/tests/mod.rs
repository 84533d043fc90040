//! Tests of expression evaluation: hand-built typed trees over hand-built batches, with
//! hand-computed expectations. One file per area; helpers and API-level tests here.

mod arith;
mod cast;
mod compare;
mod date;
mod geo;
mod logic;
mod strings;
mod time;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::{DataType, ScalarFunc, TExpr, TypedExpr, Value};

use super::{ExprError, evaluate, filter_batch, project_batch, value_to_array};
use crate::arrow_schema_map::arrow_type;

// ---- builders ----

pub(super) fn te(kind: TExpr, ty: DataType) -> TypedExpr {
    TypedExpr {
        kind,
        ty,
        nullable: true,
    }
}

pub(super) fn col(i: usize, ty: DataType) -> TypedExpr {
    te(TExpr::Column(i, format!("c{i}")), ty)
}

pub(super) fn lit(v: Value, ty: DataType) -> TypedExpr {
    te(TExpr::Literal(v), ty)
}

pub(super) fn int(v: i64) -> TypedExpr {
    lit(Value::Int(v), DataType::Int)
}

pub(super) fn float(v: f64) -> TypedExpr {
    lit(Value::Float(v), DataType::Float)
}

pub(super) fn string(v: &str) -> TypedExpr {
    lit(Value::String(v.into()), DataType::String)
}

pub(super) fn boolean(v: bool) -> TypedExpr {
    lit(Value::Bool(v), DataType::Bool)
}

pub(super) fn null(ty: DataType) -> TypedExpr {
    lit(Value::Null, ty)
}

pub(super) fn bin(op: BinaryOp, l: TypedExpr, r: TypedExpr, ty: DataType) -> TypedExpr {
    te(TExpr::Binary(op, Box::new(l), Box::new(r)), ty)
}

pub(super) fn call(f: ScalarFunc, args: Vec<TypedExpr>, ty: DataType) -> TypedExpr {
    te(TExpr::Func(f, args), ty)
}

pub(super) fn cast_to(e: TypedExpr, ty: DataType) -> TypedExpr {
    te(TExpr::Cast(Box::new(e)), ty)
}

/// A batch with columns `c0, c1, ...` (all nullable).
pub(super) fn batch(columns: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("test batch")
}

/// A batch of `rows` rows and no columns, for constant expressions.
pub(super) fn rows(rows: usize) -> RecordBatch {
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options)
        .expect("empty batch")
}

pub(super) fn ints_col(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

pub(super) fn floats_col(v: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

pub(super) fn strs_col(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

pub(super) fn bools_col(v: &[Option<bool>]) -> ArrayRef {
    Arc::new(BooleanArray::from(v.to_vec()))
}

pub(super) fn ts_col(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(arrow_array::TimestampMillisecondArray::from(v.to_vec()))
}

pub(super) fn dur_col(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(arrow_array::DurationMillisecondArray::from(v.to_vec()))
}

// ---- readers (each also checks the result's Arrow type and length) ----

fn eval_checked(e: &TypedExpr, b: &RecordBatch) -> ArrayRef {
    let out = evaluate(e, b).unwrap_or_else(|err| panic!("evaluate failed: {err}"));
    assert_eq!(out.data_type(), &arrow_type(e.ty), "result type");
    assert_eq!(out.len(), b.num_rows(), "result length");
    out
}

pub(super) fn ints(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<i64>> {
    eval_checked(e, b)
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

pub(super) fn floats(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<f64>> {
    eval_checked(e, b)
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

pub(super) fn strs(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<String>> {
    eval_checked(e, b)
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

pub(super) fn bools(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<bool>> {
    eval_checked(e, b).as_boolean().iter().collect()
}

pub(super) fn timestamps(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<i64>> {
    eval_checked(e, b)
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect()
}

pub(super) fn durations(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<i64>> {
    eval_checked(e, b)
        .as_primitive::<DurationMillisecondType>()
        .iter()
        .collect()
}

pub(super) fn owned(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|s| s.map(str::to_owned)).collect()
}

// ---- API-level tests ----

#[test]
fn column_reference_is_zero_copy() {
    let b = batch(vec![ints_col(&[Some(1), None, Some(3)])]);
    let out = evaluate(&col(0, DataType::Int), &b).unwrap();
    assert!(Arc::ptr_eq(&out, b.column(0)));
}

#[test]
fn literals_broadcast_to_the_batch_length() {
    let b = rows(3);
    assert_eq!(ints(&int(7), &b), vec![Some(7); 3]);
    assert_eq!(strs(&string("x"), &b), owned(&[Some("x"); 3]));
    assert_eq!(bools(&boolean(true), &b), vec![Some(true); 3]);
    assert_eq!(floats(&null(DataType::Float), &b), vec![None; 3]);
    // A constant sub-tree is computed once and broadcast.
    let e = bin(BinaryOp::Add, int(2), int(3), DataType::Int);
    assert_eq!(ints(&e, &b), vec![Some(5); 3]);
}

#[test]
fn empty_batches_give_empty_results_of_the_right_type() {
    let b = batch(vec![ints_col(&[]), strs_col(&[])]);
    assert_eq!(
        ints(
            &bin(BinaryOp::Add, col(0, DataType::Int), int(1), DataType::Int),
            &b
        ),
        vec![]
    );
    assert_eq!(ints(&int(1), &b), vec![]);
    let upper = call(
        ScalarFunc::Upper,
        vec![col(1, DataType::String)],
        DataType::String,
    );
    assert_eq!(strs(&upper, &b), Vec::<Option<String>>::new());
    let cmp = bin(BinaryOp::Lt, col(0, DataType::Int), int(1), DataType::Bool);
    assert_eq!(filter_batch(&cmp, &b).unwrap().num_rows(), 0);
}

#[test]
fn nested_expression() {
    // (c0 + 1) * 2 > 5 and contains(c1, "a")
    let b = batch(vec![
        ints_col(&[Some(1), Some(2), Some(3), None]),
        strs_col(&[Some("a"), Some("a"), Some("b"), Some("a")]),
    ]);
    let arith = bin(
        BinaryOp::Mul,
        bin(BinaryOp::Add, col(0, DataType::Int), int(1), DataType::Int),
        int(2),
        DataType::Int,
    );
    let gt = bin(BinaryOp::Gt, arith, int(5), DataType::Bool);
    let has_a = call(
        ScalarFunc::Contains,
        vec![col(1, DataType::String), string("a")],
        DataType::Bool,
    );
    let e = bin(BinaryOp::And, gt, has_a, DataType::Bool);
    assert_eq!(
        bools(&e, &b),
        vec![Some(false), Some(true), Some(false), None]
    );
}

#[test]
fn filter_batch_keeps_only_true_rows() {
    let b = batch(vec![
        ints_col(&[Some(1), Some(5), None, Some(7)]),
        strs_col(&[Some("a"), Some("b"), Some("c"), Some("d")]),
    ]);
    let pred = bin(BinaryOp::Gt, col(0, DataType::Int), int(2), DataType::Bool);
    let out = filter_batch(&pred, &b).unwrap();
    assert_eq!(out.num_rows(), 2);
    assert_eq!(
        out.column(0).as_primitive::<Int64Type>().values().as_ref(),
        &[5, 7]
    );
    assert_eq!(out.column(1).as_string::<i32>().value(1), "d");
    assert_eq!(out.schema(), b.schema());
}

#[test]
fn filter_batch_fast_paths() {
    let b = batch(vec![ints_col(&[Some(1), Some(2)])]);
    // All true: the same columns, not copies.
    let all = bin(BinaryOp::Gt, col(0, DataType::Int), int(0), DataType::Bool);
    let out = filter_batch(&all, &b).unwrap();
    assert!(Arc::ptr_eq(out.column(0), b.column(0)));
    // Constant predicates.
    assert!(Arc::ptr_eq(
        filter_batch(&boolean(true), &b).unwrap().column(0),
        b.column(0)
    ));
    assert_eq!(filter_batch(&boolean(false), &b).unwrap().num_rows(), 0);
    assert_eq!(
        filter_batch(&null(DataType::Bool), &b).unwrap().num_rows(),
        0
    );
    // A null predicate row is dropped.
    let b = batch(vec![bools_col(&[Some(true), None, Some(false)])]);
    let out = filter_batch(&col(0, DataType::Bool), &b).unwrap();
    assert_eq!(out.num_rows(), 1);
    // Not a bool predicate.
    assert!(matches!(
        filter_batch(&int(1), &b),
        Err(ExprError::TypeMismatch { .. })
    ));
}

#[test]
fn project_batch_shares_columns_and_computes_others() {
    let b = batch(vec![
        ints_col(&[Some(1), Some(2)]),
        strs_col(&[Some("x"), None]),
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("s", ArrowType::Utf8, true),
        Field::new("n1", ArrowType::Int64, true),
    ]));
    let items = vec![
        ("s".to_string(), col(1, DataType::String)),
        (
            "n1".to_string(),
            bin(BinaryOp::Add, col(0, DataType::Int), int(1), DataType::Int),
        ),
    ];
    let out = project_batch(&items, schema.clone(), &b).unwrap();
    assert!(Arc::ptr_eq(out.column(0), b.column(1)));
    assert_eq!(
        out.column(1).as_primitive::<Int64Type>().values().as_ref(),
        &[2, 3]
    );
    assert_eq!(out.schema(), schema);
    // Width mismatch.
    let err = project_batch(&items[..1], schema, &b).unwrap_err();
    assert!(matches!(
        err,
        ExprError::ProjectionWidth {
            items: 1,
            fields: 2
        }
    ));
    // No columns: the row count survives.
    let out = project_batch(&[], Arc::new(Schema::empty()), &b).unwrap();
    assert_eq!(out.num_rows(), 2);
}

#[test]
fn value_to_array_every_type() {
    let a = value_to_array(&Value::Int(3), DataType::Int, 2);
    assert_eq!(a.as_primitive::<Int64Type>().values().as_ref(), &[3, 3]);
    let a = value_to_array(&Value::Int(3), DataType::Float, 1);
    assert_eq!(a.as_primitive::<Float64Type>().value(0), 3.0);
    let a = value_to_array(&Value::Float(1.5), DataType::Float, 1);
    assert_eq!(a.as_primitive::<Float64Type>().value(0), 1.5);
    let a = value_to_array(&Value::Bool(false), DataType::Bool, 3);
    assert_eq!(
        a.as_boolean().iter().collect::<Vec<_>>(),
        vec![Some(false); 3]
    );
    let a = value_to_array(&Value::String("é".into()), DataType::String, 2);
    assert_eq!(a.as_string::<i32>().value(1), "é");
    let a = value_to_array(&Value::Timestamp(5), DataType::Timestamp, 1);
    assert_eq!(a.data_type(), &arrow_type(DataType::Timestamp));
    assert_eq!(a.as_primitive::<TimestampMillisecondType>().value(0), 5);
    let a = value_to_array(&Value::Duration(-5), DataType::Duration, 1);
    assert_eq!(a.as_primitive::<DurationMillisecondType>().value(0), -5);
    let a = value_to_array(&Value::Null, DataType::String, 4);
    assert_eq!(
        (a.len(), a.null_count(), a.data_type()),
        (4, 4, &ArrowType::Utf8)
    );
    // A value that does not fit the type gives nulls rather than a panic.
    let a = value_to_array(&Value::String("x".into()), DataType::Int, 2);
    assert_eq!((a.null_count(), a.data_type()), (2, &ArrowType::Int64));
    assert_eq!(value_to_array(&Value::Int(1), DataType::Int, 0).len(), 0);
}

#[test]
fn plan_inconsistencies_are_errors_not_panics() {
    let b = batch(vec![ints_col(&[Some(1)])]);
    let err = evaluate(&col(3, DataType::Int), &b).unwrap_err();
    assert!(matches!(
        err,
        ExprError::ColumnOutOfRange {
            index: 3,
            columns: 1,
            ..
        }
    ));
    // The column is int but the plan says string.
    let err = evaluate(&col(0, DataType::String), &b).unwrap_err();
    assert!(matches!(err, ExprError::TypeMismatch { .. }), "{err}");
    // A literal that does not match its type.
    let err = evaluate(&lit(Value::Bool(true), DataType::Int), &b).unwrap_err();
    assert!(matches!(err, ExprError::TypeMismatch { .. }));
    // A function called with the wrong argument type or count.
    let err = evaluate(&call(ScalarFunc::Lower, vec![int(1)], DataType::String), &b).unwrap_err();
    assert!(matches!(err, ExprError::TypeMismatch { .. }));
    let err = evaluate(&call(ScalarFunc::Lower, vec![], DataType::String), &b).unwrap_err();
    assert!(matches!(err, ExprError::Arity { found: 0, .. }));
    // A node whose declared type is not what it computes.
    let err = evaluate(&bin(BinaryOp::Eq, int(1), int(1), DataType::Int), &b).unwrap_err();
    assert!(matches!(err, ExprError::TypeMismatch { .. }));
}
