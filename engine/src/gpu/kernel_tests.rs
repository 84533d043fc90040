//! The geo kernels against their CPU implementation (the partial-aggregate kernels:
//! `aggregate/gpu_partials_tests.rs`) on random and edge-case columns: nulls,
//! NaN, infinities, signed zeros, extreme values, empty batches, one row, sizes that are not a
//! multiple of the workgroup size and a batch needing more than 65,535 workgroups. Without an
//! adapter every test skips loudly (and fails under CI=true, see `test_context`).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::Gpu;
use super::geo::{nearest_sites, nearest_sites_cpu, site_distances};
use crate::expr::haversine;

/// Rows that need more than 65,535 workgroups of 256 threads.
const HUGE: usize = 65_535 * super::WORKGROUP_SIZE as usize + 1_001;
const SIZES: [usize; 6] = [0, 1, 255, 257, 4_099, 100_003];

const CITIES: [(f64, f64); 5] = [
    (40.71, -74.01),
    (51.51, -0.13),
    (35.68, 139.69),
    (-33.87, 151.21),
    (40.71, -74.01), // a duplicate: ties go to the lower index
];

/// Tolerance of the f32 kernel against the f64 CPU haversine, in km.
fn geo_tolerance(cpu_km: f64) -> f64 {
    1e-3 * cpu_km + 0.02
}

/// Points: uniform on the sphere, near the cities, and edge cases at the start.
fn points(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let edge = [
        (f64::NAN, 0.0),
        (0.0, f64::NAN),
        (f64::INFINITY, 10.0),
        (90.0, 0.0),
        (-90.0, 180.0),
        (0.0, 180.0),
        (0.0, -180.0),
        (-40.71, 105.99), // antipode of New York
        (40.71, -74.01),
        (-0.0, -0.0),
    ];
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|i| match edge.get(i) {
            Some(&p) => p,
            None if i % 3 == 0 => {
                let (la, lo) = CITIES[i % 4];
                (
                    la + rng.random_range(-2.0..2.0),
                    lo + rng.random_range(-2.0..2.0),
                )
            }
            None => (
                rng.random_range(-90.0..90.0),
                rng.random_range(-180.0..180.0),
            ),
        })
        .unzip()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn close(gpu: f32, cpu: f64) -> bool {
    (gpu.is_nan() && cpu.is_nan()) || (f64::from(gpu) - cpu).abs() <= geo_tolerance(cpu)
}

/// Rows of a huge batch the CPU re-checks: a stride through it and its last rows.
fn sample(n: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by(997).chain(n.saturating_sub(300)..n)
}

fn check_nearest(n: usize, seed: u64) {
    let Some(gpu) = Gpu::for_tests(module_path!()) else {
        return;
    };
    let (lat, lon) = points(n, seed);
    let (idx, dist) = nearest_sites(gpu, &to_f32(&lat), &to_f32(&lon), &CITIES).unwrap();
    assert_eq!((idx.len(), dist.len()), (n, n));
    let rows: Vec<usize> = if n > 200_000 {
        sample(n).collect()
    } else {
        (0..n).collect()
    };
    let (lat_s, lon_s): (Vec<f64>, Vec<f64>) = rows.iter().map(|&i| (lat[i], lon[i])).unzip();
    let (cpu_idx, cpu_dist) = nearest_sites_cpu(&lat_s, &lon_s, &CITIES);
    for (k, &i) in rows.iter().enumerate() {
        assert!(
            close(dist[i], cpu_dist[k]),
            "row {i} ({}, {}): gpu {} km, cpu {} km",
            lat[i],
            lon[i],
            dist[i],
            cpu_dist[k]
        );
        if idx[i] != cpu_idx[k] {
            // A near-tie: the GPU's pick must be as near as the CPU's within the tolerance.
            let (la, lo) = CITIES[idx[i] as usize];
            let theirs = haversine(lat[i], lon[i], la, lo);
            assert!(
                (theirs - cpu_dist[k]).abs() <= geo_tolerance(cpu_dist[k]),
                "row {i}: gpu site {} at {theirs} km, cpu site {} at {} km",
                idx[i],
                cpu_idx[k],
                cpu_dist[k]
            );
        }
    }
}

#[test]
fn nearest_site_matches_cpu() {
    for (k, n) in SIZES.into_iter().enumerate() {
        check_nearest(n, k as u64);
    }
}

#[test]
fn nearest_site_beyond_65535_workgroups() {
    check_nearest(HUGE, 99);
}

#[test]
fn nearest_site_null_and_nan_points_and_sites() {
    let Some(gpu) = Gpu::for_tests(module_path!()) else {
        return;
    };
    // A NaN site (a worker without a location) is never nearest; an all-NaN row gives 0.
    let sites = [(f64::NAN, f64::NAN), (10.0, 10.0), (10.0, 10.0)];
    let (idx, dist) = nearest_sites(gpu, &[11.0, f32::NAN], &[11.0, 3.0], &sites).unwrap();
    assert_eq!(idx, vec![1, 0]);
    assert!(close(dist[0], haversine(11.0, 11.0, 10.0, 10.0)));
    assert!(dist[1].is_nan());
}

#[test]
fn site_distances_match_cpu() {
    let Some(gpu) = Gpu::for_tests(module_path!()) else {
        return;
    };
    for (k, n) in [0usize, 1, 257, 50_001].into_iter().enumerate() {
        let (lat, lon) = points(n, 10 + k as u64);
        let d = site_distances(gpu, &to_f32(&lat), &to_f32(&lon), &CITIES).unwrap();
        assert_eq!(d.len(), n * CITIES.len());
        for i in 0..n {
            for (j, &(sl, so)) in CITIES.iter().enumerate() {
                let cpu = haversine(lat[i], lon[i], sl, so);
                let gpu = d[i * CITIES.len() + j];
                assert!(close(gpu, cpu), "point {i} site {j}: gpu {gpu} cpu {cpu}");
            }
        }
    }
}
