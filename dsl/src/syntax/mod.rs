//! The syntax layer: pipeline text <-> [`crate::ast::Pipeline`].
//!
//! * [`parse`] reads a file into an AST plus diagnostics. It never stops at the first error:
//!   the file is cut into top-level declarations that are parsed one by one (rust-analyzer
//!   style), so a typo in one declaration still leaves all the others in the tree.
//! * [`format`] prints an AST canonically (`sluice fmt`). For any parsed tree `p`,
//!   `parse(&format(&p)).0 == p` (spans compare equal) and formatting is idempotent; every
//!   comment is kept, in order.
//!
//! Error codes E0001..E0099 belong to this layer; the table is in `parser.rs`.

mod build;
mod errors;
mod expr;
mod format;
mod format_expr;
mod parser;
mod scan;

pub use format::format;
pub use parser::parse;
