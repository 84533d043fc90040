//! Column buffers that the text readers append decoded values to, one row at a time, and turn
//! into an Arrow `RecordBatch` every `batch_size` rows.
//!
//! Why not Arrow's own builders: a record is decoded column by column, and any value can turn
//! out malformed after earlier columns of the same row were appended. These buffers can drop the
//! half-written row (`rollback_row`), which Arrow's builders cannot; they are plain `Vec`s that
//! become Arrow buffers without copying.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, DurationMillisecondArray, Float64Array, Int64Array,
    RecordBatch, RecordBatchOptions, StringArray, TimestampMillisecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::SchemaRef;
use sluice_dsl::plan::{DataType, Field, Schema, TimeFormat};
use sluice_dsl::time_format::day_of_millis;

use super::scalar::{self, IntError, shown};
use crate::arrow_schema_map::arrow_schema;

/// A batch is handed out early when its string data passes this, so that i32 offsets never
/// overflow whatever the batch size.
const MAX_STRING_BYTES: usize = 256 << 20;

enum Values {
    /// int, timestamp (epoch ms), duration (ms)
    I64(Vec<i64>),
    /// date (days since 1970-01-01)
    I32(Vec<i32>),
    F64(Vec<f64>),
    Bool(BooleanBufferBuilder),
    /// Arrow's Utf8 layout. Invariant: `data` is valid UTF-8 and every offset is at a char
    /// boundary, because values only come in through `push_str(&str)`.
    Str {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
}

struct Column {
    values: Values,
    /// Present for nullable columns only.
    validity: Option<BooleanBufferBuilder>,
}

impl Column {
    fn new(field: &Field, capacity: usize) -> Column {
        let values = match field.ty {
            DataType::Int | DataType::Timestamp | DataType::Duration => {
                Values::I64(Vec::with_capacity(capacity))
            }
            DataType::Date => Values::I32(Vec::with_capacity(capacity)),
            DataType::Float => Values::F64(Vec::with_capacity(capacity)),
            DataType::Bool => Values::Bool(BooleanBufferBuilder::new(capacity)),
            DataType::String => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Values::Str {
                    offsets,
                    data: Vec::with_capacity(capacity * 8),
                }
            }
        };
        Column {
            values,
            validity: field.nullable.then(|| BooleanBufferBuilder::new(capacity)),
        }
    }

    fn len(&self) -> usize {
        match &self.values {
            Values::I64(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Str { offsets, .. } => offsets.len() - 1,
        }
    }

    fn truncate(&mut self, len: usize) {
        match &mut self.values {
            Values::I64(v) => v.truncate(len),
            Values::I32(v) => v.truncate(len),
            Values::F64(v) => v.truncate(len),
            Values::Bool(v) => v.truncate(len),
            Values::Str { offsets, data } => {
                offsets.truncate(len + 1);
                data.truncate(offsets[len] as usize);
            }
        }
        if let Some(validity) = &mut self.validity {
            validity.truncate(len);
        }
    }

    fn valid(&mut self) {
        if let Some(validity) = &mut self.validity {
            validity.append(true);
        }
    }
}

/// Buffers for one batch of a plan schema. Rows are committed with `commit_row`; everything
/// appended since the last commit is dropped by `rollback_row`.
pub(crate) struct ColumnsBuilder {
    schema: SchemaRef,
    fields: Vec<Field>,
    /// Per column: the schema's `format` of a timestamp or date column.
    formats: Vec<Option<TimeFormat>>,
    columns: Vec<Column>,
    rows: usize,
    capacity: usize,
}

impl ColumnsBuilder {
    pub(crate) fn new(schema: &Schema, capacity: usize) -> ColumnsBuilder {
        let capacity = capacity.max(1);
        ColumnsBuilder {
            schema: arrow_schema(schema),
            fields: schema.fields.clone(),
            formats: vec![None; schema.fields.len()],
            columns: schema
                .fields
                .iter()
                .map(|f| Column::new(f, capacity))
                .collect(),
            rows: 0,
            capacity,
        }
    }

    /// Reads timestamp and date columns with these formats (one per column, `None` = the
    /// default forms); a shorter list leaves the remaining columns at the default.
    pub(crate) fn with_formats(mut self, formats: &[Option<TimeFormat>]) -> ColumnsBuilder {
        for (slot, f) in self.formats.iter_mut().zip(formats) {
            slot.clone_from(f);
        }
        self
    }

    /// Committed rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn field(&self, col: usize) -> &Field {
        &self.fields[col]
    }

    pub(crate) fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// True when the batch should be handed out: `batch_size` rows, or a lot of string data.
    pub(crate) fn is_full(&self, batch_size: usize) -> bool {
        // The string check walks the columns: do it every 1024 rows only.
        self.rows >= batch_size
            || (self.rows % 1024 == 1023
                && self.columns.iter().any(|c| match &c.values {
                    Values::Str { data, .. } => data.len() >= MAX_STRING_BYTES,
                    _ => false,
                }))
    }

    /// Appends a null; only for nullable columns (the caller checks).
    pub(crate) fn push_null(&mut self, col: usize) {
        let c = &mut self.columns[col];
        match &mut c.values {
            Values::I64(v) => v.push(0),
            Values::I32(v) => v.push(0),
            Values::F64(v) => v.push(0.0),
            Values::Bool(v) => v.append(false),
            Values::Str { offsets, data } => offsets.push(data.len() as i32),
        }
        if let Some(validity) = &mut c.validity {
            validity.append(false);
        }
    }

    /// int, timestamp (ms) or duration (ms) column.
    pub(crate) fn push_i64(&mut self, col: usize, v: i64) {
        let c = &mut self.columns[col];
        if let Values::I64(values) = &mut c.values {
            values.push(v);
            c.valid();
        }
    }

    /// date column (days).
    pub(crate) fn push_date(&mut self, col: usize, v: i32) {
        let c = &mut self.columns[col];
        if let Values::I32(values) = &mut c.values {
            values.push(v);
            c.valid();
        }
    }

    /// A timestamp or date given as text, read with the column's format (else RFC 3339 or
    /// epoch ms for timestamps, `YYYY-MM-DD` for dates). False when it does not parse.
    pub(crate) fn push_time_text(&mut self, col: usize, s: &str) -> bool {
        let format = self.formats[col].as_ref();
        match (self.fields[col].ty, format) {
            (DataType::Timestamp, Some(f)) => f.millis(s).map(|ms| self.push_i64(col, ms)),
            (DataType::Timestamp, None) => {
                scalar::parse_timestamp(s).map(|ms| self.push_i64(col, ms))
            }
            (DataType::Date, Some(f)) => f
                .millis(s)
                .and_then(day_of_millis)
                .map(|d| self.push_date(col, d)),
            (DataType::Date, None) => scalar::parse_date(s).map(|d| self.push_date(col, d)),
            _ => None,
        }
        .is_some()
    }

    /// A timestamp or date given as a JSON integer: epoch ms for a timestamp without a format,
    /// else only with an `epoch_*` format. False when the column does not take it.
    pub(crate) fn push_time_int(&mut self, col: usize, v: i64) -> bool {
        let format = self.formats[col].as_ref();
        let ms = match format {
            Some(f) => f.millis_of_int(v),
            None if self.fields[col].ty == DataType::Timestamp => Some(v),
            None => None,
        };
        match (self.fields[col].ty, ms) {
            (DataType::Timestamp, Some(ms)) => self.push_i64(col, ms),
            (DataType::Date, Some(ms)) => match day_of_millis(ms) {
                Some(d) => self.push_date(col, d),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    pub(crate) fn push_f64(&mut self, col: usize, v: f64) {
        let c = &mut self.columns[col];
        if let Values::F64(values) = &mut c.values {
            values.push(v);
            c.valid();
        }
    }

    pub(crate) fn push_bool(&mut self, col: usize, v: bool) {
        let c = &mut self.columns[col];
        if let Values::Bool(values) = &mut c.values {
            values.append(v);
            c.valid();
        }
    }

    pub(crate) fn push_str(&mut self, col: usize, v: &str) {
        let c = &mut self.columns[col];
        if let Values::Str { offsets, data } = &mut c.values {
            data.extend_from_slice(v.as_bytes());
            offsets.push(data.len() as i32);
            c.valid();
        }
    }

    /// Drops what column `col` got for the current (uncommitted) row, e.g. a repeated JSON key.
    pub(crate) fn reset_current(&mut self, col: usize) {
        let rows = self.rows;
        self.columns[col].truncate(rows);
    }

    /// Appends a text field with the CSV rules: an empty unquoted field is null for a nullable
    /// column, `""` for a string column, malformed otherwise; a quoted empty field is `""` for
    /// string columns. Returns the reason when the text does not fit the column's type.
    pub(crate) fn push_text(&mut self, col: usize, s: &str, quoted: bool) -> Result<(), String> {
        let field = &self.fields[col];
        if s.is_empty() && !(quoted && field.ty == DataType::String) {
            if field.nullable {
                self.push_null(col);
            } else if field.ty == DataType::String {
                self.push_str(col, "");
            } else {
                return Err(format!(
                    "empty value for non-nullable column `{}`",
                    field.name
                ));
            }
            return Ok(());
        }
        match field.ty {
            DataType::String => self.push_str(col, s),
            DataType::Int => match scalar::parse_int(s) {
                Ok(v) => self.push_i64(col, v),
                Err(IntError::Invalid) => return Err(bad_value("int", s, &field.name)),
                Err(IntError::OutOfRange) => {
                    return Err(format!(
                        "int out of range `{}` in column `{}`",
                        shown(s),
                        field.name
                    ));
                }
            },
            DataType::Float => match scalar::parse_float(s) {
                Some(v) => self.push_f64(col, v),
                None => return Err(bad_value("float", s, &field.name)),
            },
            DataType::Bool => match scalar::parse_bool(s) {
                Some(v) => self.push_bool(col, v),
                None => return Err(bad_value("bool", s, &field.name)),
            },
            DataType::Timestamp | DataType::Date => {
                if !self.push_time_text(col, s) {
                    let field = &self.fields[col];
                    return Err(bad_value(field.ty.name(), s, &field.name));
                }
            }
            DataType::Duration => match scalar::parse_duration(s) {
                Some(v) => self.push_i64(col, v),
                None => return Err(bad_value("duration", s, &field.name)),
            },
        }
        Ok(())
    }

    pub(crate) fn commit_row(&mut self) {
        self.rows += 1;
        debug_assert!(self.columns.iter().all(|c| c.len() == self.rows));
    }

    /// Drops every value appended since the last `commit_row`.
    pub(crate) fn rollback_row(&mut self) {
        let rows = self.rows;
        for c in &mut self.columns {
            if c.len() != rows {
                c.truncate(rows);
            }
        }
    }

    /// The committed rows as a batch; the buffers start over empty.
    pub(crate) fn finish(&mut self) -> RecordBatch {
        self.rollback_row();
        let rows = std::mem::take(&mut self.rows);
        let arrays: Vec<ArrayRef> = self
            .fields
            .iter()
            .zip(self.columns.iter_mut())
            .map(|(field, column)| {
                let fresh = Column::new(field, self.capacity);
                let Column { values, validity } = std::mem::replace(column, fresh);
                let nulls = validity
                    .map(|mut v| NullBuffer::new(v.finish()))
                    .filter(|n| n.null_count() > 0);
                finish_column(field.ty, values, nulls)
            })
            .collect();
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .expect("column buffers match the schema by construction")
    }
}

fn finish_column(ty: DataType, values: Values, nulls: Option<NullBuffer>) -> ArrayRef {
    match values {
        Values::I64(v) => {
            let values = ScalarBuffer::from(v);
            match ty {
                DataType::Timestamp => Arc::new(TimestampMillisecondArray::new(values, nulls)),
                DataType::Duration => Arc::new(DurationMillisecondArray::new(values, nulls)),
                _ => Arc::new(Int64Array::new(values, nulls)),
            }
        }
        Values::I32(v) => Arc::new(Date32Array::new(ScalarBuffer::from(v), nulls)),
        Values::F64(v) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls)),
        Values::Bool(mut v) => Arc::new(BooleanArray::new(v.finish(), nulls)),
        Values::Str { offsets, data } => {
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            // SAFETY: `data` only ever received the bytes of `&str` values, each followed by
            // its end offset, so it is valid UTF-8 and every offset is a char boundary; the
            // offsets are monotonic and within `data` (checked by `OffsetBuffer::new` and
            // by construction). This skips a second UTF-8 validation of every string byte.
            Arc::new(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(data), nulls) })
        }
    }
}

fn bad_value(ty: &str, s: &str, column: &str) -> String {
    format!("invalid {ty} `{}` in column `{column}`", shown(s))
}
