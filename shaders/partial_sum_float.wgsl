// Kernel of a per-batch partial aggregate; partial_common.wgsl (group_ids, validity,
// is_valid) is put in front of it.
// sum(float) / avg, exact: the decomposition of the CPU's ExactSum
// (engine/src/aggregate/exact_sum.rs). A finite f64 is mantissa << shift in bucket exp / 32
// (exp counted from the least subnormal bit, shift = exp % 32); that integer of up to 85 bits
// splits into three 32-bit digits for buckets b, b + 1, b + 2, each added (signed) into that
// bucket's 64-bit counter. Integer operations on the f64's bits only: no SHADER_F64, nothing
// rounded. The CPU adds the counters into an ExactSum (exact for fewer than 2^31 rows).
// Layout per group: 66 buckets x [lo, hi], then [flags (1 NaN, 2 +inf, 4 -inf), valid rows].

const BUCKETS: u32 = 66u;
const STRIDE: u32 = 134u; // 2 * BUCKETS + 2

@group(0) @binding(3) var<storage, read> values: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;

// Adds digit `d`, negated when `negative`, into bucket `b` of the group at `base`.
fn add_digit(base: u32, b: u32, d: u32, negative: bool) {
    if (d == 0u) {
        return;
    }
    if (negative) {
        add64(base + 2u * b, 0u - d, 0xffffffffu);
    } else {
        add64(base + 2u * b, d, 0u);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count() || !is_valid(i)) { return; }
    let v = values[i];
    let base = group_ids[i] * STRIDE;
    atomicAdd(&acc[base + 2u * BUCKETS + 1u], 1u);
    let negative = (v.y & 0x80000000u) != 0u;
    let exp_field = (v.y >> 20u) & 0x7ffu;
    let frac_hi = v.y & 0xfffffu;
    if (exp_field == 0x7ffu) {
        var flag = 1u;
        if (frac_hi == 0u && v.x == 0u) {
            flag = select(2u, 4u, negative);
        }
        atomicOr(&acc[base + 2u * BUCKETS], flag);
        return;
    }
    var m_hi = frac_hi;
    var e = 0u;
    if (exp_field != 0u) {
        m_hi = frac_hi | 0x100000u;
        e = exp_field - 1u;
    }
    let b = e / 32u;
    let s = e % 32u;
    var d0 = v.x;
    var d1 = m_hi;
    var d2 = 0u;
    if (s != 0u) {
        d0 = v.x << s;
        d1 = (m_hi << s) | (v.x >> (32u - s));
        d2 = m_hi >> (32u - s);
    }
    add_digit(base, b, d0, negative);
    add_digit(base, b + 1u, d1, negative);
    add_digit(base, b + 2u, d2, negative);
}
