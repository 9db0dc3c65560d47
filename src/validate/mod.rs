//! Checks of a synthetic table against the real rows, all through DataFusion SQL.
//!
//! Tables: `real` (the train split, also under the source's `table` name), `holdout` (rows
//! never used in training) and `synthetic`. Every check yields a number and a pass or fail
//! against its threshold. The results read real data: they are not DP and stay internal; only
//! pass or fail is released.

mod attacks;
mod distance;
pub mod fidelity;
pub mod stats;

use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Serialize;

pub use attacks::{exact_copies, linkage, unique_copies};
pub use distance::distance_to_closest_record;

use crate::config::{CheckSpec, Pipeline};
use crate::schema::SchemaPlan;

/// Errors of validation.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// A user check's SQL does not plan against the tables (exit 2).
    #[error("check `{check}`: its SQL is invalid")]
    InvalidSql {
        /// check name
        check: String,
        /// the planner's error
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A user check does not return one numeric column (exit 2).
    #[error("check `{check}`: {reason}")]
    BadShape {
        /// check name
        check: String,
        /// what is wrong
        reason: String,
    },
    /// A linkage column is unusable (exit 2).
    #[error("attack.linkage.known.{column}: {reason}")]
    BadKnownColumn {
        /// the column
        column: String,
        /// what is wrong
        reason: String,
    },
    /// Running a query over real rows failed (exit 1). The engine's message is withheld: an
    /// execution error can quote the row value it failed on (a failed cast, for instance).
    #[error(
        "query of `{what}` failed while running over the real rows; the engine's message \
             is withheld because it may quote a row value"
    )]
    Execution {
        /// which check
        what: String,
    },
    /// Setting up a query failed (exit 1).
    #[error("query of `{what}` failed")]
    Query {
        /// which check
        what: String,
        /// the cause
        #[source]
        source: datafusion::error::DataFusionError,
    },
}

impl ValidateError {
    /// Whether the pipeline is at fault (exit 2) rather than the run (exit 1).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            ValidateError::Query { .. } | ValidateError::Execution { .. }
        )
    }
}

/// Which built-in or user check a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// a `[[check]]`
    UserSql,
    /// exact copies of train rows
    ExactCopies,
    /// the range-query linkage attack
    Linkage,
    /// synthetic rows equal to a row unique in the real table
    UniqueCopies,
    /// synthetic rows nearer to train than to holdout
    DistanceToClosestRecord,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// name shown in the verdict
    pub name: String,
    /// what kind of check
    pub kind: CheckKind,
    /// the measured value (for risks: the upper end of the interval, which the gate compares)
    pub value: f64,
    /// smallest passing value
    pub min: Option<f64>,
    /// largest passing value
    pub max: Option<f64>,
    /// whether it passed
    pub passed: bool,
    /// counts and intervals behind the value
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<stats::Risk>,
    /// further numbers for the internal report
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl CheckResult {
    fn bounded(
        name: String,
        kind: CheckKind,
        value: f64,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Self {
        let passed =
            value.is_finite() && min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m);
        Self {
            name,
            kind,
            value,
            min,
            max,
            passed,
            risk: None,
            details: serde_json::Map::new(),
        }
    }
}

/// A session with `real`, the source's table name and `holdout` registered; the caller
/// registers `synthetic`.
pub fn session(
    pipeline: &Pipeline,
    train: Vec<RecordBatch>,
    holdout: Vec<RecordBatch>,
    source_schema: SchemaRef,
) -> Result<SessionContext, datafusion::error::DataFusionError> {
    let ctx = crate::storage::session_context();
    let train = Arc::new(MemTable::try_new(source_schema.clone(), vec![train])?);
    ctx.register_table("real", train.clone())?;
    ctx.register_table(pipeline.source.table.as_str(), train)?;
    ctx.register_table(
        "holdout",
        Arc::new(MemTable::try_new(source_schema, vec![holdout])?),
    )?;
    Ok(ctx)
}

/// Plans every user check and the linkage columns against empty tables of the right schemas,
/// so a broken pipeline fails before any row is read.
pub async fn preflight(
    pipeline: &Pipeline,
    source_schema: SchemaRef,
    schema: &SchemaPlan,
) -> Result<(), ValidateError> {
    let empty = |source| ValidateError::Query {
        what: "empty tables".to_owned(),
        source,
    };
    let ctx = session(pipeline, vec![], vec![], source_schema).map_err(empty)?;
    let synthetic = MemTable::try_new(schema.output_schema(), vec![vec![]]).map_err(empty)?;
    ctx.register_table("synthetic", Arc::new(synthetic))
        .map_err(empty)?;
    for check in &pipeline.checks {
        let frame = ctx
            .sql(&check.sql)
            .await
            .map_err(|source| ValidateError::InvalidSql {
                check: check.name.clone(),
                source,
            })?;
        let fields = frame.schema().fields();
        if fields.len() != 1 {
            return Err(ValidateError::BadShape {
                check: check.name.clone(),
                reason: format!(
                    "its SQL returns {} columns; a check returns one number",
                    fields.len()
                ),
            });
        }
        if !fields[0].data_type().is_numeric() {
            return Err(ValidateError::BadShape {
                check: check.name.clone(),
                reason: format!(
                    "its SQL returns {}; a check returns a number",
                    fields[0].data_type()
                ),
            });
        }
    }
    if let Some(linkage) = &pipeline.linkage {
        for (column, _) in &linkage.known {
            if !schema.is_learned_numeric(column) {
                return Err(ValidateError::BadKnownColumn {
                    column: column.clone(),
                    reason: "a linkage column must be a learned continuous column of the source"
                        .to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Runs one user check: its SQL must return exactly one row holding one non-null number.
pub async fn user_check(
    ctx: &SessionContext,
    check: &CheckSpec,
) -> Result<CheckResult, ValidateError> {
    // Over real rows an engine error is reported without its message, which may quote a row
    // value (a failed cast, say). User SQL was planned in `preflight` against empty tables,
    // where its errors were shown in full.
    let query_error = |_: datafusion::error::DataFusionError| ValidateError::Execution {
        what: check.name.clone(),
    };
    let batches = ctx
        .sql(&check.sql)
        .await
        .map_err(query_error)?
        .collect()
        .await
        .map_err(query_error)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let shape_error = |reason: String| ValidateError::BadShape {
        check: check.name.clone(),
        reason,
    };
    if rows != 1 {
        return Err(shape_error(format!(
            "its SQL returned {rows} rows; a check returns one"
        )));
    }
    let batch = batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .ok_or_else(|| shape_error("no row".to_owned()))?;
    let value = cast(batch.column(0), &DataType::Float64).map_err(|e| {
        query_error(datafusion::error::DataFusionError::ArrowError(
            Box::new(e),
            None,
        ))
    })?;
    let value = value
        .as_any()
        .downcast_ref::<Float64Array>()
        .filter(|a| !a.is_null(0))
        .map(|a| a.value(0));
    let value = value.unwrap_or(f64::NAN);
    Ok(CheckResult::bounded(
        check.name.clone(),
        CheckKind::UserSql,
        value,
        check.min,
        check.max,
    ))
}

/// Every check of the pipeline on a prepared session, where `train`, `holdout` and
/// `synthetic` are the tables the session holds and `columns` the learned columns (name,
/// numeric?).
pub async fn evaluate(
    ctx: &SessionContext,
    pipeline: &Pipeline,
    columns: &[(String, bool)],
    tables: (&RecordBatch, &RecordBatch, &RecordBatch),
) -> Result<Vec<CheckResult>, ValidateError> {
    let names: Vec<String> = columns.iter().map(|(name, _)| name.clone()).collect();
    let gate = &pipeline.gate;
    let mut results = Vec::new();
    for check in &pipeline.checks {
        results.push(user_check(ctx, check).await?);
    }
    results.push(exact_copies(ctx, &names, gate.exact_copies_max_risk).await?);
    results.push(unique_copies(ctx, &names, gate.unique_copies_max_share).await?);
    let (train, holdout, synthetic) = tables;
    results.push(distance_to_closest_record(
        train,
        holdout,
        synthetic,
        columns,
        gate.closest_record_max_risk,
        pipeline.training.seed,
    )?);
    if let Some(spec) = &pipeline.linkage {
        results.push(linkage(ctx, spec).await?);
    }
    Ok(results)
}
