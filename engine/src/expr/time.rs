//! Time functions (`hour`, `day`, `month`, `year`, `date_trunc`) and the text forms of
//! timestamps and durations used by casts.
//!
//! Timestamps are i64 milliseconds since the Unix epoch, UTC, without leap seconds, so a day is
//! always 86 400 000 ms. `hour`/`day`/`month`/`year` use Arrow's `date_part` kernel (Int32,
//! widened to the language's int). `date_trunc` has no Arrow kernel for millisecond timestamps:
//! fixed units are a Euclidean remainder, months and years go through Howard Hinnant's exact
//! civil-calendar arithmetic (proleptic Gregorian), no chrono per row. A result that would not
//! fit in i64 is null.

use std::fmt;
use std::sync::Arc;

use arrow_arith::temporal::{DatePart, date_part as arrow_date_part};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{ArrayRef, TimestampMillisecondArray};
use arrow_schema::DataType as ArrowType;
use chrono::Utc;
use sluice_dsl::plan::{ScalarFunc, TimeUnit};

use super::{ExprError, Operand};

pub(super) const MS_PER_SECOND: i64 = 1_000;
pub(super) const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
pub(super) const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
pub(super) const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// `hour`, `day` (of the month), `month` (1-12) or `year` of a UTC timestamp, as int.
pub(super) fn date_part(ts: Operand, f: ScalarFunc) -> Result<Operand, ExprError> {
    let part = match f {
        ScalarFunc::Hour => DatePart::Hour,
        ScalarFunc::Day => DatePart::Day,
        ScalarFunc::Month => DatePart::Month,
        _ => DatePart::Year,
    };
    ts.map(|a| {
        let parts = arrow_date_part(a.as_ref(), part)?;
        Ok(arrow_cast::cast(&parts, &ArrowType::Int64)?)
    })
}

/// `date_trunc(unit, ts)`: the start of the UTC second/minute/hour/day/month/year containing `ts`.
pub(super) fn date_trunc(ts: Operand, unit: TimeUnit) -> Result<Operand, ExprError> {
    ts.map(|a| {
        let a = a.as_primitive::<TimestampMillisecondType>();
        let out: TimestampMillisecondArray = match unit {
            TimeUnit::Second => a.unary_opt(|v| trunc_fixed(v, MS_PER_SECOND)),
            TimeUnit::Minute => a.unary_opt(|v| trunc_fixed(v, MS_PER_MINUTE)),
            TimeUnit::Hour => a.unary_opt(|v| trunc_fixed(v, MS_PER_HOUR)),
            TimeUnit::Day => a.unary_opt(|v| trunc_fixed(v, MS_PER_DAY)),
            TimeUnit::Month => a.unary_opt(|v| {
                let (y, m, _) = civil_from_days(v.div_euclid(MS_PER_DAY));
                days_from_civil(y, m, 1).checked_mul(MS_PER_DAY)
            }),
            TimeUnit::Year => a.unary_opt(|v| {
                let (y, _, _) = civil_from_days(v.div_euclid(MS_PER_DAY));
                days_from_civil(y, 1, 1).checked_mul(MS_PER_DAY)
            }),
        };
        Ok(Arc::new(out) as ArrayRef)
    })
}

#[inline(always)]
fn trunc_fixed(v: i64, unit: i64) -> Option<i64> {
    v.checked_sub(v.rem_euclid(unit))
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Writes `ms` as RFC 3339 in UTC: `2013-01-01T05:00:00Z`, with `.mmm` only when the
/// milliseconds are not zero. Years outside 0000-9999 get a sign (`+10000-01-01T00:00:00Z`),
/// as ISO 8601's expanded form.
pub(super) fn write_rfc3339(ms: i64, out: &mut impl fmt::Write) -> fmt::Result {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let hour = in_day / MS_PER_HOUR;
    let minute = in_day / MS_PER_MINUTE % 60;
    let second = in_day / MS_PER_SECOND % 60;
    let milli = in_day % MS_PER_SECOND;
    if !(0..=9999).contains(&year) {
        write!(
            out,
            "{year:+05}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
        )?;
        if milli != 0 {
            write!(out, ".{milli:03}")?;
        }
        return out.write_char('Z');
    }
    // The common case without the formatting machinery.
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut buf[0..4], year);
    put_digits(&mut buf[5..7], i64::from(month));
    put_digits(&mut buf[8..10], i64::from(day));
    put_digits(&mut buf[11..13], hour);
    put_digits(&mut buf[14..16], minute);
    put_digits(&mut buf[17..19], second);
    let text = if milli == 0 {
        buf[19] = b'Z';
        &buf[..20]
    } else {
        put_digits(&mut buf[20..23], milli);
        &buf[..]
    };
    out.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

/// Fills `dst` with the low decimal digits of the non-negative `v`, zero-padded.
fn put_digits(dst: &mut [u8], mut v: i64) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Parses a timestamp: integer milliseconds since the epoch, or RFC 3339 / ISO 8601 text
/// (Arrow's parser: `2013-01-01T05:00:00Z`, `2013-01-01 05:00:00.5+02:00`, `2013-01-01`; without
/// an offset the time is UTC). Sub-millisecond digits are truncated toward the past.
pub(super) fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    arrow_cast::parse::string_to_datetime(&Utc, s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Parses a duration: integer milliseconds, or an integer with a unit as in the language's
/// literals (`250ms`, `10s`, `5m`, `1h`, `2d`; a sign is allowed). Overflow gives `None`.
pub(super) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let number = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let factor = match &s[number.len()..] {
        "" | "ms" => 1,
        "s" => MS_PER_SECOND,
        "m" => MS_PER_MINUTE,
        "h" => MS_PER_HOUR,
        "d" => MS_PER_DAY,
        _ => return None,
    };
    number.parse::<i64>().ok()?.checked_mul(factor)
}

/// Writes a duration as a language literal in the largest unit that divides it exactly
/// (`90000` -> `90s`, `3600000` -> `1h`, `1500` -> `1500ms`, `0` -> `0ms`), so that it parses
/// back with [`parse_duration`].
pub(super) fn write_duration(ms: i64, out: &mut impl fmt::Write) -> fmt::Result {
    let (n, unit) = [
        (MS_PER_DAY, "d"),
        (MS_PER_HOUR, "h"),
        (MS_PER_MINUTE, "m"),
        (MS_PER_SECOND, "s"),
    ]
    .into_iter()
    .find(|(u, _)| ms != 0 && ms % u == 0)
    .map_or((ms, "ms"), |(u, name)| (ms / u, name));
    out.write_str(itoa::Buffer::new().format(n))?;
    out.write_str(unit)
}
