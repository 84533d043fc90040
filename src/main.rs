//! `sluice`: the command line. Parses arguments, calls the dsl and engine libraries, renders
//! their diagnostics with miette and maps outcomes to exit codes (see README "Exit codes").

mod local_cluster;
mod render;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sluice_dsl::diagnostic::Diagnostic;
use sluice_dsl::plan::LogicalPlan;
use sluice_engine::cluster::{ClusterError, ClusterSpec};
use sluice_engine::config::{EngineConfig, GpuMode};
use sluice_engine::{RunOptions, RunSummary, lower, run, run_test};

/// Exit codes (documented in README.md).
mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The run failed (I/O, connector or engine error), or `fmt --check` found a difference.
    pub const FAILED: u8 = 1;
    /// The pipeline file, the command line or the engine config is invalid.
    pub const INVALID: u8 = 2;
}

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Declarative dataflow engine: typed pipelines on Timely Dataflow"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and type-check a pipeline; print every diagnostic (exit 0 or 2).
    Check { file: PathBuf },
    /// Print the logical plan and the physical plan, one node a line.
    Explain {
        file: PathBuf,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Run a pipeline to completion and print a summary on stderr.
    Run {
        file: PathBuf,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Also write the run summary as JSON to this file.
        #[arg(long, value_name = "PATH")]
        summary_json: Option<PathBuf>,
        /// Print no summary on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run the pipeline's `test` blocks: given rows in, expected rows compared (exit 0 when all
    /// pass, 1 when any fails, 2 when the file has errors).
    Test {
        file: PathBuf,
        /// Worker threads.
        #[arg(long, short)]
        workers: Option<usize>,
    },
    /// Rewrite a pipeline file in canonical form (idempotent).
    Fmt {
        file: PathBuf,
        /// Change nothing; exit 1 when the file is not in canonical form.
        #[arg(long)]
        check: bool,
        /// Print the formatted text instead of rewriting the file.
        #[arg(long, conflicts_with = "check")]
        stdout: bool,
    },
}

#[derive(clap::Args)]
struct EngineArgs {
    /// Engine settings (TOML); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Worker threads.
    #[arg(long, short)]
    workers: Option<usize>,
    /// Maximum rows per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// GPU offload mode.
    #[arg(long, value_enum)]
    gpu: Option<GpuArg>,
    /// Serve Prometheus metrics on http://ADDR/metrics while the run lasts (host:port);
    /// overrides `[metrics] listen`.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

impl EngineArgs {
    /// The same settings as command-line arguments (for the processes of a local cluster).
    fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |flag: &str, value: OsString| {
            args.push(flag.into());
            args.push(value);
        };
        if let Some(config) = &self.config {
            push("--config", config.clone().into());
        }
        if let Some(workers) = self.workers {
            push("--workers", workers.to_string().into());
        }
        if let Some(batch_size) = self.batch_size {
            push("--batch-size", batch_size.to_string().into());
        }
        if let Some(gpu) = self.gpu {
            let gpu = gpu.to_possible_value().expect("no skipped values");
            push("--gpu", gpu.get_name().into());
        }
        if let Some(listen) = &self.metrics_listen {
            push("--metrics-listen", listen.into());
        }
        args
    }
}

/// Multi-process runs (README "Multi-process"). `--workers` stays the threads of each process.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Processes of a multi-process run; with `--process` and `--hostfile`.
    #[arg(long, value_name = "P")]
    processes: Option<usize>,
    /// This process's index, 0..P.
    #[arg(long, value_name = "I", requires = "processes")]
    process: Option<usize>,
    /// Addresses of the processes: one host:port per line, P lines, in process order.
    #[arg(long, value_name = "FILE", requires = "processes")]
    hostfile: Option<PathBuf>,
    /// Run P processes of this binary on 127.0.0.1 (free ports), wait for all, print one
    /// summary over all of them.
    #[arg(long, value_name = "P", conflicts_with_all = ["processes", "process", "hostfile"])]
    local_cluster: Option<usize>,
}

impl ClusterArgs {
    /// The cluster of an explicit `--processes` run, or of one process. `explain` needs only
    /// the process count (`--processes` or `--local-cluster`), not the addresses.
    fn spec(&self, for_run: bool) -> Result<ClusterSpec, CliError> {
        let processes = self.processes.or(self.local_cluster).unwrap_or(1);
        match (&self.hostfile, self.process) {
            (Some(hostfile), Some(process)) => {
                Ok(ClusterSpec::from_hostfile(processes, process, hostfile)?)
            }
            _ if processes > 1 && for_run && self.local_cluster.is_none() => {
                Err(CliError::Usage(format!(
                    "--processes {processes} needs --process I and --hostfile FILE                      (or use --local-cluster {processes})"
                )))
            }
            _ => Ok(ClusterSpec::new(
                processes,
                self.process.unwrap_or(0),
                Vec::new(),
            )?),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum GpuArg {
    Auto,
    On,
    Off,
}

/// An outcome the CLI reports and maps to an exit code.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// Already rendered to stderr.
    #[error("{count} error(s) in {path}")]
    Diagnostics { path: String, count: usize },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] sluice_engine::config::ConfigError),
    #[error(transparent)]
    Run(#[from] sluice_engine::RunError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    LocalCluster(#[from] local_cluster::LocalClusterError),
    #[error("{0}")]
    Usage(String),
    #[error("{0} is not formatted; run `sluice fmt {0}`")]
    NotFormatted(String),
    /// Already reported on stdout.
    #[error("{0} test(s) failed")]
    TestsFailed(usize),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Diagnostics { .. }
            | CliError::Config(_)
            | CliError::Read { .. }
            | CliError::Cluster(_)
            | CliError::Usage(_) => exit::INVALID,
            // A failed process's own code (its error is on stderr already).
            CliError::LocalCluster(e) => e.child_exit_code().unwrap_or(exit::FAILED),
            CliError::Write { .. }
            | CliError::Run(_)
            | CliError::NotFormatted(_)
            | CliError::TestsFailed(_) => exit::FAILED,
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match try_main(Cli::parse()) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            if !matches!(e, CliError::Diagnostics { .. } | CliError::TestsFailed(_)) {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn try_main(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Check { file } => {
            let (_, source) = compile(&file)?;
            let _ = source;
            Ok(())
        }
        Command::Explain {
            file,
            engine,
            cluster,
        } => {
            let (plan, source) = compile(&file)?;
            let config = engine_config(&engine, cluster.spec(false)?)?;
            println!("{plan}");
            match lower(&plan, &config) {
                Ok(physical) => print!("{physical}"),
                Err(diags) => {
                    println!(
                        "physical plan: not runnable yet ({} reason(s) on stderr)",
                        diags.len()
                    );
                    eprint!(
                        "{}",
                        render::render_all(&diags, &file.display().to_string(), &source)
                    );
                }
            }
            Ok(())
        }
        Command::Run {
            file,
            engine,
            cluster,
            summary_json,
            quiet,
        } => {
            let (plan, source) = compile(&file)?;
            let config = engine_config(&engine, cluster.spec(true)?)?;
            let physical = lower(&plan, &config).map_err(|diags| report(&file, &source, &diags))?;
            // SIGINT/SIGTERM: drain, flush, commit, exit 0 (a second one exits 130 at once).
            if let Err(e) = sluice_engine::stop::install_signal_handlers() {
                tracing::warn!("cannot install the SIGINT/SIGTERM handlers: {e}");
            }
            let summary = match cluster.local_cluster {
                // The parent checked the pipeline and settings above, once, before any child.
                Some(processes) => {
                    let parts = local_cluster::run(&file, &engine.to_args(), processes)?;
                    RunSummary::merge(parts).expect("a cluster has at least one process")
                }
                None => run(
                    &physical,
                    RunOptions {
                        progress: config.progress,
                    },
                )?,
            };
            if !quiet {
                eprint!("{summary}");
            }
            if let Some(path) = summary_json {
                let text = serde_json::to_string_pretty(&summary).expect("summary serialises");
                std::fs::write(&path, text).map_err(|source| CliError::Write {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            Ok(())
        }
        Command::Test { file, workers } => test(&file, workers),
        Command::Fmt {
            file,
            check,
            stdout,
        } => {
            let source = read(&file)?;
            let (ast, diags) = sluice_dsl::syntax::parse(&source);
            if diags.iter().any(Diagnostic::is_error) {
                return Err(report(&file, &source, &diags));
            }
            let formatted = sluice_dsl::syntax::format(&ast);
            if stdout {
                print!("{formatted}");
            } else if check {
                if formatted != source {
                    return Err(CliError::NotFormatted(file.display().to_string()));
                }
            } else if formatted != source {
                std::fs::write(&file, formatted).map_err(|source| CliError::Write {
                    path: file.display().to_string(),
                    source,
                })?;
            }
            Ok(())
        }
    }
}

/// `sluice test`: one `test "..." ... ok|FAILED` line per test (a diff under a failure), then
/// `N passed, N failed`.
fn test(file: &Path, workers: Option<usize>) -> Result<(), CliError> {
    let (plan, source) = compile(file)?;
    let config = engine_config(
        &EngineArgs {
            config: None,
            workers,
            batch_size: None,
            gpu: None,
            metrics_listen: None,
        },
        ClusterSpec::single(),
    )?;
    let physical = lower(&plan, &config).map_err(|diags| report(file, &source, &diags))?;
    let (mut passed, mut failed) = (0, 0);
    for case in &plan.tests {
        let name = sluice_dsl::plan::Value::String(case.description.clone());
        match run_test(&physical, case) {
            Ok(outcome) if outcome.passed() => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Ok(outcome) => {
                failed += 1;
                println!("test {name} ... FAILED");
                print!("{}", outcome.report());
            }
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED");
                println!("  error: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        return Err(CliError::TestsFailed(failed));
    }
    Ok(())
}

fn read(file: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(file).map_err(|source| CliError::Read {
        path: file.display().to_string(),
        source,
    })
}

/// Parses and checks `file`; on errors renders every diagnostic to stderr.
fn compile(file: &Path) -> Result<(LogicalPlan, String), CliError> {
    let source = read(file)?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("pipeline");
    let env = |name: &str| std::env::var(name).ok();
    match sluice_dsl::compile(&source, stem, &env) {
        Ok(plan) => Ok((plan, source)),
        Err(diags) => Err(report(file, &source, &diags)),
    }
}

fn report(file: &Path, source: &str, diags: &[Diagnostic]) -> CliError {
    let path = file.display().to_string();
    eprint!("{}", render::render_all(diags, &path, source));
    let count = diags.iter().filter(|d| d.is_error()).count();
    if count > 0 {
        eprintln!(
            "error: could not compile `{path}` due to {count} previous error{}",
            if count == 1 { "" } else { "s" }
        );
    }
    CliError::Diagnostics { path, count }
}

fn engine_config(args: &EngineArgs, cluster: ClusterSpec) -> Result<EngineConfig, CliError> {
    let mut config = match &args.config {
        Some(path) => EngineConfig::from_file(path)?,
        None => EngineConfig::default(),
    };
    config.cluster = cluster;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    if let Some(batch_size) = args.batch_size {
        config.batch_size = batch_size;
    }
    if let Some(gpu) = args.gpu {
        config.gpu.mode = match gpu {
            GpuArg::Auto => GpuMode::Auto,
            GpuArg::On => GpuMode::On,
            GpuArg::Off => GpuMode::Off,
        };
    }
    if let Some(listen) = &args.metrics_listen {
        config.metrics.listen = Some(listen.clone());
    }
    config.validate()?;
    Ok(config)
}
