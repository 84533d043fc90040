//! One worker's Kafka consumer. Worker `w` of `n` (over all processes) reads the partitions
//! `p` with `p % n == w`, assigned by hand (no group rebalancing), from the group's committed
//! offset (else the earliest). Offsets are committed to the group only when the sinks have
//! made durable every row the messages can still affect (see `mod.rs`), at most once per
//! `commit_interval`, and once more when the reader closes. A `table` always reads its
//! partitions from the start (its state is the whole topic), whatever the group committed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice_dsl::plan::{ConnectorSpec, SourceNode};

use super::client::{Endpoint, LoggingContext, METADATA_TIMEOUT, base_config};
use super::decode::MessageDecoder;
use crate::connectors::{
    ConnectorError, FinalCommit, Pulled, SourceContext, SourceCounters, SourceReader,
};

/// One pull reads messages for at most this long.
const PULL_SLICE: Duration = Duration::from_millis(2);

/// A worker's reader of a `kafka(...)` source.
struct KafkaSource {
    consumer: BaseConsumer<LoggingContext>,
    reading: Reading,
}

/// Everything of a `KafkaSource` but its consumer (messages borrow the consumer).
struct Reading {
    endpoint: Endpoint,
    ctx: SourceContext,
    decoder: MessageDecoder,
    /// This worker's partitions, and per partition (same order) the next offset to read.
    partitions: Vec<i32>,
    next: Vec<i64>,
    /// `bounded`: per partition, the end offset seen at start (exclusive).
    end: Option<Vec<i64>>,
    /// Event time per partition (see `per_partition_event_time`).
    clock: PartitionClock,
    /// Partition (index into `partitions`) of each row of the batch being built.
    row_partitions: Vec<usize>,
    /// Positions after each batch sent and not yet durable, with its bound.
    pending: VecDeque<(u64, Vec<i64>)>,
    /// Positions whose rows are durable, and what the group has committed.
    committable: Vec<i64>,
    committed: Vec<i64>,
    commit_interval: Duration,
    last_commit: Instant,
    last_warning: Option<Instant>,
}

/// Opens worker `ctx.worker`'s consumer. Waits (with backoff, logging each attempt) while no
/// broker answers; a topic the broker does not have is an error.
pub(crate) fn open_kafka_source(
    node: &SourceNode,
    ctx: SourceContext,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let endpoint = Endpoint::of("source", &node.name, &node.connector)?;
    let group = match &node.connector {
        ConnectorSpec::Kafka { group, .. } => group.as_deref(),
        _ => None,
    };
    let (topic, brokers) = (&endpoint.topic.clone(), &endpoint.brokers.clone());
    // Only tables have a primary key.
    let is_table = !node.key.is_empty();
    let decoder = MessageDecoder::new(node, ctx.reserved_rows()).map_err(ConnectorError::Other)?;
    let mut config = base_config(brokers);
    config
        .set("group.id", group.unwrap_or("sluice"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Reports when a partition is caught up: it stops holding the watermark back.
        .set("enable.partition.eof", "true")
        // Consumer lag per partition for the metrics (`LoggingContext::stats`).
        .set("statistics.interval.ms", "1000");
    let consumer: BaseConsumer<LoggingContext> = config
        .create_with_context(LoggingContext::new(endpoint.clone()).with_lag(ctx.lag.clone()))
        .map_err(|e| endpoint.error(format!("cannot create the consumer: {e}")))?;

    let all = with_retry(&endpoint, "read the topic's partitions", || {
        partition_ids(&consumer, topic)
    })?;
    let partitions: Vec<i32> = all
        .into_iter()
        .filter(|p| (*p as usize) % ctx.workers == ctx.worker)
        .collect();
    let mut next = Vec::with_capacity(partitions.len());
    let mut end = node.kafka.bounded.then(Vec::new);
    if !partitions.is_empty() {
        let mut wanted = TopicPartitionList::new();
        for p in &partitions {
            wanted.add_partition(topic, *p);
        }
        let committed = with_retry(&endpoint, "read the group's committed offsets", || {
            consumer.committed_offsets(wanted.clone(), METADATA_TIMEOUT)
        })?;
        for p in &partitions {
            let (low, high) = with_retry(&endpoint, "read the partition offsets", || {
                consumer.fetch_watermarks(topic, *p, METADATA_TIMEOUT)
            })?;
            // A table is the whole topic replayed (Sluice keeps no state across runs): it
            // reads from the start; its committed offsets only report progress.
            let start = match committed.find_partition(topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) if !is_table => o.max(low),
                _ => low,
            };
            next.push(start);
            if let Some(end) = end.as_mut() {
                end.push(high);
            }
        }
        let mut assignment = TopicPartitionList::new();
        for (p, start) in partitions.iter().zip(&next) {
            assignment
                .add_partition_offset(topic, *p, Offset::Offset(*start))
                .map_err(|e| endpoint.error(e))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| endpoint.error(format!("cannot assign partitions: {e}")))?;
    }
    tracing::info!(%endpoint, worker = ctx.worker, ?partitions, ?next, "kafka source assigned");
    let clock = PartitionClock::new(partitions.len(), node.event_time);
    Ok(Box::new(KafkaSource {
        consumer,
        reading: Reading {
            endpoint,
            decoder,
            committable: next.clone(),
            committed: next.clone(),
            partitions,
            next,
            end,
            pending: VecDeque::new(),
            clock,
            row_partitions: Vec::new(),
            commit_interval: Duration::from_millis(node.kafka.commit_interval_ms.max(1) as u64),
            last_commit: Instant::now(),
            last_warning: None,
            ctx,
        },
    }))
}

/// The topic's partition ids; an error that is not worth retrying when the topic is unknown.
fn partition_ids(
    consumer: &BaseConsumer<LoggingContext>,
    topic: &str,
) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(Vec::new());
    };
    if let Some(e) = t.error() {
        return Err(KafkaError::MetadataFetch(e.into()));
    }
    Ok(t.partitions().iter().map(|p| p.id()).collect())
}

/// Runs `op` until it succeeds, backing off from 0.5 s to 10 s and logging each failure. An
/// unknown topic fails at once; a stop request (SIGTERM) ends the wait with an error.
fn with_retry<T>(
    endpoint: &Endpoint,
    what: &str,
    mut op: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, ConnectorError> {
    let mut delay = Duration::from_millis(500);
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if is_unknown_topic(&e) => {
                return Err(endpoint
                    .error(
                        "the topic does not exist (Sluice does not create topics: create it first)",
                    )
                    .into());
            }
            Err(e) => {
                if crate::stop::requested() {
                    return Err(endpoint
                        .error(format!("stopped while trying to {what}: {e}"))
                        .into());
                }
                tracing::warn!(
                    %endpoint,
                    "cannot {what}: {e}; is the broker up? retrying in {:.1}s",
                    delay.as_secs_f64()
                );
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn is_unknown_topic(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::UnknownTopicOrPartition | C::UnknownTopic)
    )
}

impl Reading {
    fn index_of(&self, partition: i32) -> Option<usize> {
        self.partitions.iter().position(|p| *p == partition)
    }

    fn finished(&self) -> bool {
        match &self.end {
            Some(end) => self.next.iter().zip(end).all(|(n, e)| n >= e),
            None => false,
        }
    }

    /// Logs at most one warning per 5 s (a broker that is down makes every poll fail).
    fn warn(&mut self, message: String) {
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            tracing::warn!(endpoint = %self.endpoint, "{message}");
            self.last_warning = Some(Instant::now());
        }
    }

    /// Decodes one message (or sends it to the dead letters). `Ok(false)` when the message
    /// lies past the end of a bounded partition.
    fn take(
        &mut self,
        partition: i32,
        offset: i64,
        payload: Option<&[u8]>,
        key: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<bool, ConnectorError> {
        let Some(i) = self.index_of(partition) else {
            return Ok(true);
        };
        if offset < self.next[i] || self.end.as_ref().is_some_and(|end| offset >= end[i]) {
            return Ok(false);
        }
        self.next[i] = offset + 1;
        SourceCounters::add(
            &self.ctx.counters.bytes,
            payload.map_or(0, |p| p.len() as u64),
        );
        self.clock.idle[i] = false;
        if let Err(reason) = self.decoder.decode(payload, key, timestamp) {
            let position = format!("{}/{partition}/{offset}", self.endpoint.topic);
            self.ctx
                .dead_letters
                .send(&reason, &position, payload.unwrap_or_default())
                .map_err(|source| ConnectorError::Io {
                    path: format!("dead letters of {}", self.endpoint),
                    source,
                })?;
        } else {
            self.row_partitions.push(i);
        }
        Ok(true)
    }
}

impl KafkaSource {
    /// Commits `committable` where it is ahead of `committed`, after flushing the dead
    /// letters (they are output too).
    fn commit(&mut self, mode: CommitMode) {
        let r = &mut self.reading;
        let mut list = TopicPartitionList::new();
        for ((p, want), have) in r.partitions.iter().zip(&r.committable).zip(&r.committed) {
            if want > have {
                let _ = list.add_partition_offset(&r.endpoint.topic, *p, Offset::Offset(*want));
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(e) = r.ctx.dead_letters.flush() {
            r.warn(format!(
                "not committing: the dead letters cannot be flushed: {e}"
            ));
            return;
        }
        match self.consumer.commit(&list, mode) {
            Ok(()) => r.committed.clone_from(&r.committable),
            Err(e) => r.warn(format!("cannot commit offsets (will retry): {e}")),
        }
    }
}

impl SourceReader for KafkaSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        loop {
            match self.pull()? {
                Pulled::Batch(b) => return Ok(Some(b)),
                Pulled::Done => return Ok(None),
                Pulled::Idle => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    fn pull(&mut self) -> Result<Pulled, ConnectorError> {
        let r = &mut self.reading;
        if r.partitions.is_empty() || crate::stop::requested() || r.finished() {
            return Ok(Pulled::Done);
        }
        let started = Instant::now();
        let before = r.next.clone();
        let batch_size = r.ctx.batch_size;
        while !r.decoder.is_full(batch_size) && started.elapsed() < PULL_SLICE {
            let message = match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    if let Some(i) = r.index_of(p) {
                        r.clock.idle[i] = true;
                    }
                    continue;
                }
                Some(Err(e)) => {
                    r.warn(format!("cannot fetch messages: {e}; retrying"));
                    break;
                }
                Some(Ok(m)) => m,
            };
            r.take(
                message.partition(),
                message.offset(),
                message.payload(),
                message.key(),
                message.timestamp().to_millis(),
            )?;
        }
        if r.decoder.rows() > 0 {
            SourceCounters::add(&r.ctx.counters.records, r.decoder.rows() as u64);
            let batch = r.decoder.finish();
            r.clock.observe(&batch, &r.row_partitions);
            r.row_partitions.clear();
            return Ok(Pulled::Batch(batch));
        }
        if r.next != before {
            // Only dead letters: covered as soon as they are flushed.
            r.pending.push_back((0, r.next.clone()));
        }
        Ok(if r.finished() {
            Pulled::Done
        } else {
            Pulled::Idle
        })
    }

    fn unbounded(&self) -> bool {
        true
    }

    fn caught_up(&self) -> bool {
        let r = &self.reading;
        let finished = |i: usize| r.end.as_ref().is_some_and(|end| r.next[i] >= end[i]);
        (0..r.partitions.len()).all(|i| r.clock.idle[i] || finished(i))
    }

    fn per_partition_event_time(&self) -> Option<Option<i64>> {
        let r = &self.reading;
        let finished: Vec<bool> = match &r.end {
            Some(end) => r.next.iter().zip(end).map(|(n, e)| n >= e).collect(),
            None => vec![false; r.partitions.len()],
        };
        Some(r.clock.low(&finished))
    }

    fn sent(&mut self, bound: u64) {
        let r = &mut self.reading;
        r.pending.push_back((bound, r.next.clone()));
    }

    fn durable(&mut self, frontier: Option<u64>) {
        let r = &mut self.reading;
        while let Some((bound, _)) = r.pending.front() {
            if frontier.is_some_and(|f| *bound >= f) {
                break;
            }
            let (_, positions) = r.pending.pop_front().expect("front exists");
            r.committable = positions;
        }
        if r.last_commit.elapsed() >= r.commit_interval {
            r.last_commit = Instant::now();
            self.commit(CommitMode::Async);
        }
    }

    fn close(mut self: Box<Self>) -> Option<FinalCommit> {
        if self.reading.partitions.is_empty() {
            return None;
        }
        Some(Box::new(move || {
            // Everything read was written: the run finished and its sinks are flushed.
            let r = &mut self.reading;
            r.committable.clone_from(&r.next);
            r.pending.clear();
            self.commit(CommitMode::Sync);
            let r = &self.reading;
            if r.committed == r.next {
                Ok(())
            } else {
                Err(r
                    .endpoint
                    .error("the last offsets could not be committed; a restart re-reads them")
                    .into())
            }
        }))
    }
}

/// The latest event time read from each partition, and which partitions are caught up. The
/// source's watermark follows the slowest partition that still has input, not the batches'
/// maximum: librdkafka hands out one partition's messages in long runs, so the latest event
/// time of a worker's batches says nothing about its other partitions.
struct PartitionClock {
    column: Option<usize>,
    latest: Vec<Option<i64>>,
    /// Caught up (end of partition reported): does not hold the watermark back until it has
    /// a new message. A message that then arrives behind the watermark is late.
    idle: Vec<bool>,
}

impl PartitionClock {
    fn new(partitions: usize, column: Option<usize>) -> PartitionClock {
        PartitionClock {
            column,
            latest: vec![None; partitions],
            idle: vec![false; partitions],
        }
    }

    fn observe(&mut self, batch: &RecordBatch, row_partitions: &[usize]) {
        use arrow_array::Array;
        use arrow_array::cast::AsArray;
        use arrow_array::types::TimestampMillisecondType;
        let Some(column) = self.column else {
            return;
        };
        let times = batch
            .column(column)
            .as_primitive::<TimestampMillisecondType>();
        for (row, p) in row_partitions.iter().enumerate() {
            if times.is_valid(row) {
                let t = times.value(row);
                let latest = &mut self.latest[*p];
                *latest = Some(latest.map_or(t, |l| l.max(t)));
            }
        }
    }

    /// The event time every partition with input left has reached: the minimum over the
    /// partitions that are neither finished nor caught up (`None` if one of them has given
    /// nothing yet); when all are caught up, the minimum over those that gave something.
    fn low(&self, finished: &[bool]) -> Option<i64> {
        let waiting = |i: &usize| !finished[*i] && !self.idle[*i];
        let active: Vec<usize> = (0..self.latest.len()).filter(waiting).collect();
        if active.is_empty() {
            return (0..self.latest.len())
                .filter(|i| !finished[*i])
                .filter_map(|i| self.latest[i])
                .min();
        }
        active.iter().map(|i| self.latest[*i]).min().flatten()
    }
}
