//! Key values in canonical form, for grouping, hashing and deduplicating.
//!
//! Keys are compared as arrow-row bytes, which order floats by IEEE totalOrder: `-0.0` and
//! `0.0` differ, and so do NaNs with different payloads. The language's `==` (see
//! `compare.rs`) says `-0.0 == 0.0` and every NaN equals every NaN, so before a float column is
//! encoded as a key its `-0.0` becomes `0.0` and every NaN the one canonical NaN. Then a
//! `group by`, a window's key, `count_distinct`, `distinct on` and the exchanges by key put
//! equal values together, as SQL engines do. Other types are returned as they are.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array};
use arrow_schema::DataType as ArrowType;

/// `array` with float values canonical (`-0.0` -> `0.0`, every NaN -> `f64::NAN`).
pub fn canonical_key(array: ArrayRef) -> ArrayRef {
    if *array.data_type() != ArrowType::Float64 {
        return array;
    }
    let floats = array.as_primitive::<Float64Type>();
    if !floats.values().iter().any(|v| *v == 0.0 || v.is_nan()) {
        return array;
    }
    let values: Vec<f64> = floats
        .values()
        .iter()
        .map(|&v| {
            if v.is_nan() {
                f64::NAN
            } else if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect();
    Arc::new(Float64Array::new(values.into(), floats.nulls().cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_row::{RowConverter, SortField};

    #[test]
    fn negative_zero_and_every_nan_encode_like_their_equals() {
        let nan2 = f64::from_bits(f64::NAN.to_bits() | 1);
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(-0.0),
            Some(0.0),
            Some(f64::NAN),
            Some(-f64::NAN),
            Some(nan2),
            None,
            Some(1.5),
        ]));
        let converter = RowConverter::new(vec![SortField::new(ArrowType::Float64)]).unwrap();
        let rows = converter.convert_columns(&[canonical_key(a)]).unwrap();
        assert_eq!(rows.row(0), rows.row(1));
        assert_eq!(rows.row(2), rows.row(3));
        assert_eq!(rows.row(2), rows.row(4));
        assert_ne!(rows.row(5), rows.row(1));
        assert_ne!(rows.row(6), rows.row(1));
    }
}
