// Index of the nearest site for every point of a batch and its distance in km (f32): the
// lowest index among equal distances, NaN distances never nearest, site 0 when every distance
// is NaN (a null or NaN point). 8 bytes a point come back instead of 4 x sites.
// params[1] = sites. The runtime prepends prelude.wgsl, geo.rs geo_common.wgsl (haversine_km).

@group(0) @binding(1) var<storage, read> lat: array<f32>;
@group(0) @binding(2) var<storage, read> lon: array<f32>;
@group(0) @binding(3) var<storage, read> sites: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> nearest: array<u32>;
@group(0) @binding(5) var<storage, read_write> distance: array<f32>;

// On the bits: a driver may compile `x != x` away as if NaN could not occur.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
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
    var best = 0u;
    var best_d = haversine_km(la, lo, c, sites[0]);
    for (var j = 1u; j < n; j++) {
        let d = haversine_km(la, lo, c, sites[j]);
        // A NaN best so far is beaten by any number.
        if (d < best_d || (is_nan(best_d) && !is_nan(d))) {
            best = j;
            best_d = d;
        }
    }
    nearest[i] = best;
    distance[i] = best_d;
}
