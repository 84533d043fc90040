//! CSV records to column buffers, with the language's rules (LANGUAGE.md, "Source settings").
//!
//! A record is one line (or, with `quoted_newlines`, lines joined until their quotes balance).
//! The fast path is a line without `"`: one `memchr2` pass finds the commas (bailing out at the
//! first quote), and only the columns the schema names are decoded, straight from the line's
//! bytes. Lines with quotes go through a small RFC 4180 splitter that unescapes `""` into a
//! scratch buffer; it knows whether a field was quoted (`""` is an empty *string*, not null) and
//! reports an unterminated quote, which csv-core cannot, so csv-core is not used here.

use sluice_dsl::plan::Schema;

use super::super::ConnectorError;
use super::super::columns::ColumnsBuilder;

/// Where each schema column is in a record.
#[derive(Clone, Debug)]
pub(crate) struct CsvLayout {
    /// Fields every record must have (the header's count, or the schema's without a header).
    pub(crate) field_count: usize,
    /// Schema column -> field index.
    pub(crate) column_field: Vec<usize>,
}

impl CsvLayout {
    /// Without a header, schema columns map by position and a record has exactly as many
    /// fields as the schema has columns.
    pub(crate) fn positional(schema: &Schema) -> CsvLayout {
        CsvLayout {
            field_count: schema.fields.len(),
            column_field: (0..schema.fields.len()).collect(),
        }
    }

    /// Maps schema columns by header name (the first header field of that name); header
    /// columns the schema does not name are ignored. A schema column missing from the header
    /// is a configuration error.
    pub(crate) fn from_header(
        header: &[u8],
        schema: &Schema,
        path: &str,
    ) -> Result<CsvLayout, ConnectorError> {
        let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header);
        let text = std::str::from_utf8(header).map_err(|_| {
            ConnectorError::Other(format!("the csv header of `{path}` is not valid UTF-8"))
        })?;
        let mut fields = Vec::new();
        let mut scratch = String::new();
        split_quoted(text, &mut fields, &mut scratch).map_err(|reason| {
            ConnectorError::Other(format!("the csv header of `{path}` is malformed: {reason}"))
        })?;
        let names: Vec<&str> = fields.iter().map(|f| &scratch[f.start..f.end]).collect();
        let column_field = schema
            .fields
            .iter()
            .map(|col| {
                names.iter().position(|n| *n == col.name).ok_or_else(|| {
                    ConnectorError::Other(format!(
                        "column `{}` of the schema is not in the csv header of `{path}` \
                         (header columns: {})",
                        col.name,
                        names.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CsvLayout {
            field_count: names.len(),
            column_field,
        })
    }
}

/// A field of a record: a byte range into the line (fast path) or into the scratch buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldRef {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) quoted: bool,
}

/// Decodes CSV records of one layout; reuses its buffers across records.
pub(crate) struct CsvDecoder {
    layout: CsvLayout,
    fields: Vec<FieldRef>,
    scratch: String,
}

impl CsvDecoder {
    pub(crate) fn new(layout: CsvLayout) -> CsvDecoder {
        CsvDecoder {
            fields: Vec::with_capacity(layout.field_count + 1),
            layout,
            scratch: String::new(),
        }
    }

    /// Appends the record's values to `out` (uncommitted) or says why it is malformed.
    pub(crate) fn decode(&mut self, record: &[u8], out: &mut ColumnsBuilder) -> Result<(), String> {
        let invalid = |_| "invalid utf-8".to_string();
        let src: &str = match split_plain(record, &mut self.fields) {
            Split::Ascii => {
                // SAFETY: `split_plain` saw every byte of `record` and found none >= 0x80;
                // ASCII is valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(record) }
            }
            Split::Plain => std::str::from_utf8(record).map_err(invalid)?,
            Split::Quoted => {
                let text = std::str::from_utf8(record).map_err(invalid)?;
                split_quoted(text, &mut self.fields, &mut self.scratch)?;
                &self.scratch
            }
        };
        if self.fields.len() != self.layout.field_count {
            return Err(format!(
                "expected {} fields, found {}",
                self.layout.field_count,
                self.fields.len()
            ));
        }
        for (col, &fi) in self.layout.column_field.iter().enumerate() {
            let f = self.fields[fi];
            out.push_text(col, &src[f.start..f.end], f.quoted)?;
        }
        Ok(())
    }
}

/// What `split_plain` found.
enum Split {
    /// Fields split; every byte is ASCII.
    Ascii,
    /// Fields split; some bytes are not ASCII (UTF-8 still to be checked).
    Plain,
    /// The record has a `"`: fields unspecified, use `split_quoted`.
    Quoted,
}

/// Splits a record without quotes at its commas, noting whether it is all ASCII (then it
/// needs no UTF-8 validation). Stops at the first `"`.
///
/// Delimiters are dense (every few bytes), where `memchr`'s per-call setup dominates; this
/// scans eight bytes at a time instead (SWAR: a word's comma and quote bytes become bit masks)
/// and walks the comma bits.
fn split_plain(bytes: &[u8], fields: &mut Vec<FieldRef>) -> Split {
    const COMMAS: u64 = u64::from_ne_bytes([b','; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const HIGH: u64 = 0x8080_8080_8080_8080;
    fields.clear();
    let mut start = 0;
    let mut high = 0u64;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("chunks of 8"));
        high |= w;
        if zero_bytes(w ^ QUOTES) != 0 {
            return Split::Quoted;
        }
        let mut commas = zero_bytes(w ^ COMMAS);
        while commas != 0 {
            let p = base + (commas.trailing_zeros() / 8) as usize;
            fields.push(FieldRef {
                start,
                end: p,
                quoted: false,
            });
            start = p + 1;
            commas &= commas - 1;
        }
        base += 8;
    }
    for (k, &c) in words.remainder().iter().enumerate() {
        high |= u64::from(c);
        if c == b'"' {
            return Split::Quoted;
        }
        if c == b',' {
            fields.push(FieldRef {
                start,
                end: base + k,
                quoted: false,
            });
            start = base + k + 1;
        }
    }
    fields.push(FieldRef {
        start,
        end: bytes.len(),
        quoted: false,
    });
    if high & HIGH == 0 {
        Split::Ascii
    } else {
        Split::Plain
    }
}

/// 0x80 in every byte of `x` that is zero, 0 elsewhere (exact: no false positives).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// RFC 4180 splitting of one record into `scratch` (all fields, unescaped). A field that
/// starts with `"` runs to the matching closing quote (`""` inside is one quote, commas and
/// line breaks are text); text between a closing quote and the next comma is kept as is
/// (lenient, like csv-core). A quote inside an unquoted field is an ordinary character.
pub(crate) fn split_quoted(
    text: &str,
    fields: &mut Vec<FieldRef>,
    scratch: &mut String,
) -> Result<(), String> {
    fields.clear();
    scratch.clear();
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        let start = scratch.len();
        let quoted = b.get(i) == Some(&b'"');
        if quoted {
            i += 1;
            loop {
                let Some(k) = memchr::memchr(b'"', &b[i..]) else {
                    return Err("unterminated quote".to_string());
                };
                scratch.push_str(&text[i..i + k]);
                i += k + 1;
                if b.get(i) == Some(&b'"') {
                    scratch.push('"');
                    i += 1;
                } else {
                    break;
                }
            }
        }
        let k = memchr::memchr(b',', &b[i..]).unwrap_or(b.len() - i);
        scratch.push_str(&text[i..i + k]);
        i += k;
        fields.push(FieldRef {
            start,
            end: scratch.len(),
            quoted,
        });
        if i >= b.len() {
            return Ok(());
        }
        i += 1; // the comma; a trailing comma starts one last, empty field
    }
}

/// Whether a record has an odd number of `"` so far, i.e. ends inside a quoted field
/// (`quoted_newlines` joins lines until this is false).
pub(crate) fn quote_parity(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'"', bytes).count() % 2 == 1
}
