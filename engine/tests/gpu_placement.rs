//! GPU placement as `sluice explain` shows it: fused chains, `@cpu`/`@gpu`, stages the
//! codegen cannot do, `auto` thresholds. Needs an adapter (lavapipe in CI): skips loudly
//! without one, fails under `CI=true`.

use sluice_dsl::plan::LogicalPlan;
use sluice_engine::config::GpuMode;
use sluice_engine::gpu::Gpu;
use sluice_engine::gpu::placement::{Offload, StagePlace};
use sluice_engine::{EngineConfig, lower};

fn compile(text: &str) -> LogicalPlan {
    sluice_dsl::compile(text, "test", &|_| None).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn config(mode: GpuMode, min_batch_rows: Option<usize>) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.gpu.mode = mode;
    c.gpu.min_batch_rows = min_batch_rows;
    c
}

const PIPELINE: &str = r#"
source s = stdin as csv { schema { a: int?  x: float  name: string } }
stream t = s
  | where x > 0.0
  | select a, name, y = x * 2.0
  | where y < 10.0 and a is not null
  | where name == "b"
  | select a, y @cpu
  | where y > 1.0
sink o = stdout as csv <- t
"#;

#[test]
fn consecutive_stages_fuse_and_the_rest_say_why_they_stay_on_the_cpu() {
    let Some(gpu) = Gpu::for_tests("consecutive_stages_fuse") else {
        return;
    };
    let physical = lower(&compile(PIPELINE), &config(GpuMode::On, None)).unwrap();
    let stages = &physical.gpu.stages[0];
    assert_eq!(
        stages[0..3],
        [StagePlace::Gpu(0), StagePlace::Gpu(0), StagePlace::Gpu(0)]
    );
    assert!(
        matches!(&stages[3], StagePlace::Cpu(why) if why.contains("string")),
        "{stages:?}"
    );
    assert_eq!(stages[4], StagePlace::Cpu("pinned with @cpu".into()));
    assert_eq!(stages[5], StagePlace::Gpu(1));
    let chains = &physical.gpu.chains[0];
    assert_eq!(
        (chains[0].start, chains[0].end, chains[0].offload),
        (0, 3, Offload::Always)
    );
    assert_eq!((chains[1].start, chains[1].end), (5, 6));
    let text = physical.to_string();
    assert!(
        text.contains(&format!("GPU: mode on, adapter {}", gpu.info().name)),
        "{text}"
    );
    assert!(
        text.contains("  GpuChain where | select | where: GPU (fused chain of stages 1..3: every non-empty batch; CPU evaluator otherwise), per worker"),
        "{text}"
    );
    assert!(text.contains("; CPU: string values"), "{text}");
    assert!(text.contains("; CPU: pinned with @cpu"), "{text}");
}

#[test]
fn auto_offloads_from_the_configured_batch_size() {
    if Gpu::for_tests("auto_offloads_from_the_configured_batch_size").is_none() {
        return;
    }
    let physical = lower(&compile(PIPELINE), &config(GpuMode::Auto, Some(50_000))).unwrap();
    assert_eq!(physical.gpu.chains[0][0].offload, Offload::AtLeast(50_000));
    assert!(
        physical
            .to_string()
            .contains("fused chain of stages 1..3: batches of >= 50000 rows")
    );
    assert!(Offload::AtLeast(50_000).takes(50_000) && !Offload::AtLeast(50_000).takes(49_999));
    assert!(
        !Offload::Always.takes(0),
        "an empty batch never goes to the GPU"
    );
}

#[test]
fn a_gpu_hint_forces_its_chain_and_rejects_what_the_gpu_cannot_do() {
    if Gpu::for_tests("a_gpu_hint_forces_its_chain").is_none() {
        return;
    }
    let pinned = r#"
source s = stdin as csv { schema { a: int  name: string } }
stream t = s | where a > 1 @gpu
stream u = s | where lower(name) == "x" @gpu
sink o = stdout as csv <- t
sink p = stdout as csv <- u
"#;
    let errors = lower(&compile(pinned), &config(GpuMode::Auto, Some(1 << 30))).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, "E0409");
    assert!(
        errors[0].message.contains("cannot run on the GPU"),
        "{}",
        errors[0].message
    );
    let ok = pinned.replace(
        "where lower(name) == \"x\" @gpu",
        "where lower(name) == \"x\"",
    );
    let physical = lower(&compile(&ok), &config(GpuMode::Auto, Some(1 << 30))).unwrap();
    assert_eq!(
        physical.gpu.chains[0][0].offload,
        Offload::Always,
        "@gpu pins"
    );
    // `off` overrides hints: nothing on the GPU.
    let off = lower(&compile(&ok), &config(GpuMode::Off, None)).unwrap();
    assert!(off.gpu.chains.iter().all(Vec::is_empty));
}
