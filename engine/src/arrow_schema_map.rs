//! The one mapping between the language's types and Arrow's.

use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema as ArrowSchema, SchemaRef, TimeUnit};
use sluice_dsl::plan::{DataType, Schema};

/// Arrow type of a language type. Timestamps are `Timestamp(Millisecond, None)` and mean UTC.
pub fn arrow_type(ty: DataType) -> ArrowType {
    match ty {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::String => ArrowType::Utf8,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Millisecond, None),
        DataType::Duration => ArrowType::Duration(TimeUnit::Millisecond),
    }
}

/// Arrow schema of a plan schema (same names, order and nullability).
pub fn arrow_schema(schema: &Schema) -> SchemaRef {
    Arc::new(ArrowSchema::new(
        schema
            .fields
            .iter()
            .map(|f| ArrowField::new(&f.name, arrow_type(f.ty), f.nullable))
            .collect::<Vec<_>>(),
    ))
}
