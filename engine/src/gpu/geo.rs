//! Geo distance of a batch on the GPU: distances from every point to every site
//! (`shaders/haversine_sites.wgsl`, what `route by geo` needs) and the nearest site of every
//! point (`shaders/nearest_site.wgsl`, 8 bytes a point back instead of 4 x sites).
//!
//! Precision: f32. SPIR-V's trig builtins (GLSL.std.450) exist only for 16/32-bit floats, so
//! unlike the CPU's `crate::expr::haversine` (f64) the kernels compute in f32 from coordinates
//! rounded to f32 (about 1 m at 180 degrees). The tests bound the difference to the f64 CPU
//! result by 1e-3 relative + 0.02 km absolute; so among sites within that distance of each
//! other (near-ties) the GPU may name a different nearest site than the CPU.

use super::limits::{KernelError, check_fits};
use super::{Access, DeviceBuffer, Gpu, Submission};
use crate::expr::haversine;

const SITES_SOURCE: &str = concat!(
    include_str!("../../../shaders/geo_common.wgsl"),
    "\n",
    include_str!("../../../shaders/haversine_sites.wgsl")
);
const NEAREST_SOURCE: &str = concat!(
    include_str!("../../../shaders/geo_common.wgsl"),
    "\n",
    include_str!("../../../shaders/nearest_site.wgsl")
);

/// A batch's coordinates and the sites, uploaded in a submission.
pub struct GeoInput {
    rows: usize,
    sites: usize,
    lat: DeviceBuffer,
    lon: DeviceBuffer,
    site_buffer: DeviceBuffer,
}

impl GeoInput {
    /// Records the upload of points (nulls as NaN) and sites (at least one).
    pub fn upload(
        gpu: &Gpu,
        job: &mut Submission<'_>,
        lat: &[f32],
        lon: &[f32],
        sites: &[(f64, f64)],
    ) -> Result<GeoInput, KernelError> {
        assert_eq!(lat.len(), lon.len(), "lat and lon of one batch");
        assert!(!sites.is_empty(), "at least one site");
        let matrix = lat.len() as u64 * sites.len() as u64 * 4;
        let what = || format!("{} points x {} sites", lat.len(), sites.len());
        // Fitting one binding (at most 4 GiB) also keeps `rows` within u32.
        check_fits(gpu, what, matrix)?;
        let words: Vec<f32> = sites
            .iter()
            .flat_map(|&(la, lo)| [la as f32, lo as f32, la.to_radians().cos() as f32, 0.0])
            .collect();
        Ok(GeoInput {
            rows: lat.len(),
            sites: sites.len(),
            lat: job.upload(bytemuck::cast_slice(lat)),
            lon: job.upload(bytemuck::cast_slice(lon)),
            site_buffer: job.upload(bytemuck::cast_slice(&words)),
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn sites(&self) -> usize {
        self.sites
    }

    /// Records `haversine_sites`: a row-major points x sites f32 matrix on the device.
    pub fn distances(
        &self,
        gpu: &Gpu,
        job: &mut Submission<'_>,
    ) -> Result<DeviceBuffer, KernelError> {
        let kernel = gpu.kernel(
            "haversine_sites",
            SITES_SOURCE,
            &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
        )?;
        let out = gpu.buffer((self.rows * self.sites * 4) as u64);
        job.dispatch(
            &kernel,
            self.rows as u32,
            &[self.sites as u32],
            &[&self.lat, &self.lon, &self.site_buffer, &out],
        )?;
        Ok(out)
    }

    /// Records `nearest_site`: (u32 index, f32 km) per point on the device.
    pub fn nearest(
        &self,
        gpu: &Gpu,
        job: &mut Submission<'_>,
    ) -> Result<(DeviceBuffer, DeviceBuffer), KernelError> {
        let kernel = gpu.kernel(
            "nearest_site",
            NEAREST_SOURCE,
            &[
                Access::Read,
                Access::Read,
                Access::Read,
                Access::ReadWrite,
                Access::ReadWrite,
            ],
        )?;
        let index = gpu.buffer((self.rows * 4) as u64);
        let distance = gpu.buffer((self.rows * 4) as u64);
        job.dispatch(
            &kernel,
            self.rows as u32,
            &[self.sites as u32],
            &[&self.lat, &self.lon, &self.site_buffer, &index, &distance],
        )?;
        Ok((index, distance))
    }
}

/// Distances (km, f32) from each point to each site, row-major, in one submission.
pub fn site_distances(
    gpu: &Gpu,
    lat: &[f32],
    lon: &[f32],
    sites: &[(f64, f64)],
) -> Result<Vec<f32>, KernelError> {
    if lat.is_empty() {
        return Ok(Vec::new());
    }
    let mut job = gpu.submission();
    let input = GeoInput::upload(gpu, &mut job, lat, lon, sites)?;
    let out = input.distances(gpu, &mut job)?;
    let back = job.read_back(&out, 0, (lat.len() * sites.len() * 4) as u64);
    let done = job.submit().wait()?;
    Ok(done.buffers[back].typed_data::<f32>().to_vec())
}

/// Nearest site index and its distance (km, f32) for each point, in one submission.
pub fn nearest_sites(
    gpu: &Gpu,
    lat: &[f32],
    lon: &[f32],
    sites: &[(f64, f64)],
) -> Result<(Vec<u32>, Vec<f32>), KernelError> {
    if lat.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut job = gpu.submission();
    let input = GeoInput::upload(gpu, &mut job, lat, lon, sites)?;
    let (index, distance) = input.nearest(gpu, &mut job)?;
    let bytes = (lat.len() * 4) as u64;
    let (i, d) = (
        job.read_back(&index, 0, bytes),
        job.read_back(&distance, 0, bytes),
    );
    let done = job.submit().wait()?;
    Ok((
        done.buffers[i].typed_data::<u32>().to_vec(),
        done.buffers[d].typed_data::<f32>().to_vec(),
    ))
}

/// The CPU implementation `nearest_sites` is tested against: f64 haversine, the lowest index
/// among equal distances, NaN never nearest, site 0 when every distance is NaN.
pub fn nearest_sites_cpu(lat: &[f64], lon: &[f64], sites: &[(f64, f64)]) -> (Vec<u32>, Vec<f64>) {
    lat.iter()
        .zip(lon)
        .map(|(&la, &lo)| {
            let mut best = (0u32, haversine(la, lo, sites[0].0, sites[0].1));
            for (j, &(sl, so)) in sites.iter().enumerate().skip(1) {
                let d = haversine(la, lo, sl, so);
                if d < best.1 || (best.1.is_nan() && !d.is_nan()) {
                    best = (j as u32, d);
                }
            }
            best
        })
        .unzip()
}
