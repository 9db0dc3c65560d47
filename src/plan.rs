//! The plan of a run: what `synthgate check` prints and `synthgate run` carries out.
//!
//! Guarantee: a plan is made from the pipeline and the Parquet footers (schema, row count), which
//! are public; making one reads no row.

use std::fmt;

use crate::config::Pipeline;
use crate::error::Error;
use crate::privacy::{self, Accountant, PrivacyLedger};
use crate::schema::discover::{THRESHOLD_DELTA_SHARE, singleton_release_probability};
use crate::schema::{ColumnRole, PlannedRole, PreprocessingDesign, SchemaPlan};
use crate::storage::{SourceInfo, inspect_source};
use crate::train::TrainingPlan;

/// A validated pipeline with its privacy plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// the pipeline
    pub pipeline: Pipeline,
    /// the source's files, schema and row count
    pub source: SourceInfo,
    /// the columns: encoders of those with public metadata, needs of the others
    pub schema: SchemaPlan,
    /// the DP preprocessing of the columns without public metadata, if any
    pub preprocessing: Option<PreprocessingDesign>,
    /// rows that train
    pub train_rows: usize,
    /// rows held out
    pub holdout_rows: usize,
    /// the DP-SGD plan
    pub training: TrainingPlan,
    /// epsilon of the preprocessing alone (zero when every column has public metadata)
    pub preprocessing_epsilon: f64,
    /// epsilon of the planned training steps alone
    pub training_epsilon: f64,
    /// epsilon of both composed: what the run spends
    pub planned_epsilon: f64,
    /// the accountant
    pub accountant: Accountant,
    /// the training device
    pub device: candle_core::Device,
}

/// Builds the plan of `pipeline`: reads the source's footers, matches the columns, sizes the
/// split and calibrates the noise multiplier.
pub async fn make_plan(pipeline: Pipeline) -> Result<Plan, Error> {
    let source = inspect_source(&pipeline.source.location).await?;
    let schema = SchemaPlan::build(
        &source.schema,
        &pipeline.columns,
        pipeline.training.continuous_encoding,
    )?;
    crate::validate::preflight(&pipeline, source.schema.clone(), &schema).await?;
    let device = crate::model::select_device(&pipeline.training.device)?;

    let plan_error = |reason: String| Error::Plan {
        path: pipeline.file.clone(),
        reason,
    };
    let holdout_rows =
        (source.row_count as f64 * pipeline.privacy.holdout_fraction).round() as usize;
    let train_rows = source.row_count.saturating_sub(holdout_rows);
    if train_rows < 2 || holdout_rows < 1 {
        return Err(plan_error(format!(
            "the source has {} rows: too few to split into train and holdout",
            source.row_count
        )));
    }
    if pipeline.privacy.delta >= 1.0 / train_rows as f64 {
        return Err(plan_error(format!(
            "privacy.delta = {} is not below 1 / train rows = {:.3e}; a delta that large \
             allows releasing a real row outright",
            pipeline.privacy.delta,
            1.0 / train_rows as f64
        )));
    }

    let training = &pipeline.training;
    let sampling_rate =
        crate::budget::sampling_rate_for_batch(training.batch_size as u64, train_rows as u64)?;
    let expected_batch_size = sampling_rate * train_rows as f64;
    let steps = crate::budget::steps_for_epochs(training.epochs, sampling_rate);
    let accountant = pipeline.privacy.accountant;
    let (epsilon, delta) = (pipeline.privacy.epsilon, pipeline.privacy.delta);
    let (preprocessing, prior) = plan_preprocessing(
        &schema,
        accountant,
        epsilon,
        delta,
        pipeline.privacy.preprocessing_share,
        train_rows,
        &pipeline.file,
    )?;
    let noise_multiplier =
        privacy::calibrate_noise_multiplier_after(&prior, sampling_rate, steps, epsilon)?;
    let preprocessing_epsilon = prior.epsilon()?;
    let mut planned = prior;
    planned.charge_dp_sgd_steps("discriminator", sampling_rate, noise_multiplier, steps);
    let planned_epsilon = planned.epsilon()?;
    let training_epsilon =
        privacy::dp_sgd_epsilon(accountant, sampling_rate, noise_multiplier, steps, delta)?;

    let training_plan = TrainingPlan {
        steps,
        sampling_rate,
        noise_multiplier,
        max_grad_norm: pipeline.privacy.max_grad_norm,
        expected_batch_size,
        discriminator_steps: training.discriminator_steps,
        learning_rate: training.learning_rate,
        generator: training.generator.clone(),
        discriminator: training.discriminator.clone(),
        latent_dim: training.latent_dim,
    };
    Ok(Plan {
        pipeline,
        source,
        schema,
        preprocessing,
        train_rows,
        holdout_rows,
        training: training_plan,
        preprocessing_epsilon,
        training_epsilon,
        planned_epsilon,
        accountant,
        device,
    })
}

/// The preprocessing mechanism of the columns without public metadata, sized so that it alone
/// spends `share` of `epsilon`, and a ledger holding it (empty when nothing needs it).
fn plan_preprocessing(
    schema: &SchemaPlan,
    accountant: Accountant,
    epsilon: f64,
    delta: f64,
    share: f64,
    train_rows: usize,
    file: &std::path::Path,
) -> Result<(Option<PreprocessingDesign>, PrivacyLedger), Error> {
    let mut ledger = PrivacyLedger::new(accountant, delta);
    let needs = schema.needs();
    if needs.is_empty() {
        return Ok((None, ledger));
    }
    if share <= 0.0 {
        return Err(Error::Plan {
            path: file.to_owned(),
            reason: format!(
                "{} column(s) have no public metadata, so DP preprocessing needs a budget, but \
                 privacy.preprocessing_share is 0",
                needs.len()
            ),
        });
    }
    let discovers = needs
        .iter()
        .any(|n| matches!(n, crate::schema::Need::Categories));
    let threshold_delta = if discovers {
        THRESHOLD_DELTA_SHARE * delta
    } else {
        0.0
    };
    // the Gaussian's own epsilon excludes the threshold term; the ledger adds it back
    let noise = privacy::calibrate_noise_multiplier(
        accountant,
        1.0,
        1,
        share * epsilon,
        delta - threshold_delta,
    )?;
    let design = PreprocessingDesign::new(&needs, noise, threshold_delta, train_rows);
    ledger.charge(design.ledger_entry());
    Ok((Some(design), ledger))
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.pipeline;
        writeln!(f, "pipeline {} ({})", p.name, p.file.display())?;
        writeln!(
            f,
            "source {}: {} rows in {} file(s)",
            p.source.location,
            self.source.row_count,
            self.source.files.len()
        )?;
        writeln!(f, "columns:")?;
        for column in self.schema.columns() {
            let role = match &column.role {
                PlannedRole::Ready(ColumnRole::Learned(encoder)) => encoder.describe(),
                PlannedRole::Ready(ColumnRole::FakeName) => {
                    "identifier, never learned -> fake names".to_owned()
                }
                PlannedRole::Ready(ColumnRole::Dropped) => {
                    "dropped: never learned, not released".to_owned()
                }
                PlannedRole::Pending(crate::schema::Need::Numeric { encoding, .. }) => format!(
                    "numeric {}: DP bounds and distribution function (2 noisy histograms) -> {} -> tanh",
                    column.field.data_type(),
                    match encoding {
                        crate::schema::NumericEncoding::Quantile => "DP quantile transform",
                        crate::schema::NumericEncoding::MinMax => "min-max",
                    }
                ),
                PlannedRole::Pending(crate::schema::Need::Categories) => format!(
                    "categorical {}: DP category discovery (noisy counts over a threshold) -> gumbel-softmax",
                    column.field.data_type()
                ),
            };
            writeln!(f, "  {:<24} {}", column.field.name(), role)?;
        }
        if let Some(design) = &self.preprocessing {
            writeln!(
                f,
                "preprocessing: {} noisy count queries, noise multiplier {:.4} (noise {:.1} per count)",
                design.queries, design.noise_multiplier, design.count_noise
            )?;
            if design.category_threshold.is_finite() {
                writeln!(
                    f,
                    "category discovery: a value needs a noisy count above {:.0}; a value held by one row is released with probability {:.1e} (delta {:.1e} reserved)",
                    design.category_threshold,
                    singleton_release_probability(design.count_noise, design.category_threshold),
                    design.threshold_delta
                )?;
            }
        }
        let t = &self.training;
        writeln!(
            f,
            "split: {} train rows, {} holdout rows (seed {})",
            self.train_rows, self.holdout_rows, p.training.seed
        )?;
        writeln!(f, "expected batch size: {:.1}", t.expected_batch_size)?;
        writeln!(f, "sampling rate: {:.6}", t.sampling_rate)?;
        writeln!(
            f,
            "discriminator steps: {} ({} epochs)",
            t.steps, p.training.epochs
        )?;
        writeln!(f, "noise multiplier: {:.4}", t.noise_multiplier)?;
        writeln!(f, "max grad norm: {}", t.max_grad_norm)?;
        writeln!(f, "accountant: {}", self.accountant)?;
        let preprocessing = if self.preprocessing.is_some() {
            format!("preprocessing {:.4} alone", self.preprocessing_epsilon)
        } else {
            "preprocessing 0: every column has public metadata".to_owned()
        };
        writeln!(
            f,
            "epsilon: {:.4} of {} at delta {:e} ({preprocessing}; training {:.4} alone; composed by {})",
            self.planned_epsilon,
            p.privacy.epsilon,
            p.privacy.delta,
            self.training_epsilon,
            self.accountant
        )?;
        writeln!(
            f,
            "output: {} rows to {}/<run_id>/",
            p.output.rows, p.output.location
        )?;
        write!(
            f,
            "checks: {} SQL, exact copies{}",
            p.checks.len(),
            if p.linkage.is_some() { ", linkage" } else { "" }
        )
    }
}
