//! `group by` + `aggregate` over bounded input: per-worker partial aggregation, an exchange of
//! partials by key hash, and a final merge at each key's owner.
//!
//! Keys are encoded with arrow-row (one comparable byte string per row, the same encoding on
//! every worker), so a group lookup is one hash of a byte slice whatever the key types.

pub mod exact_sum;
pub mod gpu_partials;
#[cfg(test)]
mod gpu_partials_tests;
mod gpu_update;
pub mod state;
pub mod value_aggs;
pub mod window;

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, SchemaRef};
use serde::{Deserialize, Serialize};
use sluice_dsl::plan::{AggCall, TypedExpr};

use crate::arrow_schema_map::arrow_type;
use crate::expr::{ExprError, evaluate};
use state::{AggColumn, PartialValue};

/// One group's partial state on its way to the worker that owns the group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Route: the owner is `owner % workers`.
    pub owner: u64,
    /// arrow-row encoding of the key (empty for a global aggregate).
    pub key: Vec<u8>,
    pub values: Vec<PartialValue>,
}

/// Groups, their keys and one state column per aggregate.
pub struct GroupTable {
    keys: Vec<TypedExpr>,
    aggs: Vec<AggCall>,
    /// `None` for a global aggregate (no `group by`): everything is group 0.
    converter: Option<RowConverter>,
    index: hashbrown::HashMap<Box<[u8]>, u32>,
    /// Group number -> key bytes, in first-seen order.
    group_keys: Vec<Box<[u8]>>,
    columns: Vec<AggColumn>,
    group_ids: Vec<u32>,
    /// Scratch of `update_on_gpu`: table group -> its dense number in the batch (u32::MAX: none).
    dense_of: Vec<u32>,
    /// Input column with each row's event time (for `first`/`last`).
    time_column: Option<usize>,
}

impl GroupTable {
    pub fn new(keys: &[(String, TypedExpr)], aggs: &[AggCall]) -> Result<GroupTable, ArrowError> {
        let converter = if keys.is_empty() {
            None
        } else {
            let fields = keys
                .iter()
                .map(|(_, e)| SortField::new(arrow_type(e.ty)))
                .collect();
            Some(RowConverter::new(fields)?)
        };
        let mut table = GroupTable {
            keys: keys.iter().map(|(_, e)| e.clone()).collect(),
            aggs: aggs.to_vec(),
            converter,
            index: hashbrown::HashMap::new(),
            group_keys: Vec::new(),
            columns: aggs.iter().map(AggColumn::new).collect(),
            group_ids: Vec::new(),
            dense_of: Vec::new(),
            time_column: None,
        };
        if table.converter.is_none() {
            table.group_of(&[]);
        }
        Ok(table)
    }

    /// Reads each row's event time from input column `column` (needed by `first`/`last`).
    pub fn with_time_column(mut self, column: Option<usize>) -> GroupTable {
        self.time_column = column;
        self
    }

    fn group_of(&mut self, key: &[u8]) -> u32 {
        if let Some(&g) = self.index.get(key) {
            return g;
        }
        let g = self.group_keys.len() as u32;
        self.index.insert(key.into(), g);
        self.group_keys.push(key.into());
        for column in &mut self.columns {
            column.resize(self.group_keys.len());
        }
        g
    }

    /// Folds one batch into the groups.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<(), GroupError> {
        let group_ids = self.batch_group_ids(batch)?;
        for c in 0..self.columns.len() {
            self.update_column(c, batch, &group_ids)?;
        }
        self.group_ids = group_ids;
        Ok(())
    }

    /// Each row's group number (new groups added); the returned vector is `self.group_ids`'
    /// allocation, to be put back.
    fn batch_group_ids(&mut self, batch: &RecordBatch) -> Result<Vec<u32>, GroupError> {
        let rows = batch.num_rows();
        let mut group_ids = std::mem::take(&mut self.group_ids);
        group_ids.clear();
        match &self.converter {
            None => group_ids.resize(rows, 0),
            Some(converter) => {
                let key_arrays = self
                    .keys
                    .iter()
                    .map(|k| evaluate(k, batch).map(crate::expr::canonical_key))
                    .collect::<Result<Vec<ArrayRef>, _>>()?;
                let encoded = converter.convert_columns(&key_arrays)?;
                for row in encoded.iter() {
                    let g = self.group_of(row.as_ref());
                    group_ids.push(g);
                }
            }
        }
        Ok(group_ids)
    }

    /// Folds one batch into aggregate column `c` on the CPU.
    fn update_column(
        &mut self,
        c: usize,
        batch: &RecordBatch,
        group_ids: &[u32],
    ) -> Result<(), GroupError> {
        let call = &self.aggs[c];
        let arg = call.arg.as_ref().map(|a| evaluate(a, batch)).transpose()?;
        let times = self.time_column.map(|t| {
            batch
                .column(t)
                .as_primitive::<TimestampMillisecondType>()
                .values()
                .as_ref()
        });
        self.columns[c].update(group_ids, arg.as_ref(), times);
        Ok(())
    }

    /// Every group's state with the hash that picks its owner; leaves the table empty.
    pub fn drain_partials(&mut self) -> Vec<Partial> {
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let global = self.converter.is_none();
        let partials = self
            .group_keys
            .iter()
            .enumerate()
            .map(|(g, key)| Partial {
                owner: if global { 0 } else { hasher.hash_one(key) },
                key: key.to_vec(),
                values: self.columns.iter().map(|c| c.partial(g)).collect(),
            })
            .collect();
        self.index.clear();
        self.group_keys.clear();
        self.columns = self.aggs.iter().map(AggColumn::new).collect();
        if global {
            self.group_of(&[]);
        }
        partials
    }

    /// Merges a partial from any worker; returns the group it updated.
    pub fn merge(&mut self, partial: Partial) -> u32 {
        let g = self.group_of(&partial.key) as usize;
        for (column, value) in self.columns.iter_mut().zip(partial.values) {
            column.merge(g, value);
        }
        g as u32
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.group_keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.group_keys.is_empty()
    }

    /// The key columns and the aggregate columns, one row per group.
    pub fn finish_columns(&self) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>), GroupError> {
        let keys = match &self.converter {
            Some(converter) => {
                let parser = converter.parser();
                converter.convert_rows(self.group_keys.iter().map(|k| parser.parse(k)))?
            }
            None => Vec::new(),
        };
        let aggs = self
            .columns
            .iter()
            .zip(&self.aggs)
            .map(|(c, call)| c.finish(call))
            .collect();
        Ok((keys, aggs))
    }

    /// The result rows: key columns then aggregates, in `schema`, at most `batch_size` per batch.
    pub fn finish(
        &self,
        schema: &SchemaRef,
        batch_size: usize,
    ) -> Result<Vec<RecordBatch>, GroupError> {
        let (mut columns, aggs) = self.finish_columns()?;
        columns.extend(aggs);
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(split_rows(&batch, batch_size))
    }
}

/// `batch` in slices of at most `batch_size` rows (zero-copy).
pub fn split_rows(batch: &RecordBatch, batch_size: usize) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    (0..rows)
        .step_by(batch_size.max(1))
        .map(|start| batch.slice(start, batch_size.min(rows - start)))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Expr(#[from] ExprError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::limits::KernelError),
}
