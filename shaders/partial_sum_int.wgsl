// Kernel of a per-batch partial aggregate; partial_common.wgsl (group_ids, validity,
// is_valid) is put in front of it.
// sum(int), exact: each i64 (two u32 words, little-endian) splits into its unsigned low word
// and its signed high word; each part is summed into a 64-bit counter made of two u32 atomics.
// The CPU recombines high * 2^32 + low as i128 (exact for fewer than 2^31 rows).
// Layout per group: [low lo, low hi, high lo, high hi, valid rows].

@group(0) @binding(3) var<storage, read> values: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count() || !is_valid(i)) { return; }
    let v = values[i];
    let base = group_ids[i] * 5u;
    if (v.x != 0u) {
        add64(base, v.x, 0u);
    }
    if (v.y != 0u) {
        // The high word sign-extended to 64 bits.
        add64(base + 2u, v.y, select(0u, 0xffffffffu, (v.y & 0x80000000u) != 0u));
    }
    atomicAdd(&acc[base + 4u], 1u);
}
