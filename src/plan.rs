//! The plan of a run: what `synthgate check` prints and `synthgate run` carries out.
//!
//! Guarantee: a plan is made from the pipeline and the Parquet footers (schema, row count), which
//! are public; making one reads no row.

use std::fmt;

use crate::config::Pipeline;
use crate::error::Error;
use crate::privacy::{self, Accountant};
use crate::schema::{ColumnRole, TableCodec};
use crate::storage::{SourceInfo, inspect_source};
use crate::train::TrainingPlan;

/// A validated pipeline with its privacy plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// the pipeline
    pub pipeline: Pipeline,
    /// the source's files, schema and row count
    pub source: SourceInfo,
    /// the column encoders
    pub codec: TableCodec,
    /// rows that train
    pub train_rows: usize,
    /// rows held out
    pub holdout_rows: usize,
    /// the DP-SGD plan
    pub training: TrainingPlan,
    /// epsilon planned for preprocessing (zero when every column has public metadata)
    pub preprocessing_epsilon: f64,
    /// epsilon the planned training steps spend
    pub training_epsilon: f64,
    /// the accountant
    pub accountant: Accountant,
    /// the training device
    pub device: candle_core::Device,
}

/// Builds the plan of `pipeline`: reads the source's footers, matches the columns, sizes the
/// split and calibrates the noise multiplier.
pub async fn make_plan(pipeline: Pipeline) -> Result<Plan, Error> {
    let source = inspect_source(&pipeline.source.location)?;
    let codec = TableCodec::build(&source.schema, &pipeline.columns)?;
    crate::validate::preflight(&pipeline, source.schema.clone(), &codec).await?;
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
    // Every column has public metadata in this version, so nothing is spent on preprocessing
    // and the whole epsilon goes to DP-SGD.
    let preprocessing_epsilon = 0.0;
    let training_target = pipeline.privacy.epsilon - preprocessing_epsilon;
    let accountant = pipeline.privacy.accountant;
    let noise_multiplier = privacy::calibrate_noise_multiplier(
        accountant,
        sampling_rate,
        steps,
        training_target,
        pipeline.privacy.delta,
    )?;
    let training_epsilon = privacy::dp_sgd_epsilon(
        accountant,
        sampling_rate,
        noise_multiplier,
        steps,
        pipeline.privacy.delta,
    )?;

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
        codec,
        train_rows,
        holdout_rows,
        training: training_plan,
        preprocessing_epsilon,
        training_epsilon,
        accountant,
        device,
    })
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
        for column in self.codec.columns() {
            let role = match &column.role {
                ColumnRole::Learned(encoder) => encoder.describe(),
                ColumnRole::FakeName => "identifier, never learned -> fake names".to_owned(),
                ColumnRole::Dropped => "dropped: never learned, not released".to_owned(),
            };
            writeln!(f, "  {:<24} {}", column.field.name(), role)?;
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
        writeln!(
            f,
            "epsilon: {:.4} of {} at delta {:e} (preprocessing {:.4}: every column has public metadata; training {:.4})",
            self.preprocessing_epsilon + self.training_epsilon,
            p.privacy.epsilon,
            p.privacy.delta,
            self.preprocessing_epsilon,
            self.training_epsilon
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
