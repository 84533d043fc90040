//! The run summary printed at exit: records per source and sink, dead letters, wall time,
//! throughput. Also serialisable as JSON (`sluice run --summary-json`) for tests and benches.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

pub use crate::route::stats::RouteSummary;

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub workers: usize,
    #[serde(serialize_with = "seconds")]
    pub wall: Duration,
    pub sources: Vec<SourceSummary>,
    pub sinks: Vec<SinkSummary>,
    pub stages: Vec<StageSummary>,
    pub routes: Vec<RouteSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceSummary {
    pub name: String,
    /// Good records read.
    pub records: u64,
    pub bytes: u64,
    pub empty_lines: u64,
    pub dead_letters: u64,
    pub dead_letter_path: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SinkSummary {
    pub name: String,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    pub stream: String,
    pub stage: String,
    pub rows_out: u64,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl RunSummary {
    pub fn dead_letters(&self) -> u64 {
        self.sources.iter().map(|s| s.dead_letters).sum()
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.wall.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "pipeline `{}` finished in {:.3} s on {} worker{}",
            self.pipeline,
            secs,
            self.workers,
            if self.workers == 1 { "" } else { "s" }
        )?;
        for s in &self.sources {
            write!(
                f,
                "  source {:<16} read {} records, {:.1} MiB ({:.0} records/s, {:.1} MB/s)",
                s.name,
                s.records,
                s.bytes as f64 / 1048576.0,
                s.records as f64 / secs,
                s.bytes as f64 / 1e6 / secs,
            )?;
            if s.empty_lines > 0 {
                write!(f, ", {} empty lines skipped", s.empty_lines)?;
            }
            if s.dead_letters > 0 {
                write!(
                    f,
                    ", {} dead-lettered -> {}",
                    s.dead_letters, s.dead_letter_path
                )?;
            } else {
                write!(f, ", 0 dead-lettered")?;
            }
            writeln!(f)?;
        }
        for s in &self.stages {
            writeln!(
                f,
                "  stage  {:<16} {:<10} {} rows out",
                s.stream, s.stage, s.rows_out
            )?;
        }
        for r in &self.routes {
            write!(
                f,
                "  route  {:<16} {:<10} per worker {:?}, max/mean {:.3}",
                r.stream, r.kind, r.routed, r.max_over_mean
            )?;
            if let (Some(share), Some(km)) = (r.nearest_share, r.mean_distance_km) {
                write!(
                    f,
                    ", {:.1}% at nearest worker, mean distance {km:.0} km",
                    share * 100.0
                )?;
            }
            writeln!(f)?;
        }
        for s in &self.sinks {
            writeln!(
                f,
                "  sink   {:<16} wrote {} records, {:.1} MiB",
                s.name,
                s.records,
                s.bytes as f64 / 1048576.0
            )?;
        }
        Ok(())
    }
}
