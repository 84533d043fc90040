//! The dead-letter output of a source: one JSON line per bad record, shared by all workers.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;

/// Where a source's malformed and late records go: `{"source","reason","position","raw","raw_base64"}`.
pub struct DeadLetterSink {
    source: String,
    writer: Mutex<Box<dyn Write + Send>>,
    count: AtomicU64,
    /// Where the lines go, for the run summary (`with_path`).
    path: String,
}

impl DeadLetterSink {
    pub fn new(source: impl Into<String>, writer: Box<dyn Write + Send>) -> DeadLetterSink {
        DeadLetterSink {
            source: source.into(),
            writer: Mutex::new(writer),
            count: AtomicU64::new(0),
            path: String::new(),
        }
    }

    /// Records where the writer writes, for the run summary.
    pub fn with_path(mut self, path: impl Into<String>) -> DeadLetterSink {
        self.path = path.into();
        self
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Writes one dead letter. `position` is `file:line` (1-based line) or `topic/partition/offset`.
    /// `raw` is the record's bytes without its line terminator.
    pub fn send(&self, reason: &str, position: &str, raw: &[u8]) -> std::io::Result<()> {
        let line = serde_json::json!({
            "source": self.source,
            "reason": reason,
            "position": position,
            "raw": String::from_utf8_lossy(raw),
            "raw_base64": base64::engine::general_purpose::STANDARD.encode(raw),
        });
        let mut text = line.to_string();
        text.push('\n');
        self.count.fetch_add(1, Ordering::Relaxed);
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(text.as_bytes())
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn flush(&self) -> std::io::Result<()> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }
}
