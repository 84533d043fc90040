//! Order-independent float summation.
//!
//! `sum` and `avg` must give identical results for any worker count, but f64 addition is not
//! associative: how rows are split among workers would change the last bits. So every finite
//! f64 is added exactly, as an integer, into buckets of 32 bits of binary exponent (a sparse
//! "superaccumulator"); the f64 result is rounded once from the canonical (carry-normalised)
//! exact sum. Typical data touches one to three buckets, so a group's state stays small.

use serde::{Deserialize, Serialize};

/// Bit width of one bucket. A bucket holds `mantissa << shift` with mantissa < 2^53 and
/// shift < 32, so < 2^85; an i128 then absorbs 2^42 additions before it could overflow.
const BUCKET_BITS: i32 = 32;
/// Exponent of the least significant bit of a subnormal f64.
const MIN_EXP: i32 = -1074;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    /// (bucket index, value): the sum is Σ value · 2^(32·index + MIN_EXP). Sorted by index.
    buckets: Vec<(u16, i128)>,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
    /// Additions since the last normalisation (bounds the magnitude of every bucket).
    pending: u32,
}

impl ExactSum {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            if x.is_nan() {
                self.nan = true;
            } else if x > 0.0 {
                self.pos_inf = true;
            } else {
                self.neg_inf = true;
            }
            return;
        }
        if x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let exp_field = ((bits >> 52) & 0x7ff) as i32;
        let frac = (bits & ((1u64 << 52) - 1)) as i128;
        // x = mantissa · 2^(exp - 1074 - ...) with exp relative to MIN_EXP.
        let (mantissa, exp) = if exp_field == 0 {
            (frac, 0)
        } else {
            (frac | (1i128 << 52), exp_field - 1)
        };
        let signed = if x < 0.0 { -mantissa } else { mantissa };
        let index = (exp / BUCKET_BITS) as u16;
        let shift = exp % BUCKET_BITS;
        self.add_to_bucket(index, signed << shift);
        self.pending += 1;
        if self.pending >= 1 << 30 {
            self.normalise();
        }
    }

    fn add_to_bucket(&mut self, index: u16, value: i128) {
        match self.buckets.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(pos) => self.buckets[pos].1 += value,
            Err(pos) => self.buckets.insert(pos, (index, value)),
        }
    }

    /// A sum from bucket totals computed elsewhere — the GPU's `partial_sum_float` kernel
    /// splits each value into the same buckets as [`ExactSum::add`] — and the flags of the
    /// special values seen.
    pub fn from_buckets(
        buckets: impl IntoIterator<Item = (u16, i128)>,
        nan: bool,
        pos_inf: bool,
        neg_inf: bool,
    ) -> ExactSum {
        let mut sum = ExactSum {
            nan,
            pos_inf,
            neg_inf,
            ..ExactSum::default()
        };
        for (index, value) in buckets {
            if value != 0 {
                sum.add_to_bucket(index, value);
            }
        }
        sum.normalise();
        sum
    }

    /// Adds another partial sum (from another worker).
    pub fn merge(&mut self, other: &ExactSum) {
        self.nan |= other.nan;
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
        self.normalise();
        let mut other = other.clone();
        other.normalise();
        for &(index, value) in &other.buckets {
            self.add_to_bucket(index, value);
        }
        self.normalise();
    }

    /// Carries so every bucket but the top one lies in [0, 2^32). For a non-negative sum this
    /// is its unique base-2^32 form; a negative top bucket marks a negative sum.
    fn normalise(&mut self) {
        self.pending = 0;
        let mut out: Vec<(u16, i128)> = Vec::with_capacity(self.buckets.len() + 2);
        let mut carry: i128 = 0;
        let mut index = match self.buckets.first() {
            Some(&(i, _)) => i,
            None => return,
        };
        let mut rest = self.buckets.iter().copied().peekable();
        loop {
            let mut value = carry;
            if let Some(&(i, v)) = rest.peek()
                && i == index
            {
                value += v;
                rest.next();
            }
            if rest.peek().is_none() && value < 0 {
                out.push((index, value));
                break;
            }
            let low = value & ((1i128 << BUCKET_BITS) - 1);
            carry = (value - low) >> BUCKET_BITS;
            if low != 0 {
                out.push((index, low));
            }
            index = match (rest.peek(), carry != 0) {
                (_, true) => index + 1,
                (Some(&(i, _)), false) => i,
                (None, false) => break,
            };
        }
        self.buckets = out;
    }

    fn negated(&self) -> ExactSum {
        let mut n = self.clone();
        n.buckets.iter_mut().for_each(|(_, v)| *v = -*v);
        n.normalise();
        n
    }

    /// The sum rounded to f64 (NaN if a NaN or both infinities were added).
    pub fn value(&self) -> f64 {
        if self.nan || (self.pos_inf && self.neg_inf) {
            return f64::NAN;
        }
        if self.pos_inf {
            return f64::INFINITY;
        }
        if self.neg_inf {
            return f64::NEG_INFINITY;
        }
        let mut canonical = self.clone();
        canonical.normalise();
        // Round |sum| from its unique base-2^32 digits, so equal sums give equal bits.
        if canonical.buckets.last().is_some_and(|&(_, v)| v < 0) {
            return -canonical.negated().value();
        }
        let mut total = 0.0f64;
        for &(index, value) in canonical.buckets.iter().rev() {
            let scale = (index as i32) * BUCKET_BITS + MIN_EXP;
            total += (value as f64) * pow2(scale);
        }
        total
    }
}

/// 2^e exactly, including the subnormal range where `powi` underflows.
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        values.iter().for_each(|&v| s.add(v));
        s.value()
    }

    #[test]
    fn exact_where_naive_summation_is_not() {
        // Naive left-to-right gives 0.0 for the first and 2.0 for the reordered one.
        assert_eq!(sum_of(&[1e100, 1.0, -1e100, 1.0]), 2.0);
        assert_eq!(sum_of(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        assert_eq!(sum_of(&[0.1, 0.2, 0.3]), 0.6000000000000001_f64.min(0.6));
    }

    #[test]
    fn split_and_merge_is_identical_to_one_pass() {
        let values: Vec<f64> = (0..10_000)
            .map(|i| ((i * 7919) % 1000) as f64 * 0.37 - 150.25 + (i as f64).sin())
            .collect();
        let whole = sum_of(&values);
        for parts in [2, 3, 7] {
            let mut acc = ExactSum::default();
            for chunk in values.chunks(values.len() / parts + 1) {
                let mut p = ExactSum::default();
                chunk.iter().rev().for_each(|&v| p.add(v));
                acc.merge(&p);
            }
            assert_eq!(acc.value().to_bits(), whole.to_bits());
        }
    }

    #[test]
    fn negatives_subnormals_and_specials() {
        assert_eq!(sum_of(&[-3.5, -0.25]), -3.75);
        assert_eq!(sum_of(&[5e-324, 5e-324]), 1e-323);
        assert_eq!(sum_of(&[-1.0, 0.5]), -0.5);
        assert_eq!(sum_of(&[f64::MAX, -f64::MAX, 7.0]), 7.0);
        assert!(sum_of(&[1.0, f64::NAN]).is_nan());
        assert!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(sum_of(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert_eq!(sum_of(&[]), 0.0);
    }
}
