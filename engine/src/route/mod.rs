//! `route by geo(lat, lon)`, `route by hash(...)`, `route round_robin`: which worker each
//! record goes to. The algorithm lives in `balancer.rs`; counters in `stats.rs`; the timely
//! operators in `dataflow/route.rs`.

pub mod balancer;
pub mod stats;

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::ArrowError;
use serde::{Deserialize, Serialize};

use crate::arrow_schema_map::arrow_type;
use crate::config::{EngineConfig, GeoPolicy};
use crate::expr::evaluate;
use balancer::{BalancerSettings, Policy, Site};
use sluice_dsl::plan::TypedExpr;

/// Where each worker is and how fast, from the engine config. With no `[[route.geo.workers]]`
/// every worker sits on the equator, spread evenly by longitude, with capacity 1; with some, an
/// unlisted worker has no location (NaN: farthest from everything, so it takes overflow only).
pub fn sites(config: &EngineConfig) -> Vec<Site> {
    // Worker indices are global: every process's threads, in process order.
    let n = config.workers * config.cluster.processes;
    let listed = &config.route.geo.workers;
    (0..n)
        .map(|i| match listed.iter().find(|w| w.index == i) {
            Some(w) => Site {
                lat: w.lat,
                lon: w.lon,
                capacity: w.capacity,
            },
            None if listed.is_empty() => Site {
                lat: 0.0,
                lon: -180.0 + (i as f64 + 0.5) * 360.0 / n as f64,
                capacity: 1.0,
            },
            None => Site {
                lat: f64::NAN,
                lon: f64::NAN,
                capacity: 1.0,
            },
        })
        .collect()
}

pub fn balancer_settings(config: &EngineConfig) -> BalancerSettings {
    let geo = &config.route.geo;
    BalancerSettings {
        policy: match geo.policy {
            GeoPolicy::Bounded => Policy::Bounded,
            GeoPolicy::Nearest => Policy::Nearest,
        },
        slack: geo.slack,
        window_rows: geo.window_rows,
        max_backlog_rows: geo.max_backlog_rows,
        adaptive: geo.adaptive,
    }
}

/// A piece of a batch on its way to worker `target`, sent by worker `source`.
pub type Routed = (u64, u32, crate::wire::WireBatch);

/// The pieces of a split batch as exchange messages from worker `source`, each counted as
/// in flight by `flow` (every exchange that splits batches by target sends them this way).
pub fn as_routed(
    parts: Vec<(u32, RecordBatch)>,
    source: usize,
    flow: &crate::flow::FlowControl,
) -> impl Iterator<Item = Routed> + '_ {
    parts.into_iter().map(move |(target, part)| {
        (
            target as u64,
            source as u32,
            flow.send(target as usize, part),
        )
    })
}

/// A worker's measured load, broadcast every epoch: rows it processed from router `router`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub worker: u32,
    pub router: u32,
    /// Rows processed from `router`, in total.
    pub processed: u64,
    /// Rows per second from `router` over the last epoch.
    pub rate: f64,
}

/// Splits `batch` into one batch per target worker (in worker order, empty ones left out).
pub fn split_by_target(
    batch: &RecordBatch,
    targets: &[u32],
    workers: usize,
) -> Result<Vec<(u32, RecordBatch)>, ArrowError> {
    let mut indices: Vec<Vec<u32>> = vec![Vec::new(); workers];
    for (row, &t) in targets.iter().enumerate() {
        indices[t as usize].push(row as u32);
    }
    if let Some(only) = indices.iter().position(|i| i.len() == batch.num_rows()) {
        return Ok(vec![(only as u32, batch.clone())]);
    }
    indices
        .into_iter()
        .enumerate()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(t, rows)| {
            let taken = arrow_select::take::take_record_batch(batch, &UInt32Array::from(rows))?;
            Ok((t as u32, taken))
        })
        .collect()
}

/// Targets for `route by hash(keys)`: a stable hash of the arrow-row encoding of the keys.
pub fn hash_targets(
    keys: &[TypedExpr],
    batch: &RecordBatch,
    workers: usize,
) -> Result<Vec<u32>, crate::expr::ExprError> {
    let arrays = keys
        .iter()
        .map(|k| evaluate(k, batch).map(crate::expr::canonical_key))
        .collect::<Result<Vec<_>, _>>()?;
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(arrow_type(k.ty)))
            .collect(),
    )?;
    let rows = converter.convert_columns(&arrays)?;
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    Ok(rows
        .iter()
        .map(|r| (hasher.hash_one(r.as_ref()) % workers as u64) as u32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_workers_take_overflow_only() {
        let config = EngineConfig::from_toml(
            "workers = 3\n[[route.geo.workers]]\nindex = 0\nlat = 40.71\nlon = -74.01\n",
        )
        .unwrap();
        config.validate().unwrap();
        let sites = sites(&config);
        assert_eq!(sites[0].lat, 40.71);
        assert!(sites[1].lat.is_nan() && sites[2].lon.is_nan());
        let mut b = balancer::Balancer::new(sites, balancer_settings(&config));
        let mut counts = [0; 3];
        for _ in 0..3000 {
            let c = b.choose(10.0, 10.0);
            counts[c.worker] += 1;
        }
        // Worker 0 is everyone's nearest and keeps its bounded share; the rest is overflow.
        assert!(counts[0] >= 1000 && counts[0] <= 1060, "{counts:?}");
        assert_eq!(counts.iter().sum::<i32>(), 3000);
    }
}
