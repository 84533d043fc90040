//! Per-batch partial aggregates on the GPU: `count`, `sum`, `avg`, `min`, `max` per group,
//! merged by the CPU into its group table (`GroupTable::update_on_gpu`).
//!
//! The CPU gives each row of the batch a dense group id (0..groups); the kernels in
//! `shaders/partial_*.wgsl` fold the rows of each group with 32-bit atomics and the results
//! come back as the same `PartialValue`s workers exchange, so merging them is the CPU's own
//! merge. Every result is exact, equal to the CPU path bit for bit:
//! - counts: one u32 per group;
//! - integer sums: the low and high 32-bit halves summed separately in 64-bit counters built
//!   from two u32 atomics with carry, recombined as i128 (an i64 overflow gives null, as on the
//!   CPU);
//! - float sums and averages: the f64 bits are split into the buckets of `ExactSum` with
//!   integer operations only (no f64 on the device), so the sum is the CPU's exact sum;
//! - min/max over ints, timestamps, durations, bools and floats: a u64 key in the CPU's order
//!   (floats: total order, NaN canonical), high word then low word in two passes.
//!
//! `batch_partials` splits a batch whose values exceed one storage binding (or 2^31 rows)
//! into chunks whose partials merge on the CPU. Accumulators are dense per group (a float sum
//! takes 536 bytes a group), so a batch with more groups than one binding holds is refused
//! (`KernelError::TooLarge`) and its caller folds it on the CPU.

use arrow_array::{Array, ArrayRef};

use super::exact_sum::ExactSum;
use super::state::{AggColumn, PartialValue, float_values, int_values};
use crate::gpu::limits::{KernelError, check_fits};
use crate::gpu::{Access, DeviceBuffer, Done, Gpu, Submission};

const ZERO_SOURCE: &str = include_str!("../../../shaders/zero_words.wgsl");
/// A partial kernel: `partial_common.wgsl` (bindings 1-2, `is_valid`), the sum kernels'
/// `add64`, then the kernel's own file.
macro_rules! partial_kernel {
    ($($file:literal),+) => {
        concat!(include_str!("../../../shaders/partial_common.wgsl"), $("\n", include_str!($file)),+)
    };
}
const COUNT_SOURCE: &str = partial_kernel!("../../../shaders/partial_count.wgsl");
const SUM_INT_SOURCE: &str = partial_kernel!(
    "../../../shaders/partial_add64.wgsl",
    "../../../shaders/partial_sum_int.wgsl"
);
const SUM_FLOAT_SOURCE: &str = partial_kernel!(
    "../../../shaders/partial_add64.wgsl",
    "../../../shaders/partial_sum_float.wgsl"
);
const EXTREME_SOURCE: &str = partial_kernel!("../../../shaders/partial_extreme.wgsl");

/// Buckets of `ExactSum` a finite f64 can touch (exponent field 2046 -> bucket 63, + 2).
const FLOAT_BUCKETS: usize = 66;

/// What one aggregate computes on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialKind {
    /// `count()` (no argument: every row) or `count(x)`.
    Count,
    SumInt,
    SumFloat,
    /// `avg` over floats or ints (ints converted to f64 as on the CPU).
    Avg,
    /// `min`/`max` over i64-valued columns (int, timestamp, duration, bool; dates widened).
    ExtremeInt {
        max: bool,
    },
    ExtremeFloat {
        max: bool,
    },
}

impl PartialKind {
    /// The kernel for an aggregate's state column, if there is one (strings, distinct sets,
    /// first/last and sketches stay on the CPU).
    pub fn of(column: &AggColumn) -> Option<PartialKind> {
        Some(match column {
            AggColumn::Count(_) => PartialKind::Count,
            AggColumn::SumInt(_) => PartialKind::SumInt,
            AggColumn::SumFloat(_) => PartialKind::SumFloat,
            AggColumn::Avg(_) => PartialKind::Avg,
            AggColumn::ExtremeInt { max, .. } => PartialKind::ExtremeInt { max: *max },
            AggColumn::ExtremeFloat { max, .. } => PartialKind::ExtremeFloat { max: *max },
            _ => return None,
        })
    }

    /// Whether the kernel reads the argument as f64 bits (else as i64).
    fn float_values(self) -> bool {
        matches!(
            self,
            PartialKind::SumFloat | PartialKind::Avg | PartialKind::ExtremeFloat { .. }
        )
    }

    /// u32 words of accumulator per group.
    fn words(self) -> usize {
        match self {
            PartialKind::Count => 1,
            PartialKind::SumInt => 5,
            PartialKind::SumFloat | PartialKind::Avg => 2 * FLOAT_BUCKETS + 2,
            PartialKind::ExtremeInt { .. } | PartialKind::ExtremeFloat { .. } => 3,
        }
    }
}

/// One aggregate of a batch: its kind and its evaluated argument (`None` for `count()`).
pub struct AggInput<'a> {
    pub kind: PartialKind,
    pub arg: Option<&'a ArrayRef>,
}

/// The argument as the kernels read it: 8 bytes a row (i64, or f64 bits).
fn value_bytes(kind: PartialKind, arg: &ArrayRef) -> Vec<u8> {
    match kind {
        PartialKind::Count => Vec::new(),
        PartialKind::SumFloat | PartialKind::Avg | PartialKind::ExtremeFloat { .. } => {
            bytemuck::cast_slice(&float_values(arg)).to_vec()
        }
        PartialKind::SumInt | PartialKind::ExtremeInt { .. } => {
            bytemuck::cast_slice(&int_values(arg)).to_vec()
        }
    }
}

/// Arrow's validity bitmap of `arg` re-packed from bit 0 as u32 words; `None`: no nulls.
fn validity_words(arg: Option<&ArrayRef>) -> Option<Vec<u32>> {
    let nulls = arg?.logical_nulls()?;
    let mut words = Vec::with_capacity(nulls.len().div_ceil(32) + 1);
    for chunk in nulls.inner().bit_chunks().iter_padded() {
        words.push(chunk as u32);
        words.push((chunk >> 32) as u32);
    }
    Some(words)
}

/// A batch's group ids and aggregate arguments, uploaded in a submission.
pub struct AggUpload {
    rows: usize,
    groups: usize,
    group_ids: DeviceBuffer,
    inputs: Vec<Resident>,
}

struct Resident {
    kind: PartialKind,
    has_validity: bool,
    validity: DeviceBuffer,
    values: DeviceBuffer,
}

/// Accumulators recorded into a submission, one per aggregate.
pub struct AggOutputs(Vec<DeviceBuffer>);

impl AggUpload {
    /// Records the upload of a batch: `group_ids[i] < groups` for every row. Fails with
    /// `TooLarge` when a buffer exceeds one binding (split the batch) or `rows >= 2^31`.
    pub fn upload(
        gpu: &Gpu,
        job: &mut Submission<'_>,
        group_ids: &[u32],
        groups: usize,
        inputs: &[AggInput<'_>],
    ) -> Result<AggUpload, KernelError> {
        let rows = group_ids.len();
        let what = || format!("a batch of {rows} rows in {groups} groups");
        let rows_bytes = if rows >= 1 << 31 {
            u64::MAX
        } else {
            rows as u64 * 8
        };
        check_fits(gpu, what, rows_bytes)?;
        for input in inputs {
            check_fits(gpu, what, (groups * input.kind.words() * 4) as u64)?;
        }
        let group_buffer = job.upload(bytemuck::cast_slice(group_ids));
        // Aggregates over the same column (sum, min and max of x) share its upload.
        let mut uploaded: Vec<(usize, bool, bool, DeviceBuffer, DeviceBuffer)> = Vec::new();
        let mut resident = Vec::with_capacity(inputs.len());
        for input in inputs {
            let float = input.kind.float_values();
            let address = input
                .arg
                .map_or(0, |a| std::sync::Arc::as_ptr(a) as *const () as usize);
            let has_validity = input.arg.is_some_and(|a| a.logical_null_count() > 0);
            let shared = uploaded
                .iter()
                .find(|u| address != 0 && u.0 == address && u.1 == float);
            let (validity, values) = match shared {
                Some(u) => (u.3.clone(), u.4.clone()),
                None => {
                    let validity = validity_words(input.arg.filter(|_| has_validity));
                    let values = match input.arg {
                        Some(arg) if input.kind != PartialKind::Count => {
                            value_bytes(input.kind, arg)
                        }
                        _ => Vec::new(),
                    };
                    let validity =
                        job.upload(bytemuck::cast_slice(validity.as_deref().unwrap_or(&[])));
                    let values = job.upload(&values);
                    if input.kind != PartialKind::Count {
                        uploaded.push((
                            address,
                            float,
                            has_validity,
                            validity.clone(),
                            values.clone(),
                        ));
                    }
                    (validity, values)
                }
            };
            resident.push(Resident {
                kind: input.kind,
                has_validity,
                validity,
                values,
            });
        }
        Ok(AggUpload {
            rows,
            groups,
            group_ids: group_buffer,
            inputs: resident,
        })
    }

    /// Records every aggregate's kernels (zeroing its accumulators first).
    pub fn record(&self, gpu: &Gpu, job: &mut Submission<'_>) -> Result<AggOutputs, KernelError> {
        use Access::{Read, ReadWrite};
        let zero = gpu.kernel("zero_words", ZERO_SOURCE, &[ReadWrite])?;
        let (rows, groups) = (self.rows as u32, self.groups as u32);
        let mut outputs = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let words = self.groups * input.kind.words();
            let acc = gpu.buffer((words * 4) as u64);
            job.dispatch(&zero, words as u32, &[], &[&acc])?;
            let valid = u32::from(input.has_validity);
            if input.kind == PartialKind::Count {
                let k = gpu.kernel("partial_count", COUNT_SOURCE, &[Read, Read, ReadWrite])?;
                job.dispatch(
                    &k,
                    rows,
                    &[groups, valid],
                    &[&self.group_ids, &input.validity, &acc],
                )?;
                outputs.push(acc);
                continue;
            }
            // Extremes: mode bit 0 max, bit 1 float keys, bit 2 the low-word pass.
            let (name, source, modes): (_, _, Vec<u32>) = match input.kind {
                PartialKind::SumInt => ("partial_sum_int", SUM_INT_SOURCE, vec![0]),
                PartialKind::SumFloat | PartialKind::Avg => {
                    ("partial_sum_float", SUM_FLOAT_SOURCE, vec![0])
                }
                PartialKind::ExtremeInt { max } | PartialKind::ExtremeFloat { max } => {
                    let float = matches!(input.kind, PartialKind::ExtremeFloat { .. });
                    let mode = u32::from(max) | (u32::from(float) << 1);
                    ("partial_extreme", EXTREME_SOURCE, vec![mode, mode | 4])
                }
                PartialKind::Count => unreachable!("handled above"),
            };
            let k = gpu.kernel(name, source, &[Read, Read, Read, ReadWrite])?;
            for mode in modes {
                job.dispatch(
                    &k,
                    rows,
                    &[groups, valid, mode],
                    &[&self.group_ids, &input.validity, &input.values, &acc],
                )?;
            }
            outputs.push(acc);
        }
        Ok(AggOutputs(outputs))
    }

    /// Records the readback of every accumulator; the indices select them in `Done`.
    pub fn read_back(&self, job: &mut Submission<'_>, outputs: &AggOutputs) -> Vec<usize> {
        outputs
            .0
            .iter()
            .zip(&self.inputs)
            .map(|(acc, input)| {
                job.read_back(acc, 0, (self.groups * input.kind.words() * 4) as u64)
            })
            .collect()
    }

    /// One `PartialValue` per group per aggregate from a finished submission.
    pub fn decode(&self, done: &Done, reads: &[usize]) -> Vec<Vec<PartialValue>> {
        reads
            .iter()
            .zip(&self.inputs)
            .map(|(&r, input)| {
                done.buffers[r]
                    .typed_data::<u32>()
                    .chunks_exact(input.kind.words())
                    .map(|w| decode(input.kind, w))
                    .collect()
            })
            .collect()
    }
}

fn u64_of(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

/// One group's accumulator words as the partial the CPU would have built.
fn decode(kind: PartialKind, w: &[u32]) -> PartialValue {
    match kind {
        PartialKind::Count => PartialValue::Count(i64::from(w[0])),
        PartialKind::SumInt => {
            let low = u64_of(w[0], w[1]) as i128;
            let high = u64_of(w[2], w[3]) as i64 as i128;
            PartialValue::SumInt((w[4] > 0).then(|| high * (1i128 << 32) + low))
        }
        PartialKind::SumFloat | PartialKind::Avg => {
            let buckets = (0..FLOAT_BUCKETS)
                .map(|b| (b as u16, u64_of(w[2 * b], w[2 * b + 1]) as i64 as i128));
            let flags = w[2 * FLOAT_BUCKETS];
            let count = i64::from(w[2 * FLOAT_BUCKETS + 1]);
            let sum =
                ExactSum::from_buckets(buckets, flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
            if kind == PartialKind::Avg {
                PartialValue::Avg(sum, count)
            } else {
                PartialValue::SumFloat((count > 0).then_some(sum))
            }
        }
        PartialKind::ExtremeInt { max } | PartialKind::ExtremeFloat { max } => {
            if w[2] == 0 {
                return if matches!(kind, PartialKind::ExtremeInt { .. }) {
                    PartialValue::Int(None)
                } else {
                    PartialValue::Float(None)
                };
            }
            let key = u64_of(w[1], w[0]);
            let key = if max { key } else { !key };
            match kind {
                PartialKind::ExtremeInt { .. } => PartialValue::Int(Some((key ^ (1 << 63)) as i64)),
                _ => {
                    let bits = if key & (1 << 63) != 0 {
                        key ^ (1 << 63)
                    } else {
                        !key
                    };
                    PartialValue::Float(Some(f64::from_bits(bits)))
                }
            }
        }
    }
}

/// Partials of one batch for each aggregate in one submission, in chunks of at most
/// `max_rows` rows (`None`: as many as one binding holds) whose partials merge on the CPU.
pub fn batch_partials(
    gpu: &Gpu,
    group_ids: &[u32],
    groups: usize,
    inputs: &[AggInput<'_>],
    max_rows: Option<usize>,
) -> Result<Vec<Vec<PartialValue>>, KernelError> {
    let limit = max_rows
        .unwrap_or(usize::MAX)
        .min(gpu.info().max_buffer_bytes as usize / 8)
        .clamp(1, (1 << 31) - 1);
    if group_ids.is_empty() {
        return Ok(inputs.iter().map(|_| Vec::new()).collect());
    }
    if group_ids.len() <= limit {
        let mut job = gpu.submission();
        let upload = AggUpload::upload(gpu, &mut job, group_ids, groups, inputs)?;
        let outputs = upload.record(gpu, &mut job)?;
        let reads = upload.read_back(&mut job, &outputs);
        let done = job.submit().wait()?;
        return Ok(upload.decode(&done, &reads));
    }
    let mut merged: Option<Vec<Vec<PartialValue>>> = None;
    for start in (0..group_ids.len()).step_by(limit) {
        let len = limit.min(group_ids.len() - start);
        let sliced: Vec<Option<ArrayRef>> = inputs
            .iter()
            .map(|i| i.arg.map(|a| a.slice(start, len)))
            .collect();
        let chunk: Vec<AggInput<'_>> = inputs
            .iter()
            .zip(&sliced)
            .map(|(i, a)| AggInput {
                kind: i.kind,
                arg: a.as_ref(),
            })
            .collect();
        let ids = &group_ids[start..start + len];
        let part = batch_partials(gpu, ids, groups, &chunk, Some(limit))?;
        merged = Some(match merged {
            None => part,
            Some(acc) => acc
                .into_iter()
                .zip(part)
                .zip(inputs)
                .map(|((a, p), i)| {
                    a.into_iter()
                        .zip(p)
                        .map(|(x, y)| merge_values(i.kind, x, y))
                        .collect()
                })
                .collect(),
        });
    }
    Ok(merged.unwrap_or_default())
}

/// Two chunks' partials of one group of one aggregate as one.
fn merge_values(kind: PartialKind, a: PartialValue, b: PartialValue) -> PartialValue {
    use PartialValue as P;
    let max = matches!(
        kind,
        PartialKind::ExtremeInt { max: true } | PartialKind::ExtremeFloat { max: true }
    );
    match (a, b) {
        (P::Count(x), P::Count(y)) => P::Count(x + y),
        (P::SumInt(Some(x)), P::SumInt(Some(y))) => P::SumInt(Some(x + y)),
        (P::SumInt(x), P::SumInt(y)) => P::SumInt(x.or(y)),
        (P::SumFloat(Some(mut x)), P::SumFloat(Some(y))) => {
            x.merge(&y);
            P::SumFloat(Some(x))
        }
        (P::SumFloat(x), P::SumFloat(y)) => P::SumFloat(x.or(y)),
        (P::Avg(mut s, n), P::Avg(t, m)) => {
            s.merge(&t);
            P::Avg(s, n + m)
        }
        (P::Int(Some(x)), P::Int(Some(y))) => P::Int(Some(if max { x.max(y) } else { x.min(y) })),
        (P::Int(x), P::Int(y)) => P::Int(x.or(y)),
        (P::Float(Some(x)), P::Float(Some(y))) => {
            let y_wins = if max {
                y.total_cmp(&x).is_gt()
            } else {
                y.total_cmp(&x).is_lt()
            };
            P::Float(Some(if y_wins { y } else { x }))
        }
        (P::Float(x), P::Float(y)) => P::Float(x.or(y)),
        (a, b) => unreachable!("chunks of one aggregate give one kind of partial: {a:?} {b:?}"),
    }
}
