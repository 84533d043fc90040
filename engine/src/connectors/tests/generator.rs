use sluice_dsl::plan::{ConnectorSpec, DataType, GeneratorKind, NexmarkEvents};

use super::*;
use crate::connectors::generator::geo_points::{EPOCH_MS, STEP_MS};
use crate::connectors::generator::nexmark::{SEED_STRIDE_EVENTS, nexmark_config};
use crate::connectors::{ConnectorError, geo_point};

fn geo_node(events: u64, seed: u64, rate: u64) -> SourceNode {
    source(
        ConnectorSpec::Generator {
            kind: GeneratorKind::GeoPoints,
            events,
            rate,
            seed,
        },
        None,
        vec![
            field("id", DataType::Int, false),
            field("lat", DataType::Float, false),
            field("lon", DataType::Float, false),
            field("value", DataType::Float, false),
            field("event_time", DataType::Timestamp, false),
        ],
    )
}

#[test]
fn geo_points_are_the_same_for_any_worker_count() {
    let node = geo_node(1000, 7, 0);
    let one = read_all(&node, 1, 0, 64);
    let three = read_all(&node, 3, 0, 64);
    assert_eq!(one.rows.len(), 1000);
    assert_eq!(one.sorted_rows(), three.sorted_rows());
    assert_eq!(three.records, 1000);
    // With one worker, rows come in id (and event-time) order.
    for (i, row) in one.rows.iter().enumerate() {
        let fields: Vec<&str> = row.split('|').collect();
        assert_eq!(fields[0], i.to_string());
        assert_eq!(fields[4], format!("@{}", EPOCH_MS + i as i64 * STEP_MS));
    }
}

#[test]
fn geo_points_depend_on_the_seed() {
    let a = read_all(&geo_node(100, 7, 0), 1, 0, 64).rows;
    let b = read_all(&geo_node(100, 8, 0), 1, 0, 64).rows;
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert_eq!(same, 0);
    assert_eq!(geo_point(7, 5), geo_point(7, 5));
}

#[test]
fn geo_points_are_skewed_towards_cities() {
    let mut near = 0;
    let n = 20_000;
    for i in 0..n {
        let p = geo_point(42, i);
        assert!((-90.0..=90.0).contains(&p.lat));
        assert!((-180.0..180.0).contains(&p.lon));
        assert!((0.0..100.0).contains(&p.value));
        // Within 3 degrees of New York, London or Tokyo.
        if [(40.71, -74.01), (51.51, -0.13), (35.68, 139.69)]
            .iter()
            .any(|(la, lo)| (p.lat - la).abs() < 3.0 && (p.lon - lo).abs() < 3.0)
        {
            near += 1;
        }
    }
    // 70% * (16+14+13)% of the city weight, almost all within 3 sigma: about 30%.
    let share = near as f64 / n as f64;
    assert!((0.25..0.36).contains(&share), "{share}");
}

#[test]
fn geo_points_take_columns_by_name() {
    let mut node = geo_node(10, 1, 0);
    node.schema.fields.swap(0, 4);
    node.schema.fields.truncate(2);
    let out = read_all(&node, 2, 0, 4);
    assert_eq!(out.batches[0].schema().field(0).name(), "event_time");
    assert_eq!(out.rows.len(), 10);
    node.schema
        .fields
        .push(field("speed", DataType::Float, false));
    let h = Harness::new();
    let err = open_source_with(&node, h.ctx(0, 1, 4), ReadOptions::default()).err();
    assert!(matches!(err, Some(ConnectorError::Other(m)) if m.contains("`speed`")));
}

#[test]
fn geo_points_pace_to_the_rate() {
    let node = geo_node(200, 1, 2000);
    let start = std::time::Instant::now();
    let out = read_all(&node, 2, 0, 1000);
    assert_eq!(out.rows.len(), 200);
    // 200 records at 2000/s take about 0.1 s (each worker sleeps until its records are due).
    assert!(start.elapsed() >= std::time::Duration::from_millis(80));
}

fn nexmark_node(of: NexmarkEvents, events: u64, seed: u64, rate: u64) -> SourceNode {
    let schema = sluice_dsl::check::generator_schema(GeneratorKind::Nexmark(of));
    let mut node = source(
        ConnectorSpec::Generator {
            kind: GeneratorKind::Nexmark(of),
            events,
            rate,
            seed,
        },
        None,
        schema.fields,
    );
    node.name = of.name().into();
    node
}

#[test]
fn nexmark_kinds_partition_the_events_for_any_worker_count() {
    let events = 1234;
    let mut total = 0;
    for of in NexmarkEvents::ALL {
        let node = nexmark_node(of, events, 0, 0);
        let one = read_all(&node, 1, 0, 100);
        let three = read_all(&node, 3, 0, 100);
        assert_eq!(one.sorted_rows(), three.sorted_rows(), "{of:?}");
        assert_eq!(one.records, one.rows.len() as u64);
        // 1 : 3 : 46 of every 50 events; 1234 = 24 * 50 + 34.
        let expected = match of {
            NexmarkEvents::Person => 24 + 1,
            NexmarkEvents::Auction => 24 * 3 + 3,
            NexmarkEvents::Bid => 24 * 46 + 30,
        };
        assert_eq!(one.rows.len(), expected, "{of:?}");
        total += one.rows.len();
    }
    assert_eq!(total, events as usize);
}

#[test]
fn nexmark_follows_the_crate() {
    // Seed 0 is the crate's canonical sequence, with a fixed base time.
    let cfg = nexmark_config(0, 0);
    let mut expected = Vec::new();
    for e in nexmark::EventGenerator::new(cfg).take(200) {
        if let nexmark::event::Event::Bid(b) = e {
            expected.push(format!(
                "{}|{}|{}|{:?}|{:?}|@{}|{:?}",
                b.auction, b.bidder, b.price, b.channel, b.url, b.date_time, b.extra
            ));
        }
    }
    let got = read_all(&nexmark_node(NexmarkEvents::Bid, 200, 0, 0), 1, 0, 64).rows;
    assert_eq!(got, expected);
    // Persons and auctions refer to each other: the first person has id 1000, the first
    // auction's id is 1000, event times start at the base time and grow 0.1 ms per event.
    let persons = read_all(&nexmark_node(NexmarkEvents::Person, 200, 0, 0), 1, 0, 64).rows;
    assert!(persons[0].starts_with("1000|"), "{}", persons[0]);
    assert!(
        persons[0].contains(&format!("|@{EPOCH_MS}|")),
        "{}",
        persons[0]
    );
    let auctions = read_all(&nexmark_node(NexmarkEvents::Auction, 200, 0, 0), 1, 0, 64).rows;
    assert!(auctions[0].starts_with("1000|"), "{}", auctions[0]);
}

#[test]
fn nexmark_depends_on_the_seed_only() {
    let a = read_all(&nexmark_node(NexmarkEvents::Bid, 500, 7, 0), 1, 0, 64).rows;
    let b = read_all(&nexmark_node(NexmarkEvents::Bid, 500, 7, 0), 2, 0, 64).sorted_rows();
    let c = read_all(&nexmark_node(NexmarkEvents::Bid, 500, 8, 0), 1, 0, 64).rows;
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, b);
    let c: std::collections::HashSet<_> = c.into_iter().collect();
    assert!(a.iter().all(|r| !c.contains(r)));
    // Seed `s` is the window of event ids starting at `s * SEED_STRIDE_EVENTS`: person ids
    // start at that / 50 + 1000.
    let persons = read_all(&nexmark_node(NexmarkEvents::Person, 60, 7, 0), 1, 0, 64).rows;
    let first_id = 7 * SEED_STRIDE_EVENTS / 50 + 1000;
    assert!(
        persons[0].starts_with(&format!("{first_id}|")),
        "{}",
        persons[0]
    );
}

#[test]
fn nexmark_event_time_follows_the_rate() {
    // 2000 events/s: event `g` at g / 2 ms; paced, 500 events take about 0.25 s.
    let start = std::time::Instant::now();
    let persons = read_all(
        &nexmark_node(NexmarkEvents::Person, 500, 0, 2000),
        2,
        0,
        1000,
    );
    assert!(start.elapsed() >= std::time::Duration::from_millis(200));
    let mut rows = persons.sorted_rows();
    rows.sort_by_key(|r| r.split('|').next().unwrap().parse::<i64>().unwrap());
    // Person k is event 50 k.
    for (k, row) in rows.iter().enumerate() {
        let t = EPOCH_MS + (50 * k as i64) / 2;
        assert!(row.contains(&format!("|@{t}|")), "{row}");
    }
}

#[test]
fn nexmark_takes_columns_by_name() {
    let mut node = nexmark_node(NexmarkEvents::Auction, 100, 0, 0);
    node.schema.fields.reverse();
    node.schema.fields.truncate(3);
    let out = read_all(&node, 2, 0, 4);
    assert_eq!(out.batches[0].schema().field(0).name(), "extra");
    assert_eq!(out.batches[0].schema().field(2).name(), "seller");
    assert_eq!(out.rows.len(), 6);
    node.schema
        .fields
        .push(field("price", DataType::Int, false));
    let h = Harness::new();
    let err = open_source_with(&node, h.ctx(0, 1, 4), ReadOptions::default()).err();
    assert!(matches!(err, Some(ConnectorError::Other(m)) if m.contains("`price`")));
    let mut node = nexmark_node(NexmarkEvents::Bid, 100, 0, 0);
    node.schema.fields[0].ty = DataType::Float;
    let err = open_source_with(&node, h.ctx(0, 1, 4), ReadOptions::default()).err();
    assert!(matches!(err, Some(ConnectorError::Other(m)) if m.contains("is int, not float")));
}
