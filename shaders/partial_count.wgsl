// Rows of one batch with dense per-batch group ids (computed on the CPU) and the argument's
// validity bitmap (Arrow's layout, LSB first) fold into per-group accumulators with 32-bit
// atomics (WGSL has no 64-bit or float atomics). The runtime prepends prelude.wgsl.
// params[1] = groups, params[2] = 1 if `validity` is a bitmap (0: every row valid).
// count() / count(x): one u32 per group (a batch has fewer than 2^32 rows).

@group(0) @binding(1) var<storage, read> group_ids: array<u32>;
@group(0) @binding(2) var<storage, read> validity: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

fn is_valid(i: u32) -> bool {
    return params[2] == 0u || ((validity[i >> 5u] >> (i & 31u)) & 1u) == 1u;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count() || !is_valid(i)) { return; }
    atomicAdd(&counts[group_ids[i]], 1u);
}
