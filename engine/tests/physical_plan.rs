//! Golden text of the physical plan (`sluice explain`), and planning's refusals.

use sluice_dsl::plan::LogicalPlan;
use sluice_engine::{EngineConfig, lower};

fn compile(text: &str) -> LogicalPlan {
    sluice_dsl::compile(text, "test", &|_| None).unwrap_or_else(|d| panic!("{d:#?}"))
}

/// The default config with the GPU off, so the golden text does not depend on the machine
/// (GPU placement has its own tests in `gpu_placement.rs`).
fn off() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.gpu.mode = sluice_engine::config::GpuMode::Off;
    config
}

fn check(text: &str, workers: usize, expected: &str) {
    let config = EngineConfig { workers, ..off() };
    let physical = lower(&compile(text), &config).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(physical.to_string(), expected);
}

#[test]
fn filter_project_aggregate_union_and_fan_out() {
    check(
        r#"
source a = file("a.csv") as csv { schema { k: string  v: float? } }
source b = stdin as jsonl { schema { k: string  v: float? } }
stream both = union(a, b)
stream big = both | where v > 1.0 | select k, v2 = v * 2.0
stream per_k = big | group by k | aggregate n = count(), s = sum(v2)
stream total = big | aggregate n = count()
sink o1 = stdout as csv <- per_k
sink o2 = file("t.jsonl") as jsonl <- total
"#,
        3,
        "physical plan: workers=3 batch_size=8192
Read a: csv file \"a.csv\", 1 MiB stripes (byte ranges), stripe i to worker i % 3
Read b: jsonl stdin, read by worker 0
Union both <- a, b
Stream big <- both
  Filter: vectorised on Arrow kernels, per worker
  Project: 2 columns, vectorised, per worker
Stream per_k <- big
  PartialAggregate: 1 keys, 2 aggregates, per worker
  Exchange: hash(keys) % 3
  FinalAggregate: merge at owner when input is complete
Stream total <- big
  PartialAggregate: 0 keys, 1 aggregates, per worker
  Exchange: all partials to worker 0
  FinalAggregate: merge at owner when input is complete
Write o1 <- per_k: csv stdout, one encoder per worker, shared writer
Write o2 <- total: jsonl file \"t.jsonl\", one encoder per worker, shared writer
",
    );
}

#[test]
fn tables_are_arranged_once_and_joined_by_key() {
    check(
        r#"
source s = file("x.csv") as csv { schema { k: string  t: timestamp }  event_time = t }
table f = file("f.csv") as csv { schema { k: string  v: int? }  key = k }
table live = kafka(topic = "l", brokers = "b:1") as json { schema { k: string  v: int? }  key = k }
table versioned = kafka(topic = "v", brokers = "b:1", group = "g") as json {
  schema { k: string  v: int?  at: timestamp }
  key = k
  event_time = at
}
stream a = s | join f on k == f.k
stream b = s | left join live on k == live.k | left join versioned on k == versioned.k
sink o1 = stdout as csv <- a
sink o2 = stdout as csv <- b
"#,
        2,
        "physical plan: workers=2 batch_size=8192
Read s: csv file \"x.csv\", 1 MiB stripes (byte ranges), stripe i to worker i % 2
Read f: csv file \"f.csv\", 1 MiB stripes (byte ranges), stripe i to worker i % 2
Read live: jsonl kafka topic \"l\" on b:1, group \"sluice\", partitions p % 2 per worker, read from the start (a table), initial load at time 0, then updates at arrival
Read versioned: jsonl kafka topic \"v\" on b:1, group \"g\", partitions p % 2 per worker, read from the start (a table), versioned by event time
Stream a <- s
  ArrangeTable f: upserts by key, one arrangement partitioned by hash(key) % 2, shared by its joins
  KeyBy: stream rows to the key's owner, hash(key) % 2
  LookupJoin: each row sees the current table, rows held until its initial load is complete
Stream b <- s
  ArrangeTable live: upserts by key, one arrangement partitioned by hash(key) % 2, shared by its joins
  KeyBy: stream rows to the key's owner, hash(key) % 2
  LookupJoin (left): each row sees the current table, rows held until its initial load is complete
  ArrangeTable versioned: upserts by key, one arrangement partitioned by hash(key) % 2, shared by its joins
  KeyBy: stream rows to the key's owner, hash(key) % 2
  LookupJoin (left): temporal, each row sees the table as of its event time, held until the table's frontier passes it
Write o1 <- a: csv stdout, one encoder per worker, shared writer
Write o2 <- b: csv stdout, one encoder per worker, shared writer
",
    );
}

#[test]
fn everything_that_cannot_run_yet_is_reported_on_its_span() {
    let text = r#"
source s = file("x.csv") as csv { schema { a: int  t: timestamp }  event_time = t }
stream w = s | where a > 1 @gpu
sink o = stdout as csv <- w
table k = kafka(topic = "k", brokers = "b:1") as json { schema { a: int  v: int? }  key = a }
stream j = k | where a > 1
sink o2 = stdout as csv <- j
sink o3 = stdout as csv <- k
"#;
    let errors: Vec<_> = lower(&compile(text), &off())
        .unwrap_err()
        .into_iter()
        .filter(|d| d.code == "E0401")
        .collect();
    let messages: Vec<String> = errors.iter().map(|d| d.message.clone()).collect();
    assert_eq!(
        messages,
        [
            "reading a Kafka `table` as a stream cannot run in this version of the engine",
            "a sink reading a Kafka `table` cannot run in this version of the engine",
        ]
    );
    for (d, word) in errors.iter().zip(["stream j", "sink o3"]) {
        assert_eq!(d.code, "E0401");
        let spanned = &text[d.span.start..d.span.end];
        assert!(
            spanned.contains(word),
            "span of `{word}` covers {spanned:?}"
        );
    }
}

#[test]
fn a_global_top_and_an_interval_join_with_a_source_run() {
    check(
        r#"
source f = file("f.csv") as csv { schema { o: string  t: timestamp  d: int } event_time = t }
source w = file("w.csv") as csv { schema { o: string  t: timestamp  temp: int } event_time = t }
stream worst = f | top 3 by d desc
stream with_w = f | left join w on o == w.o within 1h
sink o1 = stdout as csv <- worst
sink o2 = stdout as csv <- with_w
"#,
        2,
        "physical plan: workers=2 batch_size=8192
Read f: csv file \"f.csv\", 1 MiB stripes (byte ranges), stripe i to worker i % 2
Read w: csv file \"w.csv\", 1 MiB stripes (byte ranges), stripe i to worker i % 2
Stream worst <- f
  KeyBy: every row to worker 0 (no `per`)
  Top: 3 best rows of the whole input, ranked, emitted when the input is complete
Stream with_w <- f
  KeyBy: both sides exchanged by hash(keys) % 2
  IntervalJoin (left) w: |t_left - t_right| <= 3600000 ms, state dropped once time + within < frontier
Write o1 <- worst: csv stdout, one encoder per worker, shared writer
Write o2 <- with_w: csv stdout, one encoder per worker, shared writer
",
    );
}
