//! `synthgate run`: the whole flow from source to gated release.
//!
//! Guarantees: the holdout split is drawn before anything is fitted and never trains; the run
//! spends at most its planned epsilon and refuses to publish if the ledger says otherwise;
//! nothing is written under the release location unless every check passed.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use candle_core::Tensor;
use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::error::Error;
use crate::gate::GateVerdict;
use crate::model::InitRng;
use crate::plan::Plan;
use crate::privacy::{PrivacyLedger, PrivacyRng};
use crate::report::{self, ManifestInput, PrivacySummary};
use crate::storage::{self, StorageError};

/// The outcome of a run that completed: released, or refused by the gate.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// the run id
    pub run_id: String,
    /// whether the release went out
    pub released: bool,
    /// the release's location (a folder or a URL), when released
    pub release: Option<String>,
    /// the staging folder, with report.json
    pub staging: PathBuf,
    /// the internal HTML report
    pub report: PathBuf,
    /// names of failed checks
    pub failed_checks: Vec<String>,
    /// epsilon spent
    pub epsilon: f64,
    /// delta
    pub delta: f64,
    /// discriminator steps
    pub steps: u64,
    /// rows generated
    pub rows: usize,
    /// seconds of training
    pub training_seconds: f64,
    /// seconds of the whole run
    pub total_seconds: f64,
}

/// A run id from the clock and four random hex digits: unique and sortable.
pub fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp: String = report::rfc3339(now)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{stamp}-{:04x}", rand::random::<u16>())
}

fn check_run_id(plan: &Plan, run_id: &str) -> Result<(), Error> {
    let valid = !run_id.is_empty()
        && run_id.len() <= 128
        && !run_id.starts_with('.')
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid || run_id == "latest" {
        return Err(Error::Plan {
            path: plan.pipeline.file.clone(),
            reason: format!("run id `{run_id}`: use letters, digits, '-', '_' and '.'"),
        });
    }
    Ok(())
}

/// Whether a run starts afresh or continues from its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new run: refused if the run id has a checkpoint.
    Fresh,
    /// `--resume`: continue from the run id's checkpoint, whose spending is already counted.
    Resume,
}

/// Runs the plan. `Ok` with `released: false` means the gate refused (exit 3).
pub async fn run(plan: Plan, run_id: Option<String>, start: Start) -> Result<RunOutcome, Error> {
    let started = Instant::now();
    let pipeline = &plan.pipeline;
    let run_id = run_id.unwrap_or_else(new_run_id);
    check_run_id(&plan, &run_id)?;
    if storage::is_released(&pipeline.output.location, &run_id).await? {
        let path = PathBuf::from(pipeline.output.location.join(&run_id).to_string());
        return Err(StorageError::AlreadyReleased { run_id, path }.into());
    }
    let staging = pipeline.output.staging.join(&pipeline.name).join(&run_id);
    let checkpoint_folder = staging.join(crate::checkpoint::FOLDER);
    // A resumed run reads its checkpoint before any row: a wrong run id or a changed pipeline
    // is refused having read nothing.
    let resumed = match start {
        Start::Fresh if crate::checkpoint::exists(&checkpoint_folder) => {
            return Err(crate::checkpoint::CheckpointError::Exists {
                run_id,
                path: checkpoint_folder,
            }
            .into());
        }
        Start::Fresh => None,
        Start::Resume => Some(crate::checkpoint::load(
            &checkpoint_folder,
            &run_id,
            &pipeline.config_hash,
            &plan.device,
        )?),
    };
    charge_lifetime(pipeline, &run_id, resumed.is_some())?;
    std::fs::create_dir_all(&staging).map_err(storage::io_error_of(&staging))?;
    match &resumed {
        Some((meta, _)) => tracing::info!(
            run_id = %run_id,
            staging = %staging.display(),
            steps_done = meta.steps_done,
            "run resumed from its checkpoint"
        ),
        None => tracing::info!(run_id = %run_id, staging = %staging.display(), "run started"),
    }

    let ctx = storage::session_context();
    let batches = storage::read_source(&ctx, &plan.source).await?;
    let table = concat_batches(&plan.source.schema, &batches)
        .map_err(|e| Error::Internal(format!("cannot concatenate source batches: {e}")))?;
    drop(batches);
    let (train, holdout) = split(&table, plan.holdout_rows, pipeline.training.seed)?;
    drop(table);
    tracing::info!(
        train_rows = train.num_rows(),
        holdout_rows = holdout.num_rows(),
        "source read and split"
    );

    let (mut ledger, codec, resume_state) = match resumed {
        // The checkpoint's DP metadata and ledger: fitted and charged once, when the run began.
        Some((meta, state)) => {
            let codec = plan.schema.restore(meta.columns).map_err(|reason| {
                crate::checkpoint::CheckpointError::Unreadable {
                    path: checkpoint_folder.clone(),
                    reason,
                }
            })?;
            let ledger =
                PrivacyLedger::restore(plan.accountant, pipeline.privacy.delta, meta.ledger);
            (ledger, codec, Some(state))
        }
        None => {
            // DP preprocessing of the columns without public metadata, charged before it runs.
            let mut ledger = PrivacyLedger::new(plan.accountant, pipeline.privacy.delta);
            if let Some(design) = &plan.preprocessing {
                ledger.charge(design.ledger_entry());
            }
            let codec = plan.schema.fit(
                &train,
                plan.preprocessing.as_ref(),
                &mut PrivacyRng::from_os(),
            )?;
            (ledger, codec, None)
        }
    };
    let checkpoints = crate::checkpoint::Checkpointer {
        folder: checkpoint_folder.clone(),
        every: pipeline.training.checkpoint_every,
        run_id: run_id.clone(),
        config_hash: pipeline.config_hash.clone(),
        columns: codec.columns().iter().map(|c| c.role.clone()).collect(),
    };

    let device = plan.device.clone();
    let encoded = codec.encode(&train, &mut seeded_stream(pipeline.training.seed, 3))?;
    let width = codec.encoded_width();
    let train_tensor = Tensor::from_vec(encoded, (train.num_rows(), width), &device)
        .map_err(crate::model::ModelError::from)?;
    let mut init = InitRng::from_seed(pipeline.training.seed);
    let training_started = Instant::now();
    let generator = crate::train::train(
        &plan.training,
        &codec,
        &train_tensor,
        &mut ledger,
        &mut init,
        &device,
        &checkpoints,
        resume_state,
    )?;
    let training_seconds = training_started.elapsed().as_secs_f64();
    drop(train_tensor);

    crate::interrupt::check()?;
    let epsilon = ledger.epsilon()?;
    tracing::info!(
        epsilon,
        target = pipeline.privacy.epsilon,
        steps = ledger.dp_sgd_steps(),
        seconds = training_seconds,
        "training finished"
    );
    if epsilon > pipeline.privacy.epsilon * (1.0 + 1e-9) {
        return Err(Error::Internal(format!(
            "the ledger's epsilon {epsilon} exceeds the target {}; nothing is published",
            pipeline.privacy.epsilon
        )));
    }

    let synthetic_path = staging.join("synthetic.parquet");
    let sampling_seed = seeded_stream(pipeline.training.seed, 2).next_u64();
    let sampler =
        crate::sample::Sampler::new(&generator, &codec, pipeline.output.calibrate, sampling_seed)?;
    let mut progress =
        crate::progress::Progress::new("generation", "rows", pipeline.output.rows as u64);
    let staged = sampler.with_batches(pipeline.output.rows, |batches| {
        let batches = batches
            .map(|batch| {
                crate::interrupt::check()?;
                batch.map_err(Error::from)
            })
            .inspect(|batch| {
                if let Ok(batch) = batch {
                    progress.advance(batch.num_rows() as u64, false);
                }
            });
        storage::write_parquet::<_, Error>(&synthetic_path, codec.output_schema(), batches)
    })?;
    tracing::info!(rows = staged.rows, "synthetic table staged");

    crate::interrupt::check()?;
    let synthetic_table =
        crate::evaluate::read_table(path_str(&synthetic_path)?, std::path::Path::new(".")).await?;
    let columns = plan.schema.learned_columns();
    let verdict =
        crate::evaluate::gate(pipeline, &train, &holdout, &synthetic_table, &columns).await?;
    let distributions = report::distributions::measure(&codec, &train, &synthetic_table);
    drop(synthetic_table);
    log_verdict(&verdict);

    let privacy = PrivacySummary {
        epsilon,
        epsilon_target: pipeline.privacy.epsilon,
        delta: pipeline.privacy.delta,
        noise_multiplier: plan.training.noise_multiplier,
        steps: ledger.dp_sgd_steps(),
        sampling_rate: plan.training.sampling_rate,
        max_grad_norm: plan.training.max_grad_norm,
        accountant: plan.accountant.to_string(),
        ledger,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let created_at = report::rfc3339(now);
    let schema = codec.output_schema();
    let input = ManifestInput {
        pipeline: &pipeline.name,
        run_id: &run_id,
        created_at: &created_at,
        rows: staged.rows,
        schema: &schema,
        privacy: &privacy,
        config_hash: &pipeline.config_hash,
        verdict: &verdict,
    };
    let report_path = staging.join("report.json");
    let report_json = report::internal_report(
        &input,
        train.num_rows(),
        holdout.num_rows(),
        training_seconds,
        &distributions,
    );
    write_json(&report_path, &report_json)?;
    let html_path = pipeline
        .report
        .location
        .as_ref()
        .map_or_else(|| staging.clone(), |l| l.join(&pipeline.name).join(&run_id))
        .join("report.html");
    report::write_html(&report_json, &html_path)?;
    tracing::info!(report = %html_path.display(), "report written");

    // the last moment a signal can stop the release: after it, publishing runs to the end
    crate::interrupt::check()?;
    let release = if verdict.passed {
        let dir = storage::publish(
            &pipeline.output.location,
            &run_id,
            &[synthetic_path],
            |files| serde_json::to_vec_pretty(&report::manifest(&input, files)).unwrap_or_default(),
        )
        .await?;
        tracing::info!(release = %dir, "released");
        Some(dir)
    } else {
        tracing::warn!(report = %report_path.display(), "the gate refused the release; nothing was published");
        None
    };
    // The run is over: there is nothing left to resume.
    crate::checkpoint::remove(&checkpoint_folder);
    Ok(RunOutcome {
        run_id,
        released: release.is_some(),
        release,
        staging,
        report: html_path,
        failed_checks: verdict.failed().into_iter().map(str::to_owned).collect(),
        epsilon,
        delta: pipeline.privacy.delta,
        steps: privacy.steps,
        rows: staged.rows,
        training_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Charges the run's whole planned budget to the source's lifetime ledger, if it has one,
/// before any row is read; refuses when the ledger's limit would be passed. A resumed run that
/// the ledger already records is not charged again: its first start paid for all of it.
fn charge_lifetime(
    pipeline: &crate::config::Pipeline,
    run_id: &str,
    resumed: bool,
) -> Result<(), Error> {
    let Some(location) = &pipeline.privacy.ledger else {
        return Ok(());
    };
    if resumed {
        let recorded =
            crate::privacy::lifetime::read(location, &pipeline.source.location.to_string())?;
        if recorded
            .runs
            .iter()
            .any(|r| r.run_id == run_id && r.pipeline == pipeline.name)
        {
            tracing::info!(
                lifetime_epsilon_spent = recorded.epsilon(),
                "the source's lifetime ledger already holds this run"
            );
            return Ok(());
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let entry = crate::privacy::lifetime::LifetimeEntry {
        run_id: run_id.to_owned(),
        pipeline: pipeline.name.clone(),
        charged_at: report::rfc3339(now),
        epsilon: pipeline.privacy.epsilon,
        delta: pipeline.privacy.delta,
    };
    let ledger = crate::privacy::lifetime::charge(
        location,
        &pipeline.source.location.to_string(),
        entry,
        pipeline.privacy.lifetime_epsilon,
    )?;
    tracing::info!(
        lifetime_epsilon_spent = ledger.epsilon(),
        lifetime_epsilon = pipeline.privacy.lifetime_epsilon,
        runs = ledger.runs.len(),
        "charged to the source's lifetime ledger"
    );
    Ok(())
}

/// Logs each check's verdict. Values of user SQL checks are not logged (a query may return a
/// row value); built-in checks log their risk, an aggregate computed by synthgate.
fn log_verdict(verdict: &GateVerdict) {
    for check in &verdict.checks {
        match check.kind {
            crate::validate::CheckKind::UserSql => {
                tracing::info!(check = %check.name, status = ?check.status, "check")
            }
            _ => {
                tracing::info!(check = %check.name, status = ?check.status, value = check.value, max = check.max, "check")
            }
        }
    }
}

/// A stream of the pipeline's seed apart from the initialisation stream: 1 splits, 2 samples
/// the output, 3 spreads grid values in encoding. Never privacy noise.
fn seeded_stream(seed: u64, stream: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Splits the table into train and holdout by a seeded permutation: `holdout_rows` rows hold out.
pub fn split(
    table: &RecordBatch,
    holdout_rows: usize,
    seed: u64,
) -> Result<(RecordBatch, RecordBatch), Error> {
    let mut order: Vec<u32> = (0..table.num_rows() as u32).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(1);
    order.shuffle(&mut rng);
    let (holdout, train) = order.split_at(holdout_rows.min(order.len()));
    let take = |indices: &[u32]| {
        let mut indices = indices.to_vec();
        indices.sort_unstable();
        take_record_batch(table, &UInt32Array::from(indices))
            .map_err(|e| Error::Internal(format!("cannot split the source: {e}")))
    };
    Ok((take(train)?, take(holdout)?))
}

fn path_str(path: &std::path::Path) -> Result<&str, Error> {
    path.to_str()
        .ok_or_else(|| Error::Internal(format!("path {} is not UTF-8", path.display())))
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(path, bytes).map_err(storage::io_error_of(path))?;
    Ok(())
}
