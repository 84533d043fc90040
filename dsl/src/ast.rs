//! Syntax tree of a pipeline file, exactly as written, with byte spans into the source text.
//!
//! The parser produces it (possibly partial, next to a list of errors); the formatter prints it
//! back canonically; the checker turns it into a typed [`crate::plan::LogicalPlan`].
//! Equality of two trees ignores spans (see [`Span`]'s `PartialEq`), so `fmt` round trips can be
//! asserted with `==`.

/// Byte range in the source text. Two spans always compare equal, so that trees parsed from
/// differently formatted text compare by content only.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

/// Consistent with `PartialEq` (equal values hash alike): a span contributes nothing.
impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole file. `decls` keeps source order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pipeline {
    /// `pipeline NAME`; when absent the file's stem is the name.
    pub name: Option<Ident>,
    pub decls: Vec<Decl>,
    /// Every `#` comment in source order (without the newline), so `fmt` can keep them.
    pub comments: Vec<Comment>,
}

#[derive(Clone, Debug)]
pub struct Comment {
    /// The text including the leading `#`.
    pub text: String,
    pub span: Span,
    /// Code precedes the comment on its line (`header = true  # csv only`), so `fmt` keeps it
    /// at the end of a line instead of moving it before the next item.
    pub trailing: bool,
}

/// Like spans, `trailing` is layout, not content: `fmt` may have to move a trailing comment to
/// its own line (two of them after one item), and trees still compare equal by text.
impl PartialEq for Comment {
    fn eq(&self, other: &Comment) -> bool {
        self.text == other.text
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decl {
    Source(SourceDecl),
    Table(SourceDecl),
    Stream(StreamDecl),
    Sink(SinkDecl),
    Test(TestDecl),
}

impl Decl {
    pub fn name(&self) -> Option<&Ident> {
        match self {
            Decl::Source(d) | Decl::Table(d) => Some(&d.name),
            Decl::Stream(d) => Some(&d.name),
            Decl::Sink(d) => Some(&d.name),
            Decl::Test(_) => None,
        }
    }
    pub fn span(&self) -> Span {
        match self {
            Decl::Source(d) | Decl::Table(d) => d.span,
            Decl::Stream(d) => d.span,
            Decl::Sink(d) => d.span,
            Decl::Test(d) => d.span,
        }
    }
}

/// `source NAME = CONNECTOR [as FORMAT] { SETTINGS }`, and `table` with the same shape.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceDecl {
    pub name: Ident,
    pub connector: Connector,
    pub format: Option<Ident>,
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// `file("x.csv")`, `stdin`, `generator(geo_points, events = 10)`, `kafka(topic = "t", ...)`.
/// Positional and named arguments are kept in order; the checker validates them per connector.
#[derive(Clone, Debug, PartialEq)]
pub struct Connector {
    pub name: Ident,
    /// `None` when written without parentheses (`stdin`).
    pub args: Option<Vec<Arg>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `events = 10` has a name; `"data.csv"` or `nexmark` has none.
    pub name: Option<Ident>,
    pub value: Expr,
}

/// `KEY = VALUE` inside `{ }`, or the `schema { ... }` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: SettingValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    /// `schema { a: int  b: float? }`
    Schema(Vec<ColumnDef>),
    /// `dead_letter = file("bad.jsonl") as jsonl` (a connector followed by `as`).
    Connector {
        connector: Connector,
        format: Option<Ident>,
    },
    /// `key = (a, b)`
    List(Vec<Ident>),
    /// Anything else: `header = true`, `event_time = event_time`, `max_out_of_order = 1d`,
    /// `mode = snapshot_every(10s)`, `mode = append` (an identifier is a `Column` expression).
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    pub name: Ident,
    pub ty: TypeName,
    /// `format "%Y-%m-%d %H:%M:%S"` (timestamp and date columns): the pattern as written,
    /// unescaped, with the span of the string.
    pub format: Option<(String, Span)>,
    pub span: Span,
}

/// `float?` is `TypeName { name: "float", nullable: true }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    pub name: Ident,
    pub nullable: bool,
    pub span: Span,
}

/// `stream NAME = INPUT | STAGE | ...`
#[derive(Clone, Debug, PartialEq)]
pub struct StreamDecl {
    pub name: Ident,
    pub input: Input,
    pub stages: Vec<Stage>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Name(Ident),
    /// `union(a, b, ...)`; the span covers the whole call.
    Union(Vec<Ident>, Span),
}

impl Input {
    pub fn span(&self) -> Span {
        match self {
            Input::Name(i) => i.span,
            Input::Union(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub kind: StageKind,
    /// Placement hint written after the stage: `@gpu` or `@cpu`.
    pub hint: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StageKind {
    Where(Expr),
    Select(Vec<SelectItem>),
    Window(WindowSpec),
    GroupBy(Vec<Expr>),
    Aggregate(Vec<AggItem>),
    Join(JoinSpec),
    Top(TopSpec),
    Distinct { on: Vec<Expr>, within: DurationLit },
    Route(RouteSpec),
}

impl StageKind {
    /// The keyword a user reads in the pipeline (`where`, `group by`, ...), for messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            StageKind::Where(_) => "where",
            StageKind::Select(_) => "select",
            StageKind::Window(_) => "window",
            StageKind::GroupBy(_) => "group by",
            StageKind::Aggregate(_) => "aggregate",
            StageKind::Join(j) if j.left => "left join",
            StageKind::Join(_) => "join",
            StageKind::Top(_) => "top",
            StageKind::Distinct { .. } => "distinct",
            StageKind::Route(_) => "route",
        }
    }
}

/// `total = x + y` has an alias; `carrier` or `t.carrier` has none (the column keeps its name).
#[derive(Clone, Debug, PartialEq)]
pub struct SelectItem {
    pub alias: Option<Ident>,
    pub expr: Expr,
    pub span: Span,
}

/// `n = count()`: an aggregate always names its result column.
#[derive(Clone, Debug, PartialEq)]
pub struct AggItem {
    pub alias: Ident,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationLit {
    pub millis: i64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WindowSpec {
    Tumbling {
        size: DurationLit,
    },
    Sliding {
        size: DurationLit,
        every: DurationLit,
    },
    Session {
        gap: DurationLit,
    },
}

/// `[left] join RIGHT on a == RIGHT.b [and ...] [within D]`.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinSpec {
    pub left: bool,
    pub right: Ident,
    /// Each condition is an equality as written: `left_expr == right_expr`.
    pub on: Vec<JoinCondition>,
    pub within: Option<DurationLit>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JoinCondition {
    pub left: Expr,
    pub right: Expr,
    pub span: Span,
}

/// `top 3 by n desc, origin asc [per month]`
#[derive(Clone, Debug, PartialEq)]
pub struct TopSpec {
    pub k: i64,
    pub k_span: Span,
    pub by: Vec<SortKey>,
    pub per: Vec<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    /// `desc` was written; `asc` or nothing means ascending.
    pub descending: bool,
    /// Whether `asc`/`desc` was written at all (kept for faithful formatting).
    pub explicit: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RouteSpec {
    Geo { lat: Expr, lon: Expr },
    Hash(Vec<Expr>),
    RoundRobin,
}

/// `sink NAME = CONNECTOR [as FORMAT] [{ SETTINGS }] <- INPUT`
#[derive(Clone, Debug, PartialEq)]
pub struct SinkDecl {
    pub name: Ident,
    pub connector: Connector,
    pub format: Option<Ident>,
    pub settings: Vec<Setting>,
    pub input: Ident,
    pub span: Span,
}

/// `test "what it shows" { given NAME = [ROWS] ... expect NAME = [ROWS] ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct TestDecl {
    pub description: String,
    pub given: Vec<TestRows>,
    pub expect: Vec<TestRows>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestRows {
    pub name: Ident,
    pub rows: Vec<RowLit>,
    pub span: Span,
}

/// `{ carrier: "AA", n: 1 }`
#[derive(Clone, Debug, PartialEq)]
pub struct RowLit {
    pub fields: Vec<(Ident, Expr)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// `name` or `qualifier.name`.
    Column {
        qualifier: Option<Ident>,
        name: Ident,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x is null` / `x is not null`
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `x in (1, 2)` / `x not in (1, 2)`
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// Scalar functions, casts (`int(x)`), `if`, `coalesce` and aggregates (`count()`) alike;
    /// the checker resolves the name.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// Parenthesised expression, kept so the formatter reproduces it.
    Paren(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    String(String),
    Bool(bool),
    Null,
    /// Milliseconds.
    Duration(i64),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// `@1996-03-13`: days since 1970-01-01.
    Date(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
    /// Binding strength as the grammar sees it, higher binds tighter:
    /// `or` 1 < `and` 2 < (prefix `not` 3) < comparison 4 < `+ -` 5 < `* / %` 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 6,
        }
    }
}
