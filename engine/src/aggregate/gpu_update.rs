//! `GroupTable` updates whose count/sum/avg/min/max partials of a batch come from the GPU
//! (`crate::gpu::partial_agg`): the CPU still encodes keys and numbers the groups, the batch's
//! groups are renumbered densely (0..groups in the batch) for the kernels, and each partial
//! that comes back is merged into the table with the CPU's own `AggColumn::merge`. So the
//! result is the CPU path's, bit for bit; aggregates without a kernel (strings, distinct,
//! first/last, percentile) are folded on the CPU as before.

use arrow_array::{ArrayRef, RecordBatch};

use super::{GroupError, GroupTable};
use crate::expr::evaluate;
use crate::gpu::Gpu;
use crate::gpu::partial_agg::{AggInput, PartialKind, batch_partials};

impl GroupTable {
    /// Folds one batch, its partial aggregates computed on `gpu` where a kernel exists.
    /// On `Err(GroupError::Gpu)` no aggregate state was changed, so the caller may fold the
    /// same batch with [`GroupTable::update`] instead.
    pub fn update_on_gpu(&mut self, batch: &RecordBatch, gpu: &Gpu) -> Result<(), GroupError> {
        let group_ids = self.batch_group_ids(batch)?;
        let result = self.fold_on_gpu(batch, gpu, &group_ids);
        self.group_ids = group_ids;
        result
    }

    /// Folds on `gpu` when given, falling back to the CPU (with a warning) if the GPU fails.
    pub fn update_placed(
        &mut self,
        batch: &RecordBatch,
        gpu: Option<&Gpu>,
    ) -> Result<(), GroupError> {
        let Some(gpu) = gpu else {
            return self.update(batch);
        };
        match self.update_on_gpu(batch, gpu) {
            Err(GroupError::Gpu(e)) => {
                tracing::warn!("partial aggregate on the GPU failed, using the CPU: {e}");
                self.update(batch)
            }
            other => other,
        }
    }

    fn fold_on_gpu(
        &mut self,
        batch: &RecordBatch,
        gpu: &Gpu,
        group_ids: &[u32],
    ) -> Result<(), GroupError> {
        // Dense ids for this batch: table group -> batch group, and back.
        self.dense_of.resize(self.group_keys.len(), u32::MAX);
        let mut table_of: Vec<u32> = Vec::new();
        let dense: Vec<u32> = group_ids
            .iter()
            .map(|&g| {
                let slot = &mut self.dense_of[g as usize];
                if *slot == u32::MAX {
                    *slot = table_of.len() as u32;
                    table_of.push(g);
                }
                *slot
            })
            .collect();
        for &g in &table_of {
            self.dense_of[g as usize] = u32::MAX;
        }
        let on_gpu: Vec<(usize, PartialKind)> = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(c, column)| PartialKind::of(column).map(|k| (c, k)))
            .collect();
        let args = on_gpu
            .iter()
            .map(|&(c, _)| {
                self.aggs[c]
                    .arg
                    .as_ref()
                    .map(|a| evaluate(a, batch))
                    .transpose()
            })
            .collect::<Result<Vec<Option<ArrayRef>>, _>>()?;
        let inputs: Vec<AggInput<'_>> = on_gpu
            .iter()
            .zip(&args)
            .map(|(&(_, kind), arg)| AggInput {
                kind,
                arg: arg.as_ref(),
            })
            .collect();
        let partials = batch_partials(gpu, &dense, table_of.len(), &inputs, None)?;
        for (&(c, _), per_group) in on_gpu.iter().zip(partials) {
            for (d, partial) in per_group.into_iter().enumerate() {
                self.columns[c].merge(table_of[d] as usize, partial);
            }
        }
        for c in 0..self.columns.len() {
            if !on_gpu.iter().any(|&(g, _)| g == c) {
                self.update_column(c, batch, group_ids)?;
            }
        }
        Ok(())
    }
}
