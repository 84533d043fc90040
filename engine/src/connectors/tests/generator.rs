use sluice_dsl::plan::{ConnectorSpec, DataType, GeneratorKind};

use super::*;
use crate::connectors::generator::geo_points::{EPOCH_MS, STEP_MS};
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

#[test]
fn nexmark_is_not_supported_yet() {
    let mut node = geo_node(10, 1, 0);
    node.connector = ConnectorSpec::Generator {
        kind: GeneratorKind::Nexmark,
        events: 10,
        rate: 0,
        seed: 0,
    };
    let h = Harness::new();
    let err = open_source_with(&node, h.ctx(0, 1, 4), ReadOptions::default()).err();
    assert!(matches!(err, Some(ConnectorError::Unsupported(m)) if m.contains("nexmark")));
}
