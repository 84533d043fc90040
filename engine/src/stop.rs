//! Graceful stop on SIGINT / SIGTERM: sources stop reading, everything already read drains
//! through the dataflow (open windows fire as at the end of input), sinks flush, consumed
//! offsets are committed, and the run exits 0. A second SIGINT or SIGTERM exits at once with
//! status 130 (nothing more is flushed or committed; committed offsets still cover only what
//! sinks wrote).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    REQUESTED.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the SIGINT / SIGTERM handlers (once per process; later calls do nothing).
pub fn install_signal_handlers() -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional exit is checked before the flag is set, so the first
        // signal only sets it and the second one exits.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag()))?;
        signal_hook::flag::register(signal, Arc::clone(flag()))?;
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// Whether a stop was requested (by a signal or `request`).
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Requests a graceful stop, as SIGTERM does.
pub fn request() {
    flag().store(true, Ordering::Relaxed);
}
