// A fused chain of `where`/`select` stages (engine/src/gpu/codegen.rs fills the //{...} holes).
// One invocation per 32-row word: params[0] = words, params[1] = rows.

@group(0) @binding(1) var<storage, read> in64: array<i64>;
@group(0) @binding(2) var<storage, read> inbits: array<u32>;
@group(0) @binding(3) var<storage, read> consts: array<i64>;
@group(0) @binding(4) var<storage, read_write> out64: array<i64>;
@group(0) @binding(5) var<storage, read_write> outbits: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let w = item_index(wg, li, groups);
    let words = item_count();
    if (w >= words) {
        return;
    }
    let n = params[1];
//{DECLS}
    for (var r = 0u; r < 32u; r = r + 1u) {
        let i = w * 32u + r;
        if (i >= n) {
            break;
        }
        let bit_r = 1u << r;
//{BODY}
    }
//{STORES}
}
