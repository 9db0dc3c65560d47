//! CPU throughput on Adult's encoding: private (DP-SGD) discriminator steps against non-private
//! steps of the same model at the same batch, and generation to Parquet with peak memory.
//! `cargo bench --bench throughput`; the README records the latest figures.
//!
//! The codec is fitted on Adult's train split as a run fits it (DP preprocessing); the tensors
//! stepped on are random rows of the encoded width, since speed does not depend on the values.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::Optimizer;
use synthgate::model::adam::{Adam, AdamParameters};
use synthgate::model::per_example::{DpSgdParameters, private_step};
use synthgate::model::{Discriminator, Generator, InitRng, softplus};
use synthgate::privacy::PrivacyRng;
use synthgate::schema::TableCodec;
use synthgate::{config, plan, storage};

/// Steps per timed repetition, and repetitions (the median is reported).
const STEPS: usize = 40;
const REPETITIONS: usize = 5;
/// Expected batch of the clipping comparison.
const BATCH: usize = 512;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn adam(vars: Vec<candle_core::Var>) -> Adam {
    Adam::new(
        vars,
        AdamParameters {
            learning_rate: 1e-3,
            beta1: 0.5,
            beta2: 0.9,
            eps: 1e-8,
        },
    )
    .unwrap()
}

/// Seconds per step, median over the repetitions, of `step`.
fn time_steps(mut step: impl FnMut()) -> f64 {
    step(); // warm-up
    let mut seconds: Vec<f64> = (0..REPETITIONS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..STEPS {
                step();
            }
            started.elapsed().as_secs_f64() / STEPS as f64
        })
        .collect();
    median(&mut seconds)
}

fn discriminator_steps(width: usize, hidden: &[usize]) {
    let device = Device::Cpu;
    let mut init = InitRng::from_seed(1);
    let real = Tensor::randn(0f32, 1.0, (BATCH, width), &device).unwrap();
    let fake = Tensor::randn(0f32, 1.0, (BATCH, width), &device).unwrap();

    let private_model = Discriminator::new(width, hidden, &mut init, &device).unwrap();
    let mut private_optimizer = adam(private_model.vars());
    let mut rng = PrivacyRng::from_os();
    let parameters = DpSgdParameters {
        max_grad_norm: 1.0,
        noise_multiplier: 1.0,
        expected_batch_size: BATCH as f64,
    };
    let private = time_steps(|| {
        private_step(
            &private_model,
            &mut private_optimizer,
            &real,
            &fake,
            parameters,
            &mut rng,
        )
        .unwrap();
    });

    let plain_model = Discriminator::new(width, hidden, &mut init, &device).unwrap();
    let mut plain_optimizer = adam(plain_model.vars());
    let plain = time_steps(|| {
        let real_loss = softplus(&plain_model.forward(&real).unwrap().neg().unwrap())
            .unwrap()
            .mean_all()
            .unwrap();
        let fake_loss = softplus(&plain_model.forward(&fake).unwrap())
            .unwrap()
            .mean_all()
            .unwrap();
        plain_optimizer
            .backward_step(&(real_loss + fake_loss).unwrap())
            .unwrap();
    });
    println!(
        "discriminator {hidden:?} on width {width}, batch {BATCH} real + {BATCH} generated rows:"
    );
    println!(
        "  DP-SGD step (per-example clipping + noise): {:.2} ms, {:.0} steps/s, {:.0} real examples/s",
        private * 1e3,
        1.0 / private,
        BATCH as f64 / private
    );
    println!(
        "  non-private step, same model and batch:     {:.2} ms, {:.0} steps/s",
        plain * 1e3,
        1.0 / plain
    );
    println!("  private / non-private: {:.2}", private / plain);
}

/// Peak resident memory of this process so far, MiB (Linux's VmHWM).
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[allow(clippy::result_large_err)]
fn generate(codec: &TableCodec, training: &synthgate::train::TrainingPlan, rows: usize) {
    let device = Device::Cpu;
    let mut init = InitRng::from_seed(2);
    let generator = Generator::new(
        training.latent_dim,
        &training.generator,
        codec.heads(),
        codec.encoded_width(),
        &mut init,
        &device,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.parquet");
    let started = Instant::now();
    let calibration =
        synthgate::sample::Calibration::fit(&generator, codec, &mut init, &device).unwrap();
    let batches = synthgate::sample::sample_batches(
        &generator,
        codec,
        &calibration,
        rows,
        &mut init,
        &device,
    )
    .map(|b| b.map_err(synthgate::Error::from));
    let staged =
        storage::write_parquet::<_, synthgate::Error>(&path, codec.output_schema(), batches)
            .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "generation of {} rows to Parquet: {seconds:.2} s, {:.0} rows/s, {:.1} MiB file, peak memory {:.0} MiB",
        staged.rows,
        staged.rows as f64 / seconds,
        bytes as f64 / 1048576.0,
        peak_mib().unwrap_or(f64::NAN)
    );
}

#[tokio::main]
async fn main() {
    let pipeline = config::load(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/adult.toml"),
        &[],
    )
    .unwrap();
    let plan = plan::make_plan(pipeline).await.unwrap();
    let ctx = storage::session_context();
    let batches = storage::read_source(&ctx, &plan.source).await.unwrap();
    let table = synthgate::evaluate::one_batch(&plan.source.schema, &batches).unwrap();
    let (train, _) =
        synthgate::run::split(&table, plan.holdout_rows, plan.pipeline.training.seed).unwrap();
    let codec = plan
        .schema
        .fit(
            &train,
            plan.preprocessing.as_ref(),
            &mut PrivacyRng::from_os(),
        )
        .unwrap();

    // One process per generation size, so each peak is its own.
    if let Ok(rows) = std::env::var("SYNTHGATE_BENCH_GENERATE") {
        generate(&codec, &plan.training, rows.parse().unwrap());
        return;
    }
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    discriminator_steps(codec.encoded_width(), &plan.training.discriminator);
    for rows in [1_000_000usize, 10_000_000] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("SYNTHGATE_BENCH_GENERATE", rows.to_string())
            .env("RUST_LOG", "warn")
            .status()
            .unwrap();
        assert!(status.success());
    }
}
