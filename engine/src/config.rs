//! Engine settings: how a pipeline runs (TOML, serde). The language says what it means.
//!
//! Every section rejects unknown keys, and validation puts the bad value in the error.
//! Command-line flags override the file (the CLI applies them before `validate`).

use serde::Deserialize;

/// `engine.toml`. Every field has a documented default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Worker threads in this process. Default: 1.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Maximum rows per Arrow batch between operators. Default: 8192.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Progress line on stderr when it is a terminal and the run lasts over a second.
    /// Default: true.
    #[serde(default = "default_true")]
    pub progress: bool,
    /// How long a graceful stop (SIGINT/SIGTERM) may take to drain, flush and commit before
    /// the run fails with exit 1, in ms. Default: 30000.
    #[serde(default = "default_stop_timeout_ms")]
    pub stop_timeout_ms: u64,
    #[serde(default)]
    pub gpu: GpuConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub route: RouteConfig,
    /// Test and benchmark hooks; never needed in production.
    #[serde(default)]
    pub debug: DebugConfig,
    /// The processes of a multi-process run (command line only: `--processes`, `--process`,
    /// `--hostfile`). `workers` stays the threads of each process.
    #[serde(skip)]
    pub cluster: crate::cluster::ClusterSpec,
}

fn default_workers() -> usize {
    1
}
fn default_batch_size() -> usize {
    8192
}
fn default_true() -> bool {
    true
}
fn default_stop_timeout_ms() -> u64 {
    30_000
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            workers: default_workers(),
            batch_size: default_batch_size(),
            progress: true,
            stop_timeout_ms: default_stop_timeout_ms(),
            gpu: GpuConfig::default(),
            metrics: MetricsConfig::default(),
            route: RouteConfig::default(),
            debug: DebugConfig::default(),
            cluster: crate::cluster::ClusterSpec::single(),
        }
    }
}

/// `[gpu]`: whether stages may run on a GPU.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GpuConfig {
    /// Default: `auto`.
    #[serde(default)]
    pub mode: GpuMode,
    /// `auto` only: offload batches of at least this many rows, without calibrating.
    #[serde(default)]
    pub min_batch_rows: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GpuMode {
    /// Offload where a start-up calibration shows the GPU faster; CPU otherwise.
    #[default]
    Auto,
    /// Require a GPU: every stage the GPU can run exactly runs there.
    On,
    /// Never use a GPU.
    Off,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` on. Default: none (no endpoint).
    pub listen: Option<String>,
}

/// `[route]`: settings of `route by ...` stages.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub geo: GeoRouteConfig,
}

/// `[route.geo]`: worker locations and capacities for `route by geo(lat, lon)`, and the knobs
/// of the balancer (`route/balancer.rs` explains the algorithm).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeoRouteConfig {
    /// `[[route.geo.workers]]`. None: every worker sits on the equator, spread evenly by
    /// longitude, capacity 1 (records route by longitude band). Some: a worker not listed has
    /// no location and capacity 1; it is nobody's nearest and takes overflow only.
    #[serde(default)]
    pub workers: Vec<GeoWorker>,
    /// `bounded` (default): nearest worker within the load bound; `nearest`: always the
    /// nearest (for comparisons).
    #[serde(default)]
    pub policy: GeoPolicy,
    /// Load bound: no worker gets more than `1 + slack` times its capacity share of recent
    /// records. Default 0.05 (max/mean <= 1.05); larger keeps more records local.
    #[serde(default = "default_slack")]
    pub slack: f64,
    /// "Recent" for the load bound, in records per router. Default 65536.
    #[serde(default = "default_window_rows")]
    pub window_rows: u64,
    /// How often each worker broadcasts its measured load, in ms. Default 100.
    #[serde(default = "default_epoch_ms")]
    pub epoch_ms: u64,
    /// Records in flight from one router to one worker above which that worker is skipped as
    /// falling behind. Default 65536.
    #[serde(default = "default_window_rows")]
    pub max_backlog_rows: u64,
    /// Follow measured load (default true). `false` ignores load reports: routing is then a
    /// pure function of each worker's input order, so a seeded run routes identically.
    #[serde(default = "default_true")]
    pub adaptive: bool,
}

impl Default for GeoRouteConfig {
    fn default() -> GeoRouteConfig {
        GeoRouteConfig {
            workers: Vec::new(),
            policy: GeoPolicy::default(),
            slack: default_slack(),
            window_rows: default_window_rows(),
            epoch_ms: default_epoch_ms(),
            max_backlog_rows: default_window_rows(),
            adaptive: true,
        }
    }
}

fn default_slack() -> f64 {
    0.05
}
fn default_window_rows() -> u64 {
    65536
}
fn default_epoch_ms() -> u64 {
    100
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GeoPolicy {
    #[default]
    Bounded,
    Nearest,
}

/// `[debug]`: hooks for tests and benchmarks.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// Emulated service time per routed record on every worker, in ns (default 0 = none).
    #[serde(default)]
    pub row_cost_ns: u64,
    /// Makes one worker slower: `{ index = 1, factor = 4.0, after_ms = 2000 }`.
    pub slow_worker: Option<SlowWorker>,
    /// Panics the operator of one stage when its `row`-th input row (1-based, counted per
    /// worker) arrives: `{ stream = "s", stage = 2, row = 1000 }` (stage: 1-based position in
    /// the stream's pipe), to test that a panic fails the run promptly.
    pub panic_at_row: Option<PanicAtRow>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PanicAtRow {
    pub stream: String,
    /// 1-based position of the stage in the stream's pipe.
    pub stage: usize,
    /// 1-based input row, counted per worker. Default 1.
    #[serde(default = "default_panic_row")]
    pub row: u64,
    /// Only this worker panics (global index); default: every worker.
    #[serde(default)]
    pub worker: Option<usize>,
    /// Instead of panicking, the operator sleeps forever: a stuck worker. Default false.
    #[serde(default)]
    pub hang: bool,
}

fn default_panic_row() -> u64 {
    1
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlowWorker {
    pub index: usize,
    /// Its service time per routed record is `factor` x `row_cost_ns` (or, with no
    /// `row_cost_ns`, it sleeps `factor - 1` x the time it spent on each routed batch).
    pub factor: f64,
    /// When the slow-down starts, from the start of the run. Default 0.
    #[serde(default)]
    pub after_ms: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeoWorker {
    pub index: usize,
    pub lat: f64,
    pub lon: f64,
    /// Relative speed; default 1.0.
    #[serde(default = "default_capacity")]
    pub capacity: f64,
}

fn default_capacity() -> f64 {
    1.0
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {message}")]
    Read { path: String, message: String },
    #[error("invalid engine config `{path}`: {message}")]
    Parse { path: String, message: String },
    #[error("invalid engine setting `{key}` = {value}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

impl EngineConfig {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<EngineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        EngineConfig::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses TOML text; call `validate` after applying command-line overrides.
    pub fn from_toml(text: &str) -> Result<EngineConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<text>".into(),
            message: e.to_string(),
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, reason: &str| ConfigError::Invalid {
            key: key.into(),
            value,
            reason: reason.into(),
        };
        if self.workers == 0 || self.workers > 1024 {
            return Err(invalid(
                "workers",
                self.workers.to_string(),
                "must be 1..=1024",
            ));
        }
        if self.batch_size == 0 || self.batch_size > 1 << 24 {
            return Err(invalid(
                "batch_size",
                self.batch_size.to_string(),
                "must be 1..=16777216",
            ));
        }
        if let Some(listen) = &self.metrics.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(invalid(
                "metrics.listen",
                format!("{listen:?}"),
                "expected host:port",
            ));
        }
        let geo = &self.route.geo;
        if !(0.0..=10.0).contains(&geo.slack) {
            return Err(invalid(
                "route.geo.slack",
                geo.slack.to_string(),
                "must be in 0..=10",
            ));
        }
        if geo.epoch_ms == 0 || geo.window_rows == 0 || geo.max_backlog_rows == 0 {
            return Err(invalid(
                "route.geo",
                format!(
                    "epoch_ms = {}, window_rows = {}, max_backlog_rows = {}",
                    geo.epoch_ms, geo.window_rows, geo.max_backlog_rows
                ),
                "must all be > 0",
            ));
        }
        if let Some(slow) = &self.debug.slow_worker {
            if slow.index >= self.workers {
                return Err(invalid(
                    "debug.slow_worker.index",
                    slow.index.to_string(),
                    &format!("there are {} workers (0..{})", self.workers, self.workers),
                ));
            }
            if slow.factor.is_nan() || slow.factor < 1.0 {
                return Err(invalid(
                    "debug.slow_worker.factor",
                    slow.factor.to_string(),
                    "must be >= 1",
                ));
            }
        }
        for w in &self.route.geo.workers {
            let key = format!("route.geo.workers[index = {}]", w.index);
            if w.index >= self.workers {
                return Err(invalid(
                    &format!("{key}.index"),
                    w.index.to_string(),
                    &format!("there are {} workers (0..{})", self.workers, self.workers),
                ));
            }
            if !(-90.0..=90.0).contains(&w.lat) {
                return Err(invalid(
                    &format!("{key}.lat"),
                    w.lat.to_string(),
                    "must be in -90..=90",
                ));
            }
            if !(-180.0..=180.0).contains(&w.lon) {
                return Err(invalid(
                    &format!("{key}.lon"),
                    w.lon.to_string(),
                    "must be in -180..=180",
                ));
            }
            if w.capacity.is_nan() || w.capacity <= 0.0 {
                return Err(invalid(
                    &format!("{key}.capacity"),
                    w.capacity.to_string(),
                    "must be > 0",
                ));
            }
        }
        for index in 0..self.workers {
            let listed = self
                .route
                .geo
                .workers
                .iter()
                .filter(|w| w.index == index)
                .count();
            if listed > 1 {
                return Err(invalid(
                    "route.geo.workers",
                    format!("index = {index} listed {listed} times"),
                    "list each worker at most once",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_md_example_parses() {
        let c = EngineConfig::from_toml(
            "workers = 4\n[gpu]\nmode = \"auto\"\n[metrics]\nlisten = \"127.0.0.1:9464\"\n\
             [[route.geo.workers]]\nindex = 0\nlat = 40.71\nlon = -74.01\ncapacity = 1.0\n",
        )
        .unwrap();
        assert_eq!(c.workers, 4);
        assert_eq!(c.gpu.mode, GpuMode::Auto);
        assert_eq!(c.route.geo.workers[0].lat, 40.71);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let e = EngineConfig::from_toml("wrokers = 2\n").unwrap_err();
        assert!(e.to_string().contains("wrokers"), "{e}");
    }

    #[test]
    fn bad_values_name_the_value() {
        let mut c = EngineConfig::from_toml(
            "workers = 1\n[[route.geo.workers]]\nindex = 5\nlat = 1\nlon = 2\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("index") && e.contains('5'), "{e}");
        c.route.geo.workers[0].index = 0;
        c.route.geo.workers[0].lat = 91.0;
        assert!(c.validate().unwrap_err().to_string().contains("91"));
        c.route.geo.workers[0].lat = 0.0;
        c.route.geo.workers[0].capacity = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("capacity"));
        c.route.geo.workers[0].capacity = 1.0;
        c.workers = 2;
        c.validate().unwrap();
        c.route.geo.workers.push(c.route.geo.workers[0].clone());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("index = 0 listed 2 times"), "{e}");
        c.workers = 0;
        assert!(c.validate().unwrap_err().to_string().contains("workers"));
    }
}
