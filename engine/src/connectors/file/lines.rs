//! Streaming line splitting in bounded memory, and the byte-range split of a file over workers.
//!
//! A file of several GB is never read whole: a `LineReader` keeps one buffer of `chunk_size`
//! bytes (growing only to hold the longest line), finds line ends with `memchr`, and carries a
//! partial line over to the next read. Worker `w` of `n` owns the lines that *begin* in
//! `[w*len/n, (w+1)*len/n)`: it starts one byte before its range, drops the rest of that line,
//! and stops at the first line that begins at or after its range end. Every line belongs to
//! exactly one worker, whatever `n`, and no worker needs to look at another's bytes.
//!
//! Line numbers for dead letters must be absolute, but counting the newlines before a worker's
//! range costs a pass over those bytes, so it is done lazily (`LineBase`) on the first bad
//! record of a worker, never for clean input.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Default read size: large enough to amortise syscalls, small enough for many workers.
pub(crate) const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// The byte range `[start, end)` whose line starts worker `w` of `n` owns in a file of `len`
/// bytes. The last worker's end is open, so bytes appended while reading are not lost.
pub(crate) fn worker_range(len: u64, worker: usize, workers: usize) -> (u64, u64) {
    let at = |w: usize| ((u128::from(len) * w as u128) / workers.max(1) as u128) as u64;
    let end = if worker + 1 >= workers {
        u64::MAX
    } else {
        at(worker + 1)
    };
    (at(worker), end)
}

/// Splits a byte stream into lines (`\n`-terminated; a `\r` before it is left in the line for
/// the caller to strip, so that multi-line records can be rebuilt byte for byte).
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of the next line in `buf`.
    pos: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// `buf[pos..scanned]` is known to hold no `\n`.
    scanned: usize,
    eof: bool,
    /// Absolute stream offset of `buf[0]`.
    base: u64,
    /// No line beginning at or after this offset is returned.
    limit: u64,
}

impl<R: Read> LineReader<R> {
    /// `offset` is the absolute position `inner` is at; lines starting at `limit` or later
    /// are not this reader's.
    pub(crate) fn new(inner: R, chunk_size: usize, offset: u64, limit: u64) -> LineReader<R> {
        LineReader {
            inner,
            buf: vec![0; chunk_size.max(16)],
            pos: 0,
            end: 0,
            scanned: 0,
            eof: false,
            base: offset,
            limit,
        }
    }

    /// Absolute offset where the next line begins.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The next line without its `\n` (a trailing `\r` is kept), and the bytes it took up
    /// including the terminator. `None` at the end of the stream or of this reader's range.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(&[u8], usize)>> {
        if self.offset() >= self.limit {
            return Ok(None);
        }
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) {
                let start = self.pos;
                let nl = self.scanned + i;
                self.pos = nl + 1;
                self.scanned = self.pos;
                return Ok(Some((&self.buf[start..nl], nl + 1 - start)));
            }
            self.scanned = self.end;
            if self.eof {
                if self.pos == self.end {
                    return Ok(None);
                }
                let start = self.pos;
                self.pos = self.end;
                return Ok(Some((&self.buf[start..self.end], self.end - start)));
            }
            self.refill()?;
        }
    }

    /// Moves the partial line to the front of the buffer (growing it when the line fills it)
    /// and reads more.
    fn refill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.scanned -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Opens `path` positioned for worker `w` of `n`: the reader's first line is the first line
/// that begins at or after the worker's range start.
pub(crate) fn open_range(
    path: &Path,
    chunk_size: usize,
    worker: usize,
    workers: usize,
) -> io::Result<LineReader<File>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let (start, end) = worker_range(len, worker, workers);
    if start == 0 {
        return Ok(LineReader::new(file, chunk_size, 0, end));
    }
    file.seek(SeekFrom::Start(start - 1))?;
    let mut reader = LineReader::new(file, chunk_size, start - 1, end);
    // The rest of the line that holds byte `start - 1` (just its `\n` when a line begins
    // exactly at `start`) belongs to an earlier worker.
    reader.next_line()?;
    Ok(reader)
}

/// The absolute 0-based line index at which a reader started, computed on first use.
pub(crate) enum LineBase {
    Known(u64),
    /// Count the `\n` in `path` before byte `offset` when first asked.
    Lazy {
        path: PathBuf,
        offset: u64,
    },
}

impl LineBase {
    pub(crate) fn get(&mut self) -> io::Result<u64> {
        match self {
            LineBase::Known(n) => Ok(*n),
            LineBase::Lazy { path, offset } => {
                let n = count_newlines(path, *offset)?;
                *self = LineBase::Known(n);
                Ok(n)
            }
        }
    }
}

/// Number of `\n` bytes in the first `upto` bytes of the file.
fn count_newlines(path: &Path, upto: u64) -> io::Result<u64> {
    let mut file = File::open(path)?.take(upto);
    let mut buf = vec![0u8; 1 << 20];
    let mut count = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(count),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

/// The line without a trailing `\r`.
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    }
}
