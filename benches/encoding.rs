//! The quantile encoder against min-max scaling on Adult with no public metadata: the same
//! pipeline, epsilon and seed, three runs each (DP noise differs run to run, so figures are
//! medians). `cargo bench --bench encoding`; the README records the latest figures.
//!
//! For every numeric column it prints 1 - KS between the train split and the synthetic table
//! (SDMetrics' KSComplement), and the DP bounds each run found. About 5 minutes on 2 cores.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use synthgate::validate::fidelity::ks_statistic;

const RUNS: usize = 3;
const COLUMNS: [&str; 6] = [
    "age",
    "fnlwgt",
    "education-num",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
];

fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn values(batch: &RecordBatch, column: &str) -> Vec<f64> {
    let array = cast(batch.column_by_name(column).unwrap(), &DataType::Float64).unwrap();
    let array = array.as_any().downcast_ref::<Float64Array>().unwrap();
    array.iter().flatten().collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let pipeline_file = repo.join("pipelines/adult.toml");
    let scratch = tempfile::tempdir().unwrap();
    let mut scores: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for encoding in ["quantile", "minmax"] {
        let mut runs = Vec::new();
        for run in 0..RUNS {
            let overrides = vec![
                format!("training.continuous_encoding={encoding}"),
                format!("output.url={}", scratch.path().join("out").display()),
                format!(
                    "output.staging_url={}",
                    scratch.path().join("staging").display()
                ),
            ];
            let pipeline = synthgate::config::load(&pipeline_file, &overrides).unwrap();
            let plan = synthgate::plan::make_plan(pipeline).await.unwrap();
            let holdout_rows = plan.holdout_rows;
            let seed = plan.pipeline.training.seed;
            let source = read(&plan.source.files[0]);
            let (train, _) = synthgate::run::split(&source, holdout_rows, seed).unwrap();
            let outcome = synthgate::run::run(
                plan,
                Some(format!("{encoding}-{run}")),
                synthgate::run::Start::Fresh,
            )
            .await
            .unwrap();
            let synthetic = read(&outcome.staging.join("synthetic.parquet"));
            let row: Vec<f64> = COLUMNS
                .iter()
                .map(|c| 1.0 - ks_statistic(&mut values(&train, c), &mut values(&synthetic, c)))
                .collect();
            let nulls: Vec<String> = ["workclass", "occupation", "native-country"]
                .iter()
                .map(|c| {
                    let share = |b: &RecordBatch| {
                        let column = b.column_by_name(c).unwrap();
                        column.null_count() as f64 / column.len() as f64
                    };
                    format!("{c} {:.3} (real {:.3})", share(&synthetic), share(&train))
                })
                .collect();
            println!(
                "{encoding:<8} run {run}: epsilon {:.6}, released {}, training {:.1} s, nulls {}, 1 - KS {}",
                outcome.epsilon,
                outcome.released,
                outcome.training_seconds,
                nulls.join(", "),
                COLUMNS
                    .iter()
                    .zip(&row)
                    .map(|(c, s)| format!("{c} {s:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            runs.push(row);
        }
        scores.push((encoding.to_owned(), runs));
    }
    println!("\nmedian 1 - KS over {RUNS} runs");
    println!(
        "{:<16} {:>9} {:>9} {:>7}",
        "column", "quantile", "minmax", "ratio"
    );
    for (index, column) in COLUMNS.iter().enumerate() {
        let of = |k: usize| median(scores[k].1.iter().map(|r| r[index]).collect());
        let (quantile, minmax) = (of(0), of(1));
        println!(
            "{column:<16} {quantile:>9.3} {minmax:>9.3} {:>7.3}",
            quantile / minmax
        );
    }
}
