//! Sluice engine: lowers a typed logical plan onto Timely Dataflow and runs it.
//!
//! ```text
//! LogicalPlan --physical::lower--> PhysicalPlan --run::run--> timely workers --> RunSummary
//! ```
//! Connectors and expression kernels are leaves; `dataflow` wires them into operators.

pub mod abort;
pub mod aggregate;
pub mod arrow_schema_map;
pub mod cluster;
pub mod commit_horizon;
pub mod config;
pub mod connectors;
pub mod counters;
pub mod dataflow;
pub mod expr;
pub mod flow;
pub mod gpu;
pub mod metrics;
pub mod physical;
pub mod route;
pub mod run;
pub mod shared;
pub mod stop;
pub mod summary;
pub mod testing;
pub mod wire;

pub use config::EngineConfig;
pub use physical::{PhysicalPlan, lower};
pub use run::{RunError, RunOptions, run};
pub use summary::RunSummary;
pub use testing::{TestOutcome, run_test};
