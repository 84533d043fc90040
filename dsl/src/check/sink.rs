//! `sink` declarations: connector, format, input, `mode` and `overwrite`.

use super::connector::Role;
use super::{Checker, Resolved, suggest};
use crate::ast::{ExprKind, Literal, Setting, SettingValue, SinkDecl};
use crate::diagnostic::Diagnostic;
use crate::plan::{ConnectorSpec, Format, KafkaOptions, SinkMode, SinkNode};

const SINK_SETTINGS: &[&str] = &["mode", "overwrite", "key_column"];
const MODES: &[&str] = &["append", "changelog", "snapshot_every"];

impl Checker<'_> {
    /// Checks a `sink`; the returned [`Resolved`] is what the sink writes (for `expect`).
    pub fn sink_decl(&mut self, d: &SinkDecl) -> (Option<SinkNode>, Resolved) {
        let conn = self.connector(&d.connector, Role::Sink);
        let format = self.format(&d.connector.name, d.format.as_ref());
        let settings = self.settings(&d.settings, SINK_SETTINGS, "sink");
        let (input, scope, _) = self.resolve_input(&d.input);
        let mut ok = conn.is_some() && format.is_some() && input.is_some();
        let default_mode = if scope.updating && scope.unbounded {
            SinkMode::Changelog
        } else {
            SinkMode::Append
        };
        let mut mode = default_mode;
        let mut overwrite = true;
        let mut kafka = KafkaOptions::default();
        for s in &settings {
            match s.key.name.as_str() {
                "key_column" => {
                    if conn.is_some() && !matches!(conn, Some(ConnectorSpec::Kafka { .. })) {
                        self.report(
                            Diagnostic::error(
                                "E0123",
                                "`key_column` only applies to `kafka` sinks",
                                s.key.span,
                            )
                            .with_label("not kafka")
                            .with_hint("remove `key_column`"),
                        );
                        ok = false;
                        continue;
                    }
                    let names: Option<Vec<String>> = scope
                        .schema()
                        .map(|schema| schema.fields.iter().map(|f| f.name.clone()).collect());
                    match self.key_column_of_sink(s, names.as_deref()) {
                        Some(i) => kafka.key_column = Some(i),
                        None => ok = false,
                    }
                }
                "mode" => match self.mode_setting(s) {
                    Some(m) => mode = m,
                    None => ok = false,
                },
                "overwrite" => {
                    match self.bool_setting(s) {
                        Some(v) => overwrite = v,
                        None => ok = false,
                    }
                    if conn.is_some() && !matches!(conn, Some(ConnectorSpec::File { .. })) {
                        self.report(
                            Diagnostic::error(
                                "E0123",
                                "`overwrite` only applies to `file` sinks",
                                s.key.span,
                            )
                            .with_label("not a file")
                            .with_hint("remove `overwrite`"),
                        );
                        ok = false;
                    }
                }
                _ => {}
            }
        }
        let schema = scope.schema();
        ok &= schema.is_some();
        let node = SinkNode {
            name: d.name.name.clone(),
            connector: conn.unwrap_or(ConnectorSpec::Stdout),
            format: format.flatten().unwrap_or(Format::Jsonl),
            input: input.unwrap_or(crate::plan::InputRef::Source(0)),
            schema: schema.unwrap_or_default(),
            mode,
            overwrite,
            kafka,
            span: d.span,
        };
        (ok.then_some(node), Resolved { input, scope })
    }

    /// `key_column = COL`: any column of the written schema; its text form is the message key.
    fn key_column_of_sink(&mut self, s: &Setting, columns: Option<&[String]>) -> Option<usize> {
        let id = match &s.value {
            SettingValue::Expr(e) => match &e.kind {
                ExprKind::Column {
                    qualifier: None,
                    name,
                } => name,
                _ => {
                    self.setting_kind(s, "a column name");
                    return None;
                }
            },
            _ => {
                self.setting_kind(s, "a column name");
                return None;
            }
        };
        let columns = columns?;
        match columns.iter().position(|c| *c == id.name) {
            Some(i) => Some(i),
            None => {
                let names: Vec<&str> = columns.iter().map(String::as_str).collect();
                self.report(
                    Diagnostic::error("E0131", format!("unknown column `{}`", id.name), id.span)
                        .with_label("not written by this sink")
                        .with_hint(suggest(&id.name, &names, "columns")),
                );
                None
            }
        }
    }

    fn mode_setting(&mut self, s: &Setting) -> Option<SinkMode> {
        let hint = "write `mode = append`, `mode = changelog` or `mode = snapshot_every(10s)`";
        let SettingValue::Expr(e) = &s.value else {
            self.setting_kind(s, "`append`, `changelog` or `snapshot_every(DURATION)`");
            return None;
        };
        let (name, args) = match &e.kind {
            ExprKind::Column {
                qualifier: None,
                name,
            } => (name, None),
            ExprKind::Call { func, args } => (func, Some(args)),
            _ => {
                self.setting_kind(s, "`append`, `changelog` or `snapshot_every(DURATION)`");
                return None;
            }
        };
        match (name.name.as_str(), args.map(Vec::as_slice)) {
            ("append", None) => Some(SinkMode::Append),
            ("changelog", None) => Some(SinkMode::Changelog),
            ("snapshot_every", Some([d])) => match &d.kind {
                ExprKind::Literal(Literal::Duration(ms)) if *ms > 0 => {
                    Some(SinkMode::SnapshotEvery(*ms))
                }
                _ => {
                    self.report(
                        Diagnostic::error(
                            "E0130",
                            "`snapshot_every` needs a positive duration",
                            d.span,
                        )
                        .with_label("expected a duration")
                        .with_hint("e.g. `mode = snapshot_every(10s)`"),
                    );
                    None
                }
            },
            (n, _) if MODES.contains(&n) => {
                self.report(
                    Diagnostic::error("E0130", format!("bad use of sink mode `{n}`"), e.span)
                        .with_label("malformed mode")
                        .with_hint(hint),
                );
                None
            }
            (n, _) => {
                self.report(
                    Diagnostic::error("E0130", format!("unknown sink mode `{n}`"), name.span)
                        .with_label("unknown mode")
                        .with_hint(suggest(n, MODES, "modes")),
                );
                None
            }
        }
    }
}
