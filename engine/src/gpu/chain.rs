//! Runs a fused `where`/`select` chain on a batch: on the GPU (one upload of the referenced
//! columns, one dispatch, readback of masks and computed columns only) or, for the same
//! result, stage by stage on the CPU evaluator.
//!
//! GPU work is split into [`GpuChain::submit`] and [`GpuChain::finish`] so an operator can
//! submit several batches before waiting for the first (uploads overlap with compute).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DurationMillisecondArray, Float64Array, Int64Array, RecordBatch,
    RecordBatchOptions, TimestampMillisecondArray,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType as ArrowType, SchemaRef, TimeUnit};
use sluice_dsl::plan::DataType;

use super::codegen::{ChainKernel, ChainOp, Class, OutputColumn, Unsupported, compile_chain};
use super::kernel::{Access, Kernel};
use super::submit::InFlight;
use super::{Gpu, GpuError};
use crate::expr::{ExprError, filter_batch, project_batch};

/// Why a chain could not run.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Expr(#[from] ExprError),
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("not a GPU chain: {0}")]
    Unsupported(#[from] Unsupported),
    #[error("column #{0} has Arrow type {1}, which the GPU chain does not read")]
    ColumnType(usize, ArrowType),
}

/// A chain's output batch and the rows each of its stages passed on.
#[derive(Debug)]
pub struct ChainOutput {
    pub batch: RecordBatch,
    pub stage_rows: Vec<u64>,
}

/// A compiled chain: its stages (for the CPU path) and its kernel.
pub struct GpuChain {
    gpu: &'static Gpu,
    /// Each stage with its output schema.
    stages: Vec<(ChainOp, SchemaRef)>,
    spec: ChainKernel,
    kernel: Arc<Kernel>,
}

/// A batch submitted to the GPU.
pub struct Pending {
    flight: InFlight<'static>,
    reads: (usize, usize),
    rows: usize,
}

fn words_of(rows: usize) -> usize {
    rows.div_ceil(32)
}

/// Appends `bits` (Arrow order, `rows` long) as `words` u32 words.
fn push_words(out: &mut Vec<u32>, bits: Option<&BooleanBuffer>, rows: usize) {
    let words = words_of(rows);
    let start = out.len();
    match bits {
        None => out.resize(start + words, u32::MAX),
        Some(b) => {
            out.resize(start + words, 0);
            let bytes = b.sliced();
            let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut out[start..]);
            let n = bytes.len().min(dst.len());
            dst[..n].copy_from_slice(&bytes.as_slice()[..n]);
        }
    }
}

fn values_bytes(index: usize, a: &ArrayRef) -> Result<&[u8], ChainError> {
    Ok(match a.data_type() {
        ArrowType::Int64 => bytemuck::cast_slice(a.as_primitive::<Int64Type>().values()),
        ArrowType::Float64 => bytemuck::cast_slice(a.as_primitive::<Float64Type>().values()),
        ArrowType::Timestamp(TimeUnit::Millisecond, None) => {
            bytemuck::cast_slice(a.as_primitive::<TimestampMillisecondType>().values())
        }
        ArrowType::Duration(TimeUnit::Millisecond) => {
            bytemuck::cast_slice(a.as_primitive::<DurationMillisecondType>().values())
        }
        other => return Err(ChainError::ColumnType(index, other.clone())),
    })
}

impl GpuChain {
    /// Compiles `stages` (each with its output schema) over an input of `input_width` columns.
    pub fn new(
        gpu: &'static Gpu,
        stages: Vec<(ChainOp, SchemaRef)>,
        input_width: usize,
    ) -> Result<GpuChain, ChainError> {
        if !gpu.info().f64 || !gpu.info().i64 {
            return Err(GpuError::MissingFeature("SHADER_F64 and SHADER_INT64").into());
        }
        let ops: Vec<ChainOp> = stages.iter().map(|(op, _)| op.clone()).collect();
        let spec = compile_chain(&ops, input_width)?;
        let access = [
            Access::Read,
            Access::Read,
            Access::Read,
            Access::ReadWrite,
            Access::ReadWrite,
        ];
        let kernel = gpu.kernel("where/select chain", &spec.source, &access)?;
        Ok(GpuChain {
            gpu,
            stages,
            spec,
            kernel,
        })
    }

    /// The generated WGSL (for tests and `explain`-style debugging).
    pub fn source(&self) -> &str {
        &self.spec.source
    }

    fn output_schema(&self, input: &RecordBatch) -> SchemaRef {
        self.stages
            .last()
            .map_or_else(|| input.schema(), |(_, s)| s.clone())
    }

    /// Whether a batch of `rows` fits the device's buffer size limit.
    pub fn fits(&self, rows: usize) -> bool {
        let widest = self
            .spec
            .in64_slots
            .max(self.spec.out64_slots)
            .max(self.spec.inbits_slots.max(self.spec.outbits_slots) / 64 + 1);
        (rows as u64) * 8 * (widest as u64) <= self.gpu.info().max_buffer_bytes
            && rows < u32::MAX as usize
    }

    /// Uploads the referenced columns of `batch`, dispatches, and schedules the readback.
    pub fn submit(&self, batch: &RecordBatch) -> Result<Pending, ChainError> {
        let rows = batch.num_rows();
        let words = words_of(rows);
        let spec = &self.spec;
        let mut values: Vec<&[u8]> = vec![&[]; spec.in64_slots];
        let mut bits: Vec<Vec<u32>> = vec![Vec::new(); spec.inbits_slots];
        for input in &spec.inputs {
            let column = batch.column(input.index);
            match input.class {
                Class::Bool => {
                    let b = column.as_boolean_opt().ok_or_else(|| {
                        ChainError::ColumnType(input.index, column.data_type().clone())
                    })?;
                    push_words(&mut bits[input.slot], Some(b.values()), rows);
                }
                Class::I64 | Class::F64 => values[input.slot] = values_bytes(input.index, column)?,
            }
            if let Some(v) = input.valid_slot {
                let nulls = column.logical_nulls();
                push_words(&mut bits[v], nulls.as_ref().map(NullBuffer::inner), rows);
            }
        }
        let inbits: Vec<u32> = bits.concat();
        let mut job = self.gpu.submission();
        let (in64, _) = job.upload_parts(&values);
        let inbits = job.upload(bytemuck::cast_slice(&inbits));
        let consts = job.upload(bytemuck::cast_slice(&spec.consts));
        let out64_bytes = (spec.out64_slots * rows * 8) as u64;
        let outbits_bytes = (spec.outbits_slots * words * 4) as u64;
        let out64 = self.gpu.buffer(out64_bytes);
        let outbits = self.gpu.buffer(outbits_bytes);
        job.dispatch(
            &self.kernel,
            words as u32,
            &[rows as u32],
            &[&in64, &inbits, &consts, &out64, &outbits],
        )?;
        let r64 = job.read_back(&out64, 0, out64_bytes);
        let rbits = job.read_back(&outbits, 0, outbits_bytes);
        Ok(Pending {
            flight: job.submit(),
            reads: (r64, rbits),
            rows,
        })
    }

    /// Waits for `pending` (submitted for `batch`) and assembles the output batch.
    pub fn finish(&self, batch: &RecordBatch, pending: Pending) -> Result<ChainOutput, ChainError> {
        Ok(self.finish_timed(batch, pending)?.0)
    }

    /// [`GpuChain::finish`], with the submission's (ns submit to readback, bytes up, bytes down).
    pub fn finish_timed(
        &self,
        batch: &RecordBatch,
        pending: Pending,
    ) -> Result<(ChainOutput, (u64, u64, u64)), ChainError> {
        let rows = pending.rows;
        let words = words_of(rows);
        let done = pending.flight.wait()?;
        let stats = (
            done.elapsed.as_nanos() as u64,
            done.bytes_up,
            done.bytes_down,
        );
        let out64 = &done.buffers[pending.reads.0];
        let outbits = &done.buffers[pending.reads.1];
        let bitbuf = |slot: usize| BooleanBuffer::new(outbits.clone(), slot * words * 32, rows);
        let columns = self
            .spec
            .outputs
            .iter()
            .map(|out| match out {
                OutputColumn::Input(c) => Arc::clone(batch.column(*c)),
                OutputColumn::Computed { ty, slot, valid } => {
                    let nulls =
                        Some(NullBuffer::new(bitbuf(*valid))).filter(|n| n.null_count() > 0);
                    computed(*ty, out64, *slot, rows, bitbuf(*slot), nulls)
                }
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let full = RecordBatch::try_new_with_options(self.output_schema(batch), columns, &options)?;
        // Rows passed on by each stage: a `where` its cumulative mask, a `select` its input.
        let mut stage_rows = Vec::with_capacity(self.stages.len());
        let mut filter = 0;
        let mut passed = rows as u64;
        let mut last_mask = None;
        for (op, _) in &self.stages {
            if let ChainOp::Filter(_) = op {
                let mask = bitbuf(filter);
                passed = mask.count_set_bits() as u64;
                last_mask = Some(mask);
                filter += 1;
            }
            stage_rows.push(passed);
        }
        let batch = match last_mask {
            Some(mask) if (passed as usize) < rows => {
                arrow_select::filter::filter_record_batch(&full, &BooleanArray::new(mask, None))?
            }
            _ => full,
        };
        Ok((ChainOutput { batch, stage_rows }, stats))
    }

    /// The same chain stage by stage on the CPU evaluator.
    pub fn run_cpu(&self, batch: &RecordBatch) -> Result<ChainOutput, ChainError> {
        run_stages_cpu(&self.stages, batch)
    }
}

/// Runs `stages` one after the other on the CPU (the reference the GPU path must match).
pub fn run_stages_cpu(
    stages: &[(ChainOp, SchemaRef)],
    batch: &RecordBatch,
) -> Result<ChainOutput, ChainError> {
    let mut current = batch.clone();
    let mut stage_rows = Vec::with_capacity(stages.len());
    for (op, schema) in stages {
        current = match op {
            ChainOp::Filter(p) => filter_batch(p, &current)?,
            ChainOp::Project(items) => project_batch(items, schema.clone(), &current)?,
        };
        stage_rows.push(current.num_rows() as u64);
    }
    Ok(ChainOutput {
        batch: current,
        stage_rows,
    })
}

fn computed(
    ty: DataType,
    out64: &Buffer,
    slot: usize,
    rows: usize,
    bits: BooleanBuffer,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let ints = || ScalarBuffer::<i64>::new(out64.clone(), slot * rows, rows);
    match ty {
        DataType::Bool => Arc::new(BooleanArray::new(bits, nulls)),
        DataType::Float => Arc::new(Float64Array::new(
            ScalarBuffer::new(out64.clone(), slot * rows, rows),
            nulls,
        )),
        DataType::Timestamp => Arc::new(TimestampMillisecondArray::new(ints(), nulls)),
        DataType::Duration => Arc::new(DurationMillisecondArray::new(ints(), nulls)),
        // Int (strings never reach a computed output: codegen refuses them).
        _ => Arc::new(Int64Array::new(ints(), nulls)),
    }
}
