//! One column's encoder: Arrow values to a slice of an encoded row, and back.
//!
//! Numeric columns (integers, floats, decimals, dates, times, timestamps) take one slot in
//! [-1, 1], plus a two-slot null indicator when the release may hold nulls. Values on a grid
//! (integers, decimals, dates) are spread uniformly over the middle half of their grid cell
//! before encoding, so the generator sees a continuous distribution, and are rounded back to the
//! grid on decoding (the margins absorb the f32 rounding of the encoded row).
//! Categorical columns are one-hot over their categories, a null slot when the release may hold nulls, and an
//! "other" slot for values not in the list.

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::SchemaError;
use super::numeric;
use super::search::Buckets;

/// Buckets of the index of a distribution function's shares (see [`Buckets`]).
const CDF_BUCKETS: usize = 256;

/// Width, in grid cells, of the band a grid value is spread over in encoding.
const JITTER: f64 = 0.5;

/// How the generator emits one part of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputHead {
    /// One value through tanh, in [-1, 1].
    Continuous {
        /// position in the encoded row
        offset: usize,
    },
    /// Logits over `width` slots through Gumbel-softmax (training) or sampling (generation).
    Categorical {
        /// position in the encoded row
        offset: usize,
        /// number of slots
        width: usize,
        /// the slot (counted from `offset`) that stands for null, if any
        null_slot: Option<usize>,
    },
}

/// Where a column's metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provenance {
    /// Declared in the pipeline or implied by the type: free.
    Public,
    /// Estimated from the data by a DP mechanism charged to the ledger.
    Private,
}

/// The map of a numeric column's values to [-1, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Transform {
    /// Linear from the bounds to [-1, 1] (min-max scaling).
    MinMax,
    /// Through a DP estimate of the column's distribution function: piecewise linear between
    /// `edges` (increasing, in the continuous space of the column) with the shares of rows
    /// below each edge in `cumulative` (non-decreasing from 0 to 1). A column skewed like
    /// Adult's `capital-gain` comes out evenly spread in [-1, 1].
    Cdf {
        /// bin edges
        edges: Vec<f64>,
        /// share of rows below each edge
        cumulative: Vec<f64>,
    },
}

/// The encoder of a numeric column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericEncoder {
    /// column name
    pub name: String,
    /// Arrow type of the source and the release
    #[serde(with = "data_type_text")]
    pub data_type: DataType,
    /// whether the release may hold nulls (the encoding then has a null indicator); when not,
    /// a null in the source encodes as the middle of the range
    pub nulls: bool,
    /// a DP estimate of the share of nulls, which generated null indicators are calibrated to
    pub null_share: Option<f64>,
    /// spacing of the type's values, `None` for floats
    pub grid: Option<f64>,
    /// smallest value released (on the grid); smaller values are clamped to it
    pub low: f64,
    /// largest value released (on the grid); larger values are clamped to it
    pub high: f64,
    /// how values map to [-1, 1]
    pub transform: Transform,
    /// where the bounds came from
    pub provenance: Provenance,
}

/// The encoder of a categorical column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalEncoder {
    /// column name
    pub name: String,
    /// Arrow type of the source and the release
    #[serde(with = "data_type_text")]
    pub data_type: DataType,
    /// whether the release may hold nulls (the encoding then has a null slot); when not, a
    /// null in the source encodes as "other"
    pub nulls: bool,
    /// a DP estimate of the share of nulls, which generated null slots are calibrated to
    pub null_share: Option<f64>,
    /// the categories, public or found by DP discovery
    pub categories: Vec<String>,
    /// DP estimates of each category's share of the non-null rows, then of "other"'s (the
    /// noisy counts that discovery released the categories by); `None` for public categories.
    /// Generation calibrates the generator's category probabilities to them.
    #[serde(default)]
    pub shares: Option<Vec<f64>>,
    /// where the categories came from
    pub provenance: Provenance,
}

/// The encoder of one learned column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnEncoder {
    /// A number, date, time or timestamp.
    Numeric(NumericEncoder),
    /// A string or boolean from a list of categories.
    Categorical(CategoricalEncoder),
}

/// An Arrow type as its display text (`Int64`, `Timestamp(µs, "UTC")`), which Arrow parses
/// back to the same type.
mod data_type_text {
    use datafusion::arrow::datatypes::DataType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        data_type: &DataType,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(data_type)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DataType, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

pub(super) fn is_string(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string(value),
        _ => false,
    }
}

pub(super) fn arrow_error(
    name: &str,
) -> impl FnOnce(datafusion::arrow::error::ArrowError) -> SchemaError {
    let column = name.to_owned();
    move |source| SchemaError::Arrow { column, source }
}

impl NumericEncoder {
    /// The interval of the continuous space: the bounds, widened by half a grid step each side
    /// so that every grid value owns a cell of the same width.
    pub fn span(&self) -> (f64, f64) {
        let half = self.grid.map_or(0.0, |g| g / 2.0);
        (self.low - half, self.high + half)
    }

    pub(super) fn width(&self) -> usize {
        if self.nulls { 3 } else { 1 }
    }

    /// `x` of the continuous space as a share in [0, 1].
    fn share_below(&self, x: f64) -> f64 {
        let (a, b) = self.span();
        match &self.transform {
            Transform::MinMax => {
                if b > a {
                    ((x - a) / (b - a)).clamp(0.0, 1.0)
                } else {
                    0.5
                }
            }
            Transform::Cdf { edges, cumulative } => interpolate(edges, cumulative, x),
        }
    }

    /// A share in [0, 1] back to a value on the grid within the bounds.
    #[cfg(test)]
    pub(super) fn value_at(&self, unit: f64) -> f64 {
        self.value_at_indexed(unit, None)
    }

    /// [`Self::value_at`], searching the distribution function's shares through `index` (from
    /// [`Self::cdf_index`]) when given: the same value, found faster.
    pub(super) fn value_at_indexed(&self, unit: f64, index: Option<&Buckets>) -> f64 {
        let (a, b) = self.span();
        let x = match &self.transform {
            Transform::MinMax => a + unit * (b - a),
            Transform::Cdf { edges, cumulative } => {
                interpolate_indexed(cumulative, edges, unit, index)
            }
        };
        let on_grid = match self.grid {
            Some(g) => crate::fastmath::round_to_integer(x / g) * g,
            None => x,
        };
        on_grid.clamp(self.low, self.high)
    }

    /// An index of the distribution function's cumulative shares, for
    /// [`Self::value_at_indexed`]; `None` for min-max columns.
    pub(super) fn cdf_index(&self) -> Option<Buckets> {
        match &self.transform {
            Transform::MinMax => None,
            Transform::Cdf { cumulative, .. } => Some(Buckets::new(cumulative, CDF_BUCKETS)),
        }
    }

    fn encode_into<R: Rng>(
        &self,
        array: &ArrayRef,
        matrix: &mut [f32],
        stride: usize,
        offset: usize,
        rng: &mut R,
    ) -> Result<(), SchemaError> {
        let values = numeric::to_f64(array).map_err(arrow_error(&self.name))?;
        for row in 0..values.len() {
            let cell = &mut matrix[row * stride + offset..row * stride + offset + self.width()];
            if values.is_null(row) {
                // the value slot stays at the middle; the indicator, if any, says "null"
                if self.nulls {
                    cell[2] = 1.0;
                }
                continue;
            }
            let value = values.value(row).clamp(self.low, self.high);
            let x = match self.grid {
                Some(g) => value + g * JITTER * (rng.random::<f64>() - 0.5),
                None => value,
            };
            cell[0] = (2.0 * self.share_below(x) - 1.0) as f32;
            if self.nulls {
                cell[1] = 1.0;
            }
        }
        Ok(())
    }
}

/// Piecewise-linear interpolation of `ys` over increasing `xs`, constant beyond the ends. Where
/// `xs` repeats (a jump), the first segment that reaches `x` wins.
pub(super) fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    interpolate_indexed(xs, ys, x, None)
}

/// [`interpolate`], searching `xs` through `index` (built on `xs`) when given.
fn interpolate_indexed(xs: &[f64], ys: &[f64], x: f64, index: Option<&Buckets>) -> f64 {
    let last = xs.len() - 1;
    if x <= xs[0] {
        return ys[0];
    }
    if x >= xs[last] {
        return ys[last];
    }
    // first index with xs[i] >= x; xs[i - 1] < x
    let i = match index {
        Some(index) => index.count_below(xs, x),
        None => xs.partition_point(|&v| v < x),
    };
    let (x0, x1, y0, y1) = (xs[i - 1], xs[i], ys[i - 1], ys[i]);
    if x1 > x0 {
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    } else {
        y1
    }
}

impl CategoricalEncoder {
    /// The slot (from the column's offset) that stands for null, if any.
    pub fn null_slot(&self) -> Option<usize> {
        self.nulls.then_some(self.categories.len())
    }

    /// The slots other than null, from the column's offset: the categories, then "other".
    pub fn non_null_slots(&self) -> Vec<usize> {
        let null_slot = self.null_slot();
        (0..self.width())
            .filter(|&s| Some(s) != null_slot)
            .collect()
    }

    fn other_slot(&self) -> usize {
        self.categories.len() + usize::from(self.nulls)
    }

    /// Slots in an encoded row: categories, the null slot if any, "other".
    pub fn width(&self) -> usize {
        self.other_slot() + 1
    }

    fn encode_into(
        &self,
        array: &ArrayRef,
        matrix: &mut [f32],
        stride: usize,
        offset: usize,
    ) -> Result<(), SchemaError> {
        let index: HashMap<&str, usize> = self
            .categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let strings = cast(array, &DataType::Utf8).map_err(arrow_error(&self.name))?;
        let strings = strings
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| SchemaError::NotSupported {
                column: self.name.clone(),
                data_type: array.data_type().clone(),
                what: "this type",
            })?;
        for row in 0..strings.len() {
            let slot = if strings.is_null(row) {
                self.null_slot().unwrap_or(self.other_slot())
            } else {
                index
                    .get(strings.value(row))
                    .copied()
                    .unwrap_or(self.other_slot())
            };
            matrix[row * stride + offset + slot] = 1.0;
        }
        Ok(())
    }
}

impl ColumnEncoder {
    /// The column name.
    pub fn name(&self) -> &str {
        match self {
            ColumnEncoder::Numeric(e) => &e.name,
            ColumnEncoder::Categorical(e) => &e.name,
        }
    }

    /// Where the column's metadata came from.
    pub fn provenance(&self) -> Provenance {
        match self {
            ColumnEncoder::Numeric(e) => e.provenance,
            ColumnEncoder::Categorical(e) => e.provenance,
        }
    }

    /// Width in an encoded row.
    pub fn width(&self) -> usize {
        match self {
            ColumnEncoder::Numeric(e) => e.width(),
            ColumnEncoder::Categorical(e) => e.width(),
        }
    }

    /// The generator heads of this column at `offset`.
    pub fn heads(&self, offset: usize) -> Vec<OutputHead> {
        match self {
            ColumnEncoder::Numeric(e) => {
                let mut heads = vec![OutputHead::Continuous { offset }];
                if e.nulls {
                    heads.push(OutputHead::Categorical {
                        offset: offset + 1,
                        width: 2,
                        null_slot: Some(1),
                    });
                }
                heads
            }
            ColumnEncoder::Categorical(e) => vec![OutputHead::Categorical {
                offset,
                width: e.width(),
                null_slot: e.null_slot(),
            }],
        }
    }

    /// A one-line description for `synthgate check` and the run log. It names no category of a
    /// privately discovered list (those are DP outputs, but belong in the release, not in logs).
    pub fn describe(&self) -> String {
        let nulls = |nulls: bool| if nulls { ", with nulls" } else { "" };
        match self {
            ColumnEncoder::Numeric(e) => {
                let transform = match e.transform {
                    Transform::MinMax => "min-max",
                    Transform::Cdf { .. } => "DP quantile transform",
                };
                let source = match e.provenance {
                    Provenance::Public => "public",
                    Provenance::Private => "DP",
                };
                format!(
                    "numeric {}{}, {source} bounds [{}, {}] -> {transform} -> tanh",
                    e.data_type,
                    nulls(e.nulls),
                    e.low,
                    e.high
                )
            }
            ColumnEncoder::Categorical(e) => {
                let source = match e.provenance {
                    Provenance::Public => "public",
                    Provenance::Private => "DP-discovered",
                };
                format!(
                    "categorical {}{}, {} {source} categories + other -> gumbel-softmax",
                    e.data_type,
                    nulls(e.nulls),
                    e.categories.len()
                )
            }
        }
    }

    /// Writes this column of `array` into rows of `matrix` (row stride `stride`) at `offset`.
    /// `rng` spreads grid values over their cells (not privacy noise: the encoded rows never
    /// leave the process).
    pub(super) fn encode_into<R: Rng>(
        &self,
        array: &ArrayRef,
        matrix: &mut [f32],
        stride: usize,
        offset: usize,
        rng: &mut R,
    ) -> Result<(), SchemaError> {
        match self {
            ColumnEncoder::Numeric(e) => e.encode_into(array, matrix, stride, offset, rng),
            ColumnEncoder::Categorical(e) => e.encode_into(array, matrix, stride, offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use datafusion::arrow::array::{BooleanArray, Float64Array};
    use datafusion::arrow::array::{
        Date32Array, Decimal128Array, DictionaryArray, Float32Array, Int8Array, Int64Array,
        TimestampMillisecondArray, UInt32Array,
    };
    use datafusion::arrow::datatypes::{Int32Type, TimeUnit};
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn encoders_survive_a_checkpoint_as_json_with_their_arrow_types() {
        let types = [
            DataType::Int64,
            DataType::Decimal128(12, 2),
            DataType::Date32,
            DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into())),
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        ];
        for data_type in types {
            let encoders = [
                ColumnEncoder::Numeric(NumericEncoder {
                    name: "n".into(),
                    data_type: data_type.clone(),
                    nulls: true,
                    null_share: Some(0.125),
                    grid: Some(0.01),
                    low: -3.25,
                    high: 1e12 + 0.37,
                    transform: Transform::Cdf {
                        edges: vec![-3.25, 0.1, 1e12 + 0.37],
                        cumulative: vec![0.0, 0.3333333333333333, 1.0],
                    },
                    provenance: Provenance::Private,
                }),
                ColumnEncoder::Categorical(CategoricalEncoder {
                    name: "c".into(),
                    data_type: data_type.clone(),
                    nulls: false,
                    null_share: None,
                    categories: vec!["a".into(), "é\"".into()],
                    shares: None,
                    provenance: Provenance::Public,
                }),
            ];
            for encoder in encoders {
                let json = serde_json::to_string(&encoder).unwrap();
                let back: ColumnEncoder = serde_json::from_str(&json).unwrap();
                assert_eq!(back, encoder, "{json}");
            }
        }
    }

    /// Encodes `array`, then decodes the encoded rows as if the generator had produced them.
    fn round_trip(encoder: &ColumnEncoder, array: ArrayRef) -> ArrayRef {
        let width = encoder.width();
        let mut matrix = vec![0.0; array.len() * width];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        encoder
            .encode_into(&array, &mut matrix, width, 0, &mut rng)
            .unwrap();
        assert!(matrix.iter().all(|v| (-1.0..=1.0).contains(v)));
        let raw = super::super::decode::raw_of_encoded(encoder, &matrix);
        let raw = super::super::decode::RawBatch::new(&raw, array.len());
        let unadjusted = super::super::decode::ColumnAdjustment::default();
        encoder.decode_raw(&raw, 0, &unadjusted, &mut rng).unwrap()
    }

    fn numeric(data_type: DataType, low: f64, high: f64, transform: Transform) -> ColumnEncoder {
        ColumnEncoder::Numeric(NumericEncoder {
            name: "x".to_owned(),
            grid: numeric::numeric_type(&data_type).unwrap().grid,
            data_type,
            nulls: true,
            null_share: None,
            low,
            high,
            transform,
            provenance: Provenance::Public,
        })
    }

    /// A distribution function with mass in every bin, as DP preprocessing makes (edges in the
    /// continuous space: half a grid step beyond the bounds).
    fn skewed_cdf(low: f64, high: f64, grid: f64) -> Transform {
        let (a, b) = (low - grid / 2.0, high + grid / 2.0);
        let edges: Vec<f64> = (0..=8)
            .map(|k| a + (b - a) * (k as f64 / 8.0).powi(3))
            .collect();
        let cumulative: Vec<f64> = (0..=8).map(|k| (k as f64 / 8.0).sqrt()).collect();
        Transform::Cdf { edges, cumulative }
    }

    fn as_f64(array: &ArrayRef) -> Vec<Option<f64>> {
        numeric::to_f64(array).unwrap().iter().collect()
    }

    proptest! {
        #[test]
        fn integers_come_back_exactly_through_both_transforms(
            values in prop::collection::vec(prop::option::of(-1000i64..1000), 1..60),
            quantile in any::<bool>(),
        ) {
            let transform = if quantile { skewed_cdf(-1000.0, 1000.0, 1.0) } else { Transform::MinMax };
            for data_type in [DataType::Int64, DataType::Int16, DataType::Date32] {
                let encoder = numeric(data_type.clone(), -1000.0, 1000.0, transform.clone());
                let source = cast(&(Arc::new(Int64Array::from(values.clone())) as ArrayRef), &data_type).unwrap();
                let decoded = round_trip(&encoder, source.clone());
                prop_assert_eq!(decoded.data_type(), &data_type);
                prop_assert_eq!(decoded.as_ref(), source.as_ref());
            }
        }

        #[test]
        fn unsigned_and_small_integers_stay_in_their_type(values in prop::collection::vec(0u32..200, 1..40)) {
            let encoder = numeric(DataType::UInt32, 0.0, 200.0, skewed_cdf(0.0, 200.0, 1.0));
            let source: ArrayRef = Arc::new(UInt32Array::from(values.clone()));
            prop_assert!(round_trip(&encoder, source.clone()) == source);
            let encoder = numeric(DataType::Int8, -100.0, 100.0, Transform::MinMax);
            let small: Vec<i8> = values.iter().map(|&v| (v as i32 - 100) as i8).collect();
            let source: ArrayRef = Arc::new(Int8Array::from(small));
            prop_assert!(round_trip(&encoder, source.clone()) == source);
        }

        #[test]
        fn floats_come_back_within_the_encoders_resolution(
            values in prop::collection::vec(prop::option::of(-50.0f64..50.0), 1..60),
            quantile in any::<bool>(),
        ) {
            let transform = if quantile { skewed_cdf(-50.0, 50.0, 0.0) } else { Transform::MinMax };
            for data_type in [DataType::Float64, DataType::Float32] {
                let encoder = numeric(data_type.clone(), -50.0, 50.0, transform.clone());
                let source = cast(&(Arc::new(Float64Array::from(values.clone())) as ArrayRef), &data_type).unwrap();
                let decoded = round_trip(&encoder, source.clone());
                prop_assert_eq!(decoded.data_type(), &data_type);
                for (a, b) in as_f64(&decoded).iter().zip(as_f64(&source)) {
                    match (a, b) {
                        // f32 in the encoded row: a relative 2^-23 of the range, stretched by
                        // the steepest bin of the transform (64x here)
                        (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 100.0 * 64.0 * 2f64.powi(-23), "{a} vs {b}"),
                        (a, b) => prop_assert_eq!(a.is_none(), b.is_none()),
                    }
                }
            }
        }

        #[test]
        fn decimals_and_timestamps_keep_their_type_grid_and_zone(
            cents in prop::collection::vec(prop::option::of(-99_999i128..99_999), 1..40),
            offsets in prop::collection::vec(prop::option::of(0i64..86_400_000), 1..40),
        ) {
            let decimal = DataType::Decimal128(9, 2);
            let encoder = numeric(decimal.clone(), -999.99, 999.99, skewed_cdf(-999.99, 999.99, 0.01));
            let source: ArrayRef = Arc::new(Decimal128Array::from(cents).with_precision_and_scale(9, 2).unwrap());
            let decoded = round_trip(&encoder, source.clone());
            prop_assert_eq!(decoded.as_ref(), source.as_ref());

            let stamp = DataType::Timestamp(TimeUnit::Millisecond, Some("Europe/Paris".into()));
            let base = 1_700_000_000_000i64;
            let values: Vec<Option<i64>> = offsets.iter().map(|o| o.map(|o| base + o)).collect();
            let (low, high) = (base as f64, (base + 86_400_000) as f64);
            let encoder = numeric(stamp.clone(), low, high, Transform::MinMax);
            let source: ArrayRef = Arc::new(TimestampMillisecondArray::from(values).with_timezone("Europe/Paris"));
            let decoded = round_trip(&encoder, source.clone());
            prop_assert_eq!(decoded.data_type(), &stamp);
            // a day in milliseconds through an f32 slot: within 2^-23 of the range (about 10 ms)
            for (a, b) in as_f64(&decoded).iter().zip(as_f64(&source)) {
                match (a, b) {
                    (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 86_400_000.0 * 2f64.powi(-22), "{a} vs {b}"),
                    (a, b) => prop_assert_eq!(a.is_none(), b.is_none()),
                }
            }
        }

        #[test]
        fn categories_and_nulls_come_back_exactly(picks in prop::collection::vec(0usize..4, 1..60)) {
            let categories = ["a", "b", "c"];
            let encoder = ColumnEncoder::Categorical(CategoricalEncoder {
                name: "c".to_owned(),
                data_type: DataType::Utf8,
                nulls: true,
                null_share: None,
                categories: categories.iter().map(|s| s.to_string()).collect(),
                shares: None,
                provenance: Provenance::Private,
            });
            let values: StringArray = picks.iter().map(|&i| categories.get(i).copied()).collect();
            let source: ArrayRef = Arc::new(values);
            prop_assert!(round_trip(&encoder, source.clone()) == source);

            let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
            let encoder = ColumnEncoder::Categorical(CategoricalEncoder {
                name: "d".to_owned(),
                data_type: dictionary.clone(),
                nulls: true,
                null_share: None,
                categories: categories.iter().map(|s| s.to_string()).collect(),
                shares: None,
                provenance: Provenance::Public,
            });
            let values: DictionaryArray<Int32Type> = picks.iter().map(|&i| categories.get(i).copied()).collect();
            let source: ArrayRef = Arc::new(values);
            let decoded = round_trip(&encoder, source.clone());
            prop_assert_eq!(decoded.data_type(), &dictionary);
            prop_assert!(cast(&decoded, &DataType::Utf8).unwrap() == cast(&source, &DataType::Utf8).unwrap());

            let encoder = ColumnEncoder::Categorical(CategoricalEncoder {
                name: "b".to_owned(),
                data_type: DataType::Boolean,
                nulls: true,
                null_share: None,
                categories: vec!["false".to_owned(), "true".to_owned()],
                shares: None,
                provenance: Provenance::Public,
            });
            let values: BooleanArray = picks.iter().map(|&i| (i < 3).then_some(i == 1)).collect();
            let source: ArrayRef = Arc::new(values);
            prop_assert!(round_trip(&encoder, source.clone()) == source);
        }
    }

    #[test]
    fn a_point_mass_decodes_to_its_value_and_values_outside_bounds_clamp() {
        // 60 % of rows at 0, the rest spread over 1..=1000 (capital-gain's shape)
        let transform = Transform::Cdf {
            edges: vec![-0.5, 0.5, 1000.5],
            cumulative: vec![0.0, 0.6, 1.0],
        };
        let encoder = numeric(DataType::Int64, 0.0, 1000.0, transform);
        let source: ArrayRef = Arc::new(Int64Array::from(vec![0, 0, 0, 5, 999, -7, 5000]));
        let decoded = round_trip(&encoder, source);
        let expected: ArrayRef = Arc::new(Int64Array::from(vec![0, 0, 0, 5, 999, 0, 1000]));
        assert_eq!(decoded.as_ref(), expected.as_ref());
        // the point mass fills its whole share of [-1, 1]: zeros encode anywhere in [-1, 0.2]
        let ColumnEncoder::Numeric(inner) = &encoder else {
            unreachable!()
        };
        assert_eq!(inner.value_at(0.0), 0.0);
        assert_eq!(inner.value_at(0.59), 0.0);
        assert!(inner.value_at(0.61) >= 1.0);
    }

    #[test]
    fn a_column_without_a_null_slot_encodes_nulls_as_other_or_the_middle() {
        let encoder = ColumnEncoder::Categorical(CategoricalEncoder {
            name: "c".to_owned(),
            data_type: DataType::Utf8,
            nulls: false,
            null_share: None,
            categories: vec!["a".into()],
            shares: None,
            provenance: Provenance::Private,
        });
        assert_eq!(encoder.width(), 2);
        let decoded = round_trip(&encoder, Arc::new(StringArray::from(vec![None, Some("a")])));
        assert_eq!(decoded.null_count(), 0);
        let ColumnEncoder::Numeric(mut inner) =
            numeric(DataType::Float32, 0.0, 1.0, Transform::MinMax)
        else {
            unreachable!()
        };
        inner.nulls = false;
        let encoder = ColumnEncoder::Numeric(inner);
        assert_eq!(encoder.width(), 1);
        let decoded = round_trip(
            &encoder,
            Arc::new(Float32Array::from(vec![None, Some(1.0)])),
        );
        assert_eq!(decoded.null_count(), 0);
        let _ = Date32Array::from(vec![1]);
    }
}
