//! String functions. Lengths and positions count Unicode scalar values (Rust `char`s), not bytes.
//!
//! Kernels: `contains`/`starts_with` are `arrow_string::like`, `concat` is
//! `concat_elements_utf8_many`, `substr` with constant bounds is `substring_by_char`. Arrow has no
//! case mapping and its `length` counts bytes, so `lower`/`upper`/`length` are loops here; each has
//! an all-ASCII fast path over the whole value buffer (one pass, offsets and validity reused).
//!
//! `substr(s, start, len)` follows SQL (PostgreSQL): `start` is 1-based and the window is the
//! characters at positions `[start, start + len)`, so a `start` below 1 eats into `len`
//! (`substr("hello", 0, 2)` is `"h"`), a window past the end is cut (`""` when wholly past), and
//! a negative `len` gives null (PostgreSQL raises an error).

use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, StringArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{ArrowError, DataType as ArrowType};
use arrow_string::concat_elements::concat_elements_utf8_many;
use arrow_string::like;
use arrow_string::substring::substring_by_char;

use super::{ExprError, Lanes, Operand, null_result, shape};

/// `lower(s)` or `upper(s)` (full Unicode case mapping).
pub(super) fn change_case(a: &ArrayRef, upper: bool) -> Result<ArrayRef, ExprError> {
    let s = a.as_string::<i32>();
    if s.is_ascii() {
        let offsets = s.offsets();
        let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
        let bytes = &s.values()[first..last];
        let mapped = if upper {
            bytes.to_ascii_uppercase()
        } else {
            bytes.to_ascii_lowercase()
        };
        let offsets = if first == 0 {
            offsets.clone()
        } else {
            let base = offsets[0];
            OffsetBuffer::new(
                offsets
                    .iter()
                    .map(|o| o - base)
                    .collect::<Vec<i32>>()
                    .into(),
            )
        };
        return Ok(Arc::new(StringArray::try_new(
            offsets,
            mapped.into(),
            s.nulls().cloned(),
        )?));
    }
    let mut out = StringBuilder::with_capacity(s.len(), s.values().len());
    for v in s.iter() {
        match v {
            None => out.append_null(),
            // Final sigma depends on context, which only `str::to_lowercase` handles (rare).
            Some(v) if !upper && v.contains('Σ') => out.append_value(v.to_lowercase()),
            Some(v) => {
                let written = if upper {
                    v.chars()
                        .flat_map(char::to_uppercase)
                        .try_for_each(|c| out.write_char(c))
                } else {
                    v.chars()
                        .flat_map(char::to_lowercase)
                        .try_for_each(|c| out.write_char(c))
                };
                written.map_err(|e| ArrowError::ComputeError(e.to_string()))?;
                out.append_value("");
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `length(s)` in characters.
pub(super) fn char_length(a: &ArrayRef) -> Result<ArrayRef, ExprError> {
    let s = a.as_string::<i32>();
    let lengths: Vec<i64> = if s.is_ascii() {
        s.offsets()
            .windows(2)
            .map(|w| i64::from(w[1] - w[0]))
            .collect()
    } else {
        (0..s.len())
            .map(|i| s.value(i).chars().count() as i64)
            .collect()
    };
    Ok(Arc::new(Int64Array::new(
        lengths.into(),
        s.nulls().cloned(),
    )))
}

/// `concat(a, b, ...)`: null if any argument is null.
pub(super) fn concat(parts: Vec<Operand>, rows: usize) -> Result<Operand, ExprError> {
    let refs: Vec<&Operand> = parts.iter().collect();
    if shape(&refs, rows).is_none() {
        return Ok(null_result(&refs, &ArrowType::Utf8, rows));
    }
    match parts.as_slice() {
        [] => return Ok(Operand::Scalar(Arc::new(StringArray::from(vec![""])))),
        [only] => return Ok(only.clone()),
        _ => {}
    }
    let scalar = parts.iter().all(Operand::is_scalar);
    let len = if scalar { 1 } else { rows };
    // The kernel wants equal-length arrays: constants (typically short separators) are broadcast.
    let arrays: Vec<ArrayRef> = parts.into_iter().map(|p| p.into_array(len)).collect();
    let strings: Vec<&StringArray> = arrays.iter().map(|a| a.as_string::<i32>()).collect();
    let out: ArrayRef = Arc::new(concat_elements_utf8_many(&strings)?);
    Ok(Operand::wrap(out, scalar))
}

/// `contains(s, pattern)` or `starts_with(s, prefix)` (plain substrings, no wildcards).
pub(super) fn predicate(starts_with: bool, s: &Operand, p: &Operand) -> Result<Operand, ExprError> {
    let out = if starts_with {
        like::starts_with(s, p)?
    } else {
        like::contains(s, p)?
    };
    Ok(Operand::wrap(Arc::new(out), s.is_scalar() && p.is_scalar()))
}

/// `substr(s, start, len)`, see the module docs.
pub(super) fn substr(
    s: &Operand,
    start: &Operand,
    len: &Operand,
    rows: usize,
) -> Result<Operand, ExprError> {
    let ops = [s, start, len];
    let Some((n, _, nulls)) = shape(&ops, rows) else {
        return Ok(null_result(&ops, &ArrowType::Utf8, rows));
    };
    let (starts, lens) = (Lanes::of::<Int64Type>(start), Lanes::of::<Int64Type>(len));
    if start.is_scalar() && len.is_scalar() {
        let Some((from, count)) = char_window(starts.get(0), lens.get(0)) else {
            return Ok(null_result(&ops, &ArrowType::Utf8, rows));
        };
        return s.clone().map(|a| {
            let from = i64::try_from(from).unwrap_or(i64::MAX);
            Ok(Arc::new(substring_by_char(
                a.as_string::<i32>(),
                from,
                Some(count as u64),
            )?))
        });
    }
    let strings = s.array().as_string::<i32>();
    let s_mask = if s.is_scalar() { 0 } else { usize::MAX };
    let mut out = StringBuilder::with_capacity(n, strings.values().len().min(n.saturating_mul(16)));
    for i in 0..n {
        let window = if nulls.as_ref().is_none_or(|b| b.is_valid(i)) {
            char_window(starts.get(i), lens.get(i))
        } else {
            None
        };
        match window {
            Some((from, count)) => {
                out.append_value(slice_chars(strings.value(i & s_mask), from, count))
            }
            None => out.append_null(),
        }
    }
    Ok(Operand::Array(Arc::new(out.finish())))
}

/// The 0-based first character and the character count of `substr(_, start, len)`, or `None`
/// for a negative `len`.
fn char_window(start: i64, len: i64) -> Option<(usize, usize)> {
    if len < 0 {
        return None;
    }
    let end = start.saturating_add(len); // exclusive, 1-based
    let begin = start.max(1);
    let count = end.saturating_sub(begin).max(0);
    let to_usize = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    Some((to_usize(begin - 1), to_usize(count)))
}

/// The `count` characters of `v` from character `from` (cut at the end of `v`).
fn slice_chars(v: &str, from: usize, count: usize) -> &str {
    if v.is_ascii() {
        let a = from.min(v.len());
        let b = a.saturating_add(count).min(v.len());
        return &v[a..b];
    }
    let start = v.char_indices().nth(from).map_or(v.len(), |(i, _)| i);
    let rest = &v[start..];
    let end = rest
        .char_indices()
        .nth(count)
        .map_or(rest.len(), |(i, _)| i);
    &rest[..end]
}
