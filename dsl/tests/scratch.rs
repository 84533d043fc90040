#[test]
fn scratch() {
    let src = std::fs::read_to_string("/tmp/s.sluice").unwrap();
    match sluice_dsl::compile(&src, "x", &|_| None) {
        Ok(p) => print!("{p}"),
        Err(ds) => for d in ds { println!("{} {:?} {}", d.code, sluice_dsl::diagnostic::line_col(&src, d.span.start), d.message) },
    }
}
