//! `source`, `table` and `sink` declarations: connector, format and settings.

use super::connector::Role;
use super::scope::{Col, EventTime, Scope};
use super::{Checker, suggest};
use crate::ast::{
    ColumnDef, Connector, Expr, ExprKind, Ident, Literal, Setting, SettingValue, SourceDecl, Span,
};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::{
    ConnectorSpec, DataType, Field, Format, GeneratorKind, KafkaOptions, NexmarkEvents, Schema,
    SourceNode, TimeFormat,
};

const SOURCE_SETTINGS: &[&str] = &[
    "schema",
    "header",
    "quoted_newlines",
    "event_time",
    "max_out_of_order",
    "dead_letter",
    "key_column",
    "timestamp_column",
    "bounded",
    "commit_interval",
];
/// Settings that only a `kafka(...)` source takes.
const KAFKA_SOURCE_SETTINGS: &[&str] = &[
    "key_column",
    "timestamp_column",
    "bounded",
    "commit_interval",
];
/// A table takes a source's settings but `event_time` versions it (temporal lookups) instead
/// of driving windows; `key` names its primary key.
const TABLE_SETTINGS: &[&str] = &[
    "schema",
    "key",
    "header",
    "quoted_newlines",
    "dead_letter",
    "event_time",
    "max_out_of_order",
    "key_column",
    "timestamp_column",
    "bounded",
    "commit_interval",
];
const TYPES: &[&str] = &[
    "bool",
    "int",
    "float",
    "string",
    "timestamp",
    "duration",
    "date",
];

/// The fixed schema of a generator.
///
/// - `geo_points`: `id: int, lat: float, lon: float, value: float, event_time: timestamp`.
/// - `nexmark`: the event structs of the `nexmark` crate, one schema per `events_of` kind,
///   times as timestamps (ms), prices in cents:
///   - `bid`: `auction: int, bidder: int, price: int, channel: string, url: string,
///     event_time: timestamp, extra: string`;
///   - `auction`: `id: int, item_name: string, description: string, initial_bid: int,
///     reserve: int, event_time: timestamp, expires: timestamp, seller: int, category: int,
///     extra: string`;
///   - `person`: `id: int, name: string, email_address: string, credit_card: string,
///     city: string, state: string, event_time: timestamp, extra: string`.
///
/// All carry their event time in `event_time` (the crate's `date_time`), which is the default
/// `event_time` setting.
pub fn generator_schema(kind: GeneratorKind) -> Schema {
    use DataType::*;
    let cols: &[(&str, DataType)] = match kind {
        GeneratorKind::GeoPoints => &[
            ("id", Int),
            ("lat", Float),
            ("lon", Float),
            ("value", Float),
            ("event_time", Timestamp),
        ],
        GeneratorKind::Nexmark(NexmarkEvents::Bid) => &[
            ("auction", Int),
            ("bidder", Int),
            ("price", Int),
            ("channel", String),
            ("url", String),
            ("event_time", Timestamp),
            ("extra", String),
        ],
        GeneratorKind::Nexmark(NexmarkEvents::Auction) => &[
            ("id", Int),
            ("item_name", String),
            ("description", String),
            ("initial_bid", Int),
            ("reserve", Int),
            ("event_time", Timestamp),
            ("expires", Timestamp),
            ("seller", Int),
            ("category", Int),
            ("extra", String),
        ],
        GeneratorKind::Nexmark(NexmarkEvents::Person) => &[
            ("id", Int),
            ("name", String),
            ("email_address", String),
            ("credit_card", String),
            ("city", String),
            ("state", String),
            ("event_time", Timestamp),
            ("extra", String),
        ],
    };
    Schema::new(
        cols.iter()
            .map(|(n, t)| Field::new(*n, *t, false))
            .collect(),
    )
}

impl Checker<'_> {
    /// Checks a `source` or `table`; returns its plan node (when valid) and the scope that
    /// readers of it see (unknown parts when not).
    pub fn source_decl(&mut self, d: &SourceDecl, is_table: bool) -> (Option<SourceNode>, Scope) {
        let role = if is_table { Role::Table } else { Role::Source };
        let conn = self.connector(&d.connector, role);
        let format = self.format(&d.connector.name, d.format.as_ref());
        let valid = if is_table {
            TABLE_SETTINGS
        } else {
            SOURCE_SETTINGS
        };
        let settings = self.settings(
            &d.settings,
            valid,
            if is_table { "table" } else { "source" },
        );
        let mut ok = conn.is_some() && format.is_some();
        let is_generator = matches!(conn, Some(ConnectorSpec::Generator { .. }));
        // Format as far as known, for the csv-only settings.
        let fmt = format.flatten();

        // Schema: declared, or implied by the generator.
        let mut cols: Option<Vec<Col>> = None;
        let mut formats = Vec::new();
        if let Some(ConnectorSpec::Generator { kind, .. }) = &conn {
            let schema = generator_schema(*kind);
            if let Some(s) = find(&settings, "schema") {
                let shown = schema
                    .fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, f.ty.name()))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.report(
                    Diagnostic::error("E0129", "a `generator` has a fixed schema", s.key.span)
                        .with_label("not allowed for generators")
                        .with_hint(format!(
                            "remove `schema`; this generator produces `{shown}`"
                        )),
                );
                ok = false;
            }
            cols = Some(Scope::from_schema(&schema, &d.name.name).cols);
        } else if let Some(s) = find(&settings, "schema") {
            match &s.value {
                SettingValue::Schema(defs) => {
                    let (c, f) = self.schema_block(defs, s.key.span, &mut ok);
                    cols = Some(c);
                    formats = f;
                }
                _ => {
                    self.setting_kind(s, "a block: `schema { name: type ... }`");
                    ok = false;
                }
            }
        } else if conn.is_some() {
            self.report(
                Diagnostic::error(
                    "E0124",
                    format!("{} `{}` needs a schema", role_word(is_table), d.name.name),
                    d.name.span,
                )
                .with_label("no `schema { ... }`")
                .with_hint(
                    "list the columns in its settings, e.g. `{ schema { id: int  name: string?  event_time: timestamp } }`",
                ),
            );
            ok = false;
        }

        let mut node = SourceNode {
            name: d.name.name.clone(),
            connector: conn.clone().unwrap_or(ConnectorSpec::Stdin),
            format: fmt,
            schema: Schema::default(),
            header: true,
            quoted_newlines: false,
            event_time: None,
            formats: Vec::new(),
            max_out_of_order: 0,
            dead_letter: None,
            key: Vec::new(),
            kafka: KafkaOptions::default(),
            span: d.span,
        };
        let mut event_time_failed = false;
        if is_generator {
            node.event_time = cols
                .as_ref()
                .and_then(|c| c.iter().position(|c| c.name == "event_time"));
        }

        for s in &settings {
            let key = s.key.name.as_str();
            match key {
                "header" | "quoted_newlines" => {
                    let Some(v) = self.bool_setting(s) else {
                        ok = false;
                        continue;
                    };
                    if conn.is_some() && fmt != Some(Format::Csv) {
                        self.report(
                            Diagnostic::error(
                                "E0123",
                                format!("`{key}` only applies to csv"),
                                s.key.span,
                            )
                            .with_label("not csv")
                            .with_hint(format!("remove `{key}`")),
                        );
                        ok = false;
                    }
                    if key == "header" {
                        node.header = v;
                    } else {
                        node.quoted_newlines = v;
                    }
                }
                "event_time" => match self.event_time_setting(s, cols.as_deref()) {
                    Some(i) => node.event_time = Some(i),
                    None => {
                        ok = false;
                        event_time_failed = true;
                    }
                },
                "max_out_of_order" => match duration_value(s) {
                    Some(ms) => node.max_out_of_order = ms,
                    None => {
                        self.setting_kind(s, "a duration such as `5s`");
                        ok = false;
                    }
                },
                k if KAFKA_SOURCE_SETTINGS.contains(&k) => {
                    if conn.is_some() && !matches!(conn, Some(ConnectorSpec::Kafka { .. })) {
                        self.report(
                            Diagnostic::error(
                                "E0123",
                                format!("`{key}` only applies to `kafka` sources"),
                                s.key.span,
                            )
                            .with_label("not kafka")
                            .with_hint(format!("remove `{key}`")),
                        );
                        ok = false;
                        continue;
                    }
                    ok &= self.kafka_source_setting(s, cols.as_deref(), &mut node.kafka);
                }
                "dead_letter" => match self.dead_letter(s) {
                    Some(dl) => node.dead_letter = Some(dl),
                    None => ok = false,
                },
                "key" => match self.key_setting(s, cols.as_deref()) {
                    Some(k) => {
                        let names = k
                            .iter()
                            .filter_map(|i| cols.as_ref().map(|c| c[*i].name.clone()));
                        self.table_keys.insert(d.name.name.clone(), names.collect());
                        node.key = k;
                    }
                    None => ok = false,
                },
                _ => {}
            }
        }
        if is_table && find(&settings, "key").is_none() {
            self.report(
                Diagnostic::error(
                    "E0128",
                    format!("table `{}` needs a `key`", d.name.name),
                    d.name.span,
                )
                .with_label("no key")
                .with_hint("add `key = COLUMN` (or `key = (a, b)`) to its settings"),
            );
            ok = false;
        }

        let mut scope = match cols {
            Some(cols) => {
                let mut sc = Scope::from_schema(&Schema::default(), &d.name.name);
                sc.cols = cols;
                sc
            }
            None => Scope::unknown(),
        };
        scope.unbounded = matches!(conn, Some(ConnectorSpec::Kafka { .. }));
        scope.updating = is_table;
        scope.event_time = if event_time_failed || scope.open {
            EventTime::Unknown
        } else if node.event_time.is_some() {
            EventTime::Known
        } else {
            let suggestion = scope
                .cols
                .iter()
                .find(|c| c.ty == Some((DataType::Timestamp, false)))
                .map_or("COLUMN", |c| c.name.as_str());
            EventTime::Missing {
                reason: format!(
                    "{} `{}` has no `event_time`",
                    role_word(is_table),
                    d.name.name
                ),
                hint: if is_table {
                    "a table's `event_time` versions it; window the stream that joins it"
                        .to_string()
                } else {
                    format!(
                        "add `event_time = {suggestion}` to the settings of source `{}`",
                        d.name.name
                    )
                },
            }
        };
        match scope.schema() {
            Some(schema) => {
                formats.resize(schema.fields.len(), None);
                node.formats = formats;
                node.schema = schema;
            }
            None => ok = false,
        }
        (ok.then_some(node), scope)
    }

    /// `schema { ... }`: the columns and their formats. Unknown types leave the column's type
    /// unknown.
    fn schema_block(
        &mut self,
        defs: &[ColumnDef],
        key_span: Span,
        ok: &mut bool,
    ) -> (Vec<Col>, Vec<Option<TimeFormat>>) {
        if defs.is_empty() {
            self.report(
                Diagnostic::error("E0124", "`schema` has no columns", key_span)
                    .with_label("empty schema")
                    .with_hint("list the columns, e.g. `schema { id: int  name: string? }`"),
            );
            *ok = false;
        }
        let mut cols: Vec<Col> = Vec::new();
        let mut formats = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        for def in defs {
            if let Some(i) = cols.iter().position(|c| c.name == def.name.name) {
                self.report(
                    Diagnostic::error(
                        "E0126",
                        format!("column `{}` is declared twice", def.name.name),
                        def.name.span,
                    )
                    .with_label("declared again")
                    .with_related(spans[i], "first declared here"),
                );
                *ok = false;
                continue;
            }
            let ty = DataType::from_name(&def.ty.name.name);
            if ty.is_none() {
                self.report(
                    Diagnostic::error(
                        "E0125",
                        format!("unknown type `{}`", def.ty.name.name),
                        def.ty.name.span,
                    )
                    .with_label("unknown type")
                    .with_hint(suggest(&def.ty.name.name, TYPES, "types")),
                );
                *ok = false;
            }
            formats.push(self.column_format(def, ty, ok));
            cols.push(Col {
                name: def.name.name.clone(),
                ty: ty.map(|t| (t, def.ty.nullable)),
                quals: Vec::new(),
            });
            spans.push(def.name.span);
        }
        (cols, formats)
    }

    /// `event_time = COL`: a non-null timestamp column. Its index, or `None` after an error.
    fn event_time_setting(&mut self, s: &Setting, cols: Option<&[Col]>) -> Option<usize> {
        let Some(id) = column_name(s) else {
            self.setting_kind(s, "a column name");
            return None;
        };
        let cols = cols?;
        let Some(i) = cols.iter().position(|c| c.name == id.name) else {
            self.unknown_schema_column(id, cols, "E0200");
            return None;
        };
        match cols[i].ty {
            Some((DataType::Timestamp, false)) => Some(i),
            Some((DataType::Timestamp, true)) => {
                self.report(
                    Diagnostic::error(
                        "E0127",
                        format!("`event_time` column `{}` is nullable", id.name),
                        id.span,
                    )
                    .with_label("`timestamp?`")
                    .with_hint(format!(
                        "declare it `{}: timestamp`: every row needs an event time",
                        id.name
                    )),
                );
                None
            }
            Some((ty, _)) => {
                self.report(
                    Diagnostic::error(
                        "E0127",
                        format!("`event_time` column `{}` is `{}`, not `timestamp`", id.name, ty.name()),
                        id.span,
                    )
                    .with_label(format!("a `{}` column", ty.name()))
                    .with_hint(format!(
                        "declare it `{}: timestamp` (rfc 3339 text and epoch milliseconds both parse)",
                        id.name
                    )),
                );
                None
            }
            None => None,
        }
    }

    fn key_setting(&mut self, s: &Setting, cols: Option<&[Col]>) -> Option<Vec<usize>> {
        let ids: Vec<&Ident> = match &s.value {
            SettingValue::List(ids) => ids.iter().collect(),
            _ => match column_name(s) {
                Some(id) => vec![id],
                None => {
                    self.setting_kind(s, "a column or a list of columns: `key = (a, b)`");
                    return None;
                }
            },
        };
        let cols = cols?;
        let mut out = Vec::new();
        let mut ok = true;
        for id in ids {
            match cols.iter().position(|c| c.name == id.name) {
                Some(i) => out.push(i),
                None => {
                    self.unknown_schema_column(id, cols, "E0128");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn unknown_schema_column(&mut self, id: &Ident, cols: &[Col], code: &'static str) {
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        let hint = match did_you_mean(&id.name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "the schema has {}",
                super::backticked(names.iter().copied())
            ),
        };
        self.report(
            Diagnostic::error(code, format!("unknown column `{}`", id.name), id.span)
                .with_label("not in the schema")
                .with_hint(hint),
        );
    }

    /// `key_column`, `timestamp_column` (a column of the given type), `bounded` (a bool) and
    /// `commit_interval` (a positive duration) of a `kafka(...)` source.
    fn kafka_source_setting(
        &mut self,
        s: &Setting,
        cols: Option<&[Col]>,
        options: &mut KafkaOptions,
    ) -> bool {
        match s.key.name.as_str() {
            "bounded" => match self.bool_setting(s) {
                Some(v) => {
                    options.bounded = v;
                    true
                }
                None => false,
            },
            "commit_interval" => match duration_value(s) {
                Some(ms) if ms > 0 => {
                    options.commit_interval_ms = ms;
                    true
                }
                _ => {
                    self.setting_kind(s, "a positive duration such as `1s`");
                    false
                }
            },
            key => {
                let (ty, what) = if key == "key_column" {
                    (DataType::String, "string")
                } else {
                    (DataType::Timestamp, "timestamp")
                };
                let Some(index) = self.typed_column_setting(s, cols, ty, what) else {
                    return false;
                };
                if key == "key_column" {
                    options.key_column = Some(index);
                } else {
                    options.timestamp_column = Some(index);
                }
                true
            }
        }
    }

    /// A setting naming a schema column of type `ty` (nullable or not).
    pub(super) fn typed_column_setting(
        &mut self,
        s: &Setting,
        cols: Option<&[Col]>,
        ty: DataType,
        what: &str,
    ) -> Option<usize> {
        let Some(id) = column_name(s) else {
            self.setting_kind(s, "a column name");
            return None;
        };
        let cols = cols?;
        let Some(index) = cols.iter().position(|c| c.name == id.name) else {
            self.unknown_schema_column(id, cols, "E0131");
            return None;
        };
        match cols[index].ty {
            Some((t, _)) if t == ty => Some(index),
            None => None,
            Some((t, _)) => {
                self.report(
                    Diagnostic::error(
                        "E0131",
                        format!("`{}` must be a {what} column", s.key.name),
                        id.span,
                    )
                    .with_label(format!("`{}` is {}", id.name, t.name()))
                    .with_hint(format!("declare `{}: {what}` in the schema", id.name)),
                );
                None
            }
        }
    }

    /// `dead_letter = CONNECTOR [as jsonl]`: dead letters are json lines.
    fn dead_letter(&mut self, s: &Setting) -> Option<(ConnectorSpec, Format)> {
        let (conn, format): (Connector, Option<&Ident>) = match &s.value {
            SettingValue::Connector { connector, format } => (connector.clone(), format.as_ref()),
            SettingValue::Expr(e) => match expr_as_connector(e) {
                Some(c) => (c, None),
                None => {
                    self.setting_kind(s, "a connector: `file(\"bad.jsonl\") as jsonl`");
                    return None;
                }
            },
            _ => {
                self.setting_kind(s, "a connector: `file(\"bad.jsonl\") as jsonl`");
                return None;
            }
        };
        let spec = self.connector(&conn, Role::DeadLetter);
        let f = match format {
            None => spec.as_ref().map(|_| Format::Jsonl),
            Some(f) => self.format(&conn.name, Some(f)).flatten(),
        };
        if f == Some(Format::Csv) {
            let span = format.map_or(conn.span, |f| f.span);
            self.report(
                Diagnostic::error("E0113", "dead letters are written as json lines", span)
                    .with_label("not csv")
                    .with_hint("use `as jsonl` (`as json` for kafka)"),
            );
            return None;
        }
        Some((spec?, f?))
    }

    /// Drops unknown and repeated settings (reporting them); keeps the rest in order.
    pub(super) fn settings<'s>(
        &mut self,
        settings: &'s [Setting],
        valid: &[&str],
        what: &str,
    ) -> Vec<&'s Setting> {
        let mut out: Vec<&Setting> = Vec::new();
        for s in settings {
            if !valid.contains(&s.key.name.as_str()) {
                self.report(
                    Diagnostic::error(
                        "E0120",
                        format!("unknown setting `{}` for a {what}", s.key.name),
                        s.key.span,
                    )
                    .with_label("unknown setting")
                    .with_hint(suggest(&s.key.name, valid, "settings")),
                );
            } else if let Some(first) = out.iter().find(|f| f.key.name == s.key.name) {
                self.report(
                    Diagnostic::error(
                        "E0121",
                        format!("setting `{}` is given twice", s.key.name),
                        s.key.span,
                    )
                    .with_label("given again")
                    .with_related(first.key.span, "first given here"),
                );
            } else {
                out.push(s);
            }
        }
        out
    }

    pub(super) fn bool_setting(&mut self, s: &Setting) -> Option<bool> {
        match &s.value {
            SettingValue::Expr(Expr {
                kind: ExprKind::Literal(Literal::Bool(b)),
                ..
            }) => Some(*b),
            _ => {
                self.setting_kind(s, "`true` or `false`");
                None
            }
        }
    }

    /// E0122: the value of setting `s` is not `expected`.
    pub(super) fn setting_kind(&mut self, s: &Setting, expected: &str) {
        let span = match &s.value {
            SettingValue::Expr(e) => e.span,
            _ => s.span,
        };
        self.report(
            Diagnostic::error(
                "E0122",
                format!("`{}` must be {expected}", s.key.name),
                span,
            )
            .with_label("wrong kind of value"),
        );
    }
}

fn role_word(is_table: bool) -> &'static str {
    if is_table { "table" } else { "source" }
}

fn find<'s>(settings: &[&'s Setting], key: &str) -> Option<&'s Setting> {
    settings.iter().find(|s| s.key.name == key).copied()
}

/// The column named by `key = col`.
fn column_name(s: &Setting) -> Option<&Ident> {
    match &s.value {
        SettingValue::Expr(Expr {
            kind:
                ExprKind::Column {
                    qualifier: None,
                    name,
                },
            ..
        }) => Some(name),
        SettingValue::List(ids) if ids.len() == 1 => Some(&ids[0]),
        _ => None,
    }
}

fn duration_value(s: &Setting) -> Option<i64> {
    match &s.value {
        SettingValue::Expr(Expr {
            kind: ExprKind::Literal(Literal::Duration(ms)),
            ..
        }) if *ms >= 0 => Some(*ms),
        _ => None,
    }
}

/// `dead_letter = file("x")` written without `as` may arrive as a call expression.
fn expr_as_connector(e: &Expr) -> Option<Connector> {
    match &e.kind {
        ExprKind::Call { func, args } => Some(Connector {
            name: func.clone(),
            args: Some(
                args.iter()
                    .map(|a| crate::ast::Arg {
                        name: None,
                        value: a.clone(),
                    })
                    .collect(),
            ),
            span: e.span,
        }),
        ExprKind::Column {
            qualifier: None,
            name,
        } => Some(Connector {
            name: name.clone(),
            args: None,
            span: e.span,
        }),
        _ => None,
    }
}
