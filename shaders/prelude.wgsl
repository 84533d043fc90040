// Prepended by the runtime (engine/src/gpu/kernel.rs) to every kernel.
// Binding 0 is always `params`: params[0] = number of items, params[1..] = the caller's words.
// A dispatch is a 2-D grid of workgroups (at most 65,535 per dimension), so a kernel finds
// its item with `item_index` and returns when it is past `item_count()`.

const WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<storage, read> params: array<u32>;

fn item_count() -> u32 {
    return params[0];
}

fn item_index(wg: vec3<u32>, local: u32, groups: vec3<u32>) -> u32 {
    return (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + local;
}
