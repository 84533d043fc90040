// Kernel of a per-batch partial aggregate; partial_common.wgsl (group_ids, validity,
// is_valid) is put in front of it.
// count() / count(x): one u32 per group (a batch has fewer than 2^32 rows).

@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count() || !is_valid(i)) { return; }
    atomicAdd(&counts[group_ids[i]], 1u);
}
