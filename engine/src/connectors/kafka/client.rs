//! Client settings shared by sources, sinks and dead-letter topics, and the context that turns
//! librdkafka's errors and logs into `tracing` events naming the broker and topic.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use sluice_dsl::plan::ConnectorSpec;

use crate::connectors::ConnectorError;

/// How long a metadata request may take before it is retried.
pub(crate) const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Which client this is, for messages: `kafka source `bids` (topic `bids` on 127.0.0.1:9092)`.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub role: &'static str,
    pub name: String,
    pub topic: String,
    pub brokers: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kafka {} `{}` (topic `{}` on broker(s) {})",
            self.role, self.name, self.topic, self.brokers
        )
    }
}

/// An error that names the broker and the topic.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint}: {message}")]
pub struct BrokerError {
    pub(crate) endpoint: String,
    pub(crate) message: String,
}

impl Endpoint {
    /// The endpoint of `name`'s `kafka(...)` connector; an error for any other connector.
    pub(crate) fn of(
        role: &'static str,
        name: &str,
        spec: &ConnectorSpec,
    ) -> Result<Endpoint, ConnectorError> {
        let ConnectorSpec::Kafka { topic, brokers, .. } = spec else {
            return Err(ConnectorError::Other(format!(
                "{role} `{name}` is not a kafka connector"
            )));
        };
        Ok(Endpoint {
            role,
            name: name.to_string(),
            topic: topic.clone(),
            brokers: brokers.clone(),
        })
    }

    pub(crate) fn error(&self, message: impl std::fmt::Display) -> BrokerError {
        BrokerError {
            endpoint: self.to_string(),
            message: message.to_string(),
        }
    }
}

/// Logs librdkafka's errors and log lines as `tracing` events with the endpoint. While a
/// broker is away librdkafka reports every reconnect attempt: warnings are throttled to one
/// per `WARN_EVERY`, with the number suppressed in between.
pub(crate) struct LoggingContext {
    pub endpoint: Endpoint,
    throttle: Mutex<(Option<Instant>, u64)>,
    /// Consumers: where the per-partition lag of librdkafka's statistics goes.
    lag: Option<crate::connectors::LagReport>,
}

const WARN_EVERY: Duration = Duration::from_secs(5);

impl LoggingContext {
    pub(crate) fn new(endpoint: Endpoint) -> LoggingContext {
        LoggingContext {
            endpoint,
            throttle: Mutex::new((None, 0)),
            lag: None,
        }
    }

    /// A consumer's context that reports consumer lag from librdkafka's statistics (enable
    /// them with `statistics.interval.ms`).
    pub(crate) fn with_lag(mut self, lag: Option<crate::connectors::LagReport>) -> LoggingContext {
        self.lag = lag;
        self
    }

    fn warn(&self, message: std::fmt::Arguments<'_>) {
        let mut t = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        let (last, suppressed) = &mut *t;
        if last.is_some_and(|l| l.elapsed() < WARN_EVERY) {
            *suppressed += 1;
            return;
        }
        let endpoint = &self.endpoint;
        if *suppressed > 0 {
            tracing::warn!(%endpoint, "{message} ({suppressed} similar messages suppressed)");
        } else {
            tracing::warn!(%endpoint, "{message}");
        }
        *last = Some(Instant::now());
        *suppressed = 0;
    }
}

impl ClientContext for LoggingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let endpoint = &self.endpoint;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                self.warn(format_args!("librdkafka {facility}: {message}"))
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(%endpoint, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(%endpoint, facility, "librdkafka: {message}"),
        }
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(report) = &self.lag else {
            return;
        };
        for (name, topic) in &statistics.topics {
            for (partition, p) in &topic.partitions {
                // -1: unknown (not assigned here, or no fetch yet); librdkafka's internal
                // partition is -1 too.
                if *partition >= 0 && p.consumer_lag >= 0 {
                    report(name, *partition, p.consumer_lag);
                }
            }
        }
    }

    /// librdkafka retries on its own (reconnects with backoff, re-sends unacknowledged
    /// messages); this only reports.
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error,
            KafkaError::PartitionEOF(_)
                | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        ) {
            return; // a caught-up partition, handled by the source
        }
        self.warn(format_args!("{error}: {reason}; retrying"));
    }
}

impl ConsumerContext for LoggingContext {}

/// Settings every client gets.
pub(crate) fn base_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "sluice")
        // Reconnect quickly after a broker restart, then back off up to 2 s.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "2000")
        .set_log_level(RDKafkaLogLevel::Warning);
    config
}
