//! `stdin as csv | jsonl` source. A pipe cannot be split by byte range, so worker 0 reads it
//! all with the same record loop as files (`file::TextSource`) and the other workers have no
//! share; a later `route` stage spreads the rows. Dead-letter positions are `stdin:<line>`.
//! (`stdout` is a sink target, see `sink.rs`.)

use std::io::Read;

use sluice_dsl::plan::{Format, SourceNode};

use super::file::csv_reader::CsvLayout;
use super::file::lines::{LineBase, LineReader, strip_cr};
use super::file::{Decoder, EmptySource, ReadOptions, TextSource, text_format};
use super::{ConnectorError, SourceContext, SourceCounters, SourceReader};

/// Label of stdin in dead-letter positions and messages.
pub const STDIN_LABEL: &str = "stdin";

/// Opens worker `ctx.worker`'s reader of a `stdin` source.
pub(crate) fn open_stdin(
    node: &SourceNode,
    ctx: SourceContext,
    opts: ReadOptions,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    if ctx.worker != 0 {
        return Ok(Box::new(EmptySource));
    }
    open_stream(node, ctx, opts, std::io::stdin(), STDIN_LABEL)
}

/// A source over any byte stream, read whole by the calling worker (stdin; tests use it with
/// in-memory input).
pub(crate) fn open_stream<R: Read + Send + 'static>(
    node: &SourceNode,
    ctx: SourceContext,
    opts: ReadOptions,
    input: R,
    label: &str,
) -> Result<Box<dyn SourceReader>, ConnectorError> {
    let format = text_format(node)?;
    let mut lines = LineReader::new(input, opts.chunk_size, 0, u64::MAX);
    let mut first_index = 0;
    let mut layout = None;
    if format == Format::Csv && node.header {
        let header = lines.next_line().map_err(|source| ConnectorError::Io {
            path: label.to_string(),
            source,
        })?;
        match header {
            Some((header, n)) => {
                layout = Some(CsvLayout::from_header(
                    strip_cr(header),
                    &node.schema,
                    label,
                )?);
                SourceCounters::add(&ctx.counters.bytes, n as u64);
                first_index = 1;
            }
            None => return Ok(Box::new(EmptySource)),
        }
    }
    let decoder = Decoder::new(format, layout, &node.schema);
    let multiline = format == Format::Csv && node.quoted_newlines;
    Ok(Box::new(TextSource::new(
        lines,
        decoder,
        node,
        ctx,
        label.to_string(),
        LineBase::from_start(),
        first_index,
        multiline,
    )))
}
