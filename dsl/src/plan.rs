//! The typed logical plan: what the checker produces and the engine consumes.
//!
//! Every name is resolved (columns are indices into the input schema), every expression is typed
//! (int/float widening is an explicit `Cast`), windows and `group by` are folded into their
//! `aggregate`. It prints one node a line (`sluice explain`), see `display.rs`.

use crate::ast::{BinaryOp, Span, UnaryOp};
pub use crate::time_format::TimeFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Bool,
    /// i64
    Int,
    /// f64
    Float,
    /// UTF-8
    String,
    /// UTC, milliseconds since the epoch.
    Timestamp,
    /// Milliseconds.
    Duration,
    /// A calendar day (proleptic Gregorian, no zone): days since 1970-01-01.
    Date,
}

impl DataType {
    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::String => "string",
            DataType::Timestamp => "timestamp",
            DataType::Duration => "duration",
            DataType::Date => "date",
        }
    }
    pub fn from_name(name: &str) -> Option<DataType> {
        Some(match name {
            "bool" => DataType::Bool,
            "int" => DataType::Int,
            "float" => DataType::Float,
            "string" => DataType::String,
            "timestamp" => DataType::Timestamp,
            "duration" => DataType::Duration,
            "date" => DataType::Date,
            _ => return None,
        })
    }
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Float)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub ty: DataType,
    pub nullable: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: DataType, nullable: bool) -> Field {
        Field {
            name: name.into(),
            ty,
            nullable,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Schema {
        Schema { fields }
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }
}

/// A constant value (literals, test rows).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Milliseconds since the epoch, UTC.
    Timestamp(i64),
    /// Milliseconds.
    Duration(i64),
    /// Days since 1970-01-01.
    Date(i32),
}

/// A typed expression over one input schema.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedExpr {
    pub kind: TExpr,
    pub ty: DataType,
    pub nullable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TExpr {
    /// `Value::Null` only with `nullable = true`; its `ty` is what the context wanted.
    Literal(Value),
    /// Index into the input schema (and the name, for printing).
    Column(usize, String),
    /// `Neg` on int/float/duration, `Not` on bool.
    Unary(UnaryOp, Box<TypedExpr>),
    /// Operands already have matching types (the checker inserted casts), except
    /// timestamp +/- duration, timestamp - timestamp (gives duration) and duration * int;
    /// date +/- duration (whole days, rounded toward the earlier day) and date - date
    /// (gives duration).
    /// Comparisons and `and`/`or` give bool; `and`/`or` use SQL three-valued logic.
    Binary(BinaryOp, Box<TypedExpr>, Box<TypedExpr>),
    /// Widening (int -> float) and the explicit casts `int()`, `float()`, `string()`,
    /// `timestamp()`, `date()`. A string that does not parse becomes null (the result is
    /// nullable).
    Cast(Box<TypedExpr>),
    IsNull(Box<TypedExpr>, bool),
    /// `expr [not] in (list)`: list items have the type of `expr`.
    InList(Box<TypedExpr>, Vec<TypedExpr>, bool),
    /// `if(cond, then, else)`: a null condition takes `else`.
    If(Box<TypedExpr>, Box<TypedExpr>, Box<TypedExpr>),
    Coalesce(Vec<TypedExpr>),
    Func(ScalarFunc, Vec<TypedExpr>),
}

/// Scalar functions of the expression language (casts are `TExpr::Cast`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarFunc {
    /// string -> string
    Lower,
    Upper,
    /// string -> int (characters)
    Length,
    /// strings... -> string; a null argument gives null
    Concat,
    /// (string, string) -> bool
    Contains,
    StartsWith,
    /// (string, start: int (1-based), len: int) -> string, by characters
    Substr,
    /// timestamp -> int (UTC); `day`, `month`, `year` also take a date
    Hour,
    Day,
    Month,
    Year,
    /// ("unit" literal, timestamp) -> timestamp; unit is one of second minute hour day month year.
    /// On a date (-> date) the unit is day, month or year.
    DateTrunc(TimeUnit),
    /// (lat1, lon1, lat2, lon2) floats in degrees -> float km (Earth radius 6371.0088 km)
    HaversineKm,
    /// (lat, lon, precision: int) -> string (base32 geohash)
    Geohash,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl ScalarFunc {
    pub fn name(self) -> &'static str {
        match self {
            ScalarFunc::Lower => "lower",
            ScalarFunc::Upper => "upper",
            ScalarFunc::Length => "length",
            ScalarFunc::Concat => "concat",
            ScalarFunc::Contains => "contains",
            ScalarFunc::StartsWith => "starts_with",
            ScalarFunc::Substr => "substr",
            ScalarFunc::Hour => "hour",
            ScalarFunc::Day => "day",
            ScalarFunc::Month => "month",
            ScalarFunc::Year => "year",
            ScalarFunc::DateTrunc(_) => "date_trunc",
            ScalarFunc::HaversineKm => "haversine_km",
            ScalarFunc::Geohash => "geohash",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogicalPlan {
    /// `pipeline NAME`, else the file stem.
    pub name: String,
    pub sources: Vec<SourceNode>,
    pub tables: Vec<SourceNode>,
    /// In dependency order: a stream's inputs come before it.
    pub streams: Vec<StreamNode>,
    pub sinks: Vec<SinkNode>,
    pub tests: Vec<TestCase>,
}

/// Where a stream or sink reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputRef {
    Source(usize),
    Table(usize),
    Stream(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeneratorKind {
    /// Columns: id int, lat float, lon float, value float, event_time timestamp.
    GeoPoints,
    /// The Nexmark event sequence; the source yields the events of one kind
    /// (`events_of = "bid" | "auction" | "person"`, default bids).
    Nexmark(NexmarkEvents),
}

/// `generator(nexmark, seed = S)` takes seeds below this: seed `S` selects its own window of the
/// (infinite, deterministic) Nexmark event sequence, see the engine's `generator/nexmark.rs`.
pub const NEXMARK_SEEDS: u64 = 1 << 24;

/// Which events of the Nexmark sequence a `generator(nexmark, events_of = ...)` source yields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NexmarkEvents {
    #[default]
    Bid,
    Auction,
    Person,
}

impl NexmarkEvents {
    pub const ALL: [NexmarkEvents; 3] = [
        NexmarkEvents::Bid,
        NexmarkEvents::Auction,
        NexmarkEvents::Person,
    ];

    /// The `events_of` value: `bid`, `auction` or `person`.
    pub fn name(self) -> &'static str {
        match self {
            NexmarkEvents::Bid => "bid",
            NexmarkEvents::Auction => "auction",
            NexmarkEvents::Person => "person",
        }
    }

    pub fn from_name(name: &str) -> Option<NexmarkEvents> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A connector with its arguments checked and `${VAR}` expanded.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectorSpec {
    File {
        path: String,
    },
    Stdin,
    Stdout,
    Generator {
        kind: GeneratorKind,
        /// Number of records to produce.
        events: u64,
        /// Records per second; 0 = as fast as possible.
        rate: u64,
        seed: u64,
    },
    Kafka {
        topic: String,
        brokers: String,
        group: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceNode {
    pub name: String,
    pub connector: ConnectorSpec,
    /// `None` for generators.
    pub format: Option<Format>,
    pub schema: Schema,
    /// csv only; default true.
    pub header: bool,
    /// csv only: allow RFC 4180 multi-line quoted fields (default false: a record ends at its line).
    pub quoted_newlines: bool,
    /// Per schema column (same length as `schema`): how a timestamp or date column is read
    /// (`format "..."` in the schema); `None` = the default text forms.
    pub formats: Vec<Option<TimeFormat>>,
    /// Index of the event-time column (a timestamp); `None` = processing time.
    pub event_time: Option<usize>,
    /// Milliseconds; default 0.
    pub max_out_of_order: i64,
    /// Explicit dead-letter output; `None` = `dead_letters/<pipeline>/<source>.jsonl`.
    pub dead_letter: Option<(ConnectorSpec, Format)>,
    /// Tables only: primary key column indices.
    pub key: Vec<usize>,
    /// `kafka(...)` only: message metadata columns and consumption settings.
    pub kafka: KafkaOptions,
    pub span: Span,
}

/// Settings of a `kafka(...)` source or sink (defaults for every other connector).
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaOptions {
    /// Source: schema column (a string) that receives the message key instead of a payload
    /// field. Sink: column written as the message key.
    pub key_column: Option<usize>,
    /// Source: schema column (a timestamp) that receives the message timestamp.
    pub timestamp_column: Option<usize>,
    /// Source: stop at the end offsets seen when the run starts (default: run until stopped).
    pub bounded: bool,
    /// Source: how often consumed offsets are committed, ms (`commit_interval`, default 1s).
    pub commit_interval_ms: i64,
}

impl Default for KafkaOptions {
    fn default() -> KafkaOptions {
        KafkaOptions {
            key_column: None,
            timestamp_column: None,
            bounded: false,
            commit_interval_ms: 1000,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamNode {
    pub name: String,
    /// One input, or several for `union(...)` (all with the same schema).
    pub inputs: Vec<InputRef>,
    pub ops: Vec<Operator>,
    /// Output schema (the last op's, or the input's when there are no ops).
    pub schema: Schema,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// No hint: the engine decides.
    Auto,
    Gpu,
    Cpu,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub kind: OpKind,
    /// Output schema of this operator.
    pub schema: Schema,
    pub placement: Placement,
    /// The stage(s) in the source it came from (for engine diagnostics).
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// Keep rows where the bool expression is true.
    Filter(TypedExpr),
    /// Output columns in order: (name, expression over the input).
    Project(Vec<(String, TypedExpr)>),
    /// `[window W] [group by K] aggregate A`. Output: keys, then window_start/window_end when
    /// windowed, then the aggregates.
    Aggregate {
        window: Option<WindowKind>,
        keys: Vec<(String, TypedExpr)>,
        aggs: Vec<AggCall>,
    },
    /// Join with a table (`within == None`) or another stream (`within == Some(ms)`).
    /// Output: all left columns, then the right columns except equality keys of the same name,
    /// colliding names renamed `RIGHT_col`.
    Join {
        left_outer: bool,
        right: InputRef,
        right_name: String,
        /// Pairs of (expression over the left input, column index in the right input).
        keys: Vec<(TypedExpr, usize)>,
        /// Right columns kept in the output, by index into the right schema.
        right_columns: Vec<usize>,
        within: Option<i64>,
    },
    /// Adds a `rank` column (1-based).
    Top {
        k: i64,
        by: Vec<(TypedExpr, bool)>,
        per: Vec<TypedExpr>,
    },
    Distinct {
        keys: Vec<TypedExpr>,
        within: i64,
    },
    Route(RouteKind),
}

impl OpKind {
    /// The stage keyword this operator came from, for messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            OpKind::Filter(_) => "where",
            OpKind::Project(_) => "select",
            OpKind::Aggregate {
                window: Some(_), ..
            } => "window",
            OpKind::Aggregate { .. } => "aggregate",
            OpKind::Join {
                left_outer: true, ..
            } => "left join",
            OpKind::Join { .. } => "join",
            OpKind::Top { .. } => "top",
            OpKind::Distinct { .. } => "distinct",
            OpKind::Route(_) => "route",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowKind {
    Tumbling { size: i64 },
    Sliding { size: i64, every: i64 },
    Session { gap: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum RouteKind {
    Geo { lat: TypedExpr, lon: TypedExpr },
    Hash(Vec<TypedExpr>),
    RoundRobin,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AggFunc {
    /// `count()`: rows. Int, never null.
    CountRows,
    /// `count(x)`: non-null x. Int, never null.
    Count,
    CountDistinct,
    /// int -> int, float -> float; null when every input was null.
    Sum,
    Min,
    Max,
    /// Always float; null when every input was null.
    Avg,
    First,
    Last,
    /// Quantile in [0, 1].
    Percentile(f64),
}

impl AggFunc {
    /// The function's name in the language.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::CountRows | AggFunc::Count => "count",
            AggFunc::CountDistinct => "count_distinct",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Avg => "avg",
            AggFunc::First => "first",
            AggFunc::Last => "last",
            AggFunc::Percentile(_) => "percentile",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AggCall {
    pub name: String,
    pub func: AggFunc,
    /// `None` only for `count()`.
    pub arg: Option<TypedExpr>,
    pub ty: DataType,
    pub nullable: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SinkMode {
    Append,
    Changelog,
    /// Milliseconds.
    SnapshotEvery(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct SinkNode {
    pub name: String,
    pub connector: ConnectorSpec,
    pub format: Format,
    pub input: InputRef,
    /// The schema written (the input's).
    pub schema: Schema,
    pub mode: SinkMode,
    /// Files: overwrite (default) or append.
    pub overwrite: bool,
    /// `kafka(...)` only: the message key column.
    pub kafka: KafkaOptions,
    pub span: Span,
}

/// A `test` block with rows already typed against the named source's / stream's schema.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub description: String,
    /// (source index, rows in schema order)
    pub given: Vec<(usize, Vec<Vec<Value>>)>,
    /// (stream index, rows in schema order)
    pub expect: Vec<(InputRef, Vec<Vec<Value>>)>,
    /// Parallel to `expect`: the schema columns (ascending indices) that its rows give and that
    /// are compared. An `expect` row may leave columns out (LANGUAGE.md's example omits the
    /// window bounds); those hold `Value::Null` in the rows and must be ignored.
    pub expect_columns: Vec<Vec<usize>>,
    pub span: Span,
}
