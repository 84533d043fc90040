//! `sluice test`: runs a pipeline's `test` blocks on the same dataflow as `sluice run`.
//!
//! A test run differs from a run in three places only:
//! - every source reads in-memory rows (`connectors::memory`): the test's `given` rows for the
//!   sources it names, no rows for the others (and for tables). Sources keep their `event_time`
//!   and `max_out_of_order`, so windows close and late rows are late as in a run;
//! - there are no sinks: each expected stream is captured in memory (`capture_batches`), an
//!   `expect` of a sink captures the stream the sink writes;
//! - dead letters (malformed or late rows) go to memory and are shown with a failed test.
//!
//! Comparison is per expected stream, as multisets of rows, on the columns the `expect` rows
//! give. Values are equal when they are the same value (null equals null), except floats: equal
//! when `|a - b| <= 1e-9 * max(|a|, |b|)` (a relative tolerance of 1e-9; NaN equals NaN), so
//! results that differ only in summation order still match. Rows are matched exactly first, then
//! with the tolerance, greedily in the order given.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, DurationMillisecondType, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{Array, RecordBatch};
use sluice_dsl::plan::{DataType, InputRef, Schema, SourceNode, TestCase, Value};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::connectors::DeadLetterSink;
use crate::connectors::memory::open_memory;
use crate::dataflow::{self, BatchStream};
use crate::physical::PhysicalPlan;
use crate::run::{RunError, execute};
use crate::shared::{RunShared, SourceState};

/// Relative tolerance of float comparisons.
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// What one test produced, compared with what it expects.
#[derive(Clone, Debug)]
pub struct TestOutcome {
    /// One per `expect`, in the order of the test block.
    pub streams: Vec<StreamOutcome>,
    /// Sources that dead-lettered rows during the test (malformed or late rows).
    pub dead_letters: Vec<DeadLetters>,
}

/// One `expect`: the rows (only the compared columns) and which of them did not match.
#[derive(Clone, Debug)]
pub struct StreamOutcome {
    /// The stream's name (for an `expect` of a sink: the stream it writes).
    pub name: String,
    /// Names of the compared columns.
    pub columns: Vec<String>,
    pub expected: Vec<Vec<Value>>,
    pub actual: Vec<Vec<Value>>,
    /// Indices into `expected` of rows nothing produced.
    pub missing: Vec<usize>,
    /// Indices into `actual` of produced rows nothing expected.
    pub unexpected: Vec<usize>,
}

/// The dead letters of one source during a test, as JSON lines.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    pub source: String,
    pub lines: Vec<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.streams.iter().all(StreamOutcome::passed)
    }

    /// The diff of every failed stream and the dead letters, indented by two spaces; empty
    /// when the test passed.
    pub fn report(&self) -> String {
        if self.passed() {
            return String::new();
        }
        let mut out = String::new();
        for stream in self.streams.iter().filter(|s| !s.passed()) {
            out.push_str(&stream.diff());
        }
        for letters in &self.dead_letters {
            let _ = writeln!(
                out,
                "  note: source `{}` dead-lettered {} row(s):",
                letters.source,
                letters.lines.len()
            );
            for line in &letters.lines {
                let _ = writeln!(out, "    {}", dead_letter_summary(line));
            }
        }
        out
    }
}

impl StreamOutcome {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }

    /// A unified-diff-like listing: `--- expected` / `+++ produced` headers, then every row in
    /// value order, prefixed `-` (expected, not produced), `+` (produced, not expected) or a
    /// space (matched). Rows print in the language's literal syntax, indented by two spaces.
    pub fn diff(&self) -> String {
        let mut rows: Vec<(&[Value], u8)> = Vec::new();
        let missing = |i: &usize| self.missing.contains(i);
        for (i, row) in self.expected.iter().enumerate() {
            rows.push((row, if missing(&i) { b'-' } else { b' ' }));
        }
        for &i in &self.unexpected {
            rows.push((&self.actual[i], b'+'));
        }
        // Same rows together, `-` before `+` (so a changed row reads as a replaced line).
        rows.sort_by(|a, b| cmp_rows(a.0, b.0).then_with(|| sign_rank(a.1).cmp(&sign_rank(b.1))));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  stream `{}`: {} expected row(s) missing, {} unexpected row(s)",
            self.name,
            self.missing.len(),
            self.unexpected.len()
        );
        let _ = writeln!(out, "  --- expected `{}`", self.name);
        let _ = writeln!(out, "  +++ produced `{}`", self.name);
        for (row, sign) in rows {
            let _ = writeln!(out, "  {} {}", sign as char, show_row(&self.columns, row));
        }
        out
    }
}

fn sign_rank(sign: u8) -> u8 {
    match sign {
        b'-' => 0,
        b'+' => 2,
        _ => 1,
    }
}

/// `{ carrier: "AA", n: 1, total: 75.0 }`
pub fn show_row(columns: &[String], row: &[Value]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .zip(row)
        .map(|(c, v)| format!("{c}: {v}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

/// `late: {"carrier":"AA",...}` from a dead-letter JSON line (the line itself if it is not one).
fn dead_letter_summary(line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(v) => format!(
            "{}: {}",
            v["reason"].as_str().unwrap_or("?"),
            v["raw"].as_str().unwrap_or("?")
        ),
        Err(_) => line.to_string(),
    }
}

/// Runs one test of `plan` (see the module docs) on `plan.workers` workers.
pub fn run_test(plan: &PhysicalPlan, case: &TestCase) -> Result<TestOutcome, RunError> {
    let logical = &plan.logical;
    let nodes: Vec<&SourceNode> = logical.reads().collect();
    let mut given: Vec<Vec<Vec<Value>>> = vec![Vec::new(); nodes.len()];
    for (source, rows) in &case.given {
        given[*source].extend(rows.iter().cloned());
    }
    let letters: Vec<MemoryWriter> = nodes.iter().map(|_| MemoryWriter::default()).collect();
    let sources = nodes
        .iter()
        .zip(&letters)
        .map(|(node, writer)| {
            let sink = DeadLetterSink::new(&node.name, Box::new(writer.clone()));
            Some(SourceState::new(
                Arc::new(sink.with_path("memory")),
                plan.workers,
            ))
        })
        .collect();
    let shared = Arc::new(RunShared::new(plan, sources, Vec::new(), Instant::now()));

    let mut targets: Vec<InputRef> = Vec::new();
    for (input, _) in &case.expect {
        if !targets.contains(input) {
            targets.push(*input);
        }
    }
    let captures: Vec<Capture> = targets.iter().map(|_| Capture::default()).collect();

    let (worker_plan, worker_shared) = (Arc::new(plan.clone()), shared.clone());
    let (worker_targets, worker_captures, given) =
        (targets.clone(), captures.clone(), Arc::new(given));
    execute(
        plan.workers,
        &crate::cluster::ClusterSpec::single(),
        plan.stop_timeout,
        move |scope, worker, workers| {
            let open = |index: usize, node: &SourceNode, ctx| open_memory(node, &given[index], ctx);
            let built = dataflow::build_streams(
                scope,
                &worker_plan,
                &worker_shared,
                worker,
                workers,
                &open,
                None,
            );
            for (input, capture) in worker_targets.iter().zip(&worker_captures) {
                match built.input(input) {
                    Some(stream) => capture_batches(stream, capture.clone()),
                    None if worker == 0 => worker_shared.failures.record(
                        &format!("stream `{}`", worker_plan.logical.input_name(*input)),
                        "cannot be run in a test",
                    ),
                    None => {}
                }
            }
        },
    )?;
    let failures = shared.failures.take();
    if !failures.is_empty() {
        return Err(RunError::Failed(failures));
    }

    let mut streams = Vec::with_capacity(case.expect.len());
    for ((input, expected), columns) in case.expect.iter().zip(&case.expect_columns) {
        let schema = logical.input_schema(*input).expect("a checked input");
        let capture = &captures[targets.iter().position(|t| t == input).expect("captured")];
        let batches = capture.lock().unwrap_or_else(|e| e.into_inner());
        let mut actual = Vec::new();
        for batch in batches.iter() {
            let rows = batch_rows(batch, schema).map_err(|e| {
                RunError::Failed(vec![format!(
                    "stream `{}`: {e}",
                    logical.input_name(*input)
                )])
            })?;
            actual.extend(rows);
        }
        let pick = |row: &Vec<Value>| columns.iter().map(|&c| row[c].clone()).collect();
        let expected: Vec<Vec<Value>> = expected.iter().map(pick).collect();
        let actual: Vec<Vec<Value>> = actual.iter().map(pick).collect();
        let (missing, unexpected) = compare(&expected, &actual);
        streams.push(StreamOutcome {
            name: logical.input_name(*input).to_string(),
            columns: columns
                .iter()
                .map(|&c| schema.fields[c].name.clone())
                .collect(),
            expected,
            actual,
            missing,
            unexpected,
        });
    }
    let dead_letters = nodes
        .iter()
        .zip(&letters)
        .filter_map(|(node, writer)| {
            let text = writer.text();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            (!lines.is_empty()).then(|| DeadLetters {
                source: node.name.clone(),
                lines,
            })
        })
        .collect();
    Ok(TestOutcome {
        streams,
        dead_letters,
    })
}

/// Batches captured from one stream, from all workers.
type Capture = Arc<Mutex<Vec<RecordBatch>>>;

/// A sink-like operator that keeps every batch of `stream` in `capture`.
fn capture_batches(stream: BatchStream<'_>, capture: Capture) {
    stream.sink(Pipeline, "Capture", move |(input, _frontier)| {
        input.for_each(|_, data| {
            capture
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(data.drain(..));
        });
    });
}

/// Dead letters of a test: bytes in memory.
#[derive(Clone, Default)]
struct MemoryWriter(Arc<Mutex<Vec<u8>>>);

impl MemoryWriter {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rows of `batch` as values of `schema` (same columns, in order).
pub fn batch_rows(batch: &RecordBatch, schema: &Schema) -> Result<Vec<Vec<Value>>, String> {
    if batch.num_columns() != schema.fields.len() {
        return Err(format!(
            "a batch has {} columns, the schema {}",
            batch.num_columns(),
            schema.fields.len()
        ));
    }
    let mut rows = vec![Vec::with_capacity(schema.fields.len()); batch.num_rows()];
    for (field, array) in schema.fields.iter().zip(batch.columns()) {
        for (r, row) in rows.iter_mut().enumerate() {
            row.push(array_value(array.as_ref(), r, field.ty).ok_or_else(|| {
                format!(
                    "column `{}` is {}, not {}",
                    field.name,
                    array.data_type(),
                    field.ty.name()
                )
            })?);
        }
    }
    Ok(rows)
}

/// The value at `row` of `array`, an array of `ty`'s Arrow type (`None` when it is not).
fn array_value(array: &dyn Array, row: usize, ty: DataType) -> Option<Value> {
    if array.is_null(row) {
        return Some(Value::Null);
    }
    Some(match ty {
        DataType::Bool => Value::Bool(array.as_boolean_opt()?.value(row)),
        DataType::Int => Value::Int(array.as_primitive_opt::<Int64Type>()?.value(row)),
        DataType::Float => Value::Float(array.as_primitive_opt::<Float64Type>()?.value(row)),
        DataType::String => Value::String(array.as_string_opt::<i32>()?.value(row).to_string()),
        DataType::Timestamp => Value::Timestamp(
            array
                .as_primitive_opt::<TimestampMillisecondType>()?
                .value(row),
        ),
        DataType::Duration => Value::Duration(
            array
                .as_primitive_opt::<DurationMillisecondType>()?
                .value(row),
        ),
        DataType::Date => Value::Date(array.as_primitive_opt::<Date32Type>()?.value(row)),
    })
}

/// Whether two values are equal for a test (floats within `FLOAT_TOLERANCE`, relative).
pub fn values_match(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x == y
                || (x.is_nan() && y.is_nan())
                || (x - y).abs() <= FLOAT_TOLERANCE * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

fn rows_match(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_match(x, y))
}

/// Multiset comparison: (indices of `expected` rows without a partner in `actual`, indices of
/// `actual` rows without a partner in `expected`). Exact partners are paired first, then
/// partners within the float tolerance.
pub fn compare(expected: &[Vec<Value>], actual: &[Vec<Value>]) -> (Vec<usize>, Vec<usize>) {
    let mut used = vec![false; actual.len()];
    let mut paired = vec![false; expected.len()];
    for exact in [true, false] {
        for (e, row) in expected.iter().enumerate() {
            if paired[e] {
                continue;
            }
            let found = actual.iter().enumerate().position(|(a, other)| {
                !used[a]
                    && if exact {
                        row == other
                    } else {
                        rows_match(row, other)
                    }
            });
            if let Some(a) = found {
                used[a] = true;
                paired[e] = true;
            }
        }
    }
    let missing = (0..expected.len()).filter(|&e| !paired[e]).collect();
    let unexpected = (0..actual.len()).filter(|&a| !used[a]).collect();
    (missing, unexpected)
}

/// A total order on rows (for listing diffs): null first, then by value.
fn cmp_rows(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| cmp_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    use Value::*;
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Less,
        (_, Null) => Ordering::Greater,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Int(x), Int(y)) | (Timestamp(x), Timestamp(y)) | (Duration(x), Duration(y)) => x.cmp(y),
        (Date(x), Date(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.total_cmp(y),
        (String(x), String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EngineConfig, lower};

    const FLIGHTS: &str = r#"
source flights = file("does/not/exist.csv") as csv {
  schema { carrier: string  origin: string  dep_delay: float?  event_time: timestamp }
  event_time = event_time
}
source more = stdin as csv { schema { carrier: string  origin: string  dep_delay: float?  event_time: timestamp } }
stream late = flights | where dep_delay > 60.0
stream per_carrier = late | group by carrier | aggregate n = count(), total = sum(dep_delay)
stream hourly = flights | window tumbling(1h) | group by origin | aggregate flights = count()
stream both = union(flights, more) | select carrier
sink out = file("never/written.csv") as csv <- per_carrier
"#;

    fn plan(tests: &str, workers: usize) -> PhysicalPlan {
        let text = format!("{FLIGHTS}\n{tests}");
        let logical =
            sluice_dsl::compile(&text, "t", &|_| None).unwrap_or_else(|d| panic!("{d:#?}"));
        let config = EngineConfig {
            workers,
            batch_size: 2,
            ..EngineConfig::default()
        };
        lower(&logical, &config).unwrap_or_else(|d| panic!("{d:#?}"))
    }

    fn outcomes(tests: &str, workers: usize) -> Vec<TestOutcome> {
        let plan = plan(tests, workers);
        assert!(!plan.logical.tests.is_empty());
        plan.logical
            .tests
            .iter()
            .map(|case| run_test(&plan, case).expect("test runs"))
            .collect()
    }

    const ROWS: &str = r#"
  given flights = [
    { carrier: "AA", origin: "JFK", dep_delay: 75.0, event_time: @2013-01-01T05:00:00Z },
    { carrier: "AA", origin: "JFK", dep_delay: 3.0,  event_time: @2013-01-01T05:10:00Z },
    { carrier: "UA", origin: "EWR", dep_delay: 61.5, event_time: @2013-01-01T05:20:00Z },
    { carrier: "AA", origin: "LGA", dep_delay: 90.25, event_time: @2013-01-01T06:30:00Z },
    { carrier: "DL", origin: "JFK", dep_delay: null, event_time: @2013-01-01T06:40:00Z },
  ]"#;

    #[test]
    fn where_group_by_aggregate_and_window_pass_for_any_worker_count() {
        let tests = format!(
            r#"test "counts" {{ {ROWS}
  expect per_carrier = [ {{ carrier: "AA", n: 2, total: 165.25 }}, {{ carrier: "UA", n: 1, total: 61.5 }} ]
  expect hourly = [
    {{ origin: "JFK", window_start: @2013-01-01T05:00:00Z, window_end: @2013-01-01T06:00:00Z, flights: 2 }},
    {{ origin: "EWR", window_start: @2013-01-01T05:00:00Z, window_end: @2013-01-01T06:00:00Z, flights: 1 }},
    {{ origin: "LGA", window_start: @2013-01-01T06:00:00Z, window_end: @2013-01-01T07:00:00Z, flights: 1 }},
    {{ origin: "JFK", window_start: @2013-01-01T06:00:00Z, window_end: @2013-01-01T07:00:00Z, flights: 1 }},
  ]
  expect out = [ {{ carrier: "UA", n: 1 }}, {{ carrier: "AA", n: 2 }} ]
}}"#
        );
        for workers in [1, 3] {
            let outcome = &outcomes(&tests, workers)[0];
            assert!(outcome.passed(), "{workers} workers:\n{}", outcome.report());
            assert!(outcome.dead_letters.is_empty());
            assert_eq!(outcome.streams.len(), 3);
            assert_eq!(outcome.streams[2].columns, ["carrier", "n"]);
            assert_eq!(outcome.report(), "");
        }
    }

    #[test]
    fn a_failing_test_lists_missing_and_unexpected_rows() {
        let tests = format!(
            r#"test "wrong" {{ {ROWS}
  expect per_carrier = [ {{ carrier: "AA", n: 3, total: 165.25 }}, {{ carrier: "UA", n: 1, total: 61.5 }} ]
}}"#
        );
        let outcome = &outcomes(&tests, 2)[0];
        assert!(!outcome.passed());
        let stream = &outcome.streams[0];
        assert_eq!(stream.missing, [0]);
        assert_eq!(stream.unexpected.len(), 1);
        assert_eq!(
            stream.actual[stream.unexpected[0]],
            [
                Value::String("AA".into()),
                Value::Int(2),
                Value::Float(165.25)
            ]
        );
        assert_eq!(
            outcome.report(),
            "  stream `per_carrier`: 1 expected row(s) missing, 1 unexpected row(s)\n\
             \x20 --- expected `per_carrier`\n\
             \x20 +++ produced `per_carrier`\n\
             \x20 + { carrier: \"AA\", n: 2, total: 165.25 }\n\
             \x20 - { carrier: \"AA\", n: 3, total: 165.25 }\n\
             \x20   { carrier: \"UA\", n: 1, total: 61.5 }\n"
        );
    }

    #[test]
    fn sources_not_given_are_empty_and_late_rows_are_dead_letters_in_memory() {
        let tests = r#"test "late" {
  given flights = [
    { carrier: "AA", origin: "JFK", dep_delay: 1.0, event_time: @2013-01-01T07:10:00Z },
    { carrier: "AA", origin: "JFK", dep_delay: 2.0, event_time: @2013-01-01T05:10:00Z },
  ]
  expect hourly = [ { origin: "JFK", flights: 1 } ]
  expect both = [ { carrier: "AA" }, { carrier: "AA" } ]
  expect late = []
}"#;
        let outcome = &outcomes(tests, 2)[0];
        assert!(outcome.passed(), "{}", outcome.report());
        assert_eq!(outcome.dead_letters.len(), 1);
        assert_eq!(outcome.dead_letters[0].source, "flights");
        assert_eq!(outcome.dead_letters[0].lines.len(), 1);
        assert!(outcome.dead_letters[0].lines[0].contains(r#""reason":"late""#));
        assert!(!std::path::Path::new("dead_letters/t").exists());
        assert!(!std::path::Path::new("never").exists());
    }

    #[test]
    fn multisets_count_duplicates_and_floats_have_a_relative_tolerance() {
        let f = |x: f64| vec![Value::Float(x)];
        let (missing, unexpected) = compare(&[f(1.0), f(1.0)], &[f(1.0)]);
        assert_eq!((missing, unexpected), (vec![1], vec![]));
        let (missing, unexpected) = compare(&[f(0.3)], &[f(0.1 + 0.2)]);
        assert!(missing.is_empty() && unexpected.is_empty());
        assert!(values_match(
            &Value::Float(1e12),
            &Value::Float(1e12 + 1e-4)
        ));
        assert!(!values_match(&Value::Float(1.0), &Value::Float(1.0 + 1e-8)));
        assert!(values_match(
            &Value::Float(f64::NAN),
            &Value::Float(f64::NAN)
        ));
        assert!(!values_match(&Value::Float(0.0), &Value::Null));
        assert!(values_match(&Value::Null, &Value::Null));
        // An exact partner is not taken by a row that is only close.
        let close = 1.0 + 1e-12;
        let (missing, unexpected) = compare(&[f(close), f(1.0)], &[f(1.0), f(close)]);
        assert!(missing.is_empty() && unexpected.is_empty());
        let (missing, unexpected) = compare(&[f(2.0)], &[f(3.0)]);
        assert_eq!((missing, unexpected), (vec![0], vec![0]));
    }

    #[test]
    fn memory_rows_round_trip_through_arrow() {
        let plan = plan("", 1);
        let node = &plan.logical.sources[0];
        let rows = vec![
            vec![
                Value::String("AA".into()),
                Value::String("J\"FK".into()),
                Value::Float(-1.5),
                Value::Timestamp(1_356_998_400_000),
            ],
            vec![
                Value::String("UA".into()),
                Value::String("".into()),
                Value::Null,
                Value::Timestamp(0),
            ],
        ];
        let batch = crate::connectors::memory::rows_to_batch(node, &rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch_rows(&batch, &node.schema).unwrap(), rows);
        let empty = crate::connectors::memory::rows_to_batch(node, &[]).unwrap();
        assert_eq!(empty.num_rows(), 0);
        let wrong = vec![vec![Value::Int(1); 4]];
        assert!(crate::connectors::memory::rows_to_batch(node, &wrong).is_err());
        let names: Vec<String> = node.schema.names().map(str::to_string).collect();
        assert_eq!(
            show_row(&names, &rows[0]),
            r#"{ carrier: "AA", origin: "J\"FK", dep_delay: -1.5, event_time: @2013-01-01T00:00:00Z }"#
        );
    }
}
