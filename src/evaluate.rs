//! `synthgate evaluate`: a pipeline's checks and attacks on any synthetic table, made by
//! synthgate or by another tool, against the pipeline's split of its source or given train and
//! holdout tables. The same gate `synthgate run` applies before it publishes.

use std::path::Path;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;

use crate::config::Pipeline;
use crate::error::Error;
use crate::gate::GateVerdict;
use crate::plan::Plan;
use crate::storage::{self, Location};
use crate::validate::{self, ValidateError};

/// Runs every check of `pipeline` on `synthetic` against `train` and `holdout`; `columns` are
/// the learned columns (name, numeric?).
pub async fn gate(
    pipeline: &Pipeline,
    train: &RecordBatch,
    holdout: &RecordBatch,
    synthetic: &RecordBatch,
    columns: &[(String, bool)],
) -> Result<GateVerdict, Error> {
    let tables_error = |source| ValidateError::Query {
        what: "tables".to_owned(),
        source,
    };
    let ctx = validate::session(
        pipeline,
        vec![train.clone()],
        vec![holdout.clone()],
        train.schema(),
    )
    .map_err(tables_error)?;
    let table = MemTable::try_new(synthetic.schema(), vec![vec![synthetic.clone()]])
        .map_err(tables_error)?;
    ctx.register_table("synthetic", std::sync::Arc::new(table))
        .map_err(tables_error)?;
    let checks = validate::evaluate(&ctx, pipeline, columns, (train, holdout, synthetic)).await?;
    Ok(GateVerdict::from_checks(checks))
}

/// Every row of the Parquet file or folder at `url` (resolved against `base`), in one batch.
pub async fn read_table(url: &str, base: &Path) -> Result<RecordBatch, Error> {
    let location = Location::parse(url, base)?;
    let info = storage::inspect_source(&location).await?;
    let ctx = storage::session_context();
    let batches = storage::read_source(&ctx, &info).await?;
    one_batch(&info.schema, &batches)
}

/// `batches` concatenated.
pub fn one_batch(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch, Error> {
    concat_batches(schema, batches)
        .map_err(|e| Error::Internal(format!("cannot concatenate batches: {e}")))
}

/// Tables given on the command line, or the pipeline's own split of its source.
pub struct RealTables {
    /// train rows (the table the model was, or may have been, trained on)
    pub train: RecordBatch,
    /// holdout rows (never trained on)
    pub holdout: RecordBatch,
}

/// The real tables of `plan`: `train` and `holdout` when given, else the plan's split.
pub async fn real_tables(
    plan: &Plan,
    train: Option<&str>,
    holdout: Option<&str>,
    base: &Path,
) -> Result<RealTables, Error> {
    match (train, holdout) {
        (Some(train), Some(holdout)) => Ok(RealTables {
            train: read_table(train, base).await?,
            holdout: read_table(holdout, base).await?,
        }),
        (None, None) => {
            let ctx = storage::session_context();
            let batches = storage::read_source(&ctx, &plan.source).await?;
            let table = one_batch(&plan.source.schema, &batches)?;
            let (train, holdout) =
                crate::run::split(&table, plan.holdout_rows, plan.pipeline.training.seed)?;
            Ok(RealTables { train, holdout })
        }
        _ => Err(Error::Plan {
            path: plan.pipeline.file.clone(),
            reason: "give both --train and --holdout, or neither (the pipeline's own split)"
                .to_owned(),
        }),
    }
}
