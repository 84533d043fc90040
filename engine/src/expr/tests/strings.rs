//! String functions.

use sluice_dsl::plan::{DataType, ScalarFunc};

use super::*;

const S: DataType = DataType::String;
const I: DataType = DataType::Int;
const B: DataType = DataType::Bool;

fn f1(f: ScalarFunc, arg: TypedExpr, ty: DataType) -> TypedExpr {
    call(f, vec![arg], ty)
}

fn substr(s: TypedExpr, start: TypedExpr, len: TypedExpr) -> TypedExpr {
    call(ScalarFunc::Substr, vec![s, start, len], S)
}

#[test]
fn lower_upper_ascii() {
    let b = batch(vec![strs_col(&[
        Some("Hello"),
        None,
        Some("WORLD 42!"),
        Some(""),
    ])]);
    assert_eq!(
        strs(&f1(ScalarFunc::Lower, col(0, S), S), &b),
        owned(&[Some("hello"), None, Some("world 42!"), Some("")])
    );
    assert_eq!(
        strs(&f1(ScalarFunc::Upper, col(0, S), S), &b),
        owned(&[Some("HELLO"), None, Some("WORLD 42!"), Some("")])
    );
    // A sliced batch (offsets not starting at 0).
    let sliced = b.slice(2, 2);
    assert_eq!(
        strs(&f1(ScalarFunc::Lower, col(0, S), S), &sliced),
        owned(&[Some("world 42!"), Some("")])
    );
    assert_eq!(
        strs(&f1(ScalarFunc::Upper, string("abc"), S), &rows(2)),
        owned(&[Some("ABC"); 2])
    );
}

#[test]
fn lower_upper_unicode() {
    let b = batch(vec![strs_col(&[
        Some("ÀÉÎ x"),
        Some("straße"),
        Some("ΣΑΣ ΟΔΟΣ"),
        None,
        Some("İ"),
    ])]);
    assert_eq!(
        strs(&f1(ScalarFunc::Lower, col(0, S), S), &b),
        // Final sigma becomes ς; İ (U+0130) lowers to i + combining dot (U+0307).
        owned(&[
            Some("àéî x"),
            Some("straße"),
            Some("σας οδος"),
            None,
            Some("i\u{307}")
        ])
    );
    assert_eq!(
        strs(&f1(ScalarFunc::Upper, col(0, S), S), &b),
        owned(&[
            Some("ÀÉÎ X"),
            Some("STRASSE"),
            Some("ΣΑΣ ΟΔΟΣ"),
            None,
            Some("İ")
        ])
    );
}

#[test]
fn length_counts_characters() {
    let b = batch(vec![strs_col(&[
        Some(""),
        Some("abc"),
        Some("héllo"),
        Some("日本語"),
        Some("🦀"),
        None,
    ])]);
    assert_eq!(
        ints(&f1(ScalarFunc::Length, col(0, S), I), &b),
        vec![Some(0), Some(3), Some(5), Some(3), Some(1), None]
    );
    let ascii = batch(vec![strs_col(&[Some("ab"), None, Some("abcd")])]);
    assert_eq!(
        ints(&f1(ScalarFunc::Length, col(0, S), I), &ascii),
        vec![Some(2), None, Some(4)]
    );
    assert_eq!(
        ints(&f1(ScalarFunc::Length, col(0, S), I), &ascii.slice(1, 2)),
        vec![None, Some(4)]
    );
}

#[test]
fn concat_null_if_any_argument_is_null() {
    let b = batch(vec![
        strs_col(&[Some("a"), None, Some("é")]),
        strs_col(&[Some("x"), Some("y"), Some("")]),
    ]);
    let e = call(
        ScalarFunc::Concat,
        vec![col(0, S), string("-"), col(1, S)],
        S,
    );
    assert_eq!(strs(&e, &b), owned(&[Some("a-x"), None, Some("é-")]));
    let e = call(ScalarFunc::Concat, vec![col(0, S), null(S)], S);
    assert_eq!(strs(&e, &b), vec![None; 3]);
    let e = call(
        ScalarFunc::Concat,
        vec![string("a"), string("b"), string("c")],
        S,
    );
    assert_eq!(strs(&e, &b), owned(&[Some("abc"); 3]));
    let e = call(ScalarFunc::Concat, vec![col(1, S)], S);
    assert_eq!(strs(&e, &b), owned(&[Some("x"), Some("y"), Some("")]));
}

#[test]
fn contains_and_starts_with() {
    let b = batch(vec![
        strs_col(&[Some("hello world"), Some("goodbye"), None, Some("日本語")]),
        strs_col(&[Some("world"), Some("bye"), Some("x"), None]),
    ]);
    let contains = |s, p| bools(&call(ScalarFunc::Contains, vec![s, p], B), &b);
    let starts = |s, p| bools(&call(ScalarFunc::StartsWith, vec![s, p], B), &b);
    assert_eq!(
        contains(col(0, S), string("o w")),
        vec![Some(true), Some(false), None, Some(false)]
    );
    assert_eq!(
        contains(col(0, S), string("本")),
        vec![Some(false), Some(false), None, Some(true)]
    );
    assert_eq!(
        contains(col(0, S), string("")),
        vec![Some(true), Some(true), None, Some(true)]
    );
    assert_eq!(
        contains(col(0, S), col(1, S)),
        vec![Some(true), Some(true), None, None]
    );
    assert_eq!(contains(col(0, S), null(S)), vec![None; 4]);
    assert_eq!(
        starts(col(0, S), string("good")),
        vec![Some(false), Some(true), None, Some(false)]
    );
    assert_eq!(
        starts(col(0, S), string("日本")),
        vec![Some(false), Some(false), None, Some(true)]
    );
    assert_eq!(
        starts(string("goodbye"), col(1, S)),
        vec![Some(false), Some(false), Some(false), None]
    );
    assert_eq!(starts(string("ab"), string("a")), vec![Some(true); 4]);
}

#[test]
fn substr_with_constant_bounds() {
    let b = batch(vec![strs_col(&[
        Some("hello"),
        Some("héllo"),
        Some("日本語テキスト"),
        Some("🦀🚀x"),
        None,
        Some(""),
    ])]);
    let s = || col(0, S);
    let sub = |start, len| strs(&substr(s(), int(start), int(len)), &b);
    assert_eq!(
        sub(1, 3),
        owned(&[
            Some("hel"),
            Some("hél"),
            Some("日本語"),
            Some("🦀🚀x"),
            None,
            Some("")
        ])
    );
    assert_eq!(
        sub(2, 3),
        owned(&[
            Some("ell"),
            Some("éll"),
            Some("本語テ"),
            Some("🚀x"),
            None,
            Some("")
        ])
    );
    assert_eq!(
        sub(2, 100),
        owned(&[
            Some("ello"),
            Some("éllo"),
            Some("本語テキスト"),
            Some("🚀x"),
            None,
            Some("")
        ])
    );
    // Positions before 1 eat into the length (SQL).
    assert_eq!(
        sub(0, 2),
        owned(&[Some("h"), Some("h"), Some("日"), Some("🦀"), None, Some("")])
    );
    assert_eq!(
        sub(-1, 3),
        owned(&[Some("h"), Some("h"), Some("日"), Some("🦀"), None, Some("")])
    );
    assert_eq!(
        sub(-5, 3),
        owned(&[Some(""), Some(""), Some(""), Some(""), None, Some("")])
    );
    assert_eq!(
        sub(5, 1),
        owned(&[Some("o"), Some("o"), Some("キ"), Some(""), None, Some("")])
    );
    assert_eq!(
        sub(6, 1),
        owned(&[Some(""), Some(""), Some("ス"), Some(""), None, Some("")])
    );
    assert_eq!(
        sub(3, 0),
        owned(&[Some(""), Some(""), Some(""), Some(""), None, Some("")])
    );
    assert_eq!(
        sub(i64::MIN, i64::MAX),
        owned(&[Some(""), Some(""), Some(""), Some(""), None, Some("")])
    );
    assert_eq!(sub(2, i64::MAX)[0], Some("ello".to_string()));
    // Negative length: null.
    assert_eq!(sub(2, -1), vec![None; 6]);
    assert_eq!(strs(&substr(s(), null(I), int(1)), &b), vec![None; 6]);
}

#[test]
fn substr_with_per_row_bounds() {
    let b = batch(vec![
        strs_col(&[
            Some("hello"),
            Some("héllo"),
            Some("日本語テキスト"),
            Some("abc"),
            None,
            Some("abc"),
            Some("abc"),
        ]),
        ints_col(&[Some(2), Some(0), Some(3), Some(2), Some(1), None, Some(1)]),
        ints_col(&[
            Some(3),
            Some(2),
            Some(2),
            Some(-1),
            Some(1),
            Some(1),
            Some(5),
        ]),
    ]);
    let e = substr(col(0, S), col(1, I), col(2, I));
    assert_eq!(
        strs(&e, &b),
        owned(&[
            Some("ell"),
            Some("h"),
            Some("語テ"),
            None,
            None,
            None,
            Some("abc")
        ])
    );
    // A constant string with per-row bounds.
    let e = substr(string("héllo"), col(1, I), int(2));
    assert_eq!(
        strs(&e, &b),
        owned(&[
            Some("él"),
            Some("h"),
            Some("ll"),
            Some("él"),
            Some("hé"),
            None,
            Some("hé")
        ])
    );
}
