use sluice_dsl::diagnostic::line_col;
use sluice_dsl::syntax::{format, parse};
#[test]
fn scratch() {
    let path = std::env::var("SCRATCH").unwrap();
    let src = std::fs::read_to_string(path).unwrap();
    let (p, d) = parse(&src);
    if std::env::var("FMT").is_ok() { println!("{}", format(&p)); }
    for d in &d {
        let (l, c) = line_col(&src, d.span.start);
        println!("{l}:{c} {} {} [{}] hint={:?}", d.code, d.message, d.label, d.hint);
    }
    println!("decls: {:?}", p.decls.iter().map(|d| d.name().map(|n| n.name.clone())).collect::<Vec<_>>());
}
