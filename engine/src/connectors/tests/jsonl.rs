use sluice_dsl::plan::{DataType, Format};

use super::*;

fn schema() -> Vec<Field> {
    vec![
        field("id", DataType::Int, false),
        field("name", DataType::String, false),
        field("score", DataType::Float, true),
        field("ts", DataType::Timestamp, false),
        field("ok", DataType::Bool, true),
    ]
}

/// (line, Some(reason) when it is dead-lettered)
const DIRTY: &[(&[u8], Option<&str>)] = &[
    (
        br#"{"id":1,"name":"a","score":1.5,"ts":"2013-01-01T05:00:00Z","ok":true}"#,
        None,
    ),
    (
        br#"  {"name":"b\"q\u00e9\n","id":2,"ts":1357016400000,"extra":{"x":[1,2]}}"#,
        None,
    ),
    (b"", None),
    (b"[1,2]", Some("not a JSON object")),
    (
        br#"{"id":3,"name":"c","ts":"2013-01-01T05:00:00Z""#,
        Some("invalid JSON: EOF while parsing an object at line 1 column 46"),
    ),
    (
        br#"{"id":"4","name":"d","ts":0}"#,
        Some("invalid int `\"4\"` in column `id`"),
    ),
    (
        br#"{"id":5,"ts":0}"#,
        Some("missing non-nullable column `name`"),
    ),
    (
        br#"{"id":6,"name":null,"ts":0}"#,
        Some("null value for non-nullable column `name`"),
    ),
    (
        br#"{"id":7,"name":"g","ts":"yesterday"}"#,
        Some("invalid timestamp `\"yesterday\"` in column `ts`"),
    ),
    (
        br#"{"id":1180591620717411303424,"name":"h","ts":0}"#,
        Some("int out of range `1180591620717411300000` in column `id`"),
    ),
    (
        br#"{"id":8,"name":"i","ts":0,"ok":"yes"}"#,
        Some("invalid bool `\"yes\"` in column `ok`"),
    ),
    (
        b"{\"id\":9,\"name\":\"\xff\",\"ts\":0}",
        Some("invalid utf-8"),
    ),
    (
        br#"{"id":10,"name":"j","ts":0} trailing"#,
        Some("invalid JSON: trailing characters at line 1 column 29"),
    ),
    (br#"{"id":11,"name":"k","ts":0,"score":2,"id":12}"#, None),
    (
        br#"{"id":1.5,"name":"l","ts":0}"#,
        Some("invalid int `1.5` in column `id`"),
    ),
    (
        br#"{"id":18446744073709551615,"name":"m","ts":0}"#,
        Some("int out of range `18446744073709551615` in column `id`"),
    ),
    (
        br#"{"id":13,"name":"n","ts":0,"score":[1]}"#,
        Some("invalid float `[...]` in column `score`"),
    ),
    (b"   ", Some("not a JSON object")),
    (
        br#"{"id":14,"name":"","ts":-1,"score":1.5e3,"ok":null}"#,
        None,
    ),
];

fn dirty_file(dir: &std::path::Path) -> String {
    let mut bytes = Vec::new();
    for (i, (line, _)) in DIRTY.iter().enumerate() {
        bytes.extend_from_slice(line);
        if i + 1 < DIRTY.len() {
            bytes.extend_from_slice(if i % 2 == 0 { b"\n" } else { b"\r\n" });
        }
    }
    write_file(dir, "dirty.jsonl", &bytes)
}

#[test]
fn dirty_jsonl_rows_and_dead_letters() {
    let dir = temp_dir("dirty_jsonl");
    let path = dirty_file(&dir);
    let node = file_source(&path, Format::Jsonl, schema());
    let expected_dead: Vec<Dead> = DIRTY
        .iter()
        .enumerate()
        .filter_map(|(i, (line, reason))| {
            reason.map(|r| dead(&format!("{path}:{}", i + 1), r, line))
        })
        .collect();
    let mut expected_rows = vec![
        "1|\"a\"|1.5|@1357016400000|true".to_string(),
        "2|\"b\\\"qé\\n\"|null|@1357016400000|null".to_string(),
        "12|\"k\"|2.0|@0|null".to_string(),
        "14|\"\"|1500.0|@-1|null".to_string(),
    ];
    expected_rows.sort();
    for workers in 1..=4 {
        for chunk in [16, 50, 1 << 20] {
            let out = read_all(&node, workers, chunk, 3);
            assert_eq!(
                out.sorted_rows(),
                expected_rows,
                "workers={workers} chunk={chunk}"
            );
            assert_eq!(out.dead, expected_dead, "workers={workers} chunk={chunk}");
            assert_eq!(out.empty_lines, 1);
            assert_eq!(out.records, 4);
        }
    }
}
