//! A panic anywhere in a run fails the run promptly instead of hanging it.
//!
//! Timely has no failure handling: a worker that panics simply disappears, and the others wait
//! for its progress forever. So every run owns an [`Abort`]: a process-wide panic hook records
//! the first panic of a thread that belongs to the run (worker threads, and in a multi-process
//! run also timely's network threads, whose panic means a peer process went away), naming the
//! stage the worker was running ([`stage`]); every worker checks the flag between steps and
//! drops its dataflow; `run::execute` stops waiting for workers that have not left within
//! [`LEAVE_GRACE`] (one stuck in an operator), and the run fails with the panic's text. Sinks
//! are not finished and no position is committed after an abort.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// How long workers get to leave after an abort before the run stops waiting for them.
pub const LEAVE_GRACE: Duration = Duration::from_secs(2);

/// The failure state of one run.
#[derive(Debug, Default)]
pub struct Abort {
    set: AtomicBool,
    first: Mutex<Option<(String, Instant)>>,
    /// What each worker of this process runs now, by worker index.
    running: Mutex<Vec<(usize, Arc<Mutex<String>>)>>,
}

impl Abort {
    pub fn new() -> Arc<Abort> {
        Arc::new(Abort::default())
    }

    /// Fails the run; the first reason is the one reported.
    pub fn fail(&self, reason: String) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some((reason, Instant::now()));
        }
        self.set.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Relaxed)
    }

    /// Why the run failed and when, once it has.
    pub fn reason(&self) -> Option<(String, Instant)> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The workers that are inside an operator now, with its stage: where a run that does
    /// not stop is stuck.
    pub fn busy_workers(&self) -> Vec<String> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running
            .iter()
            .filter_map(|(worker, stage)| {
                let stage = stage.try_lock().ok()?;
                (!stage.is_empty()).then(|| format!("worker {worker} in {stage}"))
            })
            .collect()
    }
}

thread_local! {
    /// The run this thread works for (worker threads).
    static RUN: RefCell<Option<Arc<Abort>>> = const { RefCell::new(None) };
    /// The stage or connector the thread is running now (empty: none); shared with its run.
    static STAGE: RefCell<Option<Arc<Mutex<String>>>> = const { RefCell::new(None) };
}

/// The run whose threads we do not own (timely's network threads): the multi-process run of
/// this process, if one is going.
static PROCESS_RUN: Mutex<Option<Weak<Abort>>> = Mutex::new(None);

/// Marks this thread as worker `worker` of `abort`'s run until the guard drops.
pub fn enter_run(abort: Arc<Abort>, worker: usize) -> RunGuard {
    install_hook();
    let stage = Arc::new(Mutex::new(String::new()));
    abort
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((worker, stage.clone()));
    STAGE.with(|s| *s.borrow_mut() = Some(stage));
    RUN.with(|r| *r.borrow_mut() = Some(abort));
    RunGuard(())
}

pub struct RunGuard(());

impl Drop for RunGuard {
    fn drop(&mut self) {
        let _ = RUN.try_with(|r| r.borrow_mut().take());
        let _ = STAGE.try_with(|s| s.borrow_mut().take());
    }
}

/// Makes `abort` the run of every thread of this process that is not a worker (a cluster
/// run: timely's network threads panic when a peer process goes away).
pub fn adopt_process_threads(abort: &Arc<Abort>) {
    install_hook();
    *PROCESS_RUN.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(abort));
}

/// Names the stage or connector this worker runs until the guard drops, so that a panic in
/// it, or a stop it holds up, says where. Operators call it first thing in each invocation;
/// it copies the name into the worker's reused buffer (no allocation after the first call,
/// an uncontended lock).
pub fn stage(context: &str) -> StageGuard {
    set_stage(context);
    StageGuard(())
}

fn set_stage(context: &str) {
    let _ = STAGE.try_with(|s| {
        if let Some(stage) = s.borrow().as_ref() {
            let mut stage = stage.lock().unwrap_or_else(|e| e.into_inner());
            stage.clear();
            stage.push_str(context);
        }
    });
}

fn current_stage() -> String {
    STAGE
        .try_with(|s| {
            let s = s.try_borrow().ok()?;
            let stage = s.as_ref()?.try_lock().ok()?;
            Some(stage.clone())
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub struct StageGuard(());

impl Drop for StageGuard {
    fn drop(&mut self) {
        set_stage("");
    }
}

fn install_hook() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let run = RUN
                .try_with(|r| r.try_borrow().ok().and_then(|r| r.clone()))
                .ok()
                .flatten();
            let (run, worker) = match run {
                Some(run) => (Some(run), true),
                None => (
                    PROCESS_RUN
                        .try_lock()
                        .ok()
                        .and_then(|r| r.as_ref().and_then(Weak::upgrade)),
                    false,
                ),
            };
            let Some(run) = run else {
                return previous(info);
            };
            let text = match info.payload().downcast_ref::<&str>() {
                Some(s) => s.to_string(),
                None => match info.payload().downcast_ref::<String>() {
                    Some(s) => s.clone(),
                    None => "(a panic without a message)".to_string(),
                },
            };
            let at = info
                .location()
                .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                .unwrap_or_default();
            let stage = current_stage();
            let reason = match (worker, stage.is_empty()) {
                (true, false) => format!("{stage} panicked: {text}{at}"),
                (true, true) => format!("a worker panicked: {text}{at}"),
                (false, _) => format!("a process of the cluster went away or failed: {text}"),
            };
            tracing::debug!(%reason, "panic in a run");
            run.fail(reason);
            if std::env::var_os("RUST_BACKTRACE").is_some() {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_worker_thread_names_its_stage_and_fails_only_its_run() {
        let (mine, other) = (Abort::new(), Abort::new());
        let run = mine.clone();
        let joined = std::thread::spawn(move || {
            let _run = enter_run(run, 0);
            let _stage = stage("stream `s`, stage `top`");
            panic!("row index out of bounds");
        })
        .join();
        assert!(joined.is_err());
        let (reason, _) = mine.reason().expect("the run failed");
        assert!(
            reason.starts_with("stream `s`, stage `top` panicked: row index out of bounds (at "),
            "{reason}"
        );
        assert!(!other.is_set());
    }

    #[test]
    fn the_first_failure_is_the_one_reported() {
        let abort = Abort::new();
        abort.fail("first".into());
        abort.fail("second".into());
        assert_eq!(abort.reason().map(|r| r.0).as_deref(), Some("first"));
    }
}
