// Distance in km from every point of a batch to every site (worker location), f32:
// out[i * sites + j]. Used by `route by geo` when the distance computation is placed on the
// GPU; the CPU balancer then picks a worker from these. The runtime prepends prelude.wgsl.
// params[1] = sites. Sites: (lat deg, lon deg, cos(lat) from the CPU's f64, unused).
// f32 only: SPIR-V's GLSL.std.450 trig functions have no f64 forms.

const EARTH_RADIUS_KM: f32 = 6371.0088;
const DEG: f32 = 0.017453292519943295;

@group(0) @binding(1) var<storage, read> lat: array<f32>;
@group(0) @binding(2) var<storage, read> lon: array<f32>;
@group(0) @binding(3) var<storage, read> sites: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Haversine on a sphere; NaN in, NaN out.
fn haversine_km(la: f32, lo: f32, cos_la: f32, site: vec4<f32>) -> f32 {
    let s_phi = sin((site.x - la) * DEG * 0.5);
    let s_lambda = sin((site.y - lo) * DEG * 0.5);
    let h = s_phi * s_phi + cos_la * site.z * s_lambda * s_lambda;
    let root = sqrt(h);
    // Clamp rounding above 1 (antipodes) with select, which keeps a NaN (min() may not).
    return 2.0 * EARTH_RADIUS_KM * asin(select(root, 1.0, root > 1.0));
}

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
