//! Arrow batches on the wire: a serde wrapper that encodes a `RecordBatch` as Arrow IPC
//! stream bytes, so batches can cross timely exchanges between processes. Within one process
//! timely moves the value itself and never calls these.

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `RecordBatch` that timely can exchange.
#[derive(Clone, Debug, PartialEq)]
pub struct WireBatch(pub RecordBatch);

impl Serialize for WireBatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        let mut writer =
            StreamWriter::try_new(&mut bytes, &self.0.schema()).map_err(S::Error::custom)?;
        writer.write(&self.0).map_err(S::Error::custom)?;
        writer.finish().map_err(S::Error::custom)?;
        drop(writer);
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for WireBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireBatch, D::Error> {
        let bytes: Vec<u8> = serde::de::Deserialize::deserialize(deserializer)?;
        let mut reader =
            StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(D::Error::custom)?;
        match reader.next() {
            Some(batch) => batch.map(WireBatch).map_err(D::Error::custom),
            None => Err(D::Error::custom("empty Arrow IPC stream")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn round_trips_through_bincode_like_timely_does() {
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as _,
            ),
            (
                "x",
                Arc::new(Float64Array::from(vec![1.5, f64::NAN, -0.0])) as _,
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("é"), None, Some("")])) as _,
            ),
        ])
        .unwrap();
        let bytes = bincode::serialize(&WireBatch(batch.clone())).unwrap();
        let back: WireBatch = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.0.num_rows(), 3);
        assert_eq!(back.0.schema(), batch.schema());
        assert_eq!(
            format!("{:?}", back.0.columns()),
            format!("{:?}", batch.columns())
        );
    }
}
