//! Calendar days and the per-column `format` of a source schema (`timestamp format "%d/%m/%Y"`).
//!
//! Shared by the checker (validation, date literals) and the engine's readers (parsing), so a
//! pattern means the same thing in both. Dates are days since 1970-01-01 (Arrow's `Date32`).

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime};

const MS_PER_DAY: i64 = 86_400_000;

/// How a timestamp or date column of a source is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimeFormat {
    /// A chrono strftime pattern, checked by `TimeFormat::parse`. Without a zone in the
    /// pattern the time is UTC; without a time of day it is midnight.
    Pattern(String),
    /// Integer seconds, milliseconds or microseconds since the epoch.
    EpochS,
    EpochMs,
    EpochUs,
}

impl TimeFormat {
    /// The setting as written: `epoch_s`, `epoch_ms`, `epoch_us` or a strftime pattern that can
    /// identify a day. `Err` says what is wrong with the pattern.
    pub fn parse(text: &str) -> Result<TimeFormat, String> {
        match text {
            "epoch_s" => return Ok(TimeFormat::EpochS),
            "epoch_ms" => return Ok(TimeFormat::EpochMs),
            "epoch_us" => return Ok(TimeFormat::EpochUs),
            _ => {}
        }
        let items: Vec<Item<'_>> = StrftimeItems::new(text).collect();
        if items.iter().any(|i| matches!(i, Item::Error)) {
            return Err("not a valid strftime pattern".into());
        }
        // A pattern must read back what it writes: that rules out patterns without a day.
        let probe = DateTime::from_timestamp_millis(981_173_106_789).expect("in range");
        let written = probe.format_with_items(items.iter()).to_string();
        match pattern_millis(text, &written) {
            Some(_) => Ok(TimeFormat::Pattern(text.to_string())),
            None => {
                Err("it cannot identify a day (it needs a year, month and day, or `%s`)".into())
            }
        }
    }

    /// The setting's text, as `parse` takes it.
    pub fn text(&self) -> &str {
        match self {
            TimeFormat::Pattern(p) => p,
            TimeFormat::EpochS => "epoch_s",
            TimeFormat::EpochMs => "epoch_ms",
            TimeFormat::EpochUs => "epoch_us",
        }
    }

    /// Text to epoch milliseconds; `None` when it does not match.
    pub fn millis(&self, s: &str) -> Option<i64> {
        match self {
            TimeFormat::Pattern(p) => pattern_millis(p, s),
            _ => self.millis_of_int(s.parse().ok()?),
        }
    }

    /// An integer (JSON number) to epoch milliseconds: only for the epoch formats.
    pub fn millis_of_int(&self, v: i64) -> Option<i64> {
        match self {
            TimeFormat::Pattern(_) => None,
            TimeFormat::EpochS => v.checked_mul(1000),
            TimeFormat::EpochMs => Some(v),
            TimeFormat::EpochUs => Some(v.div_euclid(1000)),
        }
    }
}

/// The UTC day of an epoch-millisecond time (toward the earlier day before 1970).
pub fn day_of_millis(ms: i64) -> Option<i32> {
    i32::try_from(ms.div_euclid(MS_PER_DAY)).ok()
}

/// Midnight UTC of a day, epoch milliseconds.
pub fn millis_of_day(days: i32) -> i64 {
    i64::from(days) * MS_PER_DAY
}

/// `YYYY-MM-DD` (four-digit year, two-digit month and day) to days since 1970-01-01.
pub fn parse_iso_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |v, c| {
            c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    Some(days_of(date))
}

/// Days since 1970-01-01 as `YYYY-MM-DD`; `None` outside chrono's range.
pub fn iso_date(days: i32) -> Option<String> {
    date_of(days).map(|d| d.format("%Y-%m-%d").to_string())
}

/// The calendar day of a day number.
pub fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_FROM_CE)?)
}

pub fn days_of(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_FROM_CE
}

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_FROM_CE: i32 = 719_163;

/// Parses `s` with a strftime pattern: a day is required, the time of day defaults to midnight,
/// the zone to UTC; `%s` alone is enough.
fn pattern_millis(pattern: &str, s: &str) -> Option<i64> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, StrftimeItems::new(pattern)).ok()?;
    if let Some(secs) = parsed.timestamp() {
        let nanos = i64::from(parsed.nanosecond().unwrap_or(0));
        return secs.checked_mul(1000)?.checked_add(nanos / 1_000_000);
    }
    let date = parsed.to_naive_date().ok()?;
    let time = if parsed.hour_div_12().is_some() || parsed.hour_mod_12().is_some() {
        parsed.to_naive_time().ok()?
    } else {
        NaiveTime::MIN
    };
    let offset_ms = i64::from(parsed.offset().unwrap_or(0)) * 1000;
    let local = date.and_time(time).and_utc().timestamp_millis();
    local.checked_sub(offset_ms)
}
