//! JSON Lines records to column buffers.
//!
//! Each line is one JSON object. Rather than building a `serde_json::Value` per line (a map and
//! a `String` per key and value), the object is walked with serde's visitor API: keys are
//! borrowed and looked up among the schema's columns, values go straight into the column
//! buffers, unknown keys are skipped with `IgnoredAny`. Nothing is allocated for a good line
//! whose strings have no escapes.
//!
//! Type rules: int columns take JSON integers; float columns any number; bool columns
//! `true`/`false`; string columns strings; timestamp columns an RFC 3339 string or integer epoch
//! ms; duration columns integer ms (or a string like `250ms`). A missing key or `null` is null,
//! malformed for a non-nullable column. A repeated key: the last value wins (like serde_json).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sluice_dsl::plan::{DataType, Field};

use super::super::columns::ColumnsBuilder;
use super::super::scalar::{self, shown};

/// Decodes JSON Lines records; reuses its buffers across records.
pub(crate) struct JsonlDecoder {
    seen: Vec<bool>,
}

impl JsonlDecoder {
    pub(crate) fn new(columns: usize) -> JsonlDecoder {
        JsonlDecoder {
            seen: vec![false; columns],
        }
    }

    /// Appends the record's values to `out` (uncommitted) or says why it is malformed.
    pub(crate) fn decode(&mut self, line: &[u8], out: &mut ColumnsBuilder) -> Result<(), String> {
        let text = std::str::from_utf8(line).map_err(|_| "invalid utf-8".to_string())?;
        if text.trim_start().as_bytes().first() != Some(&b'{') {
            return Err("not a JSON object".to_string());
        }
        self.seen.fill(false);
        let mut problem = None;
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = RowSeed {
            seen: &mut self.seen,
            out,
            problem: &mut problem,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(format!("invalid JSON: {e}"));
        }
        if let Some(problem) = problem {
            return Err(problem);
        }
        for (col, seen) in self.seen.iter().enumerate() {
            if !seen {
                let field = out.field(col);
                if !field.nullable {
                    return Err(format!("missing non-nullable column `{}`", field.name));
                }
                out.push_null(col);
            }
        }
        Ok(())
    }
}

/// The object of one line.
struct RowSeed<'a> {
    seen: &'a mut [bool],
    out: &'a mut ColumnsBuilder,
    /// The first value that did not fit its column.
    problem: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(col) = map.next_key_seed(KeySeed(self.out.fields()))? {
            let Some(col) = col else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if self.seen[col] {
                self.out.reset_current(col);
            }
            self.seen[col] = true;
            map.next_value_seed(ValueSeed {
                col,
                out: self.out,
                problem: self.problem,
            })?;
        }
        Ok(())
    }
}

/// A key: the index of the schema column of that name, if any.
struct KeySeed<'a>(&'a [Field]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|f| f.name == key))
    }
}

/// A value for column `col`.
struct ValueSeed<'a> {
    col: usize,
    out: &'a mut ColumnsBuilder,
    problem: &'a mut Option<String>,
}

impl ValueSeed<'_> {
    fn field(&self) -> &Field {
        self.out.field(self.col)
    }

    /// Records that the value (shown as JSON) does not fit the column.
    fn mismatch(self, shown_value: impl fmt::Display) {
        if self.problem.is_none() {
            let field = self.out.field(self.col);
            *self.problem = Some(format!(
                "invalid {} `{shown_value}` in column `{}`",
                field.ty.name(),
                field.name
            ));
        }
    }

    fn int(self, v: i64) {
        match self.field().ty {
            DataType::Int | DataType::Duration => self.out.push_i64(self.col, v),
            DataType::Timestamp | DataType::Date => {
                if !self.out.push_time_int(self.col, v) {
                    self.mismatch(v);
                }
            }
            DataType::Float => self.out.push_f64(self.col, v as f64),
            _ => self.mismatch(v),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        let field = self.field();
        if field.nullable {
            self.out.push_null(self.col);
        } else if self.problem.is_none() {
            *self.problem = Some(format!(
                "null value for non-nullable column `{}`",
                field.name
            ));
        }
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        if self.field().ty == DataType::Bool {
            self.out.push_bool(self.col, v);
        } else {
            self.mismatch(v);
        }
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.int(v);
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) if self.field().ty == DataType::Float => self.out.push_f64(self.col, v as f64),
            Err(_) if self.field().ty == DataType::Int && self.problem.is_none() => {
                *self.problem = Some(format!(
                    "int out of range `{v}` in column `{}`",
                    self.field().name
                ));
            }
            Err(_) => self.mismatch(v),
        }
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        match self.field().ty {
            DataType::Float => self.out.push_f64(self.col, v),
            // serde_json hands integers beyond u64 over as floats.
            DataType::Int if v.fract() == 0.0 && self.problem.is_none() => {
                *self.problem = Some(format!(
                    "int out of range `{v}` in column `{}`",
                    self.field().name
                ));
            }
            _ => self.mismatch(v),
        }
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        let parsed = match self.field().ty {
            DataType::String => {
                self.out.push_str(self.col, v);
                return Ok(());
            }
            DataType::Timestamp | DataType::Date => {
                if !self.out.push_time_text(self.col, v) {
                    self.mismatch(format!("{:?}", shown(v)));
                }
                return Ok(());
            }
            DataType::Duration => scalar::parse_duration(v),
            _ => None,
        };
        match parsed {
            Some(ms) => self.out.push_i64(self.col, ms),
            None => self.mismatch(format!("{:?}", shown(v))),
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.mismatch("{...}");
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.mismatch("[...]");
        Ok(())
    }
}
