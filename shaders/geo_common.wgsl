// Shared by the geo kernels (haversine_sites.wgsl, nearest_site.wgsl): engine/src/gpu/geo.rs
// puts this file in front of each. Sites: (lat deg, lon deg, cos(lat) from the CPU's f64, unused).

const EARTH_RADIUS_KM: f32 = 6371.0088;
const DEG: f32 = 0.017453292519943295;

// Haversine on a sphere; NaN in, NaN out.
fn haversine_km(la: f32, lo: f32, cos_la: f32, site: vec4<f32>) -> f32 {
    let s_phi = sin((site.x - la) * DEG * 0.5);
    let s_lambda = sin((site.y - lo) * DEG * 0.5);
    let h = s_phi * s_phi + cos_la * site.z * s_lambda * s_lambda;
    let root = sqrt(h);
    // Clamp rounding above 1 (antipodes) with select, which keeps a NaN (min() may not).
    return 2.0 * EARTH_RADIUS_KM * asin(select(root, 1.0, root > 1.0));
}
