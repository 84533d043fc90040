//! Placement: which `where`/`select` stages run on the GPU, fused into which chains, and when.
//!
//! Why decided at planning: `sluice explain` shows it, and a stage pinned with `@gpu` that
//! cannot run there (no adapter, or an expression the codegen cannot do exactly) is an error
//! before anything runs. Rules:
//! - `mode = off`: everything on the CPU (`@gpu` included: off is the run's override).
//! - `@cpu`: that stage on the CPU. Other `where`/`select` stages join the current chain when
//!   the chain still compiles with them (`codegen::compile_chain`), else start a new one or
//!   stay on the CPU with the codegen's reason.
//! - `mode = on` or a `@gpu` stage in the chain: every batch of the chain on the GPU.
//! - `mode = auto`: batches of at least `[gpu] min_batch_rows`, or else the calibration's
//!   threshold, on the GPU; smaller ones on the CPU. No threshold (CPU always faster): CPU.
//! - No adapter: `auto` runs on the CPU with one log line; `on` and `@gpu` are errors (E0402).

use sluice_dsl::ast::Span;
use sluice_dsl::diagnostic::Diagnostic;
use sluice_dsl::plan::{LogicalPlan, OpKind, Placement};

use super::calibrate::{self, Calibration};
use super::codegen::{ChainOp, compile_chain};
use super::{AdapterSummary, Gpu};
use crate::config::{GpuConfig, GpuMode};

/// When a chain's batches go to the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    Always,
    /// Batches of at least this many rows.
    AtLeast(usize),
    /// No batch (`auto` and the calibration found the CPU faster). The chain operator still
    /// exists so every process of a cluster builds the same dataflow whatever its own
    /// calibration measured (timely needs identical graphs).
    Never,
}

impl Offload {
    pub fn takes(self, rows: usize) -> bool {
        match self {
            Offload::Always => rows > 0,
            Offload::AtLeast(min) => rows >= min.max(1),
            Offload::Never => false,
        }
    }
}

/// Consecutive stages `start..end` of a stream run as one fused GPU chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPlan {
    pub start: usize,
    pub end: usize,
    pub offload: Offload,
    /// Width of the chain's input (columns).
    pub input_width: usize,
}

/// Where one stage runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagePlace {
    /// Not a `where`/`select` stage.
    Other,
    /// On the CPU, and why.
    Cpu(String),
    /// In chain number `.0` of its stream.
    Gpu(usize),
}

/// The GPU side of a physical plan.
#[derive(Clone, Debug, Default)]
pub struct GpuPlan {
    pub mode: GpuMode,
    pub adapter: Option<AdapterSummary>,
    /// Why there is no usable adapter, when one was looked for.
    pub unavailable: Option<String>,
    pub calibration: Option<Result<Calibration, String>>,
    /// Per stream, per stage.
    pub stages: Vec<Vec<StagePlace>>,
    /// Per stream.
    pub chains: Vec<Vec<ChainPlan>>,
}

impl GpuPlan {
    /// The chain that starts at stage `op` of stream `stream`, if any.
    pub fn chain_at(&self, stream: usize, op: usize) -> Option<&ChainPlan> {
        self.chains.get(stream)?.iter().find(|c| c.start == op)
    }

    /// What `explain` says about stage `op` of stream `stream`: `GPU (...)` when it is in a
    /// chain, `; CPU: why` when it could have been and is not, else nothing.
    pub fn explain_stage(&self, stream: usize, op: usize) -> String {
        match self.stages.get(stream).and_then(|s| s.get(op)) {
            Some(StagePlace::Gpu(chain)) => {
                let c = &self.chains[stream][*chain];
                if c.offload == Offload::Never {
                    let why = match &self.calibration {
                        Some(Err(_)) => "the calibration failed",
                        _ => "the calibration found the CPU faster",
                    };
                    return format!("; CPU: auto: {why}");
                }
                let when = match c.offload {
                    Offload::Never => "no batch".to_string(),
                    Offload::Always => "every non-empty batch".to_string(),
                    Offload::AtLeast(rows) => format!("batches of >= {rows} rows"),
                };
                format!(
                    "GPU (fused chain of stages {}..{}: {when}; CPU evaluator otherwise)",
                    c.start + 1,
                    c.end
                )
            }
            Some(StagePlace::Cpu(why)) if self.mode != GpuMode::Off && !why.is_empty() => {
                format!("; CPU: {why}")
            }
            _ => String::new(),
        }
    }

    /// One line for logs and `explain`.
    pub fn summary(&self) -> String {
        let mode = match self.mode {
            GpuMode::Auto => "auto",
            GpuMode::On => "on",
            GpuMode::Off => "off",
        };
        let mut line = format!("GPU: mode {mode}");
        if let Some(a) = &self.adapter {
            line += &format!(", adapter {a}");
        }
        if let Some(why) = &self.unavailable {
            line += &format!(", no usable adapter ({why}): every stage on the CPU");
        }
        match &self.calibration {
            // Measured by planning itself, on the device: say so, since explain ran it too.
            Some(Ok(c)) => {
                line += &format!(", calibration (measured at planning, on the device): {c}")
            }
            Some(Err(e)) => line += &format!(", calibration (at planning) failed: {e}"),
            None => {}
        }
        line
    }
}

/// The chain op of a `where`/`select` stage; `None` for every other stage.
pub fn chain_op(kind: &OpKind) -> Option<ChainOp> {
    match kind {
        OpKind::Filter(p) => Some(ChainOp::Filter(p.clone())),
        OpKind::Project(items) => Some(ChainOp::Project(items.clone())),
        _ => None,
    }
}

/// Columns of the input of stage `index` of stream `stream`.
fn input_width(plan: &LogicalPlan, stream: usize, index: usize) -> usize {
    plan.stage_input_schema(stream, index)
        .map_or(0, |schema| schema.fields.len())
}

fn no_gpu(span: Span, what: &str, why: &str) -> Diagnostic {
    Diagnostic::error("E0402", format!("{what} needs a GPU: {why}"), span)
        .with_label("no usable GPU")
        .with_hint(
            "install a Vulkan driver (Debian: mesa-vulkan-drivers for the CPU's lavapipe), \
             or use `--gpu auto` / `--gpu off` or `@cpu`",
        )
}

/// Under `auto` with nothing asking for offload (no `min_batch_rows`, no `@gpu`), a software
/// adapter is left unopened: it runs on the same cores as the CPU path, so calibration could
/// only confirm that it loses. Returns why, for `explain`.
fn software_adapter_only(plan: &LogicalPlan, config: &GpuConfig) -> Option<String> {
    let pinned = plan
        .streams
        .iter()
        .flat_map(|s| &s.ops)
        .any(|op| op.placement == Placement::Gpu && chain_op(&op.kind).is_some());
    if config.mode != GpuMode::Auto || config.min_batch_rows.is_some() || pinned {
        return None;
    }
    let adapter = Gpu::probe().ok()?;
    adapter.software.then(|| {
        format!(
            "the only adapter, {}, is a software one on the CPU cores \
             (`--gpu on` or `[gpu] min_batch_rows` use it anyway)",
            adapter.name
        )
    })
}

/// Decides placement for every `where`/`select` stage of `plan`.
pub fn place(plan: &LogicalPlan, config: &GpuConfig) -> Result<GpuPlan, Vec<Diagnostic>> {
    let mut out = GpuPlan {
        mode: config.mode,
        stages: plan
            .streams
            .iter()
            .map(|s| {
                s.ops
                    .iter()
                    .map(|op| match chain_op(&op.kind) {
                        None => StagePlace::Other,
                        Some(_) if config.mode == GpuMode::Off => {
                            StagePlace::Cpu("gpu.mode = off".into())
                        }
                        Some(_) if op.placement == Placement::Cpu => {
                            StagePlace::Cpu("pinned with @cpu".into())
                        }
                        Some(_) => StagePlace::Cpu(String::new()),
                    })
                    .collect()
            })
            .collect(),
        chains: vec![Vec::new(); plan.streams.len()],
        ..GpuPlan::default()
    };
    let candidates = out
        .stages
        .iter()
        .flatten()
        .any(|s| *s == StagePlace::Cpu(String::new()));
    if config.mode == GpuMode::Off || (!candidates && config.mode == GpuMode::Auto) {
        out.stages.iter_mut().flatten().for_each(|s| {
            if *s == StagePlace::Cpu(String::new()) {
                *s = StagePlace::Cpu("no GPU needed".into());
            }
        });
        return Ok(out);
    }
    if let Some(why) = software_adapter_only(plan, config) {
        tracing::info!("gpu.mode = auto: {why}; every stage runs on the CPU");
        out.stages.iter_mut().flatten().for_each(|s| {
            if *s == StagePlace::Cpu(String::new()) {
                *s = StagePlace::Cpu("software adapter only".into());
            }
        });
        out.unavailable = Some(why);
        return Ok(out);
    }
    let gpu = Gpu::shared().and_then(|g| {
        if g.info().f64 && g.info().i64 {
            Ok(g)
        } else {
            Err(super::GpuError::MissingFeature(
                "SHADER_F64 and SHADER_INT64",
            ))
        }
    });
    let gpu = match gpu {
        Ok(gpu) => {
            out.adapter = Some(gpu.info().clone());
            gpu
        }
        Err(e) => {
            let why = e.to_string();
            let mut errors = Vec::new();
            if config.mode == GpuMode::On {
                errors.push(Diagnostic {
                    located: false,
                    ..no_gpu(Span::default(), "`gpu.mode = \"on\"`", &why)
                });
            }
            for op in plan.streams.iter().flat_map(|s| &s.ops) {
                if op.placement == Placement::Gpu && chain_op(&op.kind).is_some() {
                    errors.push(no_gpu(op.span, "a stage pinned with `@gpu`", &why));
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            tracing::info!(
                "gpu.mode = auto: no usable GPU adapter ({why}); every stage runs on the CPU"
            );
            out.stages.iter_mut().flatten().for_each(|s| {
                if *s == StagePlace::Cpu(String::new()) {
                    *s = StagePlace::Cpu("no GPU adapter".into());
                }
            });
            out.unavailable = Some(why);
            return Ok(out);
        }
    };
    let mut errors = Vec::new();
    let mut pinned = Vec::new();
    for (si, stream) in plan.streams.iter().enumerate() {
        let mut current: Option<(usize, Vec<ChainOp>)> = None;
        let mut chains = Vec::new();
        for (i, op) in stream.ops.iter().enumerate() {
            let candidate = out.stages[si][i] == StagePlace::Cpu(String::new());
            let Some(this) = chain_op(&op.kind).filter(|_| candidate) else {
                if let Some(c) = current.take() {
                    chains.push(c);
                }
                continue;
            };
            let extended = current.as_ref().map(|(start, ops)| {
                let mut ops = ops.clone();
                ops.push(this.clone());
                (*start, ops)
            });
            match extended {
                Some((start, ops)) if compile_chain(&ops, input_width(plan, si, start)).is_ok() => {
                    current = Some((start, ops));
                }
                _ => {
                    if let Some(c) = current.take() {
                        chains.push(c);
                    }
                    match compile_chain(std::slice::from_ref(&this), input_width(plan, si, i)) {
                        Ok(_) => current = Some((i, vec![this])),
                        Err(why) => {
                            if op.placement == Placement::Gpu {
                                errors.push(
                                    Diagnostic::error(
                                        "E0409",
                                        format!("this `@gpu` stage cannot run on the GPU: {why}"),
                                        op.span,
                                    )
                                    .with_label("not computable exactly on the GPU")
                                    .with_hint(
                                        "remove `@gpu` (the engine then runs it on the CPU)",
                                    ),
                                );
                            }
                            out.stages[si][i] = StagePlace::Cpu(why.to_string());
                        }
                    }
                }
            }
        }
        if let Some(c) = current.take() {
            chains.push(c);
        }
        for (start, ops) in chains {
            let end = start + ops.len();
            let width = input_width(plan, si, start);
            if !compile_chain(&ops, width).is_ok_and(|k| k.gpu_work()) {
                for s in &mut out.stages[si][start..end] {
                    *s = StagePlace::Cpu(
                        "nothing the GPU computes exactly (strings, functions)".into(),
                    );
                }
                continue;
            }
            let forced = config.mode == GpuMode::On
                || stream.ops[start..end]
                    .iter()
                    .any(|op| op.placement == Placement::Gpu);
            pinned.push((si, start, end, forced));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let needs_calibration = config.mode == GpuMode::Auto
        && config.min_batch_rows.is_none()
        && pinned.iter().any(|(_, _, _, forced)| !forced);
    if needs_calibration {
        let result = calibrate::shared(gpu);
        match &result {
            Ok(c) => tracing::info!("GPU calibration: {c}"),
            Err(e) => tracing::warn!("GPU calibration failed: {e}; auto stages run on the CPU"),
        }
        out.calibration = Some(result);
    }
    for (si, start, end, forced) in pinned {
        let offload = if forced {
            Some(Offload::Always)
        } else if let Some(rows) = config.min_batch_rows {
            Some(Offload::AtLeast(rows))
        } else {
            match &out.calibration {
                Some(Ok(c)) => c.min_rows.map(Offload::AtLeast),
                _ => None,
            }
        };
        match offload {
            Some(offload) => {
                let index = out.chains[si].len();
                out.chains[si].push(ChainPlan {
                    start,
                    end,
                    offload,
                    input_width: input_width(plan, si, start),
                });
                for s in &mut out.stages[si][start..end] {
                    *s = StagePlace::Gpu(index);
                }
            }
            None => {
                let index = out.chains[si].len();
                out.chains[si].push(ChainPlan {
                    start,
                    end,
                    offload: Offload::Never,
                    input_width: input_width(plan, si, start),
                });
                for s in &mut out.stages[si][start..end] {
                    *s = StagePlace::Gpu(index);
                }
            }
        }
    }
    tracing::info!("{}", out.summary());
    Ok(out)
}
