//! The run summary printed at exit: records per source and sink, dead letters, wall time,
//! throughput. Also serialisable as JSON (`sluice run --summary-json`) for tests and benches,
//! and read back to merge the summaries of the processes of a `--local-cluster` run.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::route::stats::RouteSummary;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    pub pipeline: String,
    /// Workers over all processes.
    pub workers: usize,
    /// Processes of the run (1 unless multi-process).
    #[serde(default = "one")]
    pub processes: usize,
    /// The process this summary covers, in a multi-process run; `None` for a single process
    /// or a summary merged over all processes.
    #[serde(default)]
    pub process: Option<usize>,
    #[serde(serialize_with = "seconds", deserialize_with = "from_seconds")]
    pub wall: Duration,
    pub sources: Vec<SourceSummary>,
    pub sinks: Vec<SinkSummary>,
    pub stages: Vec<StageSummary>,
    pub routes: Vec<RouteSummary>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceSummary {
    pub name: String,
    /// Good records read.
    pub records: u64,
    pub bytes: u64,
    pub empty_lines: u64,
    pub dead_letters: u64,
    pub dead_letter_path: String,
    /// Tables: the rows (live keys) each worker holds at the end, in worker order; they sum
    /// to the table's size because each key lives on one worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub table_rows: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SinkSummary {
    pub name: String,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageSummary {
    pub stream: String,
    pub stage: String,
    pub rows_out: u64,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn from_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

fn one() -> usize {
    1
}

impl RunSummary {
    pub fn dead_letters(&self) -> u64 {
        self.sources.iter().map(|s| s.dead_letters).sum()
    }

    /// One summary for a run from the summaries of its processes (in process order): counts
    /// summed per source, sink, stage and route, wall time the longest. Every part comes from
    /// the same plan, so entries line up by position. `None` when `parts` is empty.
    pub fn merge(parts: Vec<RunSummary>) -> Option<RunSummary> {
        let mut parts = parts.into_iter();
        let mut merged = parts.next()?;
        merged.process = None;
        for part in parts {
            merged.wall = merged.wall.max(part.wall);
            for (m, p) in merged.sources.iter_mut().zip(part.sources) {
                m.records += p.records;
                m.bytes += p.bytes;
                m.empty_lines += p.empty_lines;
                m.dead_letters += p.dead_letters;
                // Workers are numbered process by process.
                m.table_rows.extend(p.table_rows);
                if p.dead_letters > 0 && m.dead_letter_path != p.dead_letter_path {
                    m.dead_letter_path = format!("{}, {}", m.dead_letter_path, p.dead_letter_path);
                }
            }
            for (m, p) in merged.sinks.iter_mut().zip(part.sinks) {
                m.records += p.records;
                m.bytes += p.bytes;
            }
            for (m, p) in merged.stages.iter_mut().zip(part.stages) {
                m.rows_out += p.rows_out;
            }
            for (m, p) in merged.routes.iter_mut().zip(part.routes) {
                m.add(p);
            }
        }
        Some(merged)
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.wall.as_secs_f64().max(1e-9);
        if let Some(process) = self.process {
            write!(f, "process {process} of {}: ", self.processes)?;
        }
        write!(
            f,
            "pipeline `{}` finished in {:.3} s on {} worker{}",
            self.pipeline,
            secs,
            self.workers,
            if self.workers == 1 { "" } else { "s" }
        )?;
        if self.processes > 1 {
            write!(f, " in {} processes", self.processes)?;
        }
        writeln!(f)?;
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
            if !s.table_rows.is_empty() {
                write!(f, ", rows held per worker {:?}", s.table_rows)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn part(process: usize, records: u64, wall_ms: u64, routed: Vec<u64>) -> RunSummary {
        RunSummary {
            pipeline: "p".into(),
            workers: 4,
            processes: 2,
            process: Some(process),
            wall: Duration::from_millis(wall_ms),
            sources: vec![SourceSummary {
                name: "s".into(),
                records,
                bytes: 10 * records,
                empty_lines: 1,
                dead_letters: process as u64,
                dead_letter_path: format!("dl{process}.jsonl"),
                table_rows: Vec::new(),
            }],
            sinks: vec![SinkSummary {
                name: "out".into(),
                records: if process == 0 { 7 } else { 0 },
                bytes: 70,
            }],
            stages: vec![StageSummary {
                stream: "x".into(),
                stage: "where".into(),
                rows_out: records / 2,
            }],
            routes: vec![RouteSummary {
                stream: "x".into(),
                kind: "hash".into(),
                routed,
                max_over_mean: 0.0,
                nearest_share: None,
                mean_distance_km: None,
                timeline: vec![(process as u64, 0, 1)],
            }],
        }
    }

    #[test]
    fn merge_sums_counts_and_keeps_the_longest_wall_time() {
        let merged = RunSummary::merge(vec![
            part(0, 100, 900, vec![3, 1, 0, 0]),
            part(1, 50, 1200, vec![0, 0, 2, 2]),
        ])
        .unwrap();
        assert_eq!(merged.process, None);
        assert_eq!(merged.wall, Duration::from_millis(1200));
        let s = &merged.sources[0];
        assert_eq!((s.records, s.bytes, s.empty_lines), (150, 1500, 2));
        assert_eq!(s.dead_letters, 1);
        assert_eq!(s.dead_letter_path, "dl0.jsonl, dl1.jsonl");
        assert_eq!((merged.sinks[0].records, merged.sinks[0].bytes), (7, 140));
        assert_eq!(merged.stages[0].rows_out, 75);
        assert_eq!(merged.routes[0].routed, vec![3, 1, 2, 2]);
        assert!((merged.routes[0].max_over_mean - 1.5).abs() < 1e-12);
        assert_eq!(merged.routes[0].timeline.len(), 2);
    }

    #[test]
    fn round_trips_through_json() {
        let summary = part(1, 10, 1500, vec![1, 2]);
        let back: RunSummary =
            serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap();
        assert_eq!(back.wall, summary.wall);
        assert_eq!(back.process, Some(1));
        assert_eq!(back.sources[0].records, 10);
    }

    #[test]
    fn a_process_summary_says_which_process() {
        let text = part(1, 10, 1500, vec![1, 2]).to_string();
        assert!(
            text.starts_with(
                "process 1 of 2: pipeline `p` finished in 1.500 s on 4 workers in 2 processes"
            ),
            "{text}"
        );
    }
}
