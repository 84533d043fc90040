//! `GroupTable` updates whose count/sum/avg/min/max partials of a batch come from the GPU
//! (`gpu_partials.rs`): the CPU still encodes keys and numbers the groups, the batch's
//! groups are renumbered densely (0..groups in the batch) for the kernels, and each partial
//! that comes back is merged into the table with the CPU's own `AggColumn::merge`. So the
//! result is the CPU path's, bit for bit; aggregates without a kernel (strings, distinct,
//! first/last, percentile) are folded on the CPU as before.

use arrow_array::{ArrayRef, RecordBatch};

use super::gpu_partials::{AggInput, PartialKind, batch_partials};
use super::{GroupError, GroupTable};
use crate::expr::evaluate;
use crate::gpu::Gpu;

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType as ArrowType, Field, Schema};
    use sluice_dsl::plan::{AggCall, AggFunc, DataType, TExpr, TypedExpr};

    use super::*;

    fn col(i: usize, ty: DataType) -> TypedExpr {
        TypedExpr {
            kind: TExpr::Column(i, format!("c{i}")),
            ty,
            nullable: true,
        }
    }

    fn call(func: AggFunc, arg: Option<TypedExpr>, ty: DataType) -> AggCall {
        AggCall {
            name: format!("{func:?}"),
            func,
            arg,
            ty,
            nullable: true,
        }
    }

    /// Batches of (key: string, x: float, n: int) with nulls, NaN and keys that come and go.
    fn batches() -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", ArrowType::Utf8, true),
            Field::new("x", ArrowType::Float64, true),
            Field::new("n", ArrowType::Int64, true),
        ]));
        (0..5u64)
            .map(|b| {
                let rows = [0usize, 1, 300, 5_000, 70_001][b as usize];
                let keys = StringArray::from_iter(
                    (0..rows)
                        .map(|i| (i % 13 != 0).then(|| format!("k{}", (i as u64 * 7 + b) % 40))),
                );
                let x = Float64Array::from_iter((0..rows).map(|i| match i % 17 {
                    0 => None,
                    1 if b == 3 => Some(f64::NAN),
                    _ => Some((i as f64 * 0.37 + b as f64).sin() * 10f64.powi((i % 9) as i32 - 4)),
                }));
                let n = Int64Array::from_iter((0..rows).map(|i| {
                    (i % 11 != 0).then_some(if i % 101 == 0 {
                        i64::MAX
                    } else {
                        i as i64 - 1_000
                    })
                }));
                let columns: Vec<ArrayRef> = vec![Arc::new(keys), Arc::new(x), Arc::new(n)];
                RecordBatch::try_new(schema.clone(), columns).unwrap()
            })
            .collect()
    }

    #[test]
    fn gpu_partials_give_the_cpu_result() {
        let Some(gpu) = Gpu::for_tests("gpu_partials_give_the_cpu_result") else {
            return;
        };
        let (f, i) = (DataType::Float, DataType::Int);
        let keys = vec![("k".to_string(), col(0, DataType::String))];
        let aggs = vec![
            call(AggFunc::CountRows, None, i),
            call(AggFunc::Count, Some(col(1, f)), i),
            call(AggFunc::Sum, Some(col(1, f)), f),
            call(AggFunc::Avg, Some(col(1, f)), f),
            call(AggFunc::Min, Some(col(1, f)), f),
            call(AggFunc::Max, Some(col(1, f)), f),
            call(AggFunc::Sum, Some(col(2, i)), i),
            call(AggFunc::Avg, Some(col(2, i)), f),
            call(AggFunc::Min, Some(col(2, i)), i),
            call(AggFunc::Max, Some(col(2, i)), i),
            // No kernel: folded on the CPU next to the GPU's partials.
            call(AggFunc::CountDistinct, Some(col(2, i)), i),
        ];
        let mut cpu = GroupTable::new(&keys, &aggs).unwrap();
        let mut on_gpu = GroupTable::new(&keys, &aggs).unwrap();
        for batch in batches() {
            cpu.update(&batch).unwrap();
            on_gpu.update_on_gpu(&batch, gpu).unwrap();
        }
        let (cpu_keys, cpu_aggs) = cpu.finish_columns().unwrap();
        let (gpu_keys, gpu_aggs) = on_gpu.finish_columns().unwrap();
        assert_eq!(cpu_keys, gpu_keys);
        assert!(cpu.groups() > 30);
        for (a, (x, y)) in aggs.iter().zip(cpu_aggs.iter().zip(&gpu_aggs)) {
            // Bit-exact, NaN included: compare the raw data, not float equality.
            assert_eq!(x.to_data(), y.to_data(), "{}", a.name);
            assert_eq!(x.null_count(), y.null_count(), "{}", a.name);
        }
    }

    #[test]
    fn gpu_date_extremes_give_the_cpu_result() {
        let Some(gpu) = Gpu::for_tests("gpu_date_extremes_give_the_cpu_result") else {
            return;
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", ArrowType::Int64, true),
            Field::new("d", ArrowType::Date32, true),
        ]));
        let rows = 3_000i32;
        let keys = Int64Array::from_iter_values((0..rows).map(|i| i64::from(i % 7)));
        let days = arrow_array::Date32Array::from_iter(
            (0..rows).map(|i| (i % 5 != 0).then_some((i * 7919) % 4_000_000 - 1_000_000)),
        );
        let columns: Vec<ArrayRef> = vec![Arc::new(keys), Arc::new(days)];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let keys = vec![("k".to_string(), col(0, DataType::Int))];
        let aggs = vec![
            call(AggFunc::Min, Some(col(1, DataType::Date)), DataType::Date),
            call(AggFunc::Max, Some(col(1, DataType::Date)), DataType::Date),
        ];
        let mut cpu = GroupTable::new(&keys, &aggs).unwrap();
        let mut on_gpu = GroupTable::new(&keys, &aggs).unwrap();
        cpu.update(&batch).unwrap();
        on_gpu.update_on_gpu(&batch, gpu).unwrap();
        let (_, cpu_aggs) = cpu.finish_columns().unwrap();
        let (_, gpu_aggs) = on_gpu.finish_columns().unwrap();
        for (x, y) in cpu_aggs.iter().zip(&gpu_aggs) {
            assert_eq!(x.data_type(), &ArrowType::Date32);
            assert_eq!(x.to_data(), y.to_data());
        }
    }
}
