// Distance in km from every point of a batch to every site (worker location), f32:
// out[i * sites + j]. Used by `route by geo` when the distance computation is placed on the
// GPU; the CPU balancer then picks a worker from these. The runtime prepends prelude.wgsl,
// geo.rs geo_common.wgsl (haversine_km). params[1] = sites.
// f32 only: SPIR-V's GLSL.std.450 trig functions have no f64 forms.

@group(0) @binding(1) var<storage, read> lat: array<f32>;
@group(0) @binding(2) var<storage, read> lon: array<f32>;
@group(0) @binding(3) var<storage, read> sites: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = item_index(wg, li, groups);
    if (i >= item_count()) { return; }
    let n = params[1];
    let la = lat[i];
    let lo = lon[i];
    let c = cos(la * DEG);
    for (var j = 0u; j < n; j++) {
        out[i * n + j] = haversine_km(la, lo, c, sites[j]);
    }
}
