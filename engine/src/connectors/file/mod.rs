//! `file("...") as csv | jsonl` sources: a file is split over the workers by byte range and
//! streamed in bounded memory (see `lines`). The same record loop (`TextSource`) serves stdin.
//!
//! A UTF-8 byte-order mark at the start of a file or stream is ignored.
//!
//! Malformed records never stop a source: each goes to the dead-letter sink with its reason,
//! its position `<path>:<line>` (1-based physical line, the header is line 1) and its bytes
//! without the line terminator, and the reader goes on with the next line.

pub(crate) mod csv_reader;
pub(crate) mod jsonl_reader;
pub(crate) mod lines;

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use sluice_dsl::plan::{ConnectorSpec, Format, SourceNode};

use self::csv_reader::{CsvDecoder, CsvLayout, quote_parity};
use self::jsonl_reader::JsonlDecoder;
use self::lines::{LineBase, LineReader, strip_cr};
use super::columns::ColumnsBuilder;
use super::{ConnectorError, SourceContext, SourceCounters, SourceReader};

/// A `quoted_newlines` record longer than this is taken for a broken quote: it is sent to the
/// dead letters and reading starts over at the next line (bounds memory on a stray quote).
const MAX_MULTILINE_RECORD: usize = 16 << 20;

/// Knobs of the text readers that the plan does not carry (tests use a tiny chunk size).
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Bytes per read (the line buffer grows past this only for longer lines).
    pub chunk_size: usize,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            chunk_size: lines::DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A reader with nothing to read (a worker without a share).
pub(crate) struct EmptySource;

impl SourceReader for EmptySource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        Ok(None)
    }
}

/// Opens worker `ctx.worker`'s reader of a `file(...)` source.
pub(crate) fn open_file(
    node: &SourceNode,
    ctx: SourceContext,
    opts: ReadOptions,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let ConnectorSpec::File { path } = &node.connector else {
        return Err(ConnectorError::Other(format!(
            "source `{}` is not a file source",
            node.name
        )));
    };
    let format = text_format(node)?;
    let path_buf = PathBuf::from(path);
    let open_err = |source| ConnectorError::Open {
        path: path.clone(),
        source,
    };
    let io_err = |source| ConnectorError::Io {
        path: path.clone(),
        source,
    };
    let csv_header = format == Format::Csv && node.header;
    let layout = if csv_header {
        let mut first = LineReader::new(
            File::open(&path_buf).map_err(open_err)?,
            opts.chunk_size.min(64 << 10),
            0,
            u64::MAX,
        );
        match first.next_line().map_err(io_err)? {
            Some((header, _)) => Some(CsvLayout::from_header(
                strip_cr(header),
                &node.schema,
                path,
            )?),
            // An empty file: no header, no records.
            None => return Ok(Box::new(EmptySource)),
        }
    } else {
        None
    };
    let multiline = format == Format::Csv && node.quoted_newlines;
    let mut lines = if multiline {
        // Record boundaries depend on every quote before them: one reader for the file.
        if ctx.worker != 0 {
            return Ok(Box::new(EmptySource));
        }
        let file = File::open(&path_buf).map_err(open_err)?;
        LineReader::new(file, opts.chunk_size, 0, u64::MAX)
    } else {
        // A table (it has a key) numbers its upserts in reading order: contiguous ranges.
        let contiguous = !node.key.is_empty();
        lines::open_striped(
            &path_buf,
            opts.chunk_size,
            ctx.worker,
            ctx.workers.max(1),
            contiguous,
        )
        .map_err(open_err)?
    };
    let start = lines.offset();
    let mut first_index = 0;
    if csv_header && start == 0 {
        // This worker owns line 1, the header: consume it.
        if let Some((_, n)) = lines.next_line().map_err(io_err)? {
            SourceCounters::add(&ctx.counters.bytes, n as u64);
            first_index = 1;
        }
    }
    let base = LineBase::of_file(path_buf, start);
    let decoder = Decoder::new(format, layout, &node.schema);
    Ok(Box::new(TextSource::new(
        lines,
        decoder,
        node,
        ctx,
        path.clone(),
        base,
        first_index,
        multiline,
    )))
}

/// The source's format; text connectors need one.
pub(crate) fn text_format(node: &SourceNode) -> Result<Format, ConnectorError> {
    node.format.ok_or_else(|| {
        ConnectorError::Other(format!(
            "source `{}` needs a format (`as csv` or `as jsonl`)",
            node.name
        ))
    })
}

/// A record decoder of either text format.
pub(crate) enum Decoder {
    Csv(CsvDecoder),
    Jsonl(JsonlDecoder),
}

impl Decoder {
    /// `layout` is the header's for csv with a header; `None` maps by position.
    pub(crate) fn new(
        format: Format,
        layout: Option<CsvLayout>,
        schema: &sluice_dsl::plan::Schema,
    ) -> Decoder {
        match format {
            Format::Csv => Decoder::Csv(CsvDecoder::new(
                layout.unwrap_or_else(|| CsvLayout::positional(schema)),
            )),
            Format::Jsonl => Decoder::Jsonl(JsonlDecoder::new(schema.fields.len())),
        }
    }

    pub(crate) fn decode(&mut self, record: &[u8], out: &mut ColumnsBuilder) -> Result<(), String> {
        match self {
            Decoder::Csv(d) => d.decode(record, out),
            Decoder::Jsonl(d) => d.decode(record, out),
        }
    }
}

/// Decodes records into the batch under construction, and sends the bad ones away.
struct RecordSink {
    decoder: Decoder,
    builder: ColumnsBuilder,
    ctx: SourceContext,
    /// Path (or `stdin`) for dead-letter positions.
    label: String,
    base: LineBase,
}

impl RecordSink {
    /// Decodes one record that starts at line index `index` (0-based, relative to `base`).
    fn record(&mut self, record: &[u8], index: u64) -> Result<(), ConnectorError> {
        match self.decoder.decode(record, &mut self.builder) {
            Ok(()) => {
                self.builder.commit_row();
                Ok(())
            }
            Err(reason) => {
                self.builder.rollback_row();
                self.dead_letter(&reason, record, index)
            }
        }
    }

    fn dead_letter(&mut self, reason: &str, raw: &[u8], index: u64) -> Result<(), ConnectorError> {
        let io_err = |source| ConnectorError::Io {
            path: self.label.clone(),
            source,
        };
        let line = self.base.get().map_err(io_err)? + index + 1;
        let position = format!("{}:{line}", self.label);
        self.ctx
            .dead_letters
            .send(reason, &position, raw)
            .map_err(|source| ConnectorError::Io {
                path: format!("dead letters of {}", self.label),
                source,
            })
    }
}

/// A `quoted_newlines` record being joined from several lines.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// Line index of its first line.
    index: u64,
    /// Inside a quoted field at the end of `buf`.
    open: bool,
}

impl Pending {
    /// Takes one physical line (with its `\r`, if any).
    fn push(
        &mut self,
        sink: &mut RecordSink,
        line: &[u8],
        index: u64,
    ) -> Result<(), ConnectorError> {
        let odd = quote_parity(line);
        if self.buf.is_empty() {
            self.index = index;
            self.open = odd;
        } else {
            self.buf.push(b'\n');
            self.open ^= odd;
        }
        self.buf.extend_from_slice(line);
        if !self.open {
            let result = sink.record(strip_cr(&self.buf), self.index);
            self.buf.clear();
            result
        } else if self.buf.len() > MAX_MULTILINE_RECORD {
            self.flush(sink, "unterminated quote (record longer than 16 MiB)")
        } else {
            Ok(())
        }
    }

    /// Sends an unfinished record to the dead letters.
    fn flush(&mut self, sink: &mut RecordSink, reason: &str) -> Result<(), ConnectorError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = sink.dead_letter(reason, strip_cr(&self.buf), self.index);
        self.buf.clear();
        result
    }
}

/// One worker's record loop over a line stream (a file range, or stdin).
pub(crate) struct TextSource<R> {
    lines: LineReader<R>,
    sink: RecordSink,
    /// Index (relative to the base) of the next line.
    next_index: u64,
    /// The next line is the first of the stream: drop a UTF-8 byte-order mark.
    at_start: bool,
    /// `quoted_newlines`: join lines while a quote is open.
    multiline: bool,
    pending: Pending,
    done: bool,
}

impl<R: Read + Send> TextSource<R> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        lines: LineReader<R>,
        decoder: Decoder,
        node: &SourceNode,
        ctx: SourceContext,
        label: String,
        base: LineBase,
        first_index: u64,
        multiline: bool,
    ) -> TextSource<R> {
        let builder =
            ColumnsBuilder::new(&node.schema, ctx.reserved_rows()).with_formats(&node.formats);
        TextSource {
            at_start: lines.offset() == 0 && first_index == 0,
            lines,
            sink: RecordSink {
                decoder,
                builder,
                ctx,
                label,
                base,
            },
            next_index: first_index,
            multiline,
            pending: Pending::default(),
            done: false,
        }
    }
}

impl<R: Read + Send> SourceReader for TextSource<R> {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let batch_size = self.sink.ctx.batch_size;
        let (mut bytes, mut empty) = (0u64, 0u64);
        let result = loop {
            if self.sink.builder.is_full(batch_size) {
                break Ok(());
            }
            match self.lines.next_stripe_if_done() {
                Ok(Some(start)) => {
                    self.next_index = 0;
                    self.sink.base.restart_at(start);
                }
                Ok(None) => {}
                Err(source) => {
                    break Err(ConnectorError::Io {
                        path: self.sink.label.clone(),
                        source,
                    });
                }
            }
            let next = match self.lines.next_line() {
                Ok(next) => next,
                Err(source) => {
                    break Err(ConnectorError::Io {
                        path: self.sink.label.clone(),
                        source,
                    });
                }
            };
            let Some((line, consumed)) = next else {
                self.done = true;
                break self.pending.flush(&mut self.sink, "unterminated quote");
            };
            let index = self.next_index;
            self.next_index += 1;
            bytes += consumed as u64;
            let line = if self.at_start {
                self.at_start = false;
                line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
            } else {
                line
            };
            let step = if self.multiline && (!self.pending.buf.is_empty() || quote_parity(line)) {
                self.pending.push(&mut self.sink, line, index)
            } else {
                let record = strip_cr(line);
                if record.is_empty() {
                    empty += 1;
                    Ok(())
                } else {
                    self.sink.record(record, index)
                }
            };
            if let Err(e) = step {
                break Err(e);
            }
        };
        let counters = &self.sink.ctx.counters;
        SourceCounters::add(&counters.bytes, bytes);
        SourceCounters::add(&counters.empty_lines, empty);
        result?;
        let rows = self.sink.builder.rows();
        if rows == 0 {
            return Ok(None);
        }
        SourceCounters::add(&counters.records, rows as u64);
        Ok(Some(self.sink.builder.finish()))
    }
}
