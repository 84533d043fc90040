//! Vectorised expression evaluation on Arrow.
//!
//! The checker hands the engine [`TypedExpr`] trees whose every node already has its final type;
//! this module evaluates such a tree over a whole [`RecordBatch`] at once, one Arrow kernel call
//! per node, so the per-row cost is that of tight, mostly vectorised loops and never that of an
//! interpreter walking the tree per row.
//!
//! Design points:
//! * **Constants stay constants.** A literal is a one-row array marked `Operand::Scalar` and is
//!   passed to kernels through Arrow's `Datum` interface, so `x + 1` never materialises a column
//!   of ones; a node whose inputs are all constants is computed once, on one row. Only the final
//!   result of [`evaluate`] is broadcast to the batch length.
//! * **Zero copy for column references**: a column is an `Arc` clone of the batch's array.
//! * **Arrow kernels first** (`arrow_arith`, `arrow_ord`, `arrow_select`, `arrow_cast`,
//!   `arrow_string`); hand-written loops only where Arrow has no kernel with the language's
//!   semantics (character length, case mapping, float comparison, date truncation, string to
//!   timestamp, geo). Those loops read constants through `Lanes`, so they have no per-row
//!   branch, allocation or dynamic dispatch.
//! * **SQL semantics**: null in, null out (except `and`/`or`, which are Kleene, `is null`,
//!   `coalesce` and `if`); integer overflow and integer division by zero give null for the rows
//!   concerned, never a wrapped value and never a failed batch (see `arith.rs`).
//!
//! Evaluation never panics on a well-typed tree; a tree whose types disagree with its inputs
//! (a checker bug) fails with [`ExprError::TypeMismatch`] rather than a panic.

mod arith;
mod cast;
mod compare;
mod date;
mod funcs;
mod geo;
mod key;
pub use geo::haversine;
pub use key::canonical_key;
mod logic;
mod strings;
mod time;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Date32Array, Datum,
    DurationMillisecondArray, Float64Array, Int64Array, PrimitiveArray, RecordBatch,
    RecordBatchOptions, StringArray, TimestampMillisecondArray, new_null_array,
};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, NullBuffer};
use arrow_schema::{ArrowError, DataType as ArrowType, SchemaRef, TimeUnit as ArrowTimeUnit};
use sluice_dsl::ast::{BinaryOp, UnaryOp};
use sluice_dsl::plan::{DataType, TExpr, TypedExpr, Value};

use crate::arrow_schema_map::arrow_type;

/// Why an expression could not be evaluated. Bad *data* never fails evaluation (it gives null);
/// these are plan/batch inconsistencies and Arrow failures.
#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("column #{index} (`{name}`) is out of range: the batch has {columns} columns")]
    ColumnOutOfRange {
        index: usize,
        name: String,
        columns: usize,
    },
    #[error("type mismatch in {context}: expected {expected}, found {found}")]
    TypeMismatch {
        context: String,
        expected: String,
        found: String,
    },
    #[error("`{func}` takes {expected} argument(s), got {found}")]
    Arity {
        func: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("cannot cast {from} to {to}")]
    UnsupportedCast {
        from: &'static str,
        to: &'static str,
    },
    #[error("projection has {items} expressions but its schema has {fields} fields")]
    ProjectionWidth { items: usize, fields: usize },
}

impl ExprError {
    fn mismatch(context: impl Into<String>, expected: impl ToString, found: impl ToString) -> Self {
        ExprError::TypeMismatch {
            context: context.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// Evaluates `expr` over `batch`: an array of `batch.num_rows()` rows of type
/// `arrow_type(expr.ty)`. A bare column is returned without copying.
pub fn evaluate(expr: &TypedExpr, batch: &RecordBatch) -> Result<ArrayRef, ExprError> {
    Ok(eval(expr, batch)?.into_array(batch.num_rows()))
}

/// The rows of `batch` where `predicate` is true (null and false drop the row). When every row
/// passes, the batch itself is returned (its columns are shared, not copied).
pub fn filter_batch(predicate: &TypedExpr, batch: &RecordBatch) -> Result<RecordBatch, ExprError> {
    if predicate.ty != DataType::Bool {
        return Err(ExprError::mismatch("where", "bool", predicate.ty.name()));
    }
    let rows = batch.num_rows();
    let mask = match eval(predicate, batch)? {
        Operand::Scalar(s) => {
            let keep = s.is_valid(0) && s.as_boolean().value(0);
            return Ok(if keep {
                batch.clone()
            } else {
                batch.slice(0, 0)
            });
        }
        Operand::Array(a) => a,
    };
    let mask = mask.as_boolean();
    match mask.true_count() {
        n if n == rows => Ok(batch.clone()),
        0 => Ok(batch.slice(0, 0)),
        _ => Ok(arrow_select::filter::filter_record_batch(batch, mask)?),
    }
}

/// Evaluates the `(name, expression)` items of a projection into a batch of `schema` (which must
/// list the items in order). Bare columns are shared with `batch`, not copied.
pub fn project_batch(
    items: &[(String, TypedExpr)],
    schema: SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch, ExprError> {
    if items.len() != schema.fields().len() {
        return Err(ExprError::ProjectionWidth {
            items: items.len(),
            fields: schema.fields().len(),
        });
    }
    let columns = items
        .iter()
        .map(|(_, e)| evaluate(e, batch))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// `len` copies of `v` as an array of `arrow_type(ty)`. `Value::Null` gives a null array; an int
/// is accepted for float (widened), timestamp and duration (milliseconds); any other mismatch
/// between `v` and `ty` also gives nulls (the plan types its values, so this does not occur).
pub fn value_to_array(v: &Value, ty: DataType, len: usize) -> ArrayRef {
    literal_array(v, ty, len).unwrap_or_else(|| new_null_array(&arrow_type(ty), len))
}

fn literal_array(v: &Value, ty: DataType, len: usize) -> Option<ArrayRef> {
    Some(match (v, ty) {
        (Value::Bool(b), DataType::Bool) => {
            let values = if *b {
                BooleanBuffer::new_set(len)
            } else {
                BooleanBuffer::new_unset(len)
            };
            Arc::new(BooleanArray::new(values, None))
        }
        (Value::Int(i), DataType::Int) => Arc::new(Int64Array::from_value(*i, len)),
        (Value::Int(i), DataType::Float) => Arc::new(Float64Array::from_value(*i as f64, len)),
        (Value::Float(f), DataType::Float) => Arc::new(Float64Array::from_value(*f, len)),
        (Value::String(s), DataType::String) => {
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, len)))
        }
        (Value::Timestamp(t) | Value::Int(t), DataType::Timestamp) => {
            Arc::new(TimestampMillisecondArray::from_value(*t, len))
        }
        (Value::Duration(d) | Value::Int(d), DataType::Duration) => {
            Arc::new(DurationMillisecondArray::from_value(*d, len))
        }
        (Value::Date(d), DataType::Date) => Arc::new(Date32Array::from_value(*d, len)),
        _ => return None,
    })
}

/// An intermediate result: a column of the batch's length, or a constant held as a one-row
/// array that kernels broadcast (Arrow's `Scalar`/`Datum` convention).
#[derive(Clone, Debug)]
enum Operand {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl Datum for Operand {
    fn get(&self) -> (&dyn Array, bool) {
        match self {
            Operand::Array(a) => (a.as_ref(), false),
            Operand::Scalar(a) => (a.as_ref(), true),
        }
    }
}

impl Operand {
    fn array(&self) -> &ArrayRef {
        match self {
            Operand::Array(a) | Operand::Scalar(a) => a,
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Operand::Scalar(_))
    }

    fn is_null_scalar(&self) -> bool {
        matches!(self, Operand::Scalar(a) if a.is_null(0))
    }

    /// Wraps a kernel's output: a constant when every input was one.
    fn wrap(array: ArrayRef, scalar: bool) -> Operand {
        if scalar {
            Operand::Scalar(array)
        } else {
            Operand::Array(array)
        }
    }

    /// Applies an array-to-array function, keeping constant-ness.
    fn map(
        self,
        f: impl FnOnce(&ArrayRef) -> Result<ArrayRef, ExprError>,
    ) -> Result<Operand, ExprError> {
        Ok(match self {
            Operand::Array(a) => Operand::Array(f(&a)?),
            Operand::Scalar(a) => Operand::Scalar(f(&a)?),
        })
    }

    /// The column of `len` rows (a constant is broadcast).
    fn into_array(self, len: usize) -> ArrayRef {
        match self {
            Operand::Array(a) => a,
            Operand::Scalar(a) => broadcast(&a, len),
        }
    }

    /// A bool constant's value (`None` for null or a non-constant).
    fn scalar_bool(&self) -> Option<bool> {
        match self {
            Operand::Scalar(a) if a.is_valid(0) => a.as_boolean_opt().map(|b| b.value(0)),
            _ => None,
        }
    }
}

/// `len` copies of the single value of `one`.
fn broadcast(one: &ArrayRef, len: usize) -> ArrayRef {
    if one.is_null(0) {
        return new_null_array(one.data_type(), len);
    }
    match one.data_type() {
        ArrowType::Boolean => {
            literal_array(&Value::Bool(one.as_boolean().value(0)), DataType::Bool, len)
        }
        ArrowType::Int64 => Some(repeat_primitive::<Int64Type>(one, len)),
        ArrowType::Float64 => Some(repeat_primitive::<Float64Type>(one, len)),
        ArrowType::Timestamp(ArrowTimeUnit::Millisecond, None) => {
            Some(repeat_primitive::<TimestampMillisecondType>(one, len))
        }
        ArrowType::Duration(ArrowTimeUnit::Millisecond) => {
            Some(repeat_primitive::<DurationMillisecondType>(one, len))
        }
        ArrowType::Date32 => Some(repeat_primitive::<Date32Type>(one, len)),
        ArrowType::Utf8 => {
            let s = one.as_string::<i32>().value(0);
            Some(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, len))) as ArrayRef)
        }
        _ => None,
    }
    .unwrap_or_else(|| {
        // Not a language type; the generic (slower) route.
        let indices = arrow_array::UInt32Array::from_value(0, len);
        arrow_select::take::take(one.as_ref(), &indices, None)
            .unwrap_or_else(|_| new_null_array(one.data_type(), len))
    })
}

fn repeat_primitive<T: ArrowPrimitiveType>(one: &ArrayRef, len: usize) -> ArrayRef {
    let v = one.as_primitive::<T>().value(0);
    Arc::new(PrimitiveArray::<T>::from_value(v, len))
}

/// Reads the values of a primitive operand by row index, a constant at index 0 for every row
/// (`i & mask` with `mask == 0`), so hand-written loops have neither a branch nor dynamic
/// dispatch per row. Validity is handled separately (see [`shape`]).
struct Lanes<'a, N> {
    values: &'a [N],
    mask: usize,
}

impl<'a, N: ArrowNativeType> Lanes<'a, N> {
    fn of<T: ArrowPrimitiveType<Native = N>>(op: &'a Operand) -> Self {
        let values: &'a [N] = op.array().as_primitive::<T>().values().as_ref();
        let mask = if op.is_scalar() { 0 } else { usize::MAX };
        Lanes { values, mask }
    }

    #[inline(always)]
    fn get(&self, i: usize) -> N {
        self.values[i & self.mask]
    }
}

/// Output length, constant-ness and validity of an element-wise function of `ops`, or `None`
/// when a null constant makes every row null.
fn shape(ops: &[&Operand], rows: usize) -> Option<(usize, bool, Option<NullBuffer>)> {
    if ops.iter().any(|o| o.is_null_scalar()) {
        return None;
    }
    let scalar = ops.iter().all(|o| o.is_scalar());
    let len = if scalar { 1 } else { rows };
    let nulls = ops.iter().filter(|o| !o.is_scalar()).fold(None, |acc, o| {
        NullBuffer::union(acc.as_ref(), o.array().logical_nulls().as_ref())
    });
    Some((len, scalar, nulls))
}

/// All-null result of an element-wise function of `ops` (see [`shape`]).
fn null_result(ops: &[&Operand], ty: &ArrowType, rows: usize) -> Operand {
    let scalar = ops.iter().all(|o| o.is_scalar());
    Operand::wrap(new_null_array(ty, if scalar { 1 } else { rows }), scalar)
}

/// Evaluates a node, then checks that it produced the Arrow type its plan type promises (so
/// every kernel below may downcast its inputs by their plan types).
fn eval(expr: &TypedExpr, batch: &RecordBatch) -> Result<Operand, ExprError> {
    let out = eval_node(expr, batch)?;
    let want = arrow_type(expr.ty);
    if out.array().data_type() != &want {
        return Err(ExprError::mismatch(
            format!("result of {}", node_name(&expr.kind)),
            want,
            out.array().data_type(),
        ));
    }
    Ok(out)
}

fn node_name(kind: &TExpr) -> String {
    match kind {
        TExpr::Literal(_) => "a literal".into(),
        TExpr::Column(_, name) => format!("column `{name}`"),
        TExpr::Unary(op, _) => format!("unary `{op:?}`"),
        TExpr::Binary(op, _, _) => format!("`{}`", op.symbol()),
        TExpr::Cast(_) => "a cast".into(),
        TExpr::IsNull(..) => "`is null`".into(),
        TExpr::InList(..) => "`in`".into(),
        TExpr::If(..) => "`if`".into(),
        TExpr::Coalesce(_) => "`coalesce`".into(),
        TExpr::Func(f, _) => format!("`{}`", f.name()),
    }
}

fn eval_node(expr: &TypedExpr, batch: &RecordBatch) -> Result<Operand, ExprError> {
    let rows = batch.num_rows();
    match &expr.kind {
        TExpr::Literal(Value::Null) => Ok(Operand::Scalar(new_null_array(&arrow_type(expr.ty), 1))),
        TExpr::Literal(v) => literal_array(v, expr.ty, 1)
            .map(Operand::Scalar)
            .ok_or_else(|| ExprError::mismatch("a literal", expr.ty.name(), format!("{v:?}"))),
        TExpr::Column(index, name) => {
            let column =
                batch
                    .columns()
                    .get(*index)
                    .ok_or_else(|| ExprError::ColumnOutOfRange {
                        index: *index,
                        name: name.clone(),
                        columns: batch.num_columns(),
                    })?;
            Ok(Operand::Array(Arc::clone(column)))
        }
        TExpr::Unary(UnaryOp::Neg, e) => arith::negate(eval(e, batch)?, e.ty),
        TExpr::Unary(UnaryOp::Not, e) => logic::not(eval(e, batch)?),
        TExpr::Binary(op, l, r) => match op {
            BinaryOp::And | BinaryOp::Or => logic::and_or(*op, l, r, batch),
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => {
                if l.ty != r.ty {
                    return Err(ExprError::mismatch(
                        format!("`{}`", op.symbol()),
                        l.ty.name(),
                        r.ty.name(),
                    ));
                }
                compare::compare(*op, &eval(l, batch)?, &eval(r, batch)?, l.ty, rows)
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
                arith::binary(
                    *op,
                    (eval(l, batch)?, l.ty),
                    (eval(r, batch)?, r.ty),
                    expr.ty,
                    rows,
                )
            }
        },
        TExpr::Cast(e) => cast::cast(eval(e, batch)?, e.ty, expr.ty),
        TExpr::IsNull(e, negated) => logic::is_null(eval(e, batch)?, *negated),
        TExpr::InList(e, items, negated) => logic::in_list(e, items, *negated, batch),
        TExpr::If(c, t, f) => logic::if_then_else(c, t, f, batch),
        TExpr::Coalesce(args) => logic::coalesce(args, expr.ty, batch),
        TExpr::Func(f, args) => funcs::call(*f, args, batch),
    }
}

/// Views an int, timestamp or duration operand (all i64 milliseconds or plain i64) as Int64,
/// without copying.
fn as_int64(op: &Operand) -> Result<Operand, ExprError> {
    op.clone().map(|a| {
        Ok(match a.data_type() {
            ArrowType::Int64 => Arc::clone(a),
            ArrowType::Timestamp(ArrowTimeUnit::Millisecond, None) => Arc::new(
                a.as_primitive::<TimestampMillisecondType>()
                    .reinterpret_cast::<Int64Type>(),
            ),
            ArrowType::Duration(ArrowTimeUnit::Millisecond) => Arc::new(
                a.as_primitive::<DurationMillisecondType>()
                    .reinterpret_cast::<Int64Type>(),
            ),
            other => {
                return Err(ExprError::mismatch(
                    "an i64-backed value",
                    "int, timestamp or duration",
                    other,
                ));
            }
        })
    })
}

/// The inverse of [`as_int64`]: an Int64 array viewed as `ty` (int, timestamp or duration).
fn from_int64(a: &ArrayRef, ty: DataType) -> Result<ArrayRef, ExprError> {
    let ints = a.as_primitive::<Int64Type>();
    Ok(match ty {
        DataType::Int => Arc::clone(a),
        DataType::Timestamp => Arc::new(ints.reinterpret_cast::<TimestampMillisecondType>()),
        DataType::Duration => Arc::new(ints.reinterpret_cast::<DurationMillisecondType>()),
        other => {
            return Err(ExprError::mismatch(
                "an i64-backed result",
                "int, timestamp or duration",
                other.name(),
            ));
        }
    })
}
