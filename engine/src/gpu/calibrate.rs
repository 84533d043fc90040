//! Start-up calibration for `gpu.mode = auto`: a representative fused chain (a float filter
//! and three computed columns over two float and one int column) timed on the CPU evaluator
//! and on the GPU, transfers included, at a few batch sizes. The smallest size at which the
//! GPU was faster becomes the offload threshold; if it never was, `auto` stays on the CPU.
//! Run once per process (a few ms on a real GPU, tens of ms on lavapipe).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::{DataType, Field, Schema, TExpr, TypedExpr, Value};

use super::Gpu;
use super::chain::{ChainError, GpuChain};
use super::codegen::ChainOp;
use crate::arrow_schema_map::arrow_schema;

/// Batch sizes measured (rows).
pub const SIZES: [usize; 3] = [8_192, 65_536, 524_288];

#[derive(Clone, Debug)]
pub struct Point {
    pub rows: usize,
    pub cpu: Duration,
    pub gpu: Duration,
}

#[derive(Clone, Debug)]
pub struct Calibration {
    pub points: Vec<Point>,
    /// Smallest measured batch size at which the GPU won; `None`: it never did.
    pub min_rows: Option<usize>,
}

impl std::fmt::Display for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.min_rows {
            Some(rows) => write!(f, "GPU faster from {rows} rows per batch")?,
            None => write!(f, "CPU faster at every measured size")?,
        }
        let points: Vec<String> = self
            .points
            .iter()
            .map(|p| {
                format!(
                    "{} rows: cpu {:.2} ms, gpu {:.2} ms",
                    p.rows,
                    p.cpu.as_secs_f64() * 1e3,
                    p.gpu.as_secs_f64() * 1e3
                )
            })
            .collect();
        write!(f, " ({})", points.join("; "))
    }
}

/// The process's calibration, measured on the first call.
pub fn shared(gpu: &'static Gpu) -> Result<Calibration, String> {
    static DONE: OnceLock<Result<Calibration, String>> = OnceLock::new();
    DONE.get_or_init(|| measure(gpu).map_err(|e| e.to_string()))
        .clone()
}

fn te(kind: TExpr, ty: DataType) -> TypedExpr {
    TypedExpr {
        kind,
        ty,
        nullable: true,
    }
}

fn col(i: usize, name: &str, ty: DataType) -> TypedExpr {
    te(TExpr::Column(i, name.into()), ty)
}

fn bin(op: BinaryOp, l: TypedExpr, r: TypedExpr, ty: DataType) -> TypedExpr {
    te(TExpr::Binary(op, Box::new(l), Box::new(r)), ty)
}

fn float(v: f64) -> TypedExpr {
    te(TExpr::Literal(Value::Float(v)), DataType::Float)
}

/// `where x * 2.0 + 1.0 > y | select x, z = x * y - 1.0, a2 = a + 1, w = x / y`.
fn stages() -> Vec<(ChainOp, arrow_schema::SchemaRef)> {
    use BinaryOp::{Add, Div, Gt, Mul, Sub};
    use DataType::{Bool, Float, Int};
    let input = Schema::new(vec![
        Field::new("x", Float, true),
        Field::new("y", Float, true),
        Field::new("a", Int, true),
    ]);
    let (x, y, a) = (col(0, "x", Float), col(1, "y", Float), col(2, "a", Int));
    let predicate = bin(
        Gt,
        bin(
            Add,
            bin(Mul, x.clone(), float(2.0), Float),
            float(1.0),
            Float,
        ),
        y.clone(),
        Bool,
    );
    let items = vec![
        ("x".to_string(), x.clone()),
        (
            "z".to_string(),
            bin(
                Sub,
                bin(Mul, x.clone(), y.clone(), Float),
                float(1.0),
                Float,
            ),
        ),
        (
            "a2".to_string(),
            bin(Add, a, te(TExpr::Literal(Value::Int(1)), Int), Int),
        ),
        ("w".to_string(), bin(Div, x, y, Float)),
    ];
    let output = Schema::new(vec![
        Field::new("x", Float, true),
        Field::new("z", Float, true),
        Field::new("a2", Int, true),
        Field::new("w", Float, true),
    ]);
    vec![
        (ChainOp::Filter(predicate), arrow_schema(&input)),
        (ChainOp::Project(items), arrow_schema(&output)),
    ]
}

fn batch(rows: usize) -> RecordBatch {
    let x: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..rows).map(|i| (i % 1000) as f64 * 0.5 - 200.0),
    ));
    let y: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..rows).map(|i| (i % 777) as f64 - 300.0),
    ));
    let a: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..rows as i64).map(|i| i * 7),
    ));
    RecordBatch::try_from_iter([("x", x), ("y", y), ("a", a)]).expect("calibration batch")
}

fn best_of(
    runs: usize,
    mut f: impl FnMut() -> Result<(), ChainError>,
) -> Result<Duration, ChainError> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        f()?;
        best = best.min(started.elapsed());
    }
    Ok(best)
}

/// Measures the CPU and the GPU path at every size of [`SIZES`].
pub fn measure(gpu: &'static Gpu) -> Result<Calibration, ChainError> {
    let chain = GpuChain::new(gpu, stages(), 3)?;
    let mut points = Vec::new();
    for rows in SIZES {
        let b = batch(rows);
        // Warm-up: first use of pooled buffers of this size.
        chain.finish(&b, chain.submit(&b)?)?;
        let cpu = best_of(3, || chain.run_cpu(&b).map(|_| ()))?;
        let gpu_time = best_of(3, || chain.finish(&b, chain.submit(&b)?).map(|_| ()))?;
        points.push(Point {
            rows,
            cpu,
            gpu: gpu_time,
        });
    }
    let min_rows = points.iter().find(|p| p.gpu < p.cpu).map(|p| p.rows);
    Ok(Calibration { points, min_rows })
}
