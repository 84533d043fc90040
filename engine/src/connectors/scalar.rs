//! Text forms of scalar values, shared by the readers (parsing) and the encoders (formatting).
//!
//! Hand-written rather than chrono / `str::parse` because both sides sit on the hot path of
//! every file source and sink: parsing works on borrowed `&str` without allocating, formatting
//! appends to a caller's `Vec<u8>`. The accepted forms:
//!
//! - int: optional sign, ASCII digits, i64 range (no spaces, no `_`, no exponent).
//! - float: whatever `f64::from_str` accepts (`1.5`, `-2e-3`, `.5`, `inf`, `NaN`).
//! - bool: `true` / `false` in any case, or `1` / `0`.
//! - timestamp: integer epoch milliseconds (`1357016400000`), or RFC 3339
//!   `YYYY-MM-DD[T| ]HH:MM:SS[.fraction][Z|±HH:MM]`. Leniencies: a missing offset means UTC, a
//!   bare date `YYYY-MM-DD` means its midnight UTC. Fractions beyond milliseconds are truncated.
//! - date: `YYYY-MM-DD` exactly (four-digit year), a real calendar day.
//! - duration: integer milliseconds, or an integer with a unit `ms`, `s`, `m`, `h`, `d` (the
//!   language's literal forms, e.g. `250ms`, `10s`).
//!
//! Timestamps are written as RFC 3339 UTC with a `Z`, with `.mmm` only when the milliseconds
//! are not zero: `2013-01-01T05:00:00Z`, `2013-01-01T05:00:00.123Z`; dates as `YYYY-MM-DD`
//! (ISO 8601 expanded years outside 0000-9999, as for timestamps).

/// Why a text is not an int.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntError {
    Invalid,
    OutOfRange,
}

/// Parses a decimal i64 (optional `+`/`-`, digits only).
pub(crate) fn parse_int(s: &str) -> Result<i64, IntError> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return Err(IntError::Invalid);
    }
    let mut v: i64 = 0;
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(IntError::Invalid);
        }
        let next = v.checked_mul(10).and_then(|v| {
            if neg {
                v.checked_sub(i64::from(d))
            } else {
                v.checked_add(i64::from(d))
            }
        });
        match next {
            Some(n) => v = n,
            None => {
                return if digits[i..].iter().all(u8::is_ascii_digit) {
                    Err(IntError::OutOfRange)
                } else {
                    Err(IntError::Invalid)
                };
            }
        }
    }
    Ok(v)
}

pub(crate) fn parse_float(s: &str) -> Option<f64> {
    fast_float(s.as_bytes()).or_else(|| s.parse::<f64>().ok())
}

/// Exact powers of ten as f64 (all below 2^53 up to 1e22).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Clinger's fast path for the common `[-]digits[.digits]` with at most 15 significant digits:
/// the mantissa and the power of ten are both exact in f64, so one IEEE division gives the
/// correctly rounded result, the same value `str::parse` gives. `None` for anything else
/// (exponents, long mantissas, `inf`), which takes the general parser.
fn fast_float(b: &[u8]) -> Option<f64> {
    let (neg, rest) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut frac = None;
    for (i, &c) in rest.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
            }
            b'.' if frac.is_none() => frac = Some(i),
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = frac.map_or(0, |i| rest.len() - i - 1);
    let v = mantissa as f64 / POW10[scale];
    Some(if neg { -v } else { v })
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// Epoch milliseconds from integer ms or RFC 3339 text.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let looks_int = match b.first() {
        Some(b'-' | b'+') => b.len() > 1 && b[1..].iter().all(u8::is_ascii_digit),
        Some(_) => b.iter().all(u8::is_ascii_digit),
        None => false,
    };
    if looks_int {
        parse_int(s).ok()
    } else {
        parse_rfc3339(b)
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(v)
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return None;
    }
    // Years 0000-9999 always fit in i32 days.
    ymd_days(b).map(|d| d as i32)
}

/// The day of the `YYYY-MM-DD` that `b` starts with (`b` has at least 10 bytes).
fn ymd_days(b: &[u8]) -> Option<i64> {
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    if b.len() < 10 {
        return None;
    }
    let days = ymd_days(b)?;
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let seconds = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second;
    Some(seconds * 1000 + millis)
}

/// Milliseconds from integer ms or `<int><unit>` with unit ms, s, m, h, d.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(v) = parse_int(s) {
        return Some(v);
    }
    let split = s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
    let (number, unit) = s.split_at(split);
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    parse_int(number).ok()?.checked_mul(scale)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `ms` (epoch milliseconds) as RFC 3339 UTC: `2013-01-01T05:00:00Z`, or
/// `2013-01-01T05:00:00.120Z` when the milliseconds are not zero.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, ms: i64) {
    let rem = ms.rem_euclid(86_400_000) as u32;
    write_date(out, ms.div_euclid(86_400_000));
    out.push(b'T');
    push2(out, rem / 3_600_000);
    out.push(b':');
    push2(out, rem / 60_000 % 60);
    out.push(b':');
    push2(out, rem / 1000 % 60);
    let millis = rem % 1000;
    if millis != 0 {
        out.push(b'.');
        out.push(b'0' + (millis / 100) as u8);
        push2(out, millis % 100);
    }
    out.push(b'Z');
}

/// Appends a day (days since 1970-01-01) as `YYYY-MM-DD`.
pub(crate) fn write_date(out: &mut Vec<u8>, days: i64) {
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let y = year as u32;
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        // Outside RFC 3339's range: ISO 8601 expanded years, as chrono writes them.
        out.push(if year < 0 { b'-' } else { b'+' });
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(year.unsigned_abs());
        for _ in digits.len()..4 {
            out.push(b'0');
        }
        out.extend_from_slice(digits.as_bytes());
    }
    out.push(b'-');
    push2(out, month);
    out.push(b'-');
    push2(out, day);
}

/// A value for a message: at most 64 characters, cut at a character boundary.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
