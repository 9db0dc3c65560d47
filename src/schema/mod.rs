//! Column kinds, and the encoders and decoders between Arrow columns and model tensors.
//!
//! Guarantees: a [`SchemaPlan`] is made from the pipeline and the Arrow types alone, reading no
//! row; a column without public metadata is fitted only through the DP mechanisms of
//! [`discover`], charged to the ledger; decoded columns have the source's Arrow types, stay
//! within their (public or DP) bounds and hold only their (public or DP-discovered) categories;
//! identifier columns never reach the model.

mod decode;
pub mod discover;
mod encoder;
mod fake;
mod numeric;
mod search;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;

pub use decode::{ColumnAdjustment, QuantileTable, RawBatch, sigmoid};
pub use discover::{Need, NumericEncoding, PreprocessingDesign};
pub use encoder::{
    CategoricalEncoder, ColumnEncoder, NumericEncoder, OutputHead, Provenance, Transform,
};
pub use numeric::NumericType;

/// The values of a numeric column (integers, floats, decimals, dates, times, timestamps) as
/// `f64`, nulls kept.
pub fn numeric_values(
    array: &ArrayRef,
) -> Result<datafusion::arrow::array::Float64Array, datafusion::arrow::error::ArrowError> {
    numeric::to_f64(array)
}

use crate::config::{ColumnSpec, IdentifierOutput};
use crate::privacy::PrivacyRng;

/// Errors in the columns of a source or of their declarations. All mean exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A declared column is not in the source.
    #[error(
        "column `{column}` is declared in [columns] but the source has no such column \
             (it has: {available})"
    )]
    UnknownColumn {
        /// the declared name
        column: String,
        /// the source's columns
        available: String,
    },
    /// A column lacks the public metadata its kind needs.
    #[error("column `{column}` ({data_type}) needs {what}: {hint}")]
    NeedsMetadata {
        /// the column
        column: String,
        /// its Arrow type
        data_type: DataType,
        /// what is missing
        what: &'static str,
        /// how to declare it
        hint: String,
    },
    /// The declared kind does not fit the column's type.
    #[error("column `{column}` is declared {kind} but its type is {data_type}")]
    KindMismatch {
        /// the column
        column: String,
        /// the declared kind
        kind: &'static str,
        /// its Arrow type
        data_type: DataType,
    },
    /// The column's type or content is not supported yet.
    #[error(
        "column `{column}` ({data_type}): {what} is not supported yet; \
             declare it as {{ kind = \"drop\" }} to leave it out"
    )]
    NotSupported {
        /// the column
        column: String,
        /// its Arrow type
        data_type: DataType,
        /// what is unsupported
        what: &'static str,
    },
    /// Declared bounds do not fit the column's type.
    #[error("column `{column}`: bounds [{low}, {high}] do not fit its type {data_type}")]
    BoundsOutsideType {
        /// the column
        column: String,
        /// low bound
        low: f64,
        /// high bound
        high: f64,
        /// its Arrow type
        data_type: DataType,
    },
    /// DP category discovery estimates nearly as many distinct values as rows.
    #[error(
        "column `{column}` looks like an identifier: a DP estimate finds about {distinct} \
         distinct values in {rows} rows; declare it {{ kind = \"identifier\" }} (or \
         {{ kind = \"drop\" }}) in [columns]"
    )]
    LooksLikeIdentifier {
        /// the column
        column: String,
        /// the DP distinct estimate
        distinct: u64,
        /// train rows
        rows: usize,
    },
    /// No value of a column is frequent enough to pass the discovery threshold.
    #[error(
        "column `{column}`: no value is held by enough rows to be released (DP category \
         discovery needs about {threshold} rows per value at this budget); declare its \
         categories, raise privacy.preprocessing_share, or declare it {{ kind = \"drop\" }}"
    )]
    NoFrequentValue {
        /// the column
        column: String,
        /// the noisy-count threshold
        threshold: f64,
    },
    /// No octave of a numeric column holds enough rows for DP bounds.
    #[error(
        "column `{column}` ({data_type}): too few rows to find DP bounds (each range of one \
         power of two needs about {threshold} rows at this budget); declare its bounds or \
         raise privacy.preprocessing_share"
    )]
    TooFewRowsForBounds {
        /// the column
        column: String,
        /// its Arrow type
        data_type: DataType,
        /// the noisy-count threshold
        threshold: f64,
    },
    /// No column is left to learn.
    #[error("no column is left to learn: every column is an identifier or dropped")]
    NothingToLearn,
    /// An Arrow error while encoding or decoding.
    #[error("arrow error in column `{column}`")]
    Arrow {
        /// the column
        column: String,
        /// the cause
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
}

/// What happens to one source column once its metadata is known.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ColumnRole {
    /// Learned by the model through this encoder.
    Learned(ColumnEncoder),
    /// Replaced by made-up names.
    FakeName,
    /// Left out of the release.
    Dropped,
}

/// What the plan knows of one column.
#[derive(Debug, Clone)]
pub enum PlannedRole {
    /// Everything: public metadata or a role that needs none.
    Ready(ColumnRole),
    /// Learned, once DP preprocessing has found what it needs.
    Pending(Need),
}

/// One source column and its role.
#[derive(Debug, Clone)]
pub struct ColumnPlan<R> {
    /// The source field.
    pub field: Arc<Field>,
    /// What happens to it.
    pub role: R,
}

/// The columns of a source as planned: made from the pipeline and the Arrow types, reading no
/// row.
#[derive(Debug, Clone)]
pub struct SchemaPlan {
    columns: Vec<ColumnPlan<PlannedRole>>,
    output_schema: SchemaRef,
}

/// The encoders of a table, in source column order, every one fitted.
#[derive(Debug, Clone)]
pub struct TableCodec {
    columns: Vec<ColumnPlan<ColumnRole>>,
    output_schema: SchemaRef,
}

impl SchemaPlan {
    /// Matches the declarations to the source schema; columns not declared take the kind their
    /// Arrow type implies. Reads no row.
    pub fn build(
        source: &Schema,
        declared: &BTreeMap<String, ColumnSpec>,
        encoding: NumericEncoding,
    ) -> Result<Self, SchemaError> {
        for column in declared.keys() {
            if source.field_with_name(column).is_err() {
                let available: Vec<&str> =
                    source.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(SchemaError::UnknownColumn {
                    column: column.clone(),
                    available: available.join(", "),
                });
            }
        }
        let columns = source
            .fields()
            .iter()
            .map(|field| {
                Ok(ColumnPlan {
                    field: field.clone(),
                    role: plan_column(field, declared.get(field.name()), encoding)?,
                })
            })
            .collect::<Result<Vec<_>, SchemaError>>()?;
        if !columns.iter().any(|c| match &c.role {
            PlannedRole::Ready(ColumnRole::Learned(_)) | PlannedRole::Pending(_) => true,
            PlannedRole::Ready(_) => false,
        }) {
            return Err(SchemaError::NothingToLearn);
        }
        let output_fields: Vec<Arc<Field>> = columns
            .iter()
            .filter(|c| !matches!(c.role, PlannedRole::Ready(ColumnRole::Dropped)))
            .map(|c| c.field.clone())
            .collect();
        Ok(Self {
            columns,
            output_schema: Arc::new(Schema::new(output_fields)),
        })
    }

    /// Every source column with its planned role.
    pub fn columns(&self) -> &[ColumnPlan<PlannedRole>] {
        &self.columns
    }

    /// What the columns without public metadata need, in source order.
    pub fn needs(&self) -> Vec<&Need> {
        self.columns
            .iter()
            .filter_map(|c| match &c.role {
                PlannedRole::Pending(need) => Some(need),
                PlannedRole::Ready(_) => None,
            })
            .collect()
    }

    /// Schema of the release: the source's, less dropped columns.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The learned columns (public or pending metadata), each with whether it is numeric.
    pub fn learned_columns(&self) -> Vec<(String, bool)> {
        self.columns
            .iter()
            .filter_map(|c| match &c.role {
                PlannedRole::Ready(ColumnRole::Learned(e)) => Some((
                    c.field.name().clone(),
                    matches!(e, ColumnEncoder::Numeric(_)),
                )),
                PlannedRole::Pending(need) => {
                    Some((c.field.name().clone(), matches!(need, Need::Numeric { .. })))
                }
                PlannedRole::Ready(_) => None,
            })
            .collect()
    }

    /// Whether `name` is a learned numeric column.
    pub fn is_learned_numeric(&self, name: &str) -> bool {
        self.columns.iter().any(|c| {
            c.field.name() == name
                && matches!(
                    &c.role,
                    PlannedRole::Ready(ColumnRole::Learned(ColumnEncoder::Numeric(_)))
                        | PlannedRole::Pending(Need::Numeric { .. })
                )
        })
    }

    /// The codec, fitting the pending columns on `train` with the DP mechanisms of `design`
    /// (which the caller has charged to the ledger). Without pending columns `design` may be
    /// `None` and nothing is read.
    pub fn fit(
        &self,
        train: &RecordBatch,
        design: Option<&PreprocessingDesign>,
        rng: &mut PrivacyRng,
    ) -> Result<TableCodec, SchemaError> {
        let mut columns = Vec::with_capacity(self.columns.len());
        for (index, plan) in self.columns.iter().enumerate() {
            let role = match (&plan.role, design) {
                (PlannedRole::Ready(role), _) => role.clone(),
                (PlannedRole::Pending(need), Some(design)) => {
                    let encoder =
                        discover::fit_column(&plan.field, need, train.column(index), design, rng)?;
                    tracing::info!(column = %plan.field.name(), encoder = %encoder.describe(), "DP metadata fitted");
                    ColumnRole::Learned(encoder)
                }
                (PlannedRole::Pending(_), None) => {
                    return Err(SchemaError::NeedsMetadata {
                        column: plan.field.name().clone(),
                        data_type: plan.field.data_type().clone(),
                        what: "public metadata",
                        hint: "this command fits no DP metadata; declare its bounds or \
                               categories in [columns]"
                            .to_owned(),
                    });
                }
            };
            columns.push(ColumnPlan {
                field: plan.field.clone(),
                role,
            });
        }
        Ok(TableCodec {
            columns,
            output_schema: self.output_schema.clone(),
        })
    }

    /// The codec a checkpoint recorded (`roles`, in source column order), once it is checked to
    /// fit this plan: same columns, same types, public metadata unchanged. Reads no row and
    /// spends nothing: the DP metadata was paid for when it was first fitted.
    pub fn restore(&self, roles: Vec<ColumnRole>) -> Result<TableCodec, String> {
        if roles.len() != self.columns.len() {
            return Err(format!(
                "it records {} columns, the source has {}",
                roles.len(),
                self.columns.len()
            ));
        }
        let mut columns = Vec::with_capacity(roles.len());
        for (plan, role) in self.columns.iter().zip(roles) {
            let name = plan.field.name();
            let fits = match (&plan.role, &role) {
                (PlannedRole::Ready(ready), restored) => ready == restored,
                (PlannedRole::Pending(_), ColumnRole::Learned(encoder)) => {
                    let (encoder_name, data_type) = match encoder {
                        ColumnEncoder::Numeric(e) => (&e.name, &e.data_type),
                        ColumnEncoder::Categorical(e) => (&e.name, &e.data_type),
                    };
                    encoder_name == name && data_type == plan.field.data_type()
                }
                (PlannedRole::Pending(_), _) => false,
            };
            if !fits {
                return Err(format!("column `{name}` is not planned as it records it"));
            }
            columns.push(ColumnPlan {
                field: plan.field.clone(),
                role,
            });
        }
        Ok(TableCodec {
            columns,
            output_schema: self.output_schema.clone(),
        })
    }
}

/// The planned role of `field` under its declaration (`None` when undeclared).
fn plan_column(
    field: &Field,
    spec: Option<&ColumnSpec>,
    encoding: NumericEncoding,
) -> Result<PlannedRole, SchemaError> {
    let name = field.name().clone();
    let data_type = field.data_type().clone();
    let numeric = numeric::numeric_type(&data_type);
    let kind_mismatch = |kind: &'static str| SchemaError::KindMismatch {
        column: name.clone(),
        kind,
        data_type: data_type.clone(),
    };
    let categorical = |categories: Vec<String>| {
        PlannedRole::Ready(ColumnRole::Learned(ColumnEncoder::Categorical(
            CategoricalEncoder {
                name: name.clone(),
                data_type: data_type.clone(),
                // nulls are learned only where DP preprocessing measures their share
                nulls: false,
                null_share: None,
                categories,
                shares: None,
                provenance: Provenance::Public,
            },
        )))
    };
    let booleans = || vec!["false".to_owned(), "true".to_owned()];
    Ok(match spec {
        Some(ColumnSpec::Drop) | Some(ColumnSpec::Identifier(IdentifierOutput::Drop)) => {
            PlannedRole::Ready(ColumnRole::Dropped)
        }
        Some(ColumnSpec::Identifier(IdentifierOutput::FakeName)) => {
            if !encoder::is_string(&data_type) {
                return Err(kind_mismatch(
                    "an identifier with synthesize = \"fake_name\"",
                ));
            }
            PlannedRole::Ready(ColumnRole::FakeName)
        }
        Some(ColumnSpec::Continuous { bounds }) => {
            let Some(numeric) = numeric else {
                return Err(kind_mismatch("continuous"));
            };
            match *bounds {
                Some((low, high)) => public_numeric(field, numeric, low, high)
                    .map(|e| PlannedRole::Ready(ColumnRole::Learned(ColumnEncoder::Numeric(e))))?,
                None => PlannedRole::Pending(Need::Numeric { numeric, encoding }),
            }
        }
        Some(ColumnSpec::Categorical { categories }) => {
            if numeric.is_some() {
                return Err(SchemaError::NotSupported {
                    column: name,
                    data_type,
                    what: "a categorical numeric column",
                });
            }
            match (categories, &data_type) {
                (Some(list), DataType::Boolean) => {
                    if list.iter().any(|c| c != "true" && c != "false") {
                        return Err(kind_mismatch(
                            "categorical with categories other than \"true\" and \"false\"",
                        ));
                    }
                    categorical(list.clone())
                }
                (None, DataType::Boolean) => categorical(booleans()),
                (Some(list), t) if encoder::is_string(t) => categorical(list.clone()),
                (None, t) if encoder::is_string(t) => PlannedRole::Pending(Need::Categories),
                _ => return Err(kind_mismatch("categorical")),
            }
        }
        None => {
            if data_type == DataType::Boolean {
                categorical(booleans())
            } else if let Some(numeric) = numeric {
                PlannedRole::Pending(Need::Numeric { numeric, encoding })
            } else if encoder::is_string(&data_type) {
                PlannedRole::Pending(Need::Categories)
            } else {
                return Err(SchemaError::NotSupported {
                    column: name,
                    data_type,
                    what: "this type",
                });
            }
        }
    })
}

/// The min-max encoder of a numeric column with public bounds, snapped inward to its grid.
fn public_numeric(
    field: &Field,
    numeric: numeric::NumericType,
    low: f64,
    high: f64,
) -> Result<NumericEncoder, SchemaError> {
    if low < numeric.range.0 || high > numeric.range.1 {
        return Err(SchemaError::BoundsOutsideType {
            column: field.name().clone(),
            low,
            high,
            data_type: field.data_type().clone(),
        });
    }
    let (low, high) = match numeric.grid {
        Some(g) => ((low / g).ceil() * g, (high / g).floor() * g),
        None => (low, high),
    };
    if low > high {
        return Err(SchemaError::BoundsOutsideType {
            column: field.name().clone(),
            low,
            high,
            data_type: field.data_type().clone(),
        });
    }
    Ok(NumericEncoder {
        name: field.name().clone(),
        data_type: field.data_type().clone(),
        nulls: false,
        null_share: None,
        grid: numeric.grid,
        low,
        high,
        transform: Transform::MinMax,
        provenance: Provenance::Public,
    })
}

impl TableCodec {
    /// Every source column with its role.
    pub fn columns(&self) -> &[ColumnPlan<ColumnRole>] {
        &self.columns
    }

    /// The learned columns' encoders, in order.
    pub fn encoders(&self) -> impl Iterator<Item = &ColumnEncoder> {
        self.columns.iter().filter_map(|c| match &c.role {
            ColumnRole::Learned(encoder) => Some(encoder),
            _ => None,
        })
    }

    /// Width of one encoded row.
    pub fn encoded_width(&self) -> usize {
        self.encoders().map(ColumnEncoder::width).sum()
    }

    /// The generator's output heads, with their offsets in an encoded row.
    pub fn heads(&self) -> Vec<OutputHead> {
        let mut offset = 0;
        let mut heads = Vec::new();
        for encoder in self.encoders() {
            heads.extend(encoder.heads(offset));
            offset += encoder.width();
        }
        heads
    }

    /// Schema of the release: the source's, less dropped columns.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// Encodes a batch to a row-major matrix of `rows x encoded_width`. `rng` spreads grid
    /// values within their cells.
    pub fn encode<R: Rng>(
        &self,
        batch: &RecordBatch,
        rng: &mut R,
    ) -> Result<Vec<f32>, SchemaError> {
        let width = self.encoded_width();
        let rows = batch.num_rows();
        let mut matrix = vec![0.0f32; rows * width];
        let mut offset = 0;
        for (index, plan) in self.columns.iter().enumerate() {
            let ColumnRole::Learned(encoder) = &plan.role else {
                continue;
            };
            encoder.encode_into(batch.column(index), &mut matrix, width, offset, rng)?;
            offset += encoder.width();
        }
        Ok(matrix)
    }

    /// Decodes a batch of raw generator output (each head before its activation) to a
    /// release batch, each learned column under its entry of `adjustments` (in the order of
    /// [`Self::encoders`]; an empty slice adjusts nothing). Categories and nulls are drawn with
    /// `rng`.
    pub fn decode<R: Rng>(
        &self,
        raw: &RawBatch<'_>,
        adjustments: &[ColumnAdjustment],
        rng: &mut R,
    ) -> Result<RecordBatch, SchemaError> {
        let rows = raw.rows();
        let unadjusted = ColumnAdjustment::default();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        let (mut offset, mut learned) = (0, 0);
        for plan in &self.columns {
            match &plan.role {
                ColumnRole::Dropped => {}
                ColumnRole::FakeName => {
                    arrays.push(fake::fake_names(plan.field.as_ref(), rows, rng)?);
                }
                ColumnRole::Learned(encoder) => {
                    let adjustment = adjustments.get(learned).unwrap_or(&unadjusted);
                    arrays.push(encoder.decode_raw(raw, offset, adjustment, rng)?);
                    offset += encoder.width();
                    learned += 1;
                }
            }
        }
        RecordBatch::try_new(self.output_schema.clone(), arrays).map_err(|source| {
            SchemaError::Arrow {
                column: "(release batch)".to_owned(),
                source,
            }
        })
    }
}
