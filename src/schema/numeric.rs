//! Numeric Arrow types (integers, floats, decimals, dates, times, timestamps, durations) as
//! `f64` values, and back to the same type.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;

/// What an encoder needs to know of a numeric type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericType {
    /// The spacing of the values the type can hold (1 for integers and integer-coded dates and
    /// times, `10^-scale` for decimals, a day for `Date64`), or `None` for floats.
    pub grid: Option<f64>,
    /// The smallest and largest value of the type.
    pub range: (f64, f64),
}

const DAY_MS: f64 = 86_400_000.0;

/// The numeric view of `data_type`, or `None` when it is not numeric.
pub(crate) fn numeric_type(data_type: &DataType) -> Option<NumericType> {
    use DataType::*;
    let integer = |low: f64, high: f64| NumericType {
        grid: Some(1.0),
        range: (low, high),
    };
    let i32_range = integer(i32::MIN as f64, i32::MAX as f64);
    let i64_range = integer(i64::MIN as f64, i64::MAX as f64);
    Some(match data_type {
        Int8 => integer(i8::MIN as f64, i8::MAX as f64),
        Int16 => integer(i16::MIN as f64, i16::MAX as f64),
        Int32 => i32_range,
        Int64 => i64_range,
        UInt8 => integer(0.0, u8::MAX as f64),
        UInt16 => integer(0.0, u16::MAX as f64),
        UInt32 => integer(0.0, u32::MAX as f64),
        UInt64 => integer(0.0, u64::MAX as f64),
        Float32 => NumericType {
            grid: None,
            range: (f32::MIN as f64, f32::MAX as f64),
        },
        Float64 => NumericType {
            grid: None,
            range: (f64::MIN, f64::MAX),
        },
        Decimal128(precision, scale) | Decimal256(precision, scale) => {
            let step = 10f64.powi(-i32::from(*scale));
            let largest = (10f64.powi(i32::from(*precision)) - 1.0) * step;
            NumericType {
                grid: Some(step),
                range: (-largest, largest),
            }
        }
        Date32 | Time32(_) => i32_range,
        Date64 => NumericType {
            grid: Some(DAY_MS),
            range: i64_range.range,
        },
        Timestamp(_, _) | Time64(_) | Duration(_) => i64_range,
        _ => return None,
    })
}

/// The integer type a date, time or timestamp is stored as, when it is one.
fn storage_integer(data_type: &DataType) -> Option<DataType> {
    use DataType::*;
    match data_type {
        Date32 | Time32(_) => Some(Int32),
        Date64 | Timestamp(_, _) | Time64(_) | Duration(_) => Some(Int64),
        _ => None,
    }
}

/// The values of a numeric array as `f64`, nulls kept.
pub(crate) fn to_f64(array: &ArrayRef) -> Result<Float64Array, ArrowError> {
    let stored = match storage_integer(array.data_type()) {
        Some(integer) => cast(array, &integer)?,
        None => array.clone(),
    };
    let values = cast(&stored, &DataType::Float64)?;
    values
        .as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .ok_or_else(|| ArrowError::CastError(format!("{} is not numeric", array.data_type())))
}

/// `values` (already on the type's grid and within its range) as an array of `data_type`.
pub(crate) fn from_f64(values: Float64Array, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    let values: ArrayRef = Arc::new(values);
    match storage_integer(data_type) {
        Some(integer) => cast(&cast(&values, &integer)?, data_type),
        None => cast(&values, data_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Date32Array, Decimal128Array, TimestampMicrosecondArray, UInt16Array,
    };
    use datafusion::arrow::datatypes::TimeUnit;

    fn round_trip(array: ArrayRef) {
        let data_type = array.data_type().clone();
        let back = from_f64(to_f64(&array).unwrap(), &data_type).unwrap();
        assert_eq!(back.as_ref(), array.as_ref(), "{data_type}");
    }

    #[test]
    fn every_numeric_kind_survives_the_trip_through_f64() {
        round_trip(Arc::new(UInt16Array::from(vec![
            Some(0),
            None,
            Some(65_535),
        ])));
        round_trip(Arc::new(Date32Array::from(vec![
            Some(-3),
            Some(19_000),
            None,
        ])));
        round_trip(Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None])
                .with_timezone("Europe/Paris"),
        ));
        round_trip(Arc::new(
            Decimal128Array::from(vec![Some(12_345), Some(-99), None])
                .with_precision_and_scale(9, 2)
                .unwrap(),
        ));
    }

    #[test]
    fn grids_follow_the_type() {
        let decimal = numeric_type(&DataType::Decimal128(9, 2)).unwrap();
        assert_eq!(decimal.grid, Some(0.01));
        assert!((decimal.range.1 - 9_999_999.99).abs() < 1e-6);
        let stamp = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        assert_eq!(numeric_type(&stamp).unwrap().grid, Some(1.0));
        assert_eq!(numeric_type(&DataType::Float32).unwrap().grid, None);
        assert!(numeric_type(&DataType::Utf8).is_none());
    }
}
