//! `haversine_km` and `geohash`.

use sluice_dsl::plan::{DataType, ScalarFunc};

use super::*;

const F: DataType = DataType::Float;
const I: DataType = DataType::Int;
const S: DataType = DataType::String;

fn haversine(args: [TypedExpr; 4]) -> TypedExpr {
    call(ScalarFunc::HaversineKm, args.to_vec(), F)
}

fn geohash(lat: TypedExpr, lon: TypedExpr, precision: TypedExpr) -> TypedExpr {
    call(ScalarFunc::Geohash, vec![lat, lon, precision], S)
}

fn close(got: Option<f64>, want: f64, tolerance: f64) {
    let got = got.expect("non-null distance");
    assert!(
        (got - want).abs() <= tolerance,
        "got {got}, want {want} ± {tolerance}"
    );
}

#[test]
fn haversine_known_distances() {
    // JFK (40.6413, -73.7781) to LAX (33.9416, -118.4085). On a sphere of radius 6371.0088 km the
    // haversine distance is 3974.3417 km (same formula evaluated independently in Python's
    // math module); published figures are ~3974 km (spherical) to ~3983 km (WGS-84 ellipsoid,
    // Vincenty), so the sanity band is 3970..3990 and the exact check is to 1 m.
    let b = batch(vec![
        floats_col(&[
            Some(40.6413),
            Some(0.0),
            Some(0.0),
            Some(12.5),
            None,
            Some(f64::NAN),
        ]),
        floats_col(&[
            Some(-73.7781),
            Some(0.0),
            Some(0.0),
            Some(-7.25),
            Some(0.0),
            Some(0.0),
        ]),
        floats_col(&[
            Some(33.9416),
            Some(0.0),
            Some(0.0),
            Some(12.5),
            Some(0.0),
            Some(0.0),
        ]),
        floats_col(&[
            Some(-118.4085),
            Some(1.0),
            Some(180.0),
            Some(-7.25),
            Some(0.0),
            Some(0.0),
        ]),
    ]);
    let d = floats(&haversine([col(0, F), col(1, F), col(2, F), col(3, F)]), &b);
    let jfk_lax = d[0].unwrap();
    assert!((3970.0..3990.0).contains(&jfk_lax), "{jfk_lax}");
    close(d[0], 3_974.341_69, 1e-3);
    // One degree of longitude on the equator is R·π/180; antipodes are R·π apart.
    close(d[1], 6371.0088 * std::f64::consts::PI / 180.0, 1e-9);
    close(d[2], 6371.0088 * std::f64::consts::PI, 1e-6);
    assert_eq!(d[3], Some(0.0));
    assert_eq!(d[4], None);
    assert!(d[5].unwrap().is_nan());
}

#[test]
fn haversine_with_constants() {
    let b = batch(vec![floats_col(&[Some(33.9416), None])]);
    let e = haversine([float(40.6413), float(-73.7781), col(0, F), float(-118.4085)]);
    let d = floats(&e, &b);
    close(d[0], 3_974.341_69, 1e-3);
    assert_eq!(d[1], None);
    let e = haversine([float(0.0), float(0.0), float(0.0), float(1.0)]);
    assert_eq!(floats(&e, &rows(2)).len(), 2);
    let e = haversine([float(0.0), null(F), float(0.0), float(1.0)]);
    assert_eq!(floats(&e, &rows(2)), vec![None, None]);
}

#[test]
fn geohash_known_points() {
    let b = batch(vec![
        floats_col(&[
            Some(57.64911),
            Some(57.64911),
            Some(0.0),
            Some(-90.0),
            Some(90.0),
            Some(48.8584),
            None,
        ]),
        floats_col(&[
            Some(10.40744),
            Some(10.40744),
            Some(0.0),
            Some(-180.0),
            Some(180.0),
            Some(2.2945),
            Some(1.0),
        ]),
        ints_col(&[
            Some(11),
            Some(5),
            Some(5),
            Some(3),
            Some(3),
            Some(7),
            Some(5),
        ]),
    ]);
    let e = geohash(col(0, F), col(1, F), col(2, I));
    assert_eq!(
        strs(&e, &b),
        // The Wikipedia example (57.64911, 10.40744) = u4pruydqqvj; the origin lies on the lower
        // edge of cell s (half-open cells); the Eiffel Tower is in u09tunq.
        owned(&[
            Some("u4pruydqqvj"),
            Some("u4pru"),
            Some("s0000"),
            Some("000"),
            Some("zzz"),
            Some("u09tunq"),
            None
        ])
    );
}

#[test]
fn geohash_invalid_input_is_null() {
    let b = batch(vec![
        floats_col(&[
            Some(10.0),
            Some(10.0),
            Some(91.0),
            Some(10.0),
            Some(f64::NAN),
            Some(10.0),
        ]),
        floats_col(&[
            Some(10.0),
            Some(10.0),
            Some(10.0),
            Some(-180.5),
            Some(10.0),
            Some(10.0),
        ]),
        ints_col(&[Some(0), Some(13), Some(5), Some(5), Some(5), Some(12)]),
    ]);
    let got = strs(&geohash(col(0, F), col(1, F), col(2, I)), &b);
    assert_eq!(got[..5], vec![None; 5]);
    assert_eq!(got[5].as_ref().map(String::len), Some(12));
    // Constant precision with a column point.
    let e = geohash(col(0, F), col(1, F), int(2));
    assert_eq!(strs(&e, &b)[0], Some("s1".to_string()));
    assert_eq!(
        strs(&geohash(float(57.64911), float(10.40744), int(4)), &rows(2)),
        owned(&[Some("u4pr"); 2])
    );
}
