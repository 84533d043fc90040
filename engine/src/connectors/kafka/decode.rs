//! Kafka messages to Arrow rows: the payload is one record in the source's format (a JSON
//! object for `as json`, one CSV record without header for `as csv`, mapped by position), and
//! the schema columns named by `key_column` / `timestamp_column` come from the message key
//! (UTF-8) and timestamp instead of the payload.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use sluice_dsl::plan::{DataType, Field, Schema, SourceNode};

use crate::arrow_schema_map::arrow_schema;
use crate::connectors::columns::ColumnsBuilder;
use crate::connectors::file::Decoder;

/// Where a schema column's values come from.
#[derive(Clone, Copy)]
enum Origin {
    /// The n-th payload column.
    Payload(usize),
    /// The n-th metadata column (key, then timestamp).
    Meta(usize),
}

/// Decodes one worker's messages into batches of the source's schema.
pub(crate) struct MessageDecoder {
    decoder: Decoder,
    payload: ColumnsBuilder,
    meta: ColumnsBuilder,
    origins: Vec<Origin>,
    has_key: bool,
    has_timestamp: bool,
    schema: SchemaRef,
}

impl MessageDecoder {
    pub(crate) fn new(node: &SourceNode, capacity: usize) -> Result<MessageDecoder, String> {
        let format = node
            .format
            .ok_or_else(|| format!("source `{}` needs `as json` or `as csv`", node.name))?;
        let key = node.kafka.key_column;
        let timestamp = node.kafka.timestamp_column;
        let mut payload_fields: Vec<Field> = Vec::new();
        let mut meta_fields: Vec<Field> = Vec::new();
        let mut payload_formats = Vec::new();
        let mut origins = Vec::with_capacity(node.schema.fields.len());
        // Metadata columns in a fixed order: key first, then timestamp.
        for (which, column) in [key, timestamp].into_iter().enumerate() {
            if let Some(c) = column {
                let f = &node.schema.fields[c];
                let ty = if which == 0 {
                    DataType::String
                } else {
                    DataType::Timestamp
                };
                meta_fields.push(Field::new(&f.name, ty, f.nullable));
            }
        }
        for (i, f) in node.schema.fields.iter().enumerate() {
            if Some(i) == key {
                origins.push(Origin::Meta(0));
            } else if Some(i) == timestamp {
                origins.push(Origin::Meta(usize::from(key.is_some())));
            } else {
                origins.push(Origin::Payload(payload_fields.len()));
                payload_fields.push(f.clone());
                payload_formats.push(node.formats.get(i).cloned().flatten());
            }
        }
        let payload_schema = Schema::new(payload_fields);
        Ok(MessageDecoder {
            decoder: Decoder::new(format, None, &payload_schema),
            payload: ColumnsBuilder::new(&payload_schema, capacity).with_formats(&payload_formats),
            meta: ColumnsBuilder::new(&Schema::new(meta_fields), capacity),
            origins,
            has_key: key.is_some(),
            has_timestamp: timestamp.is_some(),
            schema: arrow_schema(&node.schema),
        })
    }

    /// Appends one message as a row, or says why it is malformed (nothing is appended then).
    pub(crate) fn decode(
        &mut self,
        payload: Option<&[u8]>,
        key: Option<&[u8]>,
        timestamp_ms: Option<i64>,
    ) -> Result<(), String> {
        let Some(payload) = payload else {
            return Err("message without payload".to_string());
        };
        if let Err(reason) = self.decoder.decode(payload, &mut self.payload) {
            self.payload.rollback_row();
            return Err(reason);
        }
        let mut col = 0;
        let mut fail = None;
        if self.has_key {
            match key.map(std::str::from_utf8) {
                Some(Ok(k)) => self.meta.push_str(col, k),
                Some(Err(_)) => fail = Some("message key is not valid utf-8".to_string()),
                None if self.meta.field(col).nullable => self.meta.push_null(col),
                None => fail = Some("message without key (the key column is not nullable)".into()),
            }
            col += 1;
        }
        if self.has_timestamp && fail.is_none() {
            match timestamp_ms {
                Some(ms) => self.meta.push_i64(col, ms),
                None if self.meta.field(col).nullable => self.meta.push_null(col),
                None => fail = Some("message without timestamp".to_string()),
            }
        }
        if let Some(reason) = fail {
            self.payload.rollback_row();
            self.meta.rollback_row();
            return Err(reason);
        }
        self.payload.commit_row();
        self.meta.commit_row();
        Ok(())
    }

    pub(crate) fn rows(&self) -> usize {
        self.payload.rows()
    }

    pub(crate) fn is_full(&self, batch_size: usize) -> bool {
        self.payload.is_full(batch_size)
    }

    /// The rows decoded so far as one batch of the source's schema.
    pub(crate) fn finish(&mut self) -> RecordBatch {
        let payload = self.payload.finish();
        let meta = self.meta.finish();
        let columns: Vec<ArrayRef> = self
            .origins
            .iter()
            .map(|origin| match *origin {
                Origin::Payload(i) => Arc::clone(payload.column(i)),
                Origin::Meta(i) => Arc::clone(meta.column(i)),
            })
            .collect();
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(payload.num_rows())),
        )
        .expect("columns follow the schema by construction")
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, TimestampMillisecondType};
    use sluice_dsl::ast::Span;
    use sluice_dsl::plan::{ConnectorSpec, Format, KafkaOptions, TimeFormat};

    use super::*;

    /// Formats follow their columns past the key column, which is not in the payload.
    #[test]
    fn payload_columns_keep_their_formats() {
        let fields = vec![
            Field::new("k", DataType::String, false),
            Field::new("at", DataType::Timestamp, false),
            Field::new("day", DataType::Date, true),
        ];
        let node = SourceNode {
            name: "s".into(),
            connector: ConnectorSpec::Kafka {
                topic: "t".into(),
                brokers: "b".into(),
                group: None,
            },
            format: Some(Format::Jsonl),
            formats: vec![
                None,
                Some(TimeFormat::parse("%d/%m/%Y %H:%M").unwrap()),
                Some(TimeFormat::EpochS),
            ],
            schema: Schema::new(fields),
            header: false,
            quoted_newlines: false,
            event_time: None,
            max_out_of_order: 0,
            dead_letter: None,
            key: vec![],
            kafka: KafkaOptions {
                key_column: Some(0),
                ..KafkaOptions::default()
            },
            span: Span::default(),
        };
        let mut d = MessageDecoder::new(&node, 4).unwrap();
        d.decode(
            Some(br#"{"at":"01/01/2013 05:00","day":-1}"#),
            Some(b"a"),
            None,
        )
        .unwrap();
        let bad = d.decode(Some(br#"{"at":"2013-01-01T05:00:00Z"}"#), Some(b"b"), None);
        assert_eq!(
            bad.unwrap_err(),
            "invalid timestamp `\"2013-01-01T05:00:00Z\"` in column `at`"
        );
        let batch = d.finish();
        assert_eq!(batch.num_rows(), 1);
        let at = batch.column(1).as_primitive::<TimestampMillisecondType>();
        assert_eq!(at.value(0), 1_357_016_400_000);
        // -1 s since the epoch is on 1969-12-31.
        assert_eq!(batch.column(2).as_primitive::<Date32Type>().value(0), -1);
    }
}
