//! The whole gate (user SQL checks, copies, linkage, singling out, inference, distance to
//! closest record, each also on the most exposed) on 100,000 real x 100,000 synthetic
//! Adult-like rows, through the library's `evaluate::gate` with `pipelines/adult.toml`.
//! `cargo bench --bench attacks`; the README records the latest figures.
//!
//! Adult-like rows: Adult's train and test splits resampled with replacement, with integer
//! columns jittered (age by up to a year, hours by up to two, the census weight by about 5 %)
//! so that rows are not mere repeats. The real table (split 80/20 as the pipeline splits its
//! source) and the synthetic table are independent draws.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 100_000;
/// Runs timed; `SYNTHGATE_BENCH_RUNS` overrides.
const RUNS: usize = 3;

fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn adult_like(adult: &RecordBatch, rows: usize, seed: u64) -> RecordBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let picks: Vec<u32> = (0..rows)
        .map(|_| rng.random_range(0..adult.num_rows() as u32))
        .collect();
    let drawn = take_record_batch(adult, &UInt32Array::from(picks)).unwrap();
    let schema = drawn.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(drawn.columns())
        .map(|(field, column)| {
            let Some(values) = column.as_any().downcast_ref::<Int64Array>() else {
                return column.clone();
            };
            let jitter = |v: i64, rng: &mut ChaCha8Rng| match field.name().as_str() {
                "age" => (v + rng.random_range(-1..=1)).max(17),
                "hours-per-week" => (v + rng.random_range(-2..=2)).clamp(1, 99),
                "fnlwgt" => (v as f64 * (1.0 + rng.random_range(-0.05..0.05))).round() as i64,
                _ => v,
            };
            let jittered: Int64Array = values
                .iter()
                .map(|v| v.map(|v| jitter(v, &mut rng)))
                .collect();
            Arc::new(jittered) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    // RUST_LOG=synthgate=debug shows each attack's lap time
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runs: usize = std::env::var("SYNTHGATE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let adult = {
        let train = read(&repo.join("data/adult/adult_train.parquet"));
        let test = read(&repo.join("data/adult/adult_test.parquet"));
        concat_batches(&train.schema(), &[train, test]).unwrap()
    };
    let real = adult_like(&adult, ROWS, 1);
    let synthetic = adult_like(&adult, ROWS, 2);
    let holdout_rows = ROWS / 5;
    let (train, holdout) = synthgate::run::split(&real, holdout_rows, 7).unwrap();
    let pipeline = synthgate::config::load(&repo.join("pipelines/adult.toml"), &[]).unwrap();
    let plan = synthgate::plan::make_plan(pipeline).await.unwrap();
    let columns = plan.schema.learned_columns();
    println!(
        "{} train + {} holdout real rows, {} synthetic rows, {} learned columns, {runs} runs",
        train.num_rows(),
        holdout.num_rows(),
        synthetic.num_rows(),
        columns.len()
    );
    let mut seconds = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        let verdict =
            synthgate::evaluate::gate(&plan.pipeline, &train, &holdout, &synthetic, &columns)
                .await
                .unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        seconds.push(elapsed);
        println!(
            "run {run}: {elapsed:.1} s, {} checks, verdict {}",
            verdict.checks.len(),
            if verdict.passed { "pass" } else { "refused" }
        );
        if run == 0 {
            print!("{}", verdict.describe());
        }
    }
    seconds.sort_by(f64::total_cmp);
    println!(
        "whole suite: median {:.1} s (min {:.1}, max {:.1}); peak resident memory {:.0} MiB",
        seconds[runs / 2],
        seconds[0],
        seconds[runs - 1],
        peak_rss_mib()
    );
}
