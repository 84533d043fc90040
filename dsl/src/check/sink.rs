//! `sink` declarations: connector, format, input, `mode` and `overwrite`.

use super::connector::Role;
use super::{Checker, Resolved, suggest};
use crate::ast::{ExprKind, Literal, Setting, SettingValue, SinkDecl};
use crate::diagnostic::Diagnostic;
use crate::plan::{ConnectorSpec, Format, SinkMode, SinkNode};

const SINK_SETTINGS: &[&str] = &["mode", "overwrite"];
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
        for s in &settings {
            match s.key.name.as_str() {
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
            span: d.span,
        };
        (ok.then_some(node), Resolved { input, scope })
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
