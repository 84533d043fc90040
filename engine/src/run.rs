//! Runs a physical plan on N worker threads and reports what happened.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_dsl::plan::RouteKind;

use crate::abort::{self, Abort};
use crate::cluster::{self, ClusterError, ClusterSpec};
use crate::connectors::{ConnectorError, SinkTarget, open_dead_letters};
use crate::dataflow;
use crate::metrics;
use crate::physical::{Node, PhysicalPlan};
use crate::shared::{RunShared, SourceState};
use crate::summary::{RunSummary, SinkSummary, SourceSummary, StageSummary};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("the run failed:\n  {}", .0.join("\n  "))]
    Failed(Vec<String>),
    #[error("a worker panicked: {0}")]
    Worker(String),
    /// A panic or a stop that did not drain in time; nothing was committed.
    #[error("the run was aborted: {0}")]
    Aborted(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// How a run reports progress.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Draw a progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
}

/// Runs one dataflow, built by `build(scope, worker, workers)` on each of `threads` worker
/// threads of this process, to completion. On several processes (`cluster`) `worker` is the
/// global index and `workers` the total over all processes.
///
/// A panic in any worker (or, on a cluster, a peer process that goes away) fails the run
/// within [`abort::LEAVE_GRACE`] (`abort.rs`), and so does a graceful stop that has not
/// drained within `stop_timeout`; workers stuck in an operator are then left behind.
pub(crate) fn execute<F>(
    threads: usize,
    cluster: &ClusterSpec,
    stop_timeout: Duration,
    build: F,
) -> Result<(), RunError>
where
    F: for<'scope> Fn(timely::dataflow::Scope<'scope, u64>, usize, usize) + Send + Sync + 'static,
{
    let abort = Abort::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let (worker_abort, worker_finished) = (abort.clone(), finished.clone());
    let per_worker = move |worker: &mut timely::worker::Worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let _run = abort::enter_run(worker_abort.clone(), index);
        let _finished = CountOnDrop(worker_finished.clone());
        crate::counters::set_current_worker(index);
        worker.dataflow::<u64, _, _>(|scope| build(scope, index, peers));
        // Parked workers wake up at least this often to see an abort.
        while !worker_abort.is_set() && worker.step_or_park(Some(Duration::from_millis(50))) {}
        if worker_abort.is_set() {
            for dataflow in worker.installed_dataflows() {
                worker.drop_dataflow(dataflow);
            }
        }
    };
    let guards = if cluster.is_multi_process() {
        use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
        use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
        abort::adopt_process_threads(&abort);
        let sockets = cluster::connect(cluster)?;
        let hooks = timely::communication::Hooks::default();
        let local =
            ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
        let (builders, network) =
            initialize_networking_from_sockets(local, sockets, cluster.process, threads, hooks)
                .map_err(|source| ClusterError::Connect {
                    process: cluster.process,
                    source,
                })?;
        let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
        timely::execute::execute_from(
            builders,
            Box::new(network),
            timely::WorkerConfig::default(),
            per_worker,
        )
    } else {
        timely::execute(timely::Config::process(threads), per_worker)
    };
    let guards = guards.map_err(RunError::Worker)?;
    let mut stop_seen: Option<Instant> = None;
    while finished.load(Ordering::SeqCst) < threads {
        std::thread::sleep(Duration::from_millis(10));
        if let Some((reason, at)) = abort.reason()
            && at.elapsed() >= abort::LEAVE_GRACE
        {
            // Joining would wait for a stuck worker forever: leave its thread behind.
            std::mem::forget(guards);
            return Err(RunError::Aborted(reason));
        }
        if crate::stop::requested() && !abort.is_set() {
            let since = *stop_seen.get_or_insert_with(Instant::now);
            if since.elapsed() >= stop_timeout {
                let busy = abort.busy_workers();
                abort.fail(format!(
                    "the graceful stop did not finish within {} s (`stop_timeout_ms`){}",
                    stop_timeout.as_secs_f64(),
                    match busy.is_empty() {
                        true => String::new(),
                        false => format!("; still running: {}", busy.join(", ")),
                    }
                ));
            }
        }
    }
    if let Some((reason, _)) = abort.reason()
        && cluster.is_multi_process()
    {
        // Joining would join timely's network threads too, which panicked or will panic
        // (their peers are gone), and re-raise that panic here.
        std::mem::forget(guards);
        return Err(RunError::Aborted(reason));
    }
    let panics: Vec<String> = guards.join().into_iter().filter_map(Result::err).collect();
    match abort.reason() {
        Some((reason, _)) => Err(RunError::Aborted(reason)),
        None if panics.is_empty() => Ok(()),
        None => Err(RunError::Worker(panics.join("; "))),
    }
}

/// Counts a worker as finished when its closure ends, also by unwinding.
struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs the plan to completion (bounded inputs) and returns the summary.
pub fn run(plan: &PhysicalPlan, options: RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let metrics_error = |addr| move |source| RunError::Metrics { addr, source };
    let metrics_listener = match plan.metrics_listen {
        Some(addr) => Some((addr, metrics::bind(addr).map_err(metrics_error(addr))?)),
        None => None,
    };
    let logical = &plan.logical;
    let mut sources = Vec::with_capacity(plan.reads.len());
    for (read, node) in plan.reads.iter().zip(logical.reads()) {
        sources.push(if read.used {
            let dead_letters = open_dead_letters(&logical.name, node, plan.cluster.process)?;
            Some(SourceState::new(dead_letters, plan.workers))
        } else {
            tracing::warn!(source = %node.name, "source is not read by any stream or sink; skipped");
            None
        });
    }
    let sinks = logical
        .sinks
        .iter()
        .zip(&plan.writes)
        .map(|(sink, write)| {
            let node = sluice_dsl::plan::SinkNode {
                schema: write.schema.clone(),
                ..sink.clone()
            };
            if plan.cluster.process > 0 && write.to_process_zero {
                // Process 0 writes it; opening it here would truncate its file.
                return Ok(SinkTarget::elsewhere(&node));
            }
            SinkTarget::open(&node)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shared = Arc::new(RunShared::new(plan, sources, sinks, started));
    let metrics_server = match metrics_listener {
        Some((addr, listener)) => {
            Some(metrics::serve(listener, plan, shared.clone()).map_err(metrics_error(addr))?)
        }
        None => None,
    };

    let done = Arc::new(AtomicBool::new(false));
    let progress = (options.progress && std::io::stderr().is_terminal())
        .then(|| spawn_progress(shared.clone(), done.clone(), started));

    let workers = plan.workers;
    tracing::info!(
        pipeline = %logical.name,
        workers,
        batch_size = plan.batch_size,
        sources = logical.sources.len(),
        sinks = logical.sinks.len(),
        "run started"
    );
    let worker_plan = Arc::new(plan.clone());
    let worker_shared = shared.clone();
    let result = execute(
        workers,
        &plan.cluster,
        plan.stop_timeout,
        move |scope, index, peers| {
            dataflow::build(scope, &worker_plan, &worker_shared, index, peers);
        },
    );
    done.store(true, Ordering::Relaxed);
    if let Some(handle) = progress {
        let _ = handle.join();
    }
    if let Err(e) = &result {
        tracing::warn!(pipeline = %logical.name, error = %e, "run failed");
    }
    result?;

    let mut failures = shared.failures.take();
    for (sink, node) in shared.sinks.iter().zip(&logical.sinks) {
        match sink.finish() {
            Ok(()) => tracing::info!(
                sink = %node.name,
                records = sink.rows(),
                bytes = sink.bytes(),
                "sink finished"
            ),
            Err(e) => {
                tracing::warn!(sink = %node.name, error = %e, "sink failed to finish");
                failures.push(format!("sink `{}`: {e}", node.name));
            }
        }
    }
    for (state, node) in shared.sources.iter().zip(logical.reads()) {
        if let Some(state) = state
            && let Err(e) = state.dead_letters.flush()
        {
            failures.push(format!("dead letters of source `{}`: {e}", node.name));
        }
    }
    // Positions are committed last, and only when everything before succeeded: a failed run
    // re-reads from the previous commit (at-least-once).
    let commits = std::mem::take(
        &mut *shared
            .final_commits
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    if failures.is_empty() {
        for commit in commits {
            if let Err(e) = commit() {
                failures.push(e.to_string());
            }
        }
    }
    // After the sinks finished: a last scrape sees the final counts.
    if let Some(server) = metrics_server {
        server.stop();
    }
    let wall = started.elapsed();
    if !failures.is_empty() {
        tracing::warn!(pipeline = %logical.name, failures = failures.len(), wall_s = wall.as_secs_f64(), "run failed");
        return Err(RunError::Failed(failures));
    }
    let summary = summarise(plan, &shared, wall);
    tracing::info!(
        pipeline = %logical.name,
        wall_s = wall.as_secs_f64(),
        records_in = summary.sources.iter().map(|s| s.records).sum::<u64>(),
        records_out = summary.sinks.iter().map(|s| s.records).sum::<u64>(),
        dead_letters = summary.sources.iter().map(|s| s.dead_letters).sum::<u64>(),
        "run finished"
    );
    Ok(summary)
}

fn summarise(plan: &PhysicalPlan, shared: &RunShared, wall: Duration) -> RunSummary {
    let logical = &plan.logical;
    let sources = logical
        .reads()
        .zip(&shared.sources)
        .enumerate()
        .filter_map(|(index, (node, state))| {
            let state = state.as_ref()?;
            Some(SourceSummary {
                table_rows: if index >= logical.sources.len() {
                    state.held.per_worker()
                } else {
                    Vec::new()
                },
                name: node.name.clone(),
                records: state.counters.records.load(Ordering::Relaxed),
                bytes: state.counters.bytes.load(Ordering::Relaxed),
                empty_lines: state.counters.empty_lines.load(Ordering::Relaxed),
                dead_letters: state.dead_letters.count(),
                dead_letter_path: state.dead_letters.path().to_string(),
            })
        })
        .collect();
    let sinks = logical
        .sinks
        .iter()
        .zip(&shared.sinks)
        .map(|(node, target)| SinkSummary {
            name: node.name.clone(),
            records: target.rows(),
            bytes: target.bytes(),
        })
        .collect();
    let stages = logical
        .streams
        .iter()
        .zip(&shared.operator_rows)
        .flat_map(|(stream, rows)| {
            stream.ops.iter().zip(rows).map(|(op, rows)| StageSummary {
                stream: stream.name.clone(),
                stage: op.kind.keyword().to_string(),
                rows_out: rows.load(Ordering::Relaxed),
            })
        })
        .collect();
    let routes = plan
        .stages()
        .filter_map(|(s, stage)| {
            let Node::Route(node) = &stage.node else {
                return None;
            };
            let kind = match node.kind {
                RouteKind::Geo { .. } => "geo",
                RouteKind::Hash(_) => "hash",
                RouteKind::RoundRobin => "round_robin",
            };
            let stats = shared.route_stats[s][stage.ops.start].as_ref()?;
            Some(stats.summary(&plan.streams[s].name, kind))
        })
        .collect();
    RunSummary {
        pipeline: logical.name.clone(),
        workers: plan.total_workers(),
        processes: plan.cluster.processes,
        process: plan
            .cluster
            .is_multi_process()
            .then_some(plan.cluster.process),
        wall,
        sources,
        sinks,
        stages,
        routes,
    }
}

/// Redraws one status line on stderr every second once the run has lasted a second.
fn spawn_progress(
    shared: Arc<RunShared>,
    done: Arc<AtomicBool>,
    started: Instant,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut drawn = false;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            let elapsed = started.elapsed();
            if elapsed < Duration::from_secs(1) || elapsed.subsec_millis() >= 100 {
                continue;
            }
            let (records, dead) = shared.sources.iter().flatten().fold((0, 0), |(r, d), s| {
                (
                    r + s.counters.records.load(Ordering::Relaxed),
                    d + s.dead_letters.count(),
                )
            });
            let written: u64 = shared.sinks.iter().map(|s| s.rows()).sum();
            let rate = records as f64 / elapsed.as_secs_f64();
            eprint!(
                "\r\x1b[2K[{:>5.1}s] read {records} records ({rate:.0}/s), wrote {written}, dead-lettered {dead}",
                elapsed.as_secs_f64()
            );
            drawn = true;
        }
        if drawn {
            eprint!("\r\x1b[2K");
        }
    })
}
