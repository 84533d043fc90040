//! The dead-letter output of a source: one JSON line per bad record, shared by all workers.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;

/// Where a source's malformed and late records go: `{"source","reason","position","raw","raw_base64"}`.
pub struct DeadLetterSink {
    source: String,
    writer: Mutex<Box<dyn Write + Send>>,
    count: AtomicU64,
    /// Dead letters per reason class (`reason_class`), for the metrics endpoint.
    reasons: Mutex<HashMap<String, u64>>,
    /// Where the lines go, for the run summary (`with_path`).
    path: String,
}

/// At most this many reason classes are counted apart per source; later ones count as `other`.
pub const MAX_REASON_CLASSES: usize = 32;

/// The class of a dead-letter reason, with bounded cardinality: the text before the first
/// backtick or double quote (where reasons quote values and column names), with every word that
/// starts with a digit replaced by `N`, trimmed of spaces and trailing punctuation, at most 64
/// bytes. `invalid int `12x` in column `year`` -> `invalid int`; `expected 6 fields, found 5` ->
/// `expected N fields, found N`; `invalid utf-8` stays.
pub fn reason_class(reason: &str) -> String {
    let head = reason.split(['`', '"']).next().unwrap_or_default();
    let mut class = String::with_capacity(head.len());
    for word in head.split_whitespace() {
        if !class.is_empty() {
            class.push(' ');
        }
        let digits = word.trim_start_matches(['-', '+']);
        if digits.starts_with(|c: char| c.is_ascii_digit()) {
            class.push('N');
            // Keep the punctuation that ends the word (`5,` -> `N,`).
            let tail = word.trim_end_matches(|c: char| c.is_ascii_punctuation());
            class.push_str(&word[tail.len()..]);
        } else {
            class.push_str(word);
        }
    }
    let mut end = class
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | ';' | '(' | '='))
        .len()
        .min(64);
    while !class.is_char_boundary(end) {
        end -= 1;
    }
    class.truncate(end);
    if class.is_empty() {
        "unknown".to_string()
    } else {
        class
    }
}

impl DeadLetterSink {
    pub fn new(source: impl Into<String>, writer: Box<dyn Write + Send>) -> DeadLetterSink {
        DeadLetterSink {
            source: source.into(),
            writer: Mutex::new(writer),
            count: AtomicU64::new(0),
            reasons: Mutex::new(HashMap::new()),
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
        self.count_reason(reason);
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(text.as_bytes())
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn count_reason(&self, reason: &str) {
        let class = reason_class(reason);
        let mut reasons = self.reasons.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = reasons.get_mut(&class) {
            *n += 1;
        } else if reasons.len() < MAX_REASON_CLASSES - 1 {
            reasons.insert(class, 1);
        } else {
            *reasons.entry("other".to_string()).or_default() += 1;
        }
    }

    /// Dead letters so far per reason class (see `reason_class`), sorted by class.
    pub fn reasons(&self) -> Vec<(String, u64)> {
        let reasons = self.reasons.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, u64)> = reasons.iter().map(|(k, v)| (k.clone(), *v)).collect();
        out.sort();
        out
    }

    pub fn flush(&self) -> std::io::Result<()> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_classes_drop_values_and_numbers() {
        let cases = [
            ("invalid int `12x` in column `year`", "invalid int"),
            (
                "int out of range `999` in column `dep_delay`",
                "int out of range",
            ),
            ("expected 6 fields, found 5", "expected N fields, found N"),
            ("invalid utf-8", "invalid utf-8"),
            ("unterminated quote", "unterminated quote"),
            (
                "empty value for non-nullable column `distance`",
                "empty value for non-nullable column",
            ),
            (
                "invalid JSON: EOF while parsing at line 1 column 7",
                "invalid JSON: EOF while parsing at line N column N",
            ),
            ("`x`", "unknown"),
            ("", "unknown"),
        ];
        for (reason, class) in cases {
            assert_eq!(reason_class(reason), class, "{reason}");
        }
        assert!(reason_class(&"é".repeat(100)).len() <= 64);
    }

    #[test]
    fn reason_classes_are_bounded() {
        let sink = DeadLetterSink::new("s", Box::new(std::io::sink()));
        for i in 0..100 {
            sink.send(&format!("reason{i} bad"), "f:1", b"x").unwrap();
            sink.send("expected 6 fields, found 5", "f:1", b"x")
                .unwrap();
        }
        let reasons = sink.reasons();
        assert_eq!(reasons.len(), MAX_REASON_CLASSES);
        assert_eq!(reasons.iter().map(|(_, n)| n).sum::<u64>(), 200);
        assert!(reasons.contains(&("expected N fields, found N".to_string(), 100)));
        let other = reasons.iter().find(|(k, _)| k == "other").unwrap().1;
        assert_eq!(other, 100 - (MAX_REASON_CLASSES as u64 - 2));
    }
}
