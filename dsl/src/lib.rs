//! The Sluice pipeline language: text -> AST -> typed logical plan.
//!
//! ```text
//! text --parse--> ast::Pipeline --check--> plan::LogicalPlan
//! ```
//! Both steps collect every diagnostic they can instead of stopping at the first one.

pub mod ast;
pub mod diagnostic;
pub mod plan;
