//! Geo functions (no Arrow kernels exist): `haversine_km` and `geohash`, each one tight loop
//! over the f64 values with constants read through [`Lanes`]; null in any argument gives null.

use std::sync::Arc;

use arrow_array::Float64Array;
use arrow_array::builder::StringBuilder;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_schema::DataType as ArrowType;

use super::{Lanes, Operand, null_result, shape};

/// Mean Earth radius (IUGG arithmetic mean radius R1), km.
pub(super) const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km between two points given in degrees (haversine formula on a
/// sphere of radius [`EARTH_RADIUS_KM`]; up to ~0.5% off the ellipsoid). NaN in, NaN out.
#[inline]
pub fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = phi2 - phi1;
    let d_lambda = (lon2 - lon1).to_radians();
    let s_phi = (d_phi * 0.5).sin();
    let s_lambda = (d_lambda * 0.5).sin();
    let h = s_phi * s_phi + phi1.cos() * phi2.cos() * s_lambda * s_lambda;
    // Clamp against rounding just above 1 for antipodal points (not `f64::min`, which would
    // turn a NaN input into a distance).
    let root = h.sqrt();
    let root = if root > 1.0 { 1.0 } else { root };
    2.0 * EARTH_RADIUS_KM * root.asin()
}

/// `haversine_km(lat1, lon1, lat2, lon2)`.
pub(super) fn haversine_km(ops: [&Operand; 4], rows: usize) -> Operand {
    let Some((len, scalar, nulls)) = shape(&ops, rows) else {
        return null_result(&ops, &ArrowType::Float64, rows);
    };
    let [a, b, c, d] = ops.map(Lanes::of::<Float64Type>);
    let values: Vec<f64> = (0..len)
        .map(|i| haversine(a.get(i), b.get(i), c.get(i), d.get(i)))
        .collect();
    Operand::wrap(Arc::new(Float64Array::new(values.into(), nulls)), scalar)
}

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// Longest supported geohash: 12 characters = 60 bits, about 3.7 cm x 1.9 cm, already finer
/// than what f64 degrees distinguish reliably after interleaving.
pub(super) const MAX_GEOHASH_PRECISION: i64 = 12;

/// Standard base32 geohash of (lat, lon) with `precision` characters, written into `buf`; `None`
/// when precision is outside 1..=12 or the point is outside [-90, 90] x [-180, 180] or NaN.
/// Cells are half-open, `[low, high)`: a point on a boundary belongs to the upper cell (so
/// (0, 0) is `s0000...`, as with geohash.org, Redis and Elasticsearch).
pub(super) fn encode_geohash(
    lat: f64,
    lon: f64,
    precision: i64,
    buf: &mut [u8; 12],
) -> Option<&str> {
    if !(1..=MAX_GEOHASH_PRECISION).contains(&precision)
        || !(-90.0..=90.0).contains(&lat)
        || !(-180.0..=180.0).contains(&lon)
    {
        return None;
    }
    let n = precision as usize;
    let (mut lat_lo, mut lat_hi) = (-90.0_f64, 90.0_f64);
    let (mut lon_lo, mut lon_hi) = (-180.0_f64, 180.0_f64);
    let mut lon_bit = true; // bits alternate, longitude first
    for slot in buf[..n].iter_mut() {
        let mut idx = 0usize;
        for _ in 0..5 {
            let (value, lo, hi) = if lon_bit {
                (lon, &mut lon_lo, &mut lon_hi)
            } else {
                (lat, &mut lat_lo, &mut lat_hi)
            };
            let mid = (*lo + *hi) * 0.5;
            let bit = value >= mid;
            if bit {
                *lo = mid;
            } else {
                *hi = mid;
            }
            idx = (idx << 1) | usize::from(bit);
            lon_bit = !lon_bit;
        }
        *slot = BASE32[idx];
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// `geohash(lat, lon, precision)`.
pub(super) fn geohash(lat: &Operand, lon: &Operand, precision: &Operand, rows: usize) -> Operand {
    let ops = [lat, lon, precision];
    let Some((len, scalar, nulls)) = shape(&ops, rows) else {
        return null_result(&ops, &ArrowType::Utf8, rows);
    };
    let (la, lo) = (Lanes::of::<Float64Type>(lat), Lanes::of::<Float64Type>(lon));
    let pr = Lanes::of::<Int64Type>(precision);
    let mut out = StringBuilder::with_capacity(len, len * 12);
    let mut buf = [0u8; 12];
    for i in 0..len {
        let code = if nulls.as_ref().is_none_or(|b| b.is_valid(i)) {
            encode_geohash(la.get(i), lo.get(i), pr.get(i), &mut buf)
        } else {
            None
        };
        match code {
            Some(code) => out.append_value(code),
            None => out.append_null(),
        }
    }
    Operand::wrap(Arc::new(out.finish()), scalar)
}
