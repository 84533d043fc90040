//! Sluice engine: lowers a typed logical plan onto Timely Dataflow and runs it.

pub mod arrow_schema_map;
pub mod connectors;
pub mod expr;
