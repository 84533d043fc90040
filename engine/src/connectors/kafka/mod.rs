//! `kafka(topic = ..., brokers = ..., group = ...)`: sources, sinks and dead-letter topics on
//! rdkafka (librdkafka, bundled and built from source).
//!
//! ```text
//! client.rs       client settings, the context that logs broker errors and reports lag
//! source.rs       one consumer per worker: partitions p with p % workers == worker,
//!                 offsets committed only once the sinks made the rows durable
//! decode.rs       message payload (json or csv) + key/timestamp columns -> Arrow batch
//! sink.rs         one producer per worker: a message per row, delivery tracked per time
//! dead_letter.rs  a dead-letter topic as an `io::Write` of JSON lines
//! ```
//!
//! Delivery guarantee: at-least-once (README, "Kafka"). A source commits the offset of a
//! message only after every sink has flushed, and Kafka has acknowledged, every row that the
//! message can still affect: the sinks hold back a "durable" frontier until then, and a
//! message sent at time `t` with event time `e` is covered once that frontier passes
//! `max(t, e + H)`, where `H` is the longest any stage of the plan holds a row (window sizes,
//! `within` of joins, `snapshot_every`; unbounded with session windows, whose offsets are then
//! committed only at a graceful stop).

mod client;
mod dead_letter;
mod decode;
mod sink;
mod source;

pub use client::BrokerError;
pub(crate) use dead_letter::open_dead_letter_topic;
pub(crate) use sink::KafkaSink;
pub(crate) use source::open_kafka_source;
