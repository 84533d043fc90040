//! `format "..."` on a schema column: only timestamp and date columns take one, and the
//! pattern must be one the readers can use (see `time_format.rs`).

use super::Checker;
use crate::ast::ColumnDef;
use crate::diagnostic::Diagnostic;
use crate::plan::{DataType, TimeFormat};

impl Checker<'_> {
    /// The column's format, `None` without one or after an error (then `ok` is false).
    pub(super) fn column_format(
        &mut self,
        def: &ColumnDef,
        ty: Option<DataType>,
        ok: &mut bool,
    ) -> Option<TimeFormat> {
        let (text, span) = def.format.as_ref()?;
        if !matches!(ty, Some(DataType::Timestamp | DataType::Date) | None) {
            self.report(
                Diagnostic::error(
                    "E0132",
                    format!(
                        "`format` on {} column `{}`",
                        def.ty.name.name, def.name.name
                    ),
                    *span,
                )
                .with_label("only timestamp and date columns take a format")
                .with_hint("remove `format`, or declare the column `timestamp` or `date`"),
            );
            *ok = false;
            return None;
        }
        match TimeFormat::parse(text) {
            Ok(f) => ty.map(|_| f),
            Err(why) => {
                self.report(
                    Diagnostic::error("E0133", format!("bad time format `{text}`"), *span)
                        .with_label(why)
                        .with_hint(
                            "use a chrono strftime pattern such as \"%Y-%m-%d %H:%M:%S\", \
                             or epoch_s, epoch_ms, epoch_us",
                        ),
                );
                *ok = false;
                None
            }
        }
    }
}
