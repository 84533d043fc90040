// Rows of one batch with dense per-batch group ids (computed on the CPU) and the argument's
// validity bitmap (Arrow's layout, LSB first) fold into per-group accumulators with 32-bit
// atomics (WGSL has no 64-bit or float atomics). The runtime prepends prelude.wgsl;
// engine/src/gpu/partial_agg.rs puts this file in front of each partial_*.wgsl kernel.
// params[1] = groups, params[2] = 1 if `validity` is a bitmap (0: every row valid).

@group(0) @binding(1) var<storage, read> group_ids: array<u32>;
@group(0) @binding(2) var<storage, read> validity: array<u32>;

fn is_valid(i: u32) -> bool {
    return params[2] == 0u || ((validity[i >> 5u] >> (i & 31u)) & 1u) == 1u;
}
