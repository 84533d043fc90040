//! `generator(geo_points, events = N, rate = R, seed = S)`: points on the globe with a value,
//! for geo routing and geo function workloads. Columns (taken by name, in the node's schema
//! order): `id: int`, `lat: float`, `lon: float`, `value: float`, `event_time: timestamp`.
//!
//! Record `i` (0-based, `0 <= i < events`) is a pure function of `(seed, i)`: a SplitMix64
//! stream seeded from both. So a run gives the same records for any worker count; worker `w` of
//! `n` produces the ids `i` with `i % n == w`, in increasing order.
//!
//! Distribution, chosen to look like real device or trip data (skewed, so that geo-weighted
//! routing has something to balance):
//! - 70% are clustered around ten large cities (New York, London, Tokyo, São Paulo, Mumbai,
//!   Lagos, Sydney, Mexico City, Shanghai, Cairo; weights 16..6%, see `CITIES`), with a
//!   gaussian spread of 1 degree in latitude and longitude (Box-Muller);
//! - 30% are uniform over six continental bounding boxes (North and South America, Europe,
//!   Africa, Asia, Australia), a box picked with a weight near its land share;
//! - latitudes are clamped to [-90, 90], longitudes wrapped to [-180, 180);
//! - `value` is uniform in [0, 100);
//! - `event_time` is 2026-01-01T00:00:00Z + i * 10 ms, so records are in event-time order.
//!
//! `rate > 0` paces the source to `rate` records per second over all workers: record `i` is
//! not emitted before `i / rate` seconds after the start, and batches are cut to about 1/20 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow_schema::SchemaRef;
use sluice_dsl::plan::{DataType, SourceNode};

use super::super::{ConnectorError, SourceContext, SourceCounters, SourceReader};
use crate::arrow_schema_map::arrow_schema;

/// 2026-01-01T00:00:00Z in epoch milliseconds.
pub const EPOCH_MS: i64 = 1_767_225_600_000;
/// Event-time step between consecutive records.
pub const STEP_MS: i64 = 10;
/// Share of the points around a city.
const CITY_SHARE: f64 = 0.7;
/// Gaussian spread (standard deviation) around a city, in degrees.
const CITY_SPREAD_DEG: f64 = 1.0;

/// (lat, lon, weight)
const CITIES: [(f64, f64, f64); 10] = [
    (40.71, -74.01, 16.0),  // New York
    (51.51, -0.13, 14.0),   // London
    (35.68, 139.69, 13.0),  // Tokyo
    (-23.55, -46.63, 10.0), // São Paulo
    (19.08, 72.88, 10.0),   // Mumbai
    (6.52, 3.38, 8.0),      // Lagos
    (-33.87, 151.21, 7.0),  // Sydney
    (19.43, -99.13, 8.0),   // Mexico City
    (31.23, 121.47, 8.0),   // Shanghai
    (30.04, 31.24, 6.0),    // Cairo
];

/// (lat_min, lat_max, lon_min, lon_max, weight)
const LAND_BOXES: [(f64, f64, f64, f64, f64); 6] = [
    (25.0, 50.0, -125.0, -70.0, 16.0), // North America
    (-35.0, 5.0, -75.0, -40.0, 12.0),  // South America
    (36.0, 60.0, -10.0, 30.0, 7.0),    // Europe
    (-30.0, 30.0, -15.0, 45.0, 20.0),  // Africa
    (10.0, 50.0, 70.0, 135.0, 30.0),   // Asia
    (-38.0, -15.0, 115.0, 150.0, 6.0), // Australia
];

/// One generated record (besides its id and event time, which follow from `i`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
    pub value: f64,
}

/// SplitMix64: a tiny, well-mixed generator whose output is fixed forever (unlike `SmallRng`,
/// whose algorithm may change between `rand` versions), so seeds reproduce across builds.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Standard normal (Box-Muller).
    fn gaussian(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Index into `weights` picked with probability proportional to its weight, by `u` in [0, 1).
fn pick<T>(items: &[T], weight: impl Fn(&T) -> f64, u: f64) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = u * total;
    for (i, item) in items.iter().enumerate() {
        x -= weight(item);
        if x < 0.0 {
            return i;
        }
    }
    items.len() - 1
}

/// Record `i` of the stream with this seed.
pub fn geo_point(seed: u64, i: u64) -> GeoPoint {
    let mut rng = SplitMix64(mix64(seed ^ mix64(i.wrapping_add(0x632B_E59B_D9B4_E019))));
    let (lat, lon) = if rng.unit() < CITY_SHARE {
        let (lat, lon, _) = CITIES[pick(&CITIES, |c| c.2, rng.unit())];
        (
            lat + rng.gaussian() * CITY_SPREAD_DEG,
            lon + rng.gaussian() * CITY_SPREAD_DEG,
        )
    } else {
        let (lat0, lat1, lon0, lon1, _) = LAND_BOXES[pick(&LAND_BOXES, |b| b.4, rng.unit())];
        (
            lat0 + rng.unit() * (lat1 - lat0),
            lon0 + rng.unit() * (lon1 - lon0),
        )
    };
    GeoPoint {
        lat: lat.clamp(-90.0, 90.0),
        lon: (lon + 180.0).rem_euclid(360.0) - 180.0,
        value: rng.unit() * 100.0,
    }
}

#[derive(Clone, Copy)]
enum GeoColumn {
    Id,
    Lat,
    Lon,
    Value,
    EventTime,
}

/// One worker's share of a geo_points generator.
pub(crate) struct GeoPoints {
    columns: Vec<GeoColumn>,
    schema: SchemaRef,
    seed: u64,
    events: u64,
    rate: u64,
    /// Next global record index of this worker.
    next: u64,
    /// Number of workers (stride between this worker's indices).
    stride: u64,
    batch_rows: usize,
    started: Option<Instant>,
    ctx: SourceContext,
}

impl GeoPoints {
    pub(crate) fn new(
        node: &SourceNode,
        ctx: SourceContext,
        events: u64,
        rate: u64,
        seed: u64,
    ) -> Result<GeoPoints, ConnectorError> {
        let columns = node
            .schema
            .fields
            .iter()
            .map(|f| {
                let (col, ty) = match f.name.as_str() {
                    "id" => (GeoColumn::Id, DataType::Int),
                    "lat" => (GeoColumn::Lat, DataType::Float),
                    "lon" => (GeoColumn::Lon, DataType::Float),
                    "value" => (GeoColumn::Value, DataType::Float),
                    "event_time" => (GeoColumn::EventTime, DataType::Timestamp),
                    other => {
                        return Err(ConnectorError::Other(format!(
                            "generator(geo_points) has no column `{other}` (it has id, lat, lon, \
                             value, event_time)"
                        )));
                    }
                };
                if f.ty != ty {
                    return Err(ConnectorError::Other(format!(
                        "generator(geo_points) column `{}` is {}, not {}",
                        f.name,
                        ty.name(),
                        f.ty.name()
                    )));
                }
                Ok(col)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let workers = ctx.workers.max(1) as u64;
        let mut batch_rows = ctx.batch_size;
        if rate > 0 {
            batch_rows = batch_rows.min((rate / workers / 20).max(1) as usize);
        }
        Ok(GeoPoints {
            columns,
            schema: arrow_schema(&node.schema),
            seed,
            events,
            rate,
            next: ctx.worker as u64,
            stride: workers,
            batch_rows,
            started: None,
            ctx,
        })
    }

    /// Sleeps until record `i` is due under `rate`.
    fn pace(&mut self, i: u64) {
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + Duration::from_secs_f64(i as f64 / self.rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

impl SourceReader for GeoPoints {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        if self.next >= self.events {
            return Ok(None);
        }
        let remaining = (self.events - self.next).div_ceil(self.stride);
        let rows = remaining.min(self.batch_rows as u64) as usize;
        let ids: Vec<u64> = (0..rows as u64)
            .map(|k| self.next + k * self.stride)
            .collect();
        let last = *ids.last().unwrap_or(&self.next);
        self.next = last + self.stride;
        if self.rate > 0 {
            self.pace(last);
        }
        let points: Vec<GeoPoint> = ids.iter().map(|&i| geo_point(self.seed, i)).collect();
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|c| -> ArrayRef {
                match c {
                    GeoColumn::Id => {
                        Arc::new(Int64Array::from_iter_values(ids.iter().map(|&i| i as i64)))
                    }
                    GeoColumn::Lat => {
                        Arc::new(Float64Array::from_iter_values(points.iter().map(|p| p.lat)))
                    }
                    GeoColumn::Lon => {
                        Arc::new(Float64Array::from_iter_values(points.iter().map(|p| p.lon)))
                    }
                    GeoColumn::Value => Arc::new(Float64Array::from_iter_values(
                        points.iter().map(|p| p.value),
                    )),
                    GeoColumn::EventTime => Arc::new(TimestampMillisecondArray::from_iter_values(
                        ids.iter().map(|&i| EPOCH_MS + i as i64 * STEP_MS),
                    )),
                }
            })
            .collect();
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| ConnectorError::Other(format!("generator(geo_points): {e}")))?;
        SourceCounters::add(&self.ctx.counters.records, rows as u64);
        Ok(Some(batch))
    }
}
