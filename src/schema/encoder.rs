//! One column's encoder: Arrow values to a slice of an encoded row, and back.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use rand::Rng;

use super::SchemaError;
use crate::config::ColumnSpec;

/// How the generator emits one column.
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
    },
}

/// The encoder of one learned column.
#[derive(Debug, Clone)]
pub enum ColumnEncoder {
    /// A number scaled from public bounds to [-1, 1]; values outside the bounds are clamped.
    Continuous {
        /// column name
        name: String,
        /// Arrow type of the source and the release
        data_type: DataType,
        /// public bounds
        low: f64,
        /// public bounds
        high: f64,
    },
    /// One-hot over the public categories plus one last "other" slot, which takes nulls and
    /// values outside the list.
    Categorical {
        /// column name
        name: String,
        /// Arrow type of the source and the release
        data_type: DataType,
        /// whether the release may hold nulls
        nullable: bool,
        /// public categories
        categories: Vec<String>,
    },
}

pub(super) fn is_string(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string(value),
        _ => false,
    }
}

/// The range of values an Arrow numeric type holds, or `None` when it is not numeric.
fn numeric_range(data_type: &DataType) -> Option<(f64, f64)> {
    use DataType::*;
    Some(match data_type {
        Int8 => (i8::MIN as f64, i8::MAX as f64),
        Int16 => (i16::MIN as f64, i16::MAX as f64),
        Int32 => (i32::MIN as f64, i32::MAX as f64),
        Int64 => (i64::MIN as f64, i64::MAX as f64),
        UInt8 => (0.0, u8::MAX as f64),
        UInt16 => (0.0, u16::MAX as f64),
        UInt32 => (0.0, u32::MAX as f64),
        UInt64 => (0.0, u64::MAX as f64),
        Float32 => (f32::MIN as f64, f32::MAX as f64),
        Float64 => (f64::MIN, f64::MAX),
        _ => return None,
    })
}

fn is_integer(data_type: &DataType) -> bool {
    data_type.is_integer()
}

impl ColumnEncoder {
    /// The encoder of `field` under its declaration (`None` when undeclared).
    pub(super) fn new(field: &Field, spec: Option<&ColumnSpec>) -> Result<Self, SchemaError> {
        let name = field.name().clone();
        let data_type = field.data_type().clone();
        let numeric = numeric_range(&data_type);
        let categorical_type = is_string(&data_type) || data_type == DataType::Boolean;
        match spec {
            Some(ColumnSpec::Continuous { bounds }) => {
                let Some((type_low, type_high)) = numeric else {
                    return Err(SchemaError::KindMismatch {
                        column: name,
                        kind: "continuous",
                        data_type,
                    });
                };
                let Some((low, high)) = *bounds else {
                    return Err(SchemaError::NeedsMetadata {
                        column: name.clone(),
                        data_type,
                        what: "public `bounds`",
                        hint: format!(
                            "DP bounds are not supported yet; declare {name} = {{ kind = \
                             \"continuous\", bounds = [low, high] }}"
                        ),
                    });
                };
                if low < type_low || high > type_high {
                    return Err(SchemaError::BoundsOutsideType {
                        column: name,
                        low,
                        high,
                        data_type,
                    });
                }
                Ok(ColumnEncoder::Continuous {
                    name,
                    data_type,
                    low,
                    high,
                })
            }
            Some(ColumnSpec::Categorical { categories }) => {
                if numeric.is_some() {
                    return Err(SchemaError::NotSupported {
                        column: name,
                        data_type,
                        what: "a categorical numeric column",
                    });
                }
                if !categorical_type {
                    return Err(SchemaError::KindMismatch {
                        column: name,
                        kind: "categorical",
                        data_type,
                    });
                }
                let categories = match (categories, &data_type) {
                    (Some(list), DataType::Boolean) => {
                        if list.iter().any(|c| c != "true" && c != "false") {
                            return Err(SchemaError::KindMismatch {
                                column: name,
                                kind: "categorical with categories other than \"true\" and \"false\"",
                                data_type,
                            });
                        }
                        list.clone()
                    }
                    (Some(list), _) => list.clone(),
                    (None, DataType::Boolean) => vec!["false".to_owned(), "true".to_owned()],
                    (None, _) => return Err(needs_categories(name, data_type)),
                };
                Ok(ColumnEncoder::Categorical {
                    name,
                    data_type,
                    nullable: field.is_nullable(),
                    categories,
                })
            }
            Some(ColumnSpec::Identifier(_)) | Some(ColumnSpec::Drop) => {
                unreachable_role(name, data_type)
            }
            None if data_type == DataType::Boolean => Ok(ColumnEncoder::Categorical {
                name,
                data_type,
                nullable: field.is_nullable(),
                categories: vec!["false".to_owned(), "true".to_owned()],
            }),
            None if numeric.is_some() => Err(SchemaError::NeedsMetadata {
                column: name.clone(),
                data_type,
                what: "public `bounds`",
                hint: format!(
                    "declare {name} = {{ kind = \"continuous\", bounds = [low, high] }} in [columns]"
                ),
            }),
            None if categorical_type => Err(needs_categories(name, data_type)),
            None => Err(SchemaError::NotSupported {
                column: name,
                data_type,
                what: "this type",
            }),
        }
    }

    /// The column name.
    pub fn name(&self) -> &str {
        match self {
            ColumnEncoder::Continuous { name, .. } | ColumnEncoder::Categorical { name, .. } => {
                name
            }
        }
    }

    /// Width in an encoded row.
    pub fn width(&self) -> usize {
        match self {
            ColumnEncoder::Continuous { .. } => 1,
            ColumnEncoder::Categorical { categories, .. } => categories.len() + 1,
        }
    }

    /// The generator head for this column at `offset`.
    pub fn head(&self, offset: usize) -> OutputHead {
        match self {
            ColumnEncoder::Continuous { .. } => OutputHead::Continuous { offset },
            ColumnEncoder::Categorical { .. } => OutputHead::Categorical {
                offset,
                width: self.width(),
            },
        }
    }

    /// A one-line description for `synthgate check`.
    pub fn describe(&self) -> String {
        match self {
            ColumnEncoder::Continuous {
                data_type,
                low,
                high,
                ..
            } => {
                format!("continuous {data_type}, public bounds [{low}, {high}] -> tanh")
            }
            ColumnEncoder::Categorical {
                data_type,
                categories,
                ..
            } => format!(
                "categorical {data_type}, {} public categories + other -> gumbel-softmax",
                categories.len()
            ),
        }
    }

    fn arrow_error(&self) -> impl FnOnce(datafusion::arrow::error::ArrowError) -> SchemaError + '_ {
        move |source| SchemaError::Arrow {
            column: self.name().to_owned(),
            source,
        }
    }

    /// Writes this column of `array` into rows of `matrix` (row stride `stride`) at `offset`.
    pub(super) fn encode_into(
        &self,
        array: &ArrayRef,
        matrix: &mut [f32],
        stride: usize,
        offset: usize,
    ) -> Result<(), SchemaError> {
        match self {
            ColumnEncoder::Continuous {
                name,
                data_type,
                low,
                high,
            } => {
                if array.null_count() > 0 {
                    return Err(SchemaError::NotSupported {
                        column: name.clone(),
                        data_type: data_type.clone(),
                        what: "a null in a continuous column",
                    });
                }
                let values = cast(array, &DataType::Float64).map_err(self.arrow_error())?;
                let values = values
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| SchemaError::NotSupported {
                        column: name.clone(),
                        data_type: data_type.clone(),
                        what: "this type",
                    })?;
                for (row, value) in values.values().iter().enumerate() {
                    let clamped = value.clamp(*low, *high);
                    matrix[row * stride + offset] =
                        (2.0 * (clamped - low) / (high - low) - 1.0) as f32;
                }
            }
            ColumnEncoder::Categorical { categories, .. } => {
                let index: HashMap<&str, usize> = categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_str(), i))
                    .collect();
                let other = categories.len();
                let strings = cast(array, &DataType::Utf8).map_err(self.arrow_error())?;
                let strings = strings
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| SchemaError::NotSupported {
                        column: self.name().to_owned(),
                        data_type: array.data_type().clone(),
                        what: "this type",
                    })?;
                for row in 0..strings.len() {
                    let slot = if strings.is_null(row) {
                        other
                    } else {
                        index.get(strings.value(row)).copied().unwrap_or(other)
                    };
                    matrix[row * stride + offset + slot] = 1.0;
                }
            }
        }
        Ok(())
    }

    /// Decodes this column from `rows` generated rows.
    pub(super) fn decode<R: Rng>(
        &self,
        generated: &[f32],
        rows: usize,
        stride: usize,
        offset: usize,
        rng: &mut R,
    ) -> Result<ArrayRef, SchemaError> {
        match self {
            ColumnEncoder::Continuous {
                data_type,
                low,
                high,
                ..
            } => {
                let values: Float64Array = (0..rows)
                    .map(|row| {
                        let unit = f64::from(generated[row * stride + offset]).clamp(-1.0, 1.0);
                        let value = (low + (unit + 1.0) / 2.0 * (high - low)).clamp(*low, *high);
                        Some(if is_integer(data_type) {
                            round_within(value, *low, *high)
                        } else {
                            value
                        })
                    })
                    .collect();
                cast(&values, data_type).map_err(self.arrow_error())
            }
            ColumnEncoder::Categorical {
                data_type,
                nullable,
                categories,
                ..
            } => {
                let width = categories.len() + 1;
                let mut chosen: Vec<Option<&str>> = Vec::with_capacity(rows);
                for row in 0..rows {
                    let start = row * stride + offset;
                    let probabilities = &generated[start..start + width];
                    let slot = sample_slot(probabilities, rng);
                    let slot = if slot < categories.len() {
                        Some(slot)
                    } else if *nullable {
                        None
                    } else {
                        // A non-nullable column cannot hold "other": take the likeliest category.
                        Some(argmax(&probabilities[..categories.len()]))
                    };
                    chosen.push(slot.map(|s| categories[s].as_str()));
                }
                if *data_type == DataType::Boolean {
                    let values: BooleanArray =
                        chosen.iter().map(|v| v.map(|s| s == "true")).collect();
                    return Ok(Arc::new(values));
                }
                let values: StringArray = chosen.into_iter().collect();
                cast(&values, data_type).map_err(self.arrow_error())
            }
        }
    }
}

/// Rounds to an integer that stays inside `[low, high]`.
fn round_within(value: f64, low: f64, high: f64) -> f64 {
    let rounded = value.round();
    if rounded < low {
        low.ceil()
    } else if rounded > high {
        high.floor()
    } else {
        rounded
    }
}

fn sample_slot<R: Rng>(probabilities: &[f32], rng: &mut R) -> usize {
    let total: f32 = probabilities.iter().map(|p| p.max(0.0)).sum();
    if total.is_nan() || total <= 0.0 {
        return argmax(probabilities);
    }
    let mut target = rng.random::<f32>() * total;
    for (slot, p) in probabilities.iter().enumerate() {
        target -= p.max(0.0);
        if target <= 0.0 {
            return slot;
        }
    }
    probabilities.len() - 1
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

fn needs_categories(name: String, data_type: DataType) -> SchemaError {
    SchemaError::NeedsMetadata {
        column: name.clone(),
        data_type,
        what: "a public `categories` list",
        hint: format!(
            "DP category discovery is not supported yet; declare {name} = {{ kind = \
             \"categorical\", categories = [...] }}"
        ),
    }
}

fn unreachable_role(name: String, data_type: DataType) -> Result<ColumnEncoder, SchemaError> {
    // TableCodec::build routes identifiers and dropped columns before calling new().
    Err(SchemaError::KindMismatch {
        column: name,
        kind: "learned",
        data_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn one_hot_decode(encoder: &ColumnEncoder, array: ArrayRef) -> ArrayRef {
        let width = encoder.width();
        let mut matrix = vec![0.0; array.len() * width];
        encoder.encode_into(&array, &mut matrix, width, 0).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        encoder
            .decode(&matrix, array.len(), width, 0, &mut rng)
            .unwrap()
    }

    proptest! {
        #[test]
        fn integers_come_back_within_half_a_step(values in prop::collection::vec(-1000i64..1000, 1..50)) {
            let field = Field::new("x", DataType::Int64, false);
            let spec = ColumnSpec::Continuous { bounds: Some((-1000.0, 1000.0)) };
            let encoder = ColumnEncoder::new(&field, Some(&spec)).unwrap();
            let decoded = one_hot_decode(&encoder, Arc::new(Int64Array::from(values.clone())));
            let decoded = decoded.as_any().downcast_ref::<Int64Array>().unwrap();
            // f32 resolution over a range of 2000 is far below one step.
            prop_assert_eq!(decoded.values().to_vec(), values);
        }

        #[test]
        fn floats_come_back_within_resolution(values in prop::collection::vec(-50.0f64..50.0, 1..50)) {
            let field = Field::new("x", DataType::Float64, false);
            let spec = ColumnSpec::Continuous { bounds: Some((-50.0, 50.0)) };
            let encoder = ColumnEncoder::new(&field, Some(&spec)).unwrap();
            let decoded = one_hot_decode(&encoder, Arc::new(Float64Array::from(values.clone())));
            let decoded = decoded.as_any().downcast_ref::<Float64Array>().unwrap();
            for (a, b) in decoded.values().iter().zip(&values) {
                prop_assert!((a - b).abs() <= 100.0 * f64::from(f32::EPSILON));
            }
        }

        #[test]
        fn categories_come_back_exactly(picks in prop::collection::vec(0usize..3, 1..50)) {
            let categories = ["a", "b", "c"];
            let field = Field::new("c", DataType::Utf8, true);
            let spec = ColumnSpec::Categorical { categories: Some(categories.iter().map(|s| s.to_string()).collect()) };
            let encoder = ColumnEncoder::new(&field, Some(&spec)).unwrap();
            let values: StringArray = picks.iter().map(|&i| Some(categories[i])).collect();
            let decoded = one_hot_decode(&encoder, Arc::new(values.clone()));
            let decoded = decoded.as_any().downcast_ref::<StringArray>().unwrap();
            prop_assert_eq!(decoded, &values);
        }
    }

    #[test]
    fn values_outside_bounds_are_clamped() {
        let field = Field::new("x", DataType::Float64, false);
        let spec = ColumnSpec::Continuous {
            bounds: Some((0.0, 10.0)),
        };
        let encoder = ColumnEncoder::new(&field, Some(&spec)).unwrap();
        let decoded = one_hot_decode(&encoder, Arc::new(Float64Array::from(vec![-5.0, 15.0])));
        let decoded = decoded.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(decoded.values().to_vec(), vec![0.0, 10.0]);
    }

    #[test]
    fn unlisted_values_and_nulls_become_null_in_a_nullable_column() {
        let field = Field::new("c", DataType::Utf8, true);
        let spec = ColumnSpec::Categorical {
            categories: Some(vec!["a".into()]),
        };
        let encoder = ColumnEncoder::new(&field, Some(&spec)).unwrap();
        let values: StringArray = vec![Some("a"), Some("zzz"), None].into_iter().collect();
        let decoded = one_hot_decode(&encoder, Arc::new(values));
        let decoded = decoded.as_any().downcast_ref::<StringArray>().unwrap();
        let expected: StringArray = vec![Some("a"), None, None].into_iter().collect();
        assert_eq!(decoded, &expected);
    }

    #[test]
    fn missing_metadata_names_the_column() {
        let field = Field::new("income", DataType::Int64, false);
        let error = ColumnEncoder::new(&field, None).unwrap_err().to_string();
        assert!(
            error.contains("`income`") && error.contains("bounds"),
            "{error}"
        );
        let field = Field::new("tags", DataType::new_list(DataType::Utf8, true), true);
        let error = ColumnEncoder::new(&field, None).unwrap_err().to_string();
        assert!(
            error.contains("`tags`") && error.contains("drop"),
            "{error}"
        );
    }
}
