//! Column kinds, and the encoders and decoders between Arrow columns and model tensors.
//!
//! Guarantees: only public metadata (the pipeline's bounds and categories, the Arrow types)
//! shapes an encoder, so building one reads no row; decoded columns have the source's Arrow
//! types, stay within the declared bounds and hold only declared categories; identifier columns
//! never reach the model.

mod encoder;
mod fake;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;

pub use encoder::{ColumnEncoder, OutputHead};

use crate::config::{ColumnSpec, IdentifierOutput};

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

/// What happens to one source column.
#[derive(Debug, Clone)]
pub enum ColumnRole {
    /// Learned by the model through this encoder.
    Learned(ColumnEncoder),
    /// Replaced by made-up names.
    FakeName,
    /// Left out of the release.
    Dropped,
}

/// One source column and its role.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// The source field.
    pub field: Arc<Field>,
    /// What happens to it.
    pub role: ColumnRole,
}

/// The encoders of a table, in source column order.
#[derive(Debug, Clone)]
pub struct TableCodec {
    columns: Vec<ColumnPlan>,
    output_schema: SchemaRef,
}

impl TableCodec {
    /// Matches the declarations to the source schema. Reads no row.
    pub fn build(
        source: &Schema,
        declared: &BTreeMap<String, ColumnSpec>,
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
        let mut columns = Vec::new();
        for field in source.fields() {
            let role = match declared.get(field.name()) {
                Some(ColumnSpec::Drop) | Some(ColumnSpec::Identifier(IdentifierOutput::Drop)) => {
                    ColumnRole::Dropped
                }
                Some(ColumnSpec::Identifier(IdentifierOutput::FakeName)) => {
                    if !encoder::is_string(field.data_type()) {
                        return Err(SchemaError::KindMismatch {
                            column: field.name().clone(),
                            kind: "an identifier with synthesize = \"fake_name\"",
                            data_type: field.data_type().clone(),
                        });
                    }
                    ColumnRole::FakeName
                }
                spec => ColumnRole::Learned(ColumnEncoder::new(field, spec)?),
            };
            columns.push(ColumnPlan {
                field: field.clone(),
                role,
            });
        }
        if !columns
            .iter()
            .any(|c| matches!(c.role, ColumnRole::Learned(_)))
        {
            return Err(SchemaError::NothingToLearn);
        }
        let output_fields: Vec<Arc<Field>> = columns
            .iter()
            .filter(|c| !matches!(c.role, ColumnRole::Dropped))
            .map(|c| c.field.clone())
            .collect();
        Ok(Self {
            columns,
            output_schema: Arc::new(Schema::new(output_fields)),
        })
    }

    /// Every source column with its role.
    pub fn columns(&self) -> &[ColumnPlan] {
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
        self.encoders()
            .map(|encoder| {
                let head = encoder.head(offset);
                offset += encoder.width();
                head
            })
            .collect()
    }

    /// Schema of the release: the source's, less dropped columns.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// Encodes a batch to a row-major matrix of `rows x encoded_width`.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<f32>, SchemaError> {
        let width = self.encoded_width();
        let rows = batch.num_rows();
        let mut matrix = vec![0.0f32; rows * width];
        let mut offset = 0;
        for (index, plan) in self.columns.iter().enumerate() {
            let ColumnRole::Learned(encoder) = &plan.role else {
                continue;
            };
            encoder.encode_into(batch.column(index), &mut matrix, width, offset)?;
            offset += encoder.width();
        }
        Ok(matrix)
    }

    /// Decodes generator output (`rows x encoded_width`, continuous heads in [-1, 1],
    /// categorical heads as probabilities) to a release batch. Categories are drawn from the
    /// probabilities with `rng`.
    pub fn decode<R: Rng>(
        &self,
        generated: &[f32],
        rows: usize,
        rng: &mut R,
    ) -> Result<RecordBatch, SchemaError> {
        let width = self.encoded_width();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        let mut offset = 0;
        for plan in &self.columns {
            match &plan.role {
                ColumnRole::Dropped => {}
                ColumnRole::FakeName => {
                    arrays.push(fake::fake_names(plan.field.as_ref(), rows, rng)?);
                }
                ColumnRole::Learned(encoder) => {
                    arrays.push(encoder.decode(generated, rows, width, offset, rng)?);
                    offset += encoder.width();
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
