//! The GPU runtime on a real adapter (lavapipe in CI): dispatch grids past the per-dimension
//! workgroup limit, buffer reuse across submissions, overlapped submissions, kernel cache.
//! Without an adapter these skip with a "SKIPPED" line, and fail under `CI=true`.

use sluice_engine::gpu::{Access, Gpu, GpuError};

/// out[i] = in[i] * 3 + i, in u32 (wrapping), so every element checks its own index.
const SCALE: &str = r#"
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count()) { return; }
    dst[i] = src[i] * params[1] + i;
}
"#;

fn expected(input: &[u32], factor: u32) -> Vec<u32> {
    input
        .iter()
        .enumerate()
        .map(|(i, v)| v.wrapping_mul(factor).wrapping_add(i as u32))
        .collect()
}

fn run(gpu: &Gpu, input: &[u32], factor: u32) -> Result<Vec<u32>, GpuError> {
    let kernel = gpu.kernel("scale", SCALE, &[Access::Read, Access::ReadWrite])?;
    let bytes = (input.len() * 4) as u64;
    let mut job = gpu.submission();
    let src = job.upload(bytemuck::cast_slice(input));
    let dst = gpu.buffer(bytes);
    job.dispatch(&kernel, input.len() as u32, &[factor], &[&src, &dst])?;
    let back = job.read_back(&dst, 0, bytes);
    let done = job.submit().wait()?;
    Ok(done.buffers[back].typed_data::<u32>().to_vec())
}

#[test]
fn more_workgroups_than_one_dimension_holds() {
    let Some(gpu) = Gpu::for_tests("more_workgroups_than_one_dimension_holds") else {
        return;
    };
    // 65,536 workgroups of 64 plus a ragged tail: the grid must use a second dimension.
    let n = 65_536 * 64 + 17;
    let input: Vec<u32> = (0..n as u32).map(|i| i ^ 0x9e37_79b9).collect();
    assert_eq!(run(gpu, &input, 3).unwrap(), expected(&input, 3));
}

#[test]
fn small_and_ragged_sizes_and_reuse() {
    let Some(gpu) = Gpu::for_tests("small_and_ragged_sizes_and_reuse") else {
        return;
    };
    for n in [1usize, 2, 63, 64, 65, 1000, 4097] {
        let input: Vec<u32> = (0..n as u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        // Twice: the second run reuses pooled buffers that still hold the first's data.
        assert_eq!(run(gpu, &input, 5).unwrap(), expected(&input, 5), "n = {n}");
        assert_eq!(run(gpu, &input, 7).unwrap(), expected(&input, 7), "n = {n}");
    }
    let before = gpu.cached_kernels();
    run(gpu, &[1, 2, 3], 2).unwrap();
    assert_eq!(gpu.cached_kernels(), before, "same source: cached pipeline");
}

#[test]
fn overlapped_submissions_complete_in_any_wait_order() {
    let Some(gpu) = Gpu::for_tests("overlapped_submissions_complete_in_any_wait_order") else {
        return;
    };
    let kernel = gpu
        .kernel("scale", SCALE, &[Access::Read, Access::ReadWrite])
        .unwrap();
    let inputs: Vec<Vec<u32>> = (0..4u32)
        .map(|k| (0..10_000 + k * 1000).map(|i| i * (k + 1)).collect())
        .collect();
    let pending: Vec<_> = inputs
        .iter()
        .map(|input| {
            let bytes = (input.len() * 4) as u64;
            let mut job = gpu.submission();
            let src = job.upload(bytemuck::cast_slice(input));
            let dst = gpu.buffer(bytes);
            job.dispatch(&kernel, input.len() as u32, &[11], &[&src, &dst])
                .unwrap();
            let back = job.read_back(&dst, 0, bytes);
            (job.submit(), back)
        })
        .collect();
    let mut results: Vec<_> = pending
        .into_iter()
        .rev()
        .map(|(p, back)| p.wait().unwrap().buffers[back].typed_data::<u32>().to_vec())
        .collect();
    results.reverse();
    for (input, got) in inputs.iter().zip(results) {
        assert_eq!(got, expected(input, 11));
    }
}

#[test]
fn invalid_wgsl_is_an_error_not_a_panic() {
    let Some(gpu) = Gpu::for_tests("invalid_wgsl_is_an_error_not_a_panic") else {
        return;
    };
    let err = gpu
        .kernel("broken", "fn main( {", &[Access::Read])
        .unwrap_err();
    assert!(matches!(err, GpuError::Kernel { .. }), "{err}");
}

#[test]
fn upload_parts_are_aligned_and_zero_padded() {
    let Some(gpu) = Gpu::for_tests("upload_parts_are_aligned_and_zero_padded") else {
        return;
    };
    let mut job = gpu.submission();
    let (buf, offsets) = job.upload_parts(&[&[1, 2, 3], &[4, 5, 6, 7, 8, 9, 10, 11, 12], &[]]);
    assert_eq!(offsets, [0, 8, 24]);
    let back = job.read_back(&buf, 0, 24);
    let done = job.submit().wait().unwrap();
    assert_eq!(
        done.buffers[back].as_slice(),
        [
            1, 2, 3, 0, 0, 0, 0, 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0
        ]
    );
}
