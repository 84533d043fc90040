//! `dead_letter = kafka(topic = ...) as json`: the dead-letter JSON lines, one message each.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, NoCustomPartitioner, Producer, ProducerContext};
use sluice_dsl::plan::ConnectorSpec;

use super::client::{Endpoint, LoggingContext};
use super::sink::producer_config;
use crate::connectors::ConnectorError;

/// How long `flush` waits for acknowledgements before it reports `WouldBlock` (the source
/// then skips this commit and tries again later).
const FLUSH_WAIT: Duration = Duration::from_secs(2);

impl ProducerContext<NoCustomPartitioner> for LoggingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            tracing::error!(endpoint = %self.endpoint, "dead letter lost: {e}");
        }
    }
}

/// Sends every complete line written to it as a message.
struct DeadLetterTopic {
    producer: BaseProducer<LoggingContext>,
    topic: String,
    line: Vec<u8>,
}

/// Opens the dead-letter topic of source `source`.
pub(crate) fn open_dead_letter_topic(
    source: &str,
    spec: &ConnectorSpec,
) -> Result<Box<dyn Write + Send>, ConnectorError> {
    let endpoint = Endpoint::of("dead-letter topic of source", source, spec)?;
    let producer = producer_config(&endpoint.brokers)
        .create_with_context(LoggingContext::new(endpoint.clone()))
        .map_err(|e| endpoint.error(format!("cannot create the producer: {e}")))?;
    Ok(Box::new(DeadLetterTopic {
        producer,
        topic: endpoint.topic.clone(),
        line: Vec::new(),
    }))
}

impl DeadLetterTopic {
    fn send_line(&mut self) -> io::Result<()> {
        let mut record = BaseRecord::<(), [u8]>::to(&self.topic).payload(self.line.as_slice());
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((e, back)) => {
                    if !matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        return Err(io::Error::other(e));
                    }
                    record = back;
                    self.producer.poll(Duration::from_millis(50));
                }
            }
        }
        self.line.clear();
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
}

impl Write for DeadLetterTopic {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            self.send_line()?;
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    /// Waits (up to `FLUSH_WAIT`) until the broker acknowledged every dead letter.
    fn flush(&mut self) -> io::Result<()> {
        let started = Instant::now();
        while self.producer.in_flight_count() > 0 {
            if started.elapsed() > FLUSH_WAIT {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the broker has not acknowledged every dead letter yet",
                ));
            }
            self.producer.poll(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for DeadLetterTopic {
    fn drop(&mut self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}
