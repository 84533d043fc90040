//! A `kafka(...)` sink: every worker has its own producer and sends one message per row
//! (the row in the sink's format without its line feed; the key is `key_column`'s text, if
//! set). Deliveries are counted per timely time, so the sink can tell the dataflow which times
//! are durable (acknowledged by the broker with `acks=all`). Messages never time out: while
//! the broker is away librdkafka keeps them and retries, and the sink's durable frontier waits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use sluice_dsl::plan::{DataType, SinkNode};

use super::client::{Endpoint, LoggingContext, base_config};
use crate::arrow_schema_map::arrow_type;
use crate::connectors::encode::{Encoder, key_text};
use crate::connectors::{ConnectorError, SinkTarget, SinkWriter};

/// What every worker's producer of one sink shares.
pub(crate) struct KafkaSink {
    endpoint: Endpoint,
    config: ClientConfig,
    /// `key_column` and its type.
    key: Option<(usize, DataType)>,
}

impl KafkaSink {
    pub(crate) fn open(node: &SinkNode) -> Result<KafkaSink, ConnectorError> {
        let endpoint = Endpoint::of("sink", &node.name, &node.connector)?;
        Ok(KafkaSink {
            config: producer_config(&endpoint.brokers),
            key: node.kafka.key_column.map(|c| (c, node.schema.fields[c].ty)),
            endpoint,
        })
    }

    pub(crate) fn label(&self) -> String {
        self.endpoint.to_string()
    }

    /// A producer for one worker; its deliveries count into `target`.
    pub(crate) fn writer(
        &self,
        target: Arc<SinkTarget>,
        encoder: Encoder,
    ) -> Result<Box<dyn SinkWriter>, ConnectorError> {
        let context = DeliveryContext {
            logging: LoggingContext::new(self.endpoint.clone()),
            target,
            deliveries: Mutex::new(Deliveries::default()),
        };
        let producer: BaseProducer<DeliveryContext> =
            self.config.create_with_context(context).map_err(|e| {
                self.endpoint
                    .error(format!("cannot create the producer: {e}"))
            })?;
        Ok(Box::new(KafkaWriter {
            producer,
            endpoint: self.endpoint.clone(),
            encoder,
            key: self.key,
            buf: Vec::new(),
            ends: Vec::new(),
            last_warning: None,
        }))
    }
}

/// Producer settings: wait for all in-sync replicas, never give a message up.
pub(crate) fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = base_config(brokers);
    config
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        .set_log_level(RDKafkaLogLevel::Warning);
    config
}

/// Messages sent and not yet acknowledged, per timely time; the first delivery failure.
#[derive(Default)]
struct Deliveries {
    outstanding: BTreeMap<u64, u64>,
    failure: Option<String>,
}

struct DeliveryContext {
    logging: LoggingContext,
    target: Arc<SinkTarget>,
    deliveries: Mutex<Deliveries>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.logging.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.logging.error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    /// The timely time of the row.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, time: usize) {
        let mut d = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        let time = time as u64;
        if let Some(n) = d.outstanding.get_mut(&time) {
            *n -= 1;
            if *n == 0 {
                d.outstanding.remove(&time);
            }
        }
        match result {
            Ok(message) => {
                let bytes = message.payload_len() as u64;
                self.target.count_written(1, bytes);
            }
            Err((e, _)) => {
                d.failure
                    .get_or_insert_with(|| format!("delivery failed: {e}"));
            }
        }
    }
}

struct KafkaWriter {
    producer: BaseProducer<DeliveryContext>,
    endpoint: Endpoint,
    encoder: Encoder,
    key: Option<(usize, DataType)>,
    /// Encoded rows of the batch being sent, and where each ends.
    buf: Vec<u8>,
    ends: Vec<usize>,
    last_warning: Option<Instant>,
}

impl KafkaWriter {
    fn deliveries(&self) -> std::sync::MutexGuard<'_, Deliveries> {
        let d = &self.producer.context().deliveries;
        d.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failure(&self) -> Result<(), ConnectorError> {
        match &self.deliveries().failure {
            Some(f) => Err(self.endpoint.error(f).into()),
            None => Ok(()),
        }
    }

    fn warn_waiting(&mut self, why: &str) {
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            tracing::warn!(endpoint = %self.endpoint, "{why}; is the broker up? retrying");
            self.last_warning = Some(Instant::now());
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        self.write_batch_at(batch, 0)
    }

    fn write_batch_at(&mut self, batch: &RecordBatch, time: u64) -> Result<(), ConnectorError> {
        self.failure()?;
        self.buf.clear();
        self.ends.clear();
        self.encoder
            .encode_rows(batch, &mut self.buf, Some(&mut self.ends))?;
        let keys = match self.key {
            Some((column, ty)) => {
                let array = batch.column(column);
                let want = arrow_type(ty);
                let array = if array.data_type() == &want {
                    Arc::clone(array)
                } else {
                    arrow_cast::cast(array, &want)
                        .map_err(|e| ConnectorError::Other(format!("sink key column: {e}")))?
                };
                (0..batch.num_rows())
                    .map(|row| key_text(&array, ty, row))
                    .collect()
            }
            None => Vec::new(),
        };
        *self.deliveries().outstanding.entry(time).or_default() += self.ends.len() as u64;
        let topic = self.endpoint.topic.clone();
        let mut start = 0;
        for row in 0..self.ends.len() {
            let end = self.ends[row];
            // Without the line feed.
            let payload = &self.buf[start..end - 1];
            start = end;
            let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(&topic, time as usize)
                .payload(payload);
            if let Some(Some(k)) = keys.get(row) {
                record = record.key(k.as_slice());
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's queue is full (slow or absent broker): wait for room.
                        record = back;
                        self.producer.poll(Duration::from_millis(50));
                        if self
                            .last_warning
                            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
                        {
                            tracing::warn!(
                                endpoint = %self.endpoint,
                                "the producer queue is full; is the broker up? retrying"
                            );
                            self.last_warning = Some(Instant::now());
                        }
                    }
                    Err((e, _)) => {
                        return Err(self.endpoint.error(format!("cannot send: {e}")).into());
                    }
                }
            }
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    fn make_durable(&mut self) -> Result<Option<u64>, ConnectorError> {
        self.producer.poll(Duration::ZERO);
        self.failure()?;
        Ok(self.deliveries().outstanding.keys().next().copied())
    }

    /// Waits for every message to be acknowledged, however long the broker is away.
    fn flush(&mut self) -> Result<(), ConnectorError> {
        loop {
            self.producer.poll(Duration::from_millis(100));
            self.failure()?;
            if self.deliveries().outstanding.is_empty() {
                return Ok(());
            }
            self.warn_waiting("waiting for the broker to acknowledge messages");
        }
    }
}
