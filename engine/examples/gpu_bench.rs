//! GPU kernels against the CPU path, by batch size (`benches/gpu/run.sh` runs it and
//! README.md there explains the columns):
//! - `nearest`: nearest of 4 sites by haversine (`gpu::geo::nearest_sites`, f32) against the
//!   CPU's f64 loop on 1 thread (what one worker does) and on every thread;
//! - `distances`: the points x sites matrix `route by geo` uses (`gpu::geo::site_distances`);
//! - `partials`: count, sum, min, max of a float column and sum of an int column per group id
//!   (64 groups, 1% nulls) against `AggColumn::update` (the CPU path) on 1 thread;
//! - transfers: one upload and one readback of the batch's bytes, in GB/s.
//!
//! "GPU round trip" is upload + kernel + readback in one submission, waited for, including the
//! host-side conversion (f64 -> f32 coordinates); "kernel" is the dispatch alone on data
//! already resident. Best of `--reps` runs. Output: one markdown row per kernel and size.
//!
//! `cargo run --release -p sluice-engine --example gpu_bench -- [--sizes 1024,16384] [--reps 3]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, Int64Array};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sluice_engine::aggregate::gpu_partials::{AggInput, AggUpload, PartialKind, batch_partials};
use sluice_engine::aggregate::state::AggColumn;
use sluice_engine::gpu::Gpu;
use sluice_engine::gpu::geo::{GeoInput, nearest_sites, nearest_sites_cpu, site_distances};

const SITES: [(f64, f64); 4] = [
    (40.71, -74.01),
    (51.51, -0.13),
    (35.68, 139.69),
    (-33.87, 151.21),
];
const GROUPS: u32 = 64;

fn best(reps: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..reps).map(|_| f()).min().unwrap_or_default()
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn rate(rows: usize, d: Duration) -> String {
    format!("{:.3e}", rows as f64 / d.as_secs_f64().max(1e-9))
}

fn gbps(bytes: usize, d: Duration) -> String {
    format!("{:.2}", bytes as f64 / d.as_secs_f64().max(1e-9) / 1e9)
}

/// CPU nearest site over every thread: the batch split into one chunk per thread.
fn cpu_nearest_parallel(lat: &[f64], lon: &[f64]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = lat.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (la, lo) in lat.chunks(chunk).zip(lon.chunks(chunk)) {
            s.spawn(move || std::hint::black_box(nearest_sites_cpu(la, lo, &SITES)));
        }
    });
}

fn main() {
    let mut sizes = vec![1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24];
    let mut reps = 3;
    let args: Vec<String> = std::env::args().collect();
    for pair in args[1..].chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--sizes", Some(v)) => {
                sizes = v.split(',').map(|s| s.parse().expect("size")).collect()
            }
            ("--reps", Some(v)) => reps = v.parse().expect("reps"),
            (other, _) => panic!("unknown argument {other}"),
        }
    }
    let gpu = Gpu::shared().expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
    eprintln!("adapter: {}", gpu.info());
    println!(
        "adapter: {}  threads: {}",
        gpu.info(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    println!(
        "| kernel | rows | CPU 1 thread rows/s | CPU all threads rows/s | GPU round trip rows/s | GPU kernel rows/s | upload GB/s | readback GB/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let mut rng = SmallRng::seed_from_u64(n as u64);
        let (lat, lon): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|i| {
                if i % 10 < 7 {
                    let (la, lo) = SITES[i % 4];
                    (
                        la + rng.random_range(-3.0..3.0),
                        lo + rng.random_range(-3.0..3.0),
                    )
                } else {
                    (
                        rng.random_range(-60.0..70.0),
                        rng.random_range(-180.0..180.0),
                    )
                }
            })
            .unzip();
        let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();

        // nearest of 4 sites
        let cpu1 = best(reps, || {
            timed(|| drop(std::hint::black_box(nearest_sites_cpu(&lat, &lon, &SITES))))
        });
        let cpun = best(reps, || timed(|| cpu_nearest_parallel(&lat, &lon)));
        let round = best(reps, || {
            timed(|| drop(nearest_sites(gpu, &to32(&lat), &to32(&lon), &SITES).expect("gpu")))
        });
        let (lat32, lon32) = (to32(&lat), to32(&lon));
        let mut job = gpu.submission();
        let input = GeoInput::upload(gpu, &mut job, &lat32, &lon32, &SITES).expect("upload");
        job.submit().wait().expect("upload");
        let kernel = best(reps, || {
            let mut job = gpu.submission();
            let out = input.nearest(gpu, &mut job).expect("dispatch");
            let t = Instant::now();
            job.submit().wait().expect("kernel");
            drop(out);
            t.elapsed()
        });
        // Transfers: the batch's 8 bytes a point up, 8 bytes a point (index + distance) down.
        let bytes = n * 8;
        let payload: Vec<u8> = bytemuck::cast_slice(&lat32)
            .iter()
            .chain(bytemuck::cast_slice(&lon32))
            .copied()
            .collect();
        let up = best(reps, || {
            let mut job = gpu.submission();
            let t = Instant::now();
            let buffer = job.upload(&payload);
            job.submit().wait().expect("upload");
            drop(buffer);
            t.elapsed()
        });
        let resident = {
            let mut job = gpu.submission();
            let b = job.upload(&payload);
            job.submit().wait().expect("upload");
            b
        };
        let down = best(reps, || {
            let mut job = gpu.submission();
            let t = Instant::now();
            job.read_back(&resident, 0, bytes as u64);
            job.submit().wait().expect("readback");
            t.elapsed()
        });
        println!(
            "| nearest of 4 (f32) | {n} | {} | {} | {} | {} | {} | {} |",
            rate(n, cpu1),
            rate(n, cpun),
            rate(n, round),
            rate(n, kernel),
            gbps(bytes, up),
            gbps(bytes, down)
        );

        // the distance matrix of `route by geo`
        let cpu1 = best(reps, || {
            timed(|| {
                let mut out = Vec::with_capacity(n * SITES.len());
                for (&la, &lo) in lat.iter().zip(&lon) {
                    for &(sl, so) in &SITES {
                        out.push(sluice_engine::expr::haversine(la, lo, sl, so));
                    }
                }
                std::hint::black_box(out);
            })
        });
        let round = best(reps, || {
            timed(|| drop(site_distances(gpu, &to32(&lat), &to32(&lon), &SITES).expect("gpu")))
        });
        let kernel = best(reps, || {
            let mut job = gpu.submission();
            let out = input.distances(gpu, &mut job).expect("dispatch");
            let t = Instant::now();
            job.submit().wait().expect("kernel");
            drop(out);
            t.elapsed()
        });
        println!(
            "| distances to 4 sites (f32) | {n} | {} | - | {} | {} | | |",
            rate(n, cpu1),
            rate(n, round),
            rate(n, kernel)
        );

        // partial aggregates
        let ids: Vec<u32> = (0..n).map(|_| rng.random_range(0..GROUPS)).collect();
        let floats: ArrayRef = Arc::new(Float64Array::from_iter(
            (0..n).map(|i| (i % 100 != 0).then(|| rng.random_range(0.0..100.0))),
        ));
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..n).map(|i| i as i64 * 7 - 1000),
        ));
        let kinds = [
            (PartialKind::Count, None),
            (PartialKind::SumFloat, Some(&floats)),
            (PartialKind::ExtremeFloat { max: false }, Some(&floats)),
            (PartialKind::ExtremeFloat { max: true }, Some(&floats)),
            (PartialKind::SumInt, Some(&ints)),
        ];
        let cpu1 = best(reps, || {
            timed(|| {
                let mut columns = [
                    AggColumn::Count(Vec::new()),
                    AggColumn::SumFloat(Vec::new()),
                    AggColumn::ExtremeFloat {
                        max: false,
                        values: Vec::new(),
                    },
                    AggColumn::ExtremeFloat {
                        max: true,
                        values: Vec::new(),
                    },
                    AggColumn::SumInt(Vec::new()),
                ];
                for (c, (_, arg)) in columns.iter_mut().zip(&kinds) {
                    c.resize(GROUPS as usize);
                    c.update(&ids, *arg, None);
                }
                std::hint::black_box(columns);
            })
        });
        let inputs: Vec<AggInput<'_>> = kinds
            .iter()
            .map(|&(kind, arg)| AggInput { kind, arg })
            .collect();
        let round = best(reps, || {
            timed(|| drop(batch_partials(gpu, &ids, GROUPS as usize, &inputs, None).expect("gpu")))
        });
        let mut job = gpu.submission();
        let upload =
            AggUpload::upload(gpu, &mut job, &ids, GROUPS as usize, &inputs).expect("upload");
        job.submit().wait().expect("upload");
        let kernel = best(reps, || {
            let mut job = gpu.submission();
            let out = upload.record(gpu, &mut job).expect("dispatch");
            let t = Instant::now();
            job.submit().wait().expect("kernel");
            drop(out);
            t.elapsed()
        });
        println!(
            "| partials: count, sum, min, max (float) + sum (int), 64 groups | {n} | {} | - | {} | {} | | |",
            rate(n, cpu1),
            rate(n, round),
            rate(n, kernel)
        );
    }
}
