//! `sluice run FILE --local-cluster P`: runs the pipeline as P processes of this binary on
//! 127.0.0.1, each the explicit `--processes P --process I --hostfile F` form with free ports,
//! and gathers their summaries. A convenience for trying and testing multi-process runs on one
//! machine; a real cluster starts the same child command on each host.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use sluice_engine::RunSummary;

/// Why a local cluster did not produce a summary.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    #[error("local cluster: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("process {process} of the local cluster failed ({status}); the others were stopped")]
    ProcessFailed { process: usize, status: ExitStatus },
    #[error("local cluster: cannot read the summary of process {process} ({path}): {reason}")]
    Summary {
        process: usize,
        path: String,
        reason: String,
    },
}

impl LocalClusterError {
    /// The failed child's own exit code when it has one (2: invalid input, 1: the run failed).
    pub fn child_exit_code(&self) -> Option<u8> {
        match self {
            LocalClusterError::ProcessFailed { status, .. } => {
                status.code().and_then(|c| u8::try_from(c).ok())
            }
            _ => None,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalClusterError {
    let what = what.into();
    move |source| LocalClusterError::Io { what, source }
}

/// Runs `sluice run FILE ENGINE_ARGS` as `processes` processes and returns their summaries in
/// process order. Children inherit stdout, stderr and the environment; only process 0 (which
/// reads `stdin` sources) keeps stdin. If any child fails the others are killed (they would
/// otherwise wait for it forever).
pub fn run(
    file: &Path,
    engine_args: &[OsString],
    processes: usize,
) -> Result<Vec<RunSummary>, LocalClusterError> {
    let dir = scratch_dir()?;
    let result = run_in(&dir, file, engine_args, processes);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(
    dir: &Path,
    file: &Path,
    engine_args: &[OsString],
    processes: usize,
) -> Result<Vec<RunSummary>, LocalClusterError> {
    let hostfile = dir.join("hosts");
    let hosts: String = free_ports(processes)?
        .iter()
        .map(|port| format!("127.0.0.1:{port}\n"))
        .collect();
    std::fs::write(&hostfile, hosts).map_err(io("cannot write the hostfile"))?;
    let exe = std::env::current_exe().map_err(io("cannot find the sluice binary"))?;
    let summary_path = |process: usize| dir.join(format!("summary-{process}.json"));

    let mut children: Vec<Child> = Vec::with_capacity(processes);
    for process in 0..processes {
        let mut command = Command::new(&exe);
        command
            .arg("run")
            .arg(file)
            .args(engine_args)
            .arg("--processes")
            .arg(processes.to_string())
            .arg("--process")
            .arg(process.to_string())
            .arg("--hostfile")
            .arg(&hostfile)
            .arg("--summary-json")
            .arg(summary_path(process))
            .arg("--quiet");
        if process > 0 {
            command.stdin(Stdio::null());
        }
        match command.spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                stop(&mut children);
                return Err(io(format!("cannot start process {process}"))(e));
            }
        }
    }
    wait_all(&mut children)?;
    (0..processes)
        .map(|process| {
            let path = summary_path(process);
            let bad = |reason: String| LocalClusterError::Summary {
                process,
                path: path.display().to_string(),
                reason,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
        })
        .collect()
}

/// Waits for every child; on the first failure kills the rest.
fn wait_all(children: &mut [Child]) -> Result<(), LocalClusterError> {
    let mut done = vec![false; children.len()];
    let mut forwarded = false;
    while done.iter().any(|d| !d) {
        if !forwarded && sluice_engine::stop::requested() {
            // A SIGTERM/SIGINT sent to the parent alone: every child drains and commits too.
            forwarded = true;
            for child in children.iter() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
            }
        }
        for (process, child) in children.iter_mut().enumerate() {
            if done[process] {
                continue;
            }
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) if status.success() => done[process] = true,
                Ok(Some(status)) => {
                    stop(children);
                    return Err(LocalClusterError::ProcessFailed { process, status });
                }
                Err(e) => {
                    stop(children);
                    return Err(io(format!("cannot wait for process {process}"))(e));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Kills and reaps the children still running (by their own handles).
fn stop(children: &mut [Child]) {
    for child in children.iter_mut() {
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

/// `n` distinct ports free right now on 127.0.0.1 (all listeners are held until every port is
/// chosen, so they differ; another program could still take one before a child binds it).
fn free_ports(n: usize) -> Result<Vec<u16>, LocalClusterError> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io("cannot find a free port"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io("cannot find a free port"))
}

/// A fresh directory for the hostfile and the children's summaries.
fn scratch_dir() -> Result<PathBuf, LocalClusterError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-local-cluster-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    Ok(dir)
}
