//! Row encoders of the sinks: Arrow batches to CSV or JSON Lines bytes.
//!
//! This is a hot path (every output row), so values are written straight into the caller's
//! `Vec<u8>` with `itoa`/`ryu` and hand-written escaping: no `serde_json`, no per-row or
//! per-value allocation. Columns are downcast once per batch.
//!
//! Value forms (both formats):
//! - int and duration (milliseconds): exact decimal integers;
//! - float: shortest round-trip text (ryu), e.g. `0.1`, `1.0`, `1e21`; NaN and ±infinity have
//!   no JSON form and are written as null (an empty CSV field);
//! - timestamp: RFC 3339 UTC with `Z`, `.mmm` only when the milliseconds are not zero (a
//!   source column's `format` is for reading only);
//! - date: `YYYY-MM-DD` (a JSON string);
//! - bool: `true` / `false`; null: JSON `null`, an empty CSV field.
//!
//! CSV follows RFC 4180: a field is quoted when it contains `,`, `"`, CR or LF, with `"`
//! doubled; the empty string is written `""` so that it reads back as a string, not null;
//! records end with LF. JSON Lines: one object per row, keys in schema order, strings escaped
//! per RFC 8259 (`"`, `\`, and control characters; other Unicode is written as UTF-8).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use sluice_dsl::plan::{Format, Schema};

use super::ConnectorError;
use super::scalar::{write_date, write_timestamp};
use crate::arrow_schema_map::arrow_type;

/// Encodes batches of one schema in one format.
#[derive(Clone)]
pub struct Encoder {
    format: Format,
    schema: Schema,
    /// JSON Lines: `"name":` per column, escaped once.
    json_keys: Vec<Vec<u8>>,
}

/// A column downcast to its concrete array type.
enum Col<'a> {
    Int(&'a arrow_array::Int64Array),
    Float(&'a arrow_array::Float64Array),
    Bool(&'a arrow_array::BooleanArray),
    Str(&'a arrow_array::StringArray),
    Timestamp(&'a arrow_array::TimestampMillisecondArray),
    Duration(&'a arrow_array::DurationMillisecondArray),
    Date(&'a arrow_array::Date32Array),
}

impl Encoder {
    pub fn new(format: Format, schema: &Schema) -> Encoder {
        let json_keys = schema
            .fields
            .iter()
            .map(|f| {
                let mut key = Vec::with_capacity(f.name.len() + 3);
                write_json_str(&mut key, &f.name);
                key.push(b':');
                key
            })
            .collect();
        Encoder {
            format,
            schema: schema.clone(),
            json_keys,
        }
    }

    /// The CSV header line (with its LF).
    pub fn csv_header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, f) in self.schema.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_csv_str(&mut out, &f.name);
        }
        out.push(b'\n');
        out
    }

    /// Appends every row of `batch` to `out`. Columns are taken by position and must have
    /// the schema's types (other Arrow types that cast to them, e.g. Int32, are cast).
    pub fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), ConnectorError> {
        self.encode_rows(batch, out, None)
    }

    /// `encode`, and when `ends` is given, the end offset in `out` of every row (after its
    /// line feed): message-per-row sinks cut `out` there.
    pub fn encode_rows(
        &self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
        mut ends: Option<&mut Vec<usize>>,
    ) -> Result<(), ConnectorError> {
        let fields = &self.schema.fields;
        if batch.num_columns() != fields.len() {
            return Err(ConnectorError::Other(format!(
                "sink expected {} columns ({}), got a batch with {}",
                fields.len(),
                self.schema.names().collect::<Vec<_>>().join(", "),
                batch.num_columns()
            )));
        }
        let mut casted: Vec<ArrayRef> = Vec::new();
        for (array, field) in batch.columns().iter().zip(fields) {
            let want = arrow_type(field.ty);
            let array = if array.data_type() == &want {
                Arc::clone(array)
            } else {
                arrow_cast::cast(array, &want).map_err(|e| {
                    ConnectorError::Other(format!(
                        "sink column `{}`: cannot write {} as {}: {e}",
                        field.name,
                        array.data_type(),
                        field.ty.name()
                    ))
                })?
            };
            casted.push(array);
        }
        let cols: Vec<Col> = casted
            .iter()
            .zip(fields)
            .map(|(a, f)| downcast(a, f.ty))
            .collect();
        let rows = batch.num_rows();
        out.reserve(rows * 16 * cols.len().max(1));
        match self.format {
            Format::Csv => {
                for row in 0..rows {
                    for (i, col) in cols.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_value(out, col, row, Format::Csv);
                    }
                    out.push(b'\n');
                    if let Some(ends) = ends.as_deref_mut() {
                        ends.push(out.len());
                    }
                }
            }
            Format::Jsonl => {
                for row in 0..rows {
                    out.push(b'{');
                    for (i, col) in cols.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(&self.json_keys[i]);
                        write_value(out, col, row, Format::Jsonl);
                    }
                    out.extend_from_slice(b"}\n");
                    if let Some(ends) = ends.as_deref_mut() {
                        ends.push(out.len());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The text of one value as a message key: a string as is, any other type in its CSV form
/// (never quoted: numbers, timestamps, durations and bools hold no separator); `None` for null.
pub(crate) fn key_text(
    array: &ArrayRef,
    ty: sluice_dsl::plan::DataType,
    row: usize,
) -> Option<Vec<u8>> {
    if array.is_null(row) {
        return None;
    }
    let mut out = Vec::new();
    match downcast(array, ty) {
        Col::Str(a) => out.extend_from_slice(a.value(row).as_bytes()),
        col => write_value(&mut out, &col, row, Format::Csv),
    }
    Some(out)
}

fn downcast(array: &ArrayRef, ty: sluice_dsl::plan::DataType) -> Col<'_> {
    use sluice_dsl::plan::DataType as T;
    match ty {
        T::Int => Col::Int(array.as_primitive::<Int64Type>()),
        T::Float => Col::Float(array.as_primitive::<Float64Type>()),
        T::Bool => Col::Bool(array.as_boolean()),
        T::String => Col::Str(array.as_string::<i32>()),
        T::Timestamp => Col::Timestamp(array.as_primitive::<TimestampMillisecondType>()),
        T::Duration => Col::Duration(array.as_primitive::<DurationMillisecondType>()),
        T::Date => Col::Date(array.as_primitive::<Date32Type>()),
    }
}

fn write_null(out: &mut Vec<u8>, format: Format) {
    if format == Format::Jsonl {
        out.extend_from_slice(b"null");
    }
}

fn write_value(out: &mut Vec<u8>, col: &Col, row: usize, format: Format) {
    let is_null = match col {
        Col::Int(a) => a.is_null(row),
        Col::Float(a) => a.is_null(row),
        Col::Bool(a) => a.is_null(row),
        Col::Str(a) => a.is_null(row),
        Col::Timestamp(a) => a.is_null(row),
        Col::Duration(a) => a.is_null(row),
        Col::Date(a) => a.is_null(row),
    };
    if is_null {
        write_null(out, format);
        return;
    }
    match col {
        Col::Int(a) => write_int(out, a.value(row)),
        Col::Duration(a) => write_int(out, a.value(row)),
        Col::Float(a) => {
            let v = a.value(row);
            if v.is_finite() {
                out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
            } else {
                write_null(out, format);
            }
        }
        Col::Bool(a) => out.extend_from_slice(if a.value(row) { b"true" } else { b"false" }),
        Col::Str(a) => match format {
            Format::Csv => write_csv_str(out, a.value(row)),
            Format::Jsonl => write_json_str(out, a.value(row)),
        },
        Col::Timestamp(a) => {
            let quote = format == Format::Jsonl;
            if quote {
                out.push(b'"');
            }
            write_timestamp(out, a.value(row));
            if quote {
                out.push(b'"');
            }
        }
        Col::Date(a) => {
            let quote = format == Format::Jsonl;
            if quote {
                out.push(b'"');
            }
            write_date(out, i64::from(a.value(row)));
            if quote {
                out.push(b'"');
            }
        }
    }
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// RFC 4180 field: quoted when it holds `,`, `"`, CR or LF (quotes doubled), and `""` for the
/// empty string (an empty field is null).
pub(crate) fn write_csv_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.is_empty() {
        out.extend_from_slice(b"\"\"");
        return;
    }
    let needs_quotes =
        memchr::memchr3(b',', b'"', b'\n', b).is_some() || memchr::memchr(b'\r', b).is_some();
    if !needs_quotes {
        out.extend_from_slice(b);
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for q in memchr::memchr_iter(b'"', b) {
        out.extend_from_slice(&b[start..=q]);
        out.push(b'"');
        start = q + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// JSON string literal (RFC 8259): `"` and `\` escaped, control characters as `\n`, `\r`,
/// `\t`, `\b`, `\f` or `\u00XX`; everything else as UTF-8.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let escape: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}
