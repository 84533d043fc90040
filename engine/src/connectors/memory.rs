//! An in-memory source: rows given as plan `Value`s (the `given` rows of a `test` block) turned
//! into Arrow batches of the source's schema. Worker 0 yields every row, the other workers none,
//! so a test's input order is the order of its rows.
//!
//! With `event_time` set each row is its own batch: the source's watermark then advances row by
//! row (`max event time seen - max_out_of_order`), which is the language's definition, and a
//! test's result does not depend on the batch size. Without event time rows come in batches of
//! `batch_size`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::{Array, ArrayRef, RecordBatch};
use sluice_dsl::plan::{DataType, SourceNode, Value};

use super::{ConnectorError, SourceContext, SourceCounters, SourceReader};
use crate::arrow_schema_map::arrow_schema;
use crate::expr::value_to_array;

/// A reader of rows held in memory.
pub struct MemoryReader {
    batches: std::vec::IntoIter<RecordBatch>,
    counters: Arc<SourceCounters>,
}

/// Worker `ctx.worker`'s reader of `rows` (complete rows in the order of `node.schema`).
/// Rows whose length or values do not fit the schema are `ConnectorError::Other` here, before
/// anything is read (the checker types `given` rows, so this does not occur for a test).
pub fn open_memory(
    node: &SourceNode,
    rows: &[Vec<Value>],
    ctx: SourceContext,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let rows = if ctx.worker == 0 { rows } else { &[] };
    let per_batch = if node.event_time.is_some() {
        1
    } else {
        ctx.batch_size
    };
    let batches = rows
        .chunks(per_batch)
        .map(|chunk| rows_to_batch(node, chunk))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(MemoryReader {
        batches: batches.into_iter(),
        counters: ctx.counters,
    }))
}

/// One batch of `rows` in the schema of `node`.
pub fn rows_to_batch(
    node: &SourceNode,
    rows: &[Vec<Value>],
) -> Result<RecordBatch, ConnectorError> {
    let invalid = |what: String| ConnectorError::Other(format!("source `{}`: {what}", node.name));
    if let Some(row) = rows.iter().find(|r| r.len() != node.schema.fields.len()) {
        return Err(invalid(format!(
            "a row has {} values for {} columns",
            row.len(),
            node.schema.fields.len()
        )));
    }
    let columns = node
        .schema
        .fields
        .iter()
        .enumerate()
        .map(|(c, field)| {
            let values: Vec<&Value> = rows.iter().map(|r| &r[c]).collect();
            column(&values, field.ty).map_err(|e| invalid(format!("column `{}`: {e}", field.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(arrow_schema(&node.schema), columns, &options)
        .map_err(|e| invalid(e.to_string()))
}

/// A column of `ty` holding `values` (a value of another type is an error, not a null).
fn column(values: &[&Value], ty: DataType) -> Result<ArrayRef, String> {
    let singles = values
        .iter()
        .map(|v| {
            let array = value_to_array(v, ty, 1);
            if array.is_null(0) && !matches!(v, Value::Null) {
                Err(format!("{v} is not a {}", ty.name()))
            } else {
                Ok(array)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if singles.is_empty() {
        return Ok(value_to_array(&Value::Null, ty, 0));
    }
    let refs: Vec<&dyn arrow_array::Array> = singles.iter().map(|a| a.as_ref()).collect();
    arrow_select::concat::concat(&refs).map_err(|e| e.to_string())
}

impl SourceReader for MemoryReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        let batch = self.batches.next();
        if let Some(b) = &batch {
            self.counters
                .records
                .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
        Ok(batch)
    }
}
