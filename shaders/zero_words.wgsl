// Zeroes params[0] u32 words of a pooled buffer (pooled buffers come back dirty), so the
// partial-aggregate accumulators start at 0 without uploading zeros.

@group(0) @binding(1) var<storage, read_write> words: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count()) { return; }
    words[i] = 0u;
}
