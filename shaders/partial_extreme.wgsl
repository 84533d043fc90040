// Kernel of a per-batch partial aggregate; partial_common.wgsl (group_ids, validity,
// is_valid) is put in front of it.
// params[3]: bit 0 = max (else min), bit 1 = float keys, bit 2 = the low-word pass.
// min/max over i64 values or f64 bits, exact, in two dispatches because there are no 64-bit
// atomics: each value maps to a u64 key whose unsigned order is the CPU's (ints: sign bit
// flipped; floats: total order with every NaN the canonical positive one, as
// engine/src/aggregate/state.rs); the high pass takes the atomic max of the keys' high words,
// the low pass the max of the low words among rows whose high word won. A min is the max of
// the inverted keys, so accumulators start at zero. The CPU maps the key back.
// Layout per group: [key hi, key lo, seen].

@group(0) @binding(3) var<storage, read> values: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;

fn ordered(v: vec2<u32>) -> vec2<u32> {
    if ((params[3] & 2u) == 0u) {
        return vec2<u32>(v.x, v.y ^ 0x80000000u);
    }
    var bits = v;
    if (((v.y >> 20u) & 0x7ffu) == 0x7ffu && ((v.y & 0xfffffu) != 0u || v.x != 0u)) {
        bits = vec2<u32>(0u, 0x7ff80000u);
    }
    if ((bits.y & 0x80000000u) != 0u) {
        return ~bits;
    }
    return vec2<u32>(bits.x, bits.y | 0x80000000u);
}

fn key_of(v: vec2<u32>) -> vec2<u32> {
    let key = ordered(v);
    return select(~key, key, (params[3] & 1u) == 1u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count() || !is_valid(i)) { return; }
    let base = group_ids[i] * 3u;
    let key = key_of(values[i]);
    if ((params[3] & 4u) == 0u) {
        atomicMax(&acc[base], key.y);
        atomicStore(&acc[base + 2u], 1u);
    } else if (key.y == atomicLoad(&acc[base])) {
        atomicMax(&acc[base + 1u], key.x);
    }
}
