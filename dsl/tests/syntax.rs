//! Tests of the syntax layer: the corpus round trips through `format`, `format` prints the
//! canonical style, and every parse error has its code, message and position.

use std::path::{Path, PathBuf};

use sluice_dsl::ast::*;
use sluice_dsl::diagnostic::{Diagnostic, line_col};
use sluice_dsl::syntax::{format, parse};

/// Parses `source`, failing with readable diagnostics if there are any.
fn parse_ok(source: &str, what: &str) -> Pipeline {
    let (p, diags) = parse(source);
    assert!(
        diags.is_empty(),
        "{what}: unexpected diagnostics:\n{}",
        render(source, &diags)
    );
    p
}

fn render(source: &str, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| {
            let (l, c) = line_col(source, d.span.start);
            format!(
                "{l}:{c} {} {} [{}] hint={:?}\n",
                d.code, d.message, d.label, d.hint
            )
        })
        .collect()
}

/// The round trip every parsed file must survive: the AST and the comments survive `format`,
/// and `format` is idempotent.
fn assert_round_trip(source: &str, what: &str) {
    let p = parse_ok(source, what);
    let once = format(&p);
    let p2 = parse_ok(&once, &format!("{what} (formatted)"));
    assert_eq!(
        p2, p,
        "{what}: the formatted text parses to a different tree:\n{once}"
    );
    let texts = |p: &Pipeline| {
        p.comments
            .iter()
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&p2), texts(&p), "{what}: comments changed:\n{once}");
    let twice = format(&p2);
    assert_eq!(twice, once, "{what}: format is not idempotent");
}

fn sluice_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sluice"))
        .collect();
    files.sort();
    files
}

fn round_trip_dir(dir: &Path) -> usize {
    let files = sluice_files(dir);
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable pipeline file");
        assert_round_trip(&text, &f.display().to_string());
    }
    files.len()
}

#[test]
fn corpus_parses_cleanly_and_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/syntax");
    assert!(round_trip_dir(&dir) >= 6, "the corpus is missing");
}

#[test]
fn project_pipelines_round_trip() {
    // The project's own example pipelines (may be empty while they are being written).
    round_trip_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines"));
}

/// `format(parse(input)) == expected`, and `expected` is a fixed point.
fn check_format(input: &str, expected: &str) {
    let p = parse_ok(input, "input");
    let out = format(&p);
    assert_eq!(out, expected, "formatted:\n{out}");
    assert_round_trip(input, "input");
}

#[test]
fn format_canonical_style() {
    check_format(
        "source   a=file( \"x.csv\" )as csv{schema{b:int,c:float?}header=true key=(b,c)}\n\
         stream s=a|where b>1|select b ,d=c*2\n\
         sink o=stdout as jsonl<-s\npipeline p",
        "pipeline p\n\n\
         source a = file(\"x.csv\") as csv {\n  schema {\n    b: int\n    c: float?\n  }\n  \
         header = true\n  key = (b, c)\n}\n\n\
         stream s = a\n  | where b > 1\n  | select b, d = c * 2\n\n\
         sink o = stdout as jsonl <- s\n",
    );
}

#[test]
fn format_literals_and_long_lists() {
    check_format(
        "stream s = a | select d = 60000ms, e = 7200s, f = 1500ms, g = 0ms, h = 1e-3, i = 3.0, \
         j = 1e20, k = - 7, l = \"a\\u{9}b\\u{e9}\\\\\", m = @2013-01-01T07:00:00.5+02:00, n = (1 + 2) * 3",
        "stream s = a\n  | select d = 1m,\n      e = 2h,\n      f = 1500ms,\n      g = 0s,\n      \
         h = 0.001,\n      i = 3.0,\n      j = 1e20,\n      k = -7,\n      l = \"a\\tbé\\\\\",\n      \
         m = @2013-01-01T05:00:00.500Z,\n      n = (1 + 2) * 3\n",
    );
}

#[test]
fn format_keeps_every_comment_in_order() {
    check_format(
        "# head\npipeline p # name\n# before a\nsource a = stdin as csv { # open\n  # first\n  \
         schema { x: int # col\n  } # after schema\n  header = true # trailing\n  # last\n}\n\
         stream s = a # input\n  # stage one\n  | select a, # one\n  b # two\n  | where x > 1 # end\n# tail\n",
        "# head\npipeline p  # name\n\n# before a\nsource a = stdin as csv {  # open\n  # first\n  \
         schema {\n    x: int  # col\n  }  # after schema\n  header = true  # trailing\n  # last\n}\n\n\
         stream s = a  # input\n  # stage one\n  | select a, b  # one\n  # two\n  | where x > 1  # end\n\n\
         # tail\n",
    );
}

#[test]
fn parse_tree_shapes() {
    let p = parse_ok(
        "stream s = a | where -7 < x and not y is null | top 3 by n desc per m @gpu",
        "shapes",
    );
    let Decl::Stream(s) = &p.decls[0] else {
        panic!("not a stream")
    };
    let StageKind::Where(e) = &s.stages[0].kind else {
        panic!("not where")
    };
    let ExprKind::Binary { op, left, right } = &e.kind else {
        panic!("not binary: {e:?}")
    };
    assert_eq!(*op, BinaryOp::And);
    let ExprKind::Binary { left: neg, .. } = &left.kind else {
        panic!("not a comparison")
    };
    assert_eq!(neg.kind, ExprKind::Literal(Literal::Int(-7)));
    assert!(matches!(
        &right.kind,
        ExprKind::Unary { op: UnaryOp::Not, expr } if matches!(expr.kind, ExprKind::IsNull { .. })
    ));
    let StageKind::Top(t) = &s.stages[1].kind else {
        panic!("not top")
    };
    assert_eq!(
        (t.k, t.by[0].descending, t.by[0].explicit, t.per.len()),
        (3, true, true, 1)
    );
    assert_eq!(
        s.stages[1].hint.as_ref().map(|h| h.name.as_str()),
        Some("gpu")
    );
    // Spans are absolute byte offsets.
    let src = "pipeline p\nstream s = a | where x";
    let (p, _) = parse(src);
    let Decl::Stream(s) = &p.decls[0] else {
        panic!("not a stream")
    };
    assert_eq!(&src[s.span.start..s.span.end], "stream s = a | where x");
    assert_eq!(
        &src[s.stages[0].span.start..s.stages[0].span.end],
        "where x"
    );
}

#[test]
fn comments_are_collected_with_spans() {
    let src = "# one\nsource a = stdin as csv { x = \"# not a comment\" } # two\n";
    let (p, d) = parse(src);
    assert!(d.is_empty());
    let got: Vec<(&str, &str)> = p
        .comments
        .iter()
        .map(|c| (c.text.as_str(), &src[c.span.start..c.span.end]))
        .collect();
    assert_eq!(got, vec![("# one", "# one"), ("# two", "# two")]);
}

/// Parses `input` and compares every diagnostic as `"LINE:COL CODE message"`, plus the hint of
/// each (when `hints` names one).
fn check_errors(input: &str, expected: &[&str], hints: &[Option<&str>]) {
    let (_, diags) = parse(input);
    let got: Vec<String> = diags
        .iter()
        .map(|d| {
            let (l, c) = line_col(input, d.span.start);
            format!("{l}:{c} {} {}", d.code, d.message)
        })
        .collect();
    assert_eq!(got, expected, "for input:\n{input}");
    for (d, hint) in diags.iter().zip(hints) {
        if let Some(h) = hint {
            assert_eq!(d.hint.as_deref(), Some(*h), "hint of {}", d.message);
        }
    }
    for d in &diags {
        assert!(
            !d.message.contains('_') || d.message.contains('`'),
            "rule name leaked: {}",
            d.message
        );
    }
}

#[test]
fn error_unknown_stage_suggests_the_sluice_word() {
    check_errors(
        "stream a = f | filter x > 1",
        &["1:16 E0004 unknown stage `filter`"],
        &[Some("did you mean `where`?")],
    );
    check_errors(
        "stream a = f\n  | selct x",
        &["2:5 E0004 unknown stage `selct`"],
        &[Some("did you mean `select`?")],
    );
}

#[test]
fn error_missing_expression_after_where() {
    check_errors(
        "stream a = f | where\nsink o = stdout as csv <- a",
        &["1:21 E0005 expected an expression after `where`"],
        &[None],
    );
    check_errors(
        "stream a = f | where x >\n  | select x",
        &["2:3 E0005 expected an expression after `>`"],
        &[None],
    );
}

#[test]
fn error_assignment_instead_of_comparison() {
    check_errors(
        "stream a = f | where a = 1",
        &["1:24 E0006 found `=` where a comparison was expected"],
        &[Some("use `==` to compare")],
    );
    check_errors(
        "stream a = f | join t on a = t.b",
        &["1:28 E0006 found `=` where a comparison was expected"],
        &[None],
    );
}

#[test]
fn error_declaration_shape() {
    check_errors(
        "source flights file(\"x\") as csv",
        &["1:16 E0003 expected `=` after `source flights`"],
        &[Some("a declaration reads `source NAME = ...`")],
    );
    check_errors(
        "soruce flights = stdin as csv",
        &["1:1 E0002 unknown declaration `soruce`"],
        &[Some("did you mean `source`?")],
    );
    check_errors(
        "sink o = stdout as jsonl",
        &["1:25 E0007 sink `o` does not name its input"],
        &[None],
    );
    check_errors(
        "source table = stdin as csv",
        &["1:8 E0016 expected a name, found keyword `table`"],
        &[None],
    );
    check_errors(
        "pipeline a\npipeline b",
        &["2:10 E0017 the pipeline is already named `a`"],
        &[None],
    );
}

#[test]
fn error_lexical() {
    check_errors(
        "source a = file(\"x) as csv\nstream s = a",
        &["1:17 E0008 unterminated string"],
        &[None],
    );
    check_errors(
        "source a = stdin as csv { schema { x: int }\nstream s = a",
        &["1:25 E0009 unclosed `{`"],
        &[Some("add a matching `}`")],
    );
    check_errors(
        "stream s = a | select (x]",
        &["1:25 E0010 mismatched closing delimiter `]`"],
        &[None],
    );
    check_errors(
        "stream s = a | select x)",
        &["1:24 E0010 unexpected closing delimiter `)`"],
        &[None],
    );
}

#[test]
fn error_literals() {
    check_errors(
        "stream s = a | window tumbling(5x)",
        &["1:32 E0011 unknown duration unit `x` in `5x`"],
        &[Some("duration units are ms, s, m, h, d")],
    );
    check_errors(
        "stream s = a | window tumbling(5)",
        &["1:32 E0019 expected a duration, found `5`"],
        &[None],
    );
    check_errors(
        "stream s = a | where t > @2013-13-01T00:00:00Z",
        &["1:26 E0012 invalid timestamp literal `@2013-13-01T00:00:00Z`"],
        &[None],
    );
    check_errors(
        "stream s = a | where n > 9223372036854775808",
        &["1:26 E0013 integer literal `9223372036854775808` is too large"],
        &[None],
    );
    check_errors(
        "stream s = a | where n > 1e999 or s == \"\\q\" or d > 1.5h",
        &[
            "1:26 E0014 float literal `1e999` is out of range",
            "1:41 E0015 invalid escape `\\q` in string",
            "1:52 E0011 duration `1.5h` is not a whole number",
        ],
        &[None],
    );
    check_errors(
        "stream s = a | top 1.5 by n | where x @fpga",
        &[
            "1:20 E0020 expected a row count after `top`, found `1.5`",
            "1:40 E0018 unknown placement hint `@fpga`",
        ],
        &[None],
    );
}

#[test]
fn error_generic_messages_use_words() {
    check_errors(
        "stream s = a | group bye x",
        &["1:22 E0001 expected `by` after `group`, found `bye`"],
        &[Some("did you mean `by`?")],
    );
    check_errors(
        "stream s = a | aggregate count()",
        &["1:31 E0001 expected `=` after `count`, found `(`"],
        &[Some("an aggregate names its result column: `n = count()`")],
    );
    check_errors(
        "source a = stdin as csv { schema { x int } }",
        &["1:38 E0001 expected `:` after `x`, found `int`"],
        &[None],
    );
    check_errors(
        "stream s = a | where x y",
        &["1:24 E0001 expected an operator, `|` or the end of the declaration, found `y`"],
        &[None],
    );
    check_errors(
        "stream s = a |",
        &["1:15 E0021 expected a stage after `|`"],
        &[None],
    );
}

#[test]
fn two_broken_declarations_in_a_file_are_both_reported() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/syntax/errors/two_broken.sluice");
    let src = std::fs::read_to_string(path).expect("readable");
    check_errors(
        &src,
        &[
            "4:1 E0002 unknown declaration `soruce`",
            "9:5 E0004 unknown stage `filter`",
        ],
        &[
            Some("did you mean `source`?"),
            Some("did you mean `where`?"),
        ],
    );
    let (p, _) = parse(&src);
    let names: Vec<&str> = p
        .decls
        .iter()
        .filter_map(|d| d.name())
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["good"]);
    assert_eq!(p.comments.len(), 1);
}

#[test]
fn crlf_and_byte_order_mark() {
    let src = "\u{feff}# c\r\nsource a = stdin as csv {\r\n  header = true # h\r\n}\r\n";
    let p = parse_ok(src, "crlf");
    let texts: Vec<&str> = p.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["# c", "# h"]);
    assert_round_trip(src, "crlf");
}

#[test]
fn every_broken_declaration_is_reported_and_the_rest_survive() {
    let src = "pipeline p\n\
               source a = stdin as csv { schema { x: int } }\n\
               stream broken1 = a | filter x > 1\n\
               stream good = a\n  | where x > 1\n\
               sink broken2 = stdout as jsonl\n\
               sink out = stdout as jsonl <- good\n";
    check_errors(
        src,
        &[
            "3:22 E0004 unknown stage `filter`",
            "6:31 E0007 sink `broken2` does not name its input",
        ],
        &[
            None,
            Some(
                "a sink names its input with `<- STREAM`, e.g. `sink out = stdout as jsonl <- late`",
            ),
        ],
    );
    let (p, _) = parse(src);
    let names: Vec<&str> = p
        .decls
        .iter()
        .filter_map(|d| d.name())
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["a", "good", "out"]);
    assert_eq!(p.name.map(|n| n.name), Some("p".to_string()));
}

/// Mutates the corpus (deletes, duplicates and inserts bytes; truncates): the parser must never
/// panic, and whatever still parses without errors must round trip.
#[test]
fn mutated_corpus_never_panics_and_clean_results_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/syntax");
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n.max(1)
    };
    const PIECES: &[&str] = &[
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "#",
        "|",
        "=",
        "==",
        ",",
        "-",
        "\n",
        " ",
        "@",
        "é",
        "\\",
        "where",
        "select",
        "and",
        "1h",
        "7",
        "x",
        "source s = stdin\n",
        "<-",
    ];
    for file in sluice_files(&dir) {
        let text = std::fs::read_to_string(&file).expect("readable");
        for _ in 0..100 {
            let mut s = text.clone();
            for _ in 0..1 + next(3) {
                let mut at = next(s.len() + 1);
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                match next(4) {
                    0 => {
                        let mut end = (at + 1 + next(8)).min(s.len());
                        while !s.is_char_boundary(end) {
                            end += 1;
                        }
                        s.replace_range(at..end, "");
                    }
                    1 => s.insert_str(at, PIECES[next(PIECES.len())]),
                    2 => s.truncate(at),
                    _ => {
                        let piece = PIECES[next(PIECES.len())];
                        s.insert_str(at, piece);
                        s.insert_str(at, piece);
                    }
                }
            }
            let (p, diags) = parse(&s);
            for d in &diags {
                assert!(
                    d.span.start <= d.span.end && d.span.end <= s.len(),
                    "bad span in {s:?}"
                );
                assert!(
                    s.is_char_boundary(d.span.start),
                    "span inside a character in {s:?}"
                );
            }
            if diags.is_empty() {
                assert_round_trip(&s, &format!("mutation of {}:\n{s}", file.display()));
            } else {
                // The formatter copes with partial trees too.
                let _ = format(&p);
            }
        }
    }
}
