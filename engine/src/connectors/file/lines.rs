//! Streaming line splitting in bounded memory, and the striped split of a file over workers.
//!
//! A file of several GB is never read whole: a `LineReader` keeps one buffer of `chunk_size`
//! bytes (growing only to hold the longest line), finds line ends with `memchr`, and carries a
//! partial line over to the next read.
//!
//! Workers take turns through the file stripe by stripe: stripe `k` is the bytes
//! `[k*S, (k+1)*S)` (`S` = the chunk size) and worker `k % n` owns the lines that *begin* in it.
//! For each of its stripes a worker seeks one byte before the stripe, drops the rest of that
//! line, and stops at the first line that begins at or after the stripe's end. Every line
//! belongs to exactly one worker, whatever `n`, and no worker needs to look at another's bytes.
//! Why stripes and not one contiguous range per worker: input files are usually roughly in
//! event-time order, and with contiguous ranges worker 1 would start in the middle of the time
//! range while worker 0 holds the watermark (the minimum over workers) at the beginning, so
//! every window the others open stays buffered until worker 0 catches up. With stripes all
//! workers move through time together.
//!
//! Line numbers for dead letters must be absolute, but counting the newlines before a stripe
//! costs a pass over those bytes, so it is done lazily (`LineBase`) on the first bad record of
//! a stripe, never for clean input, and counting only moves forward.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Default read size: large enough to amortise syscalls, small enough for many workers.
pub(crate) const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// Bytes read past a stripe's end at most per read, to finish the line that straddles it.
const READ_PAST_LIMIT: usize = 4 << 10;

/// Largest stripe: small enough that workers reading neighbouring stripes of a time-ordered
/// file stay close in event time (a stripe of the flights file is ~10 days), large enough that
/// the seek per stripe costs nothing.
fn stripe_size(chunk_size: usize) -> u64 {
    chunk_size.min(1 << 20) as u64
}

/// The stripes of one worker: global stripe indexes `first, first + step, ...` up to `last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stripes {
    /// Global index of the worker's next stripe.
    next: u64,
    /// Number of workers (the distance between a worker's stripes).
    step: u64,
    /// Stripe size in bytes.
    size: u64,
    /// Index of the file's last stripe; its end is open, so bytes appended while reading are
    /// not lost.
    last: u64,
}

impl Stripes {
    /// Worker `w` of `n`'s one contiguous range, `[w*len/n, (w+1)*len/n)`, the last one
    /// open-ended: for tables, whose upserts are numbered in each worker's reading order and
    /// must keep the last row of a key in file order.
    pub(crate) fn range(len: u64, worker: usize, workers: usize) -> Stripes {
        let n = workers.max(1) as u64;
        // One stripe of size ceil(len / n): worker w's range starts at w * size.
        let size = len.div_ceil(n).max(1);
        Stripes {
            next: worker as u64,
            step: n,
            size,
            last: n - 1,
        }
        .clamped(len)
    }

    /// Stripes that begin at or past `len` hold no line start, unless the file is empty and
    /// this is stripe 0 (whose open end reads what is appended).
    fn clamped(mut self, len: u64) -> Stripes {
        while self.last > 0 && self.last * self.size >= len {
            self.last -= 1;
        }
        self
    }

    /// Worker `w` of `n`'s stripes of size `size` over a file of `len` bytes.
    pub(crate) fn of(len: u64, size: u64, worker: usize, workers: usize) -> Stripes {
        let size = size.max(1);
        Stripes {
            next: worker as u64,
            step: workers.max(1) as u64,
            size,
            last: len.saturating_sub(1) / size,
        }
    }
}

impl Iterator for Stripes {
    /// The byte range `[start, end)` in which the worker owns the lines that begin.
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let k = self.next;
        if k > self.last {
            return None;
        }
        self.next += self.step;
        let end = if k == self.last {
            u64::MAX
        } else {
            (k + 1) * self.size
        };
        Some((k * self.size, end))
    }
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
    /// The stripes still to read after the current one, and how to seek to one (files only).
    stripes: Option<(Stripes, SeekFn<R>)>,
}

/// Moves a reader to an absolute offset (`Seek::seek` for files).
type SeekFn<R> = fn(&mut R, u64) -> io::Result<u64>;

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
            stripes: None,
        }
    }

    /// When the current stripe is done, moves to the next stripe that holds a line start and
    /// returns the offset of its first line (`None`: still in the stripe, or no stripes left).
    pub(crate) fn next_stripe_if_done(&mut self) -> io::Result<Option<u64>> {
        let mut jumped = None;
        while self.offset() >= self.limit {
            let Some((mut stripes, seek)) = self.stripes else {
                break;
            };
            let Some((start, end)) = stripes.next() else {
                break;
            };
            self.stripes = Some((stripes, seek));
            self.start_at(start, end, seek)?;
            jumped = Some(self.offset());
        }
        Ok(jumped)
    }

    /// Positions the reader on the first line that begins in `[start, end)` (or at `end`).
    fn start_at(&mut self, start: u64, end: u64, seek: SeekFn<R>) -> io::Result<()> {
        let from = start.saturating_sub(1);
        seek(&mut self.inner, from)?;
        (self.pos, self.end, self.scanned, self.eof) = (0, 0, 0, false);
        self.base = from;
        self.limit = end;
        if start > 0 {
            // The rest of the line that holds byte `start - 1` (just its `\n` when a line
            // begins exactly at `start`) belongs to an earlier stripe.
            self.next_line()?;
        }
        Ok(())
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
        // Near a stripe's end, read little past it: those bytes are another worker's.
        let want = match self.limit {
            u64::MAX => usize::MAX,
            limit => usize::try_from(limit.saturating_sub(self.base + self.end as u64))
                .unwrap_or(usize::MAX)
                .saturating_add(READ_PAST_LIMIT),
        };
        let read_end = self.buf.len().min(self.end.saturating_add(want));
        loop {
            match self.inner.read(&mut self.buf[self.end..read_end]) {
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

/// Opens `path` for worker `w` of `n`, positioned on the first line of the worker's first
/// stripe of `chunk_size` bytes (see the module doc), or of its one range when `contiguous`;
/// [`LineReader::next_stripe_if_done`] moves on to the next.
pub(crate) fn open_striped(
    path: &Path,
    chunk_size: usize,
    worker: usize,
    workers: usize,
    contiguous: bool,
) -> io::Result<LineReader<File>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut stripes = if contiguous {
        Stripes::range(len, worker, workers)
    } else {
        Stripes::of(len, stripe_size(chunk_size), worker, workers)
    };
    let seek: SeekFn<File> = |f, at| f.seek(SeekFrom::Start(at));
    let mut reader = LineReader::new(file, chunk_size, 0, 0);
    if let Some((start, end)) = stripes.next() {
        reader.stripes = Some((stripes, seek));
        reader.start_at(start, end, seek)?;
    }
    Ok(reader)
}

/// The absolute 0-based line index at which the current stripe's lines start, computed on
/// first use; counting moves forward only, so one worker counts each byte at most once.
pub(crate) struct LineBase {
    /// `None` for a stream that is read from its start (stdin).
    path: Option<PathBuf>,
    /// `\n` bytes before `counted_to`.
    newlines: u64,
    counted_to: u64,
    /// Offset of the current stripe's first line.
    start: u64,
    known: Option<u64>,
}

impl LineBase {
    /// Lines of a stream read from its start.
    pub(crate) fn from_start() -> LineBase {
        LineBase {
            path: None,
            newlines: 0,
            counted_to: 0,
            start: 0,
            known: Some(0),
        }
    }

    /// Lines of `path` whose first line begins at byte `start`.
    pub(crate) fn of_file(path: PathBuf, start: u64) -> LineBase {
        let mut base = LineBase {
            path: Some(path),
            ..LineBase::from_start()
        };
        base.restart_at(start);
        base
    }

    /// The next lines begin at byte `start` (not before the previous start).
    pub(crate) fn restart_at(&mut self, start: u64) {
        self.start = start;
        self.known = (start == 0).then_some(0);
    }

    pub(crate) fn get(&mut self) -> io::Result<u64> {
        if let Some(n) = self.known {
            return Ok(n);
        }
        let path = self
            .path
            .as_deref()
            .expect("a stream read from its start knows its base");
        self.newlines += count_newlines(path, self.counted_to, self.start)?;
        self.counted_to = self.start;
        self.known = Some(self.newlines);
        Ok(self.newlines)
    }
}

/// Number of `\n` bytes in `[from, upto)` of the file.
fn count_newlines(path: &Path, from: u64, upto: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut file = file.take(upto.saturating_sub(from));
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
