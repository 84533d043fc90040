//! The one mapping between the language's types and Arrow's.

use std::sync::Arc;

use arrow_schema::{
    DataType as ArrowType, Field as ArrowField, Schema as ArrowSchema, SchemaRef, TimeUnit,
};
use sluice_dsl::plan::{DataType, Schema};

/// Arrow type of a language type. Timestamps are `Timestamp(Millisecond, None)` and mean UTC;
/// dates are `Date32` (days since 1970-01-01).
pub fn arrow_type(ty: DataType) -> ArrowType {
    match ty {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::String => ArrowType::Utf8,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Millisecond, None),
        DataType::Duration => ArrowType::Duration(TimeUnit::Millisecond),
        DataType::Date => ArrowType::Date32,
    }
}

/// Arrow schema of a plan schema (same names and order).
///
/// Every Arrow field is marked nullable: the language's nullability is enforced by the checker
/// (typing) and the connectors (a null in a non-nullable column is a malformed record), while
/// some kernels may produce null where the checker proved none is possible only in the absence
/// of overflow (int overflow gives null). A run must never fail on Arrow's own check.
pub fn arrow_schema(schema: &Schema) -> SchemaRef {
    Arc::new(ArrowSchema::new(
        schema
            .fields
            .iter()
            .map(|f| ArrowField::new(&f.name, arrow_type(f.ty), true))
            .collect::<Vec<_>>(),
    ))
}
