//! Kafka consumer lag as the Kafka source reports it: messages between a partition's high
//! watermark and the consumer's position, by source, topic and partition.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Latest lag per (source, topic, partition); the source sets it, a scrape reads it.
#[derive(Default)]
pub struct PartitionLag(Mutex<BTreeMap<(String, String, i32), i64>>);

impl PartitionLag {
    /// The consumer of `source` is `lag` messages behind the end of `topic`'s `partition`.
    pub fn set(&self, source: &str, topic: &str, partition: i32, lag: i64) {
        let mut lags = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lags.insert((source.to_string(), topic.to_string(), partition), lag);
    }

    /// Every partition's latest lag, in (source, topic, partition) order.
    pub fn snapshot(&self) -> Vec<((String, String, i32), i64)> {
        let lags = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lags.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}
