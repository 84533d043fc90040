// Helpers for kernels generated from typed expressions (engine/src/gpu/codegen.rs).
// Semantics are the CPU evaluator's (engine/src/expr/): integer overflow and division by
// zero give null; floats compare as in expr/compare.rs (-0 == 0, NaN == NaN, NaN largest).
// NaN is found from the bits: `x != x` is an ordered compare in SPIR-V and is never true.

// i64 extremes without constant arithmetic (naga does not fold i64 operators): !MIN is MAX.
fn is_min(x: i64) -> bool {
    return ~x == 0x7fffffffffffffffli;
}

fn is_minus_one(x: i64) -> bool {
    return ~x == 0li;
}

fn f_nan(x: f64) -> bool {
    return (bitcast<u64>(x) & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu;
}

fn f_eq(a: f64, b: f64) -> bool {
    let na = f_nan(a);
    let nb = f_nan(b);
    return (!na && !nb && a == b) || (na && nb);
}

fn f_lt(a: f64, b: f64) -> bool {
    let na = f_nan(a);
    let nb = f_nan(b);
    return (!na && !nb && a < b) || (nb && !na);
}

fn f_le(a: f64, b: f64) -> bool {
    let na = f_nan(a);
    let nb = f_nan(b);
    return (!na && !nb && a <= b) || nb;
}

fn add_ok(a: i64, b: i64, r: i64) -> bool {
    return ((a ^ r) & (b ^ r)) >= 0li;
}

fn sub_ok(a: i64, b: i64, r: i64) -> bool {
    return ((a ^ b) & (a ^ r)) >= 0li;
}

fn mul_ok(a: i64, b: i64, r: i64) -> bool {
    if (a == 0li) {
        return true;
    }
    if (is_minus_one(a)) {
        return !is_min(b);
    }
    return r / a == b;
}

fn div_ok(a: i64, b: i64) -> bool {
    return b != 0li && !(is_min(a) && is_minus_one(b));
}

// Truncating division; the divisor is replaced where the row is null anyway.
fn div_i(a: i64, b: i64) -> i64 {
    return a / select(1li, b, div_ok(a, b));
}

// Remainder with the dividend's sign; x % -1 is 0 (also for I64_MIN), x % 0 is null.
fn rem_i(a: i64, b: i64) -> i64 {
    if (b == 0li || is_minus_one(b)) {
        return 0li;
    }
    return a % b;
}

// f64 -> i64 truncating toward zero; `ok` false for NaN, infinities and out of range.
fn f_to_i_ok(x: f64) -> bool {
    return !f_nan(x) && x >= -9223372036854775808.0lf && x < 9223372036854775808.0lf;
}

fn f_to_i(x: f64) -> i64 {
    return i64(select(0.0lf, x, f_to_i_ok(x)));
}

fn bit(words: u32, r: u32) -> bool {
    return ((words >> r) & 1u) != 0u;
}
