use std::io::Cursor;

use sluice_dsl::plan::{DataType, Format};

use super::*;
use crate::connectors::file::lines::{LineReader, Stripes};

/// A csv of `n` records; every 37th is malformed, every 53rd line is empty, and a few carry
/// a long quoted note (longer than the small chunk sizes used).
fn big_csv(n: usize) -> (Vec<u8>, Vec<String>, Vec<u64>) {
    let mut bytes = b"id,note,x\n".to_vec();
    let mut rows = Vec::new();
    let mut bad_lines = Vec::new();
    let mut line = 1u64;
    for i in 0..n {
        line += 1;
        if i % 53 == 0 {
            bytes.extend_from_slice(b"\r\n");
            line += 1;
        }
        if i % 37 == 5 {
            bytes.extend_from_slice(format!("{i},bad,{i}x\n").as_bytes());
            bad_lines.push(line);
            continue;
        }
        let note = if i % 41 == 0 {
            format!("\"long, {}\"", "é".repeat(100 + i % 7))
        } else {
            format!("n{i}")
        };
        bytes.extend_from_slice(format!("{i},{note},{}.25\r\n", i * 3).as_bytes());
        let shown_note = note.trim_matches('"').to_string();
        rows.push(format!("{i}|{shown_note:?}|{:?}", i as f64 * 3.0 + 0.25));
    }
    rows.sort();
    (bytes, rows, bad_lines)
}

#[test]
fn worker_splits_give_the_same_rows_and_absolute_line_numbers() {
    let dir = temp_dir("split_big");
    let (bytes, rows, bad_lines) = big_csv(2000);
    let path = write_file(&dir, "big.csv", &bytes);
    let node = file_source(
        &path,
        Format::Csv,
        vec![
            field("x", DataType::Float, false),
            field("id", DataType::Int, false),
            field("note", DataType::String, false),
        ],
    );
    // Rows are printed in schema order: x, id, note.
    let expected: Vec<String> = {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| {
                let parts: Vec<&str> = r.splitn(3, '|').collect();
                format!("{}|{}|{}", parts[2], parts[0], parts[1])
            })
            .collect();
        v.sort();
        v
    };
    for workers in 1..=4 {
        for chunk in [64, 1000, 1 << 20] {
            let out = read_all(&node, workers, chunk, 100);
            assert_eq!(
                out.sorted_rows(),
                expected,
                "workers={workers} chunk={chunk}"
            );
            assert_eq!(
                out.dead_lines(),
                bad_lines,
                "workers={workers} chunk={chunk}"
            );
            assert!(
                out.dead
                    .iter()
                    .all(|d| d.reason.starts_with("invalid float `"))
            );
            assert_eq!(out.bytes, bytes.len() as u64);
            assert_eq!(out.records, expected.len() as u64);
        }
    }
}

#[test]
fn worker_stripes_tile_the_file() {
    for len in [0u64, 1, 7, 9, 1000] {
        for size in [1u64, 3, 8, 4096] {
            for n in 1..=5 {
                let mut all: Vec<(u64, u64)> =
                    (0..n).flat_map(|w| Stripes::of(len, size, w, n)).collect();
                all.sort();
                // Consecutive, from 0, the last one open-ended.
                let mut next = 0;
                for (start, end) in &all {
                    assert_eq!(*start, next, "len={len} size={size} n={n}");
                    next = *end;
                }
                assert_eq!(next, u64::MAX, "len={len} size={size} n={n}");
                // One range per worker (tables): ranges tile the file in worker order.
                let ranges: Vec<Vec<(u64, u64)>> = (0..n)
                    .map(|w| Stripes::range(len, w, n).collect())
                    .collect();
                let flat: Vec<(u64, u64)> = ranges.iter().flatten().copied().collect();
                assert!(ranges.iter().all(|r| r.len() <= 1), "len={len} n={n}");
                assert_eq!(flat.first().map(|r| r.0), Some(0), "len={len} n={n}");
                assert_eq!(flat.last().map(|r| r.1), Some(u64::MAX), "len={len} n={n}");
                assert!(flat.windows(2).all(|p| p[0].1 == p[1].0), "len={len} n={n}");
                // Worker w's stripes are every n-th, in order.
                for w in 0..n {
                    let starts: Vec<u64> = Stripes::of(len, size, w, n).map(|s| s.0).collect();
                    assert!(starts.windows(2).all(|p| p[1] == p[0] + size * n as u64));
                }
            }
        }
    }
}

#[test]
fn line_reader_carries_partial_lines_across_chunks() {
    let text = b"a\nbb\r\n\nccccccccccccccccccccccccccc\nlast".to_vec();
    for chunk in [1, 2, 3, 5, 16, 1024] {
        let mut reader = LineReader::new(Cursor::new(text.clone()), chunk, 0, u64::MAX);
        let mut lines = Vec::new();
        let mut consumed = 0;
        while let Some((line, n)) = reader.next_line().unwrap() {
            lines.push(line.to_vec());
            consumed += n;
        }
        let expected: Vec<&[u8]> =
            vec![b"a", b"bb\r", b"", b"ccccccccccccccccccccccccccc", b"last"];
        assert_eq!(lines, expected, "chunk={chunk}");
        assert_eq!(consumed, text.len());
    }
}

#[test]
fn line_reader_stops_at_its_limit() {
    // Lines start at 0, 2, 5; a limit of 5 keeps the first two.
    let mut reader = LineReader::new(Cursor::new(b"a\nbb\nccc\n".to_vec()), 4, 0, 5);
    assert_eq!(reader.next_line().unwrap().unwrap().0, b"a");
    assert_eq!(reader.next_line().unwrap().unwrap().0, b"bb");
    assert!(reader.next_line().unwrap().is_none());
}

#[test]
fn many_workers_on_a_tiny_file() {
    let dir = temp_dir("split_tiny");
    let path = write_file(&dir, "t.jsonl", b"{\"a\":1}\n{\"a\":2}");
    let node = file_source(&path, Format::Jsonl, vec![field("a", DataType::Int, false)]);
    for workers in 1..=8 {
        let out = read_all(&node, workers, 4, 1);
        assert_eq!(out.sorted_rows(), vec!["1", "2"], "workers={workers}");
    }
}
