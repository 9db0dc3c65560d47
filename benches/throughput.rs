//! CPU throughput on Adult's encoding: private (DP-SGD) discriminator steps against non-private
//! steps of the same model at the same batch, and generation to Parquet with peak memory.
//! `cargo bench --bench throughput`; the README records the latest figures.
//!
//! The codec is fitted on Adult's train split as a run fits it (DP preprocessing); the tensors
//! stepped on are random rows of the encoded width, since speed does not depend on the values.
//! Private and non-private steps alternate, five repetitions of 40 steps each, and the ratio is
//! the median of the five pairs. Generation of 1M and of 10M rows runs three times each, each
//! time in a process of its own (so each peak memory is its own), and the medians are reported.

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
/// Child processes per generation size (the medians are reported).
const PROCESSES: usize = 3;
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

/// Seconds per step of `steps` calls of `step`.
fn seconds_per_step(step: &mut impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..STEPS {
        step();
    }
    started.elapsed().as_secs_f64() / STEPS as f64
}

/// Seconds per step of `a` and of `b`, and the ratio `a / b`, each the median over the
/// repetitions. The two alternate within each repetition, so a slow spell of a shared machine
/// falls on both and the ratio stays fair.
fn time_pair(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64, f64) {
    a(); // warm-up
    b();
    let (mut first, mut second, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPETITIONS {
        let (x, y) = (seconds_per_step(&mut a), seconds_per_step(&mut b));
        first.push(x);
        second.push(y);
        ratios.push(x / y);
    }
    (median(&mut first), median(&mut second), median(&mut ratios))
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
    let plain_model = Discriminator::new(width, hidden, &mut init, &device).unwrap();
    let mut plain_optimizer = adam(plain_model.vars());
    let (private, plain, ratio) = time_pair(
        || {
            private_step(
                &private_model,
                &mut private_optimizer,
                &real,
                &fake,
                parameters,
                &mut rng,
            )
            .unwrap();
        },
        || {
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
        },
    );
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
    println!("  private / non-private (median of {REPETITIONS} alternating pairs): {ratio:.2}");
}

/// Peak resident memory of this process so far, MiB (Linux's VmHWM).
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One generation run's figures, as a child process prints them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Generation {
    /// rows per second to Parquet, and decoded without writing
    parquet: f64,
    decoded: f64,
    file_mib: f64,
    /// the process's peak resident memory, and that peak before generation began (MiB)
    peak_mib: f64,
    setup_peak_mib: f64,
}

/// Generates `rows` rows of `codec`'s schema once to Parquet and once decoded but not written
/// (for the split of the time), with an untrained generator of the plan's size.
fn generate(codec: &TableCodec, training: &synthgate::train::TrainingPlan, rows: usize) {
    let generator = Generator::new(
        training.latent_dim,
        &training.generator,
        codec.heads(),
        codec.encoded_width(),
        &mut InitRng::from_seed(2),
        &Device::Cpu,
    )
    .unwrap();
    let setup_peak_mib = peak_mib().unwrap_or(f64::NAN);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.parquet");

    let started = Instant::now();
    let sampler = synthgate::sample::Sampler::new(&generator, codec, true, 2).unwrap();
    let staged = sampler
        .with_batches(rows, |batches| {
            let batches = batches.map(|b| b.map_err(anyhow::Error::from));
            storage::write_parquet::<_, anyhow::Error>(&path, codec.output_schema(), batches)
        })
        .unwrap();
    assert_eq!(staged.rows, rows);
    let parquet = rows as f64 / started.elapsed().as_secs_f64();
    let file_mib = std::fs::metadata(&path).unwrap().len() as f64 / 1048576.0;

    let started = Instant::now();
    let sampler = synthgate::sample::Sampler::new(&generator, codec, true, 2).unwrap();
    let count: usize = sampler.batches(rows).map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(count, rows);
    let decoded = rows as f64 / started.elapsed().as_secs_f64();
    let figures = Generation {
        parquet,
        decoded,
        file_mib,
        peak_mib: peak_mib().unwrap_or(f64::NAN),
        setup_peak_mib,
    };
    println!("{}", serde_json::to_string(&figures).unwrap());
}

/// Runs generation of `rows` rows in [`PROCESSES`] child processes and prints the medians;
/// returns the median peak memory.
fn generation_processes(training: &synthgate::train::TrainingPlan, rows: usize) -> f64 {
    let runs: Vec<Generation> = (0..PROCESSES)
        .map(|_| {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .env("SYNTHGATE_BENCH_GENERATE", rows.to_string())
                .env("RUST_LOG", "warn")
                .output()
                .unwrap();
            assert!(output.status.success());
            let line = String::from_utf8(output.stdout).unwrap();
            serde_json::from_str(line.trim()).unwrap()
        })
        .collect();
    let of = |f: fn(&Generation) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let peak = of(|g| g.peak_mib);
    println!(
        "generation of {rows} rows (generator {:?}, latent {}), medians of {PROCESSES} processes: \
         {:.0} rows/s to Parquet ({:.1} MiB file), {:.0} rows/s decoded without writing; \
         peak memory {peak:.0} MiB ({:.0} MiB before generation)",
        training.generator,
        training.latent_dim,
        of(|g| g.parquet),
        of(|g| g.file_mib),
        of(|g| g.decoded),
        of(|g| g.setup_peak_mib),
    );
    peak
}

#[tokio::main]
async fn main() {
    // as the synthgate binary does, so that peak memory is the binary's
    synthgate::sample::limit_malloc_arenas();
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

    // One process per generation run, so each peak is its own.
    if let Ok(rows) = std::env::var("SYNTHGATE_BENCH_GENERATE") {
        generate(&codec, &plan.training, rows.parse().unwrap());
        return;
    }
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    discriminator_steps(codec.encoded_width(), &plan.training.discriminator);
    let small = generation_processes(&plan.training, 1_000_000);
    let large = generation_processes(&plan.training, 10_000_000);
    println!(
        "peak memory, 10M rows against 1M: {:+.1} %",
        100.0 * (large / small - 1.0)
    );
}
