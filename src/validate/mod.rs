//! Checks of a synthetic table against the real rows, all through DataFusion SQL.
//!
//! Tables: `real` (the train split, also under the source's `table` name), `holdout` (rows
//! never used in training) and `synthetic`. Every check yields a number and a pass or fail
//! against its threshold. The results read real data: they are not DP and stay internal; only
//! pass or fail is released.

mod attacks;
pub mod boosting;
mod closest_record;
mod distance;
pub mod fidelity;
mod inference;
mod singling_out;
pub mod stats;
pub mod targets;
pub mod utility;
pub mod workload;

use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use attacks::{Revealed, exact_copies, linkage, unique_copies};
use fidelity::Fidelity;
use targets::{Outcome, Targets};

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
    /// The utility target is unusable (exit 2).
    #[error("utility.target: `{column}` {reason}")]
    BadUtilityTarget {
        /// the column
        column: String,
        /// what is wrong
        reason: String,
    },
    /// An inference column is unusable (exit 2).
    #[error("attack.inference.{key}: `{column}` is not a learned column of the source")]
    BadInferenceColumn {
        /// `secret` or `known`
        key: &'static str,
        /// the column
        column: String,
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
    /// the linkage attack's unique match that also reveals the other columns
    LinkageRevealing,
    /// synthetic rows equal to a row unique in the real table
    UniqueCopies,
    /// synthetic rows nearer to a person than other real people are
    DistanceToClosestRecord,
    /// predicates from synthetic rows that isolate one real person
    SinglingOut,
    /// a secret column read off the nearest synthetic row
    AttributeInference,
    /// the mean column-shape score (KS and TV complements)
    ColumnShapes,
    /// the mean pair-trend score (correlation and contingency similarity)
    PairTrends,
    /// a `[[query]]`'s mean relative error
    Workload,
    /// ROC AUC of a model trained on synthetic rows, against one trained on real rows
    MachineLearningUtility,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// within its threshold
    Pass,
    /// outside its threshold, or not measurable: refuses the release
    Fail,
    /// an attack that does no better against the synthetic table than against its baseline
    /// (the synthetic table with each column shuffled on its own) shows nothing either way; it
    /// does not refuse the release
    Inconclusive,
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
    /// whether it lets the release go (pass or inconclusive)
    pub passed: bool,
    /// pass, fail or inconclusive
    pub status: Status,
    /// counts and intervals behind the value
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<stats::Risk>,
    /// for attacks: the success rate on train targets against the synthetic table, and against
    /// the baseline table
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rates: Option<(f64, f64)>,
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
            status: if passed { Status::Pass } else { Status::Fail },
            risk: None,
            rates: None,
            details: serde_json::Map::new(),
        }
    }

    /// An attack's check from its outcome: the risk of train against holdout targets, passing
    /// on the upper end of its interval, inconclusive when the attack does no better against
    /// the synthetic table than against the baseline.
    pub fn attack(name: String, kind: CheckKind, outcome: Outcome, max_risk: f64) -> Self {
        let risk = stats::risk(
            outcome.train.successes,
            outcome.train.targets,
            outcome.holdout.successes,
            outcome.holdout.targets,
        );
        let measured = outcome.train.targets > 0 && outcome.holdout.targets > 0;
        let mut result = Self::from_risk(
            name,
            kind,
            risk,
            outcome.train.rate(),
            outcome.baseline.rate(),
            max_risk,
        );
        if !measured {
            result.status = Status::Fail;
            result.passed = false;
        }
        result
    }

    /// An attack's check on the most exposed people, too few for an interval to show a risk
    /// below its threshold: see [`CheckResult::refusing_on_evidence`].
    pub fn exposed_attack(name: String, kind: CheckKind, outcome: Outcome, max_risk: f64) -> Self {
        let measured = outcome.train.targets > 0 && outcome.holdout.targets > 0;
        let result = Self::attack(name, kind, outcome, max_risk);
        if measured {
            result.refusing_on_evidence(max_risk)
        } else {
            result
        }
    }

    /// For attacks whose successes are too few for an interval to settle the question (the
    /// most exposed people; singling out, where a few dozen predicates hit anyone): a failing
    /// check refuses only when the interval's lower end is above the threshold, a shown leak,
    /// and is inconclusive when the interval straddles it.
    pub fn refusing_on_evidence(mut self, max_risk: f64) -> Self {
        if let Some(risk) = &self.risk
            && self.status == Status::Fail
            && risk.high.is_finite()
            && risk.low <= max_risk
        {
            self.status = Status::Inconclusive;
            self.passed = true;
        }
        self
    }

    /// An attack's check from its risk and its success rates against the synthetic table and
    /// against the baseline.
    pub fn from_risk(
        name: String,
        kind: CheckKind,
        risk: stats::Risk,
        rate: f64,
        baseline_rate: f64,
        max_risk: f64,
    ) -> Self {
        let mut result = Self::bounded(name, kind, risk.high, None, Some(max_risk));
        if risk.high.is_finite() && rate <= baseline_rate {
            result.status = Status::Inconclusive;
            result.passed = true;
        }
        result.risk = Some(risk);
        result.rates = Some((rate, baseline_rate));
        result
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
    for query in &pipeline.queries {
        workload::plan(&ctx, query).await?;
    }
    if let Some(utility) = &pipeline.utility {
        let reason = match schema
            .learned_columns()
            .iter()
            .find(|(name, _)| *name == utility.target)
        {
            None => Some("is not a learned column of the source"),
            Some((_, true)) => Some(
                "is numeric; a numeric target (regression utility) is not supported yet, \
                 name a categorical column",
            ),
            Some((_, false)) => None,
        };
        if let Some(reason) = reason {
            return Err(ValidateError::BadUtilityTarget {
                column: utility.target.clone(),
                reason: reason.to_owned(),
            });
        }
    }
    if let Some(inference) = &pipeline.inference {
        let learned = schema.learned_columns();
        let is_learned = |column: &String| learned.iter().any(|(name, _)| name == column);
        let named = inference
            .secrets
            .iter()
            .map(|c| ("secret", c))
            .chain(inference.known.iter().flatten().map(|c| ("known", c)));
        for (key, column) in named {
            if !is_learned(column) {
                return Err(ValidateError::BadInferenceColumn {
                    key,
                    column: column.clone(),
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
/// numeric?). Registers the attacks' tables `baseline`, `exposed_train` and `exposed_holdout`.
pub async fn evaluate(
    ctx: &SessionContext,
    pipeline: &Pipeline,
    columns: &[(String, bool)],
    tables: (&RecordBatch, &RecordBatch, &RecordBatch),
) -> Result<Vec<CheckResult>, ValidateError> {
    let (train, holdout, synthetic) = tables;
    let names: Vec<String> = columns.iter().map(|(name, _)| name.clone()).collect();
    let gate = &pipeline.gate;
    let seed = pipeline.training.seed;
    let mut results = Vec::new();
    for check in &pipeline.checks {
        results.push(user_check(ctx, check).await?);
    }
    let started = std::time::Instant::now();
    let lap =
        |what: &str| tracing::debug!(seconds = started.elapsed().as_secs_f64(), "{what} done");
    results.extend(fidelity_checks(pipeline, columns, train, synthetic)?);
    for query in &pipeline.queries {
        results.push(workload::workload_check(ctx, query).await?);
    }
    if let Some(spec) = &pipeline.utility {
        results.push(utility::utility_check(
            (train, holdout, synthetic),
            columns,
            &spec.target,
            gate.utility_max_auc_loss,
        )?);
    }
    lap("fidelity");
    let Some(targets) = Targets::build(train, holdout, columns, seed)? else {
        // no holdout or too few train rows: nothing can be shown safe, and a NaN fails
        results.push(CheckResult::bounded(
            "attack targets (train and holdout people)".to_owned(),
            CheckKind::DistanceToClosestRecord,
            f64::NAN,
            None,
            Some(0.0),
        ));
        return Ok(results);
    };
    let baseline = targets::shuffled(synthetic, seed)?;
    let register = |name: &str, batch: RecordBatch| -> Result<(), ValidateError> {
        ctx.register_table(name, targets::table(batch)?)
            .map(|_| ())
            .map_err(|source| ValidateError::Query {
                what: "target tables".to_owned(),
                source,
            })
    };
    register("baseline", baseline.clone())?;
    register(
        "exposed_train",
        targets::rows_of(train, &targets.exposed_train_rows())?,
    )?;
    register(
        "exposed_holdout",
        targets::rows_of(holdout, &targets.exposed_holdout_rows())?,
    )?;

    lap("attack targets");
    results.extend(exact_copies(ctx, &names, gate.exact_copies_max_risk).await?);
    results.push(unique_copies(ctx, &names, gate.unique_copies_max_share).await?);
    lap("copies");
    if let Some(spec) = &pipeline.linkage {
        let schema = train.schema();
        let others: Vec<Revealed> = names
            .iter()
            .filter(|name| !spec.known.iter().any(|(known, _)| known == *name))
            .map(|name| Revealed {
                name: name.clone(),
                within_tolerance: schema
                    .field_with_name(name)
                    .is_ok_and(|f| f.data_type().is_numeric()),
            })
            .collect();
        results.extend(linkage(ctx, spec, &others).await?);
        lap("linkage");
    }
    let four = (train, holdout, synthetic, &baseline);
    results.extend(singling_out::singling_out(
        four,
        columns,
        &targets,
        pipeline.singling_out.max_risk,
        seed,
    )?);
    lap("singling out");
    if let Some(spec) = &pipeline.inference {
        for secret in &spec.secrets {
            let numeric = columns
                .iter()
                .find(|(name, _)| name == secret)
                .map(|(_, numeric)| *numeric)
                .ok_or_else(|| ValidateError::BadKnownColumn {
                    column: secret.clone(),
                    reason: "an inference secret must be a learned column".to_owned(),
                })?;
            let known = inference_known(pipeline, columns, secret);
            results.extend(inference::attribute_inference(
                four,
                &targets,
                (secret, numeric),
                &known,
                spec.tolerance,
                spec.max_risk,
                seed,
            )?);
        }
        lap("inference");
    }
    let synthetic_rows: Vec<usize> = (0..synthetic.num_rows()).collect();
    if synthetic_rows.is_empty() {
        results.push(CheckResult::bounded(
            "distance to closest record".to_owned(),
            CheckKind::DistanceToClosestRecord,
            f64::NAN,
            None,
            Some(gate.closest_record_max_risk),
        ));
    } else {
        let synthetic_x = targets.embedding.embed(synthetic, &synthetic_rows)?;
        let baseline_x = targets.embedding.embed(&baseline, &synthetic_rows)?;
        results.extend(closest_record::distance_to_closest_record(
            &targets,
            &synthetic_x,
            &baseline_x,
            gate.closest_record_max_risk,
        )?);
    }
    lap("distance to closest record");
    Ok(results)
}

/// The column-shape check and, with two or more columns, the pair-trend check; the scores of
/// each column and pair go into the checks' details for the report.
fn fidelity_checks(
    pipeline: &Pipeline,
    columns: &[(String, bool)],
    train: &RecordBatch,
    synthetic: &RecordBatch,
) -> Result<Vec<CheckResult>, ValidateError> {
    let fidelity = Fidelity::measure(train, synthetic, columns)?;
    let mut shapes = CheckResult::bounded(
        "column shapes".to_owned(),
        CheckKind::ColumnShapes,
        fidelity.column_shapes(),
        Some(pipeline.gate.column_shapes_min),
        None,
    );
    shapes.details.insert(
        "columns".into(),
        serde_json::to_value(&fidelity.shapes).unwrap_or_default(),
    );
    let mut checks = vec![shapes];
    if columns.len() >= 2 {
        let mut pairs = CheckResult::bounded(
            "pair trends".to_owned(),
            CheckKind::PairTrends,
            fidelity.pair_trends(),
            Some(pipeline.gate.pair_trends_min),
            None,
        );
        pairs.details.insert(
            "pairs".into(),
            serde_json::to_value(&fidelity.pairs).unwrap_or_default(),
        );
        checks.push(pairs);
    }
    Ok(checks)
}

/// The columns the inference attacker knows when guessing `secret`: the declared ones, else the
/// linkage's known columns, else every other learned column.
fn inference_known(
    pipeline: &Pipeline,
    columns: &[(String, bool)],
    secret: &str,
) -> Vec<(String, bool)> {
    let declared: Option<Vec<String>> = pipeline
        .inference
        .as_ref()
        .and_then(|spec| spec.known.clone())
        .or_else(|| {
            pipeline
                .linkage
                .as_ref()
                .map(|l| l.known.iter().map(|(name, _)| name.clone()).collect())
        });
    columns
        .iter()
        .filter(|(name, _)| name != secret)
        .filter(|(name, _)| declared.as_ref().is_none_or(|d| d.contains(name)))
        .cloned()
        .collect()
}
