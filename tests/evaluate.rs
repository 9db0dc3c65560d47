//! `synthgate evaluate` on Adult: tables that copy real people are refused, fresh people from
//! the same population pass.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{read_parquet, repo, synthgate};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

fn adult() -> RecordBatch {
    let batches = read_parquet(&repo().join("data/adult/adult_train.parquet"));
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The pipeline's own train split: the holdout share and seed of `pipelines/adult.toml`.
fn train_split() -> RecordBatch {
    let table = adult();
    let holdout_rows = (table.num_rows() as f64 * 0.2).round() as usize;
    synthgate::run::split(&table, holdout_rows, 7).unwrap().0
}

fn write(dir: &Path, name: &str, batch: &RecordBatch) -> PathBuf {
    let path = dir.join(name);
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    path
}

fn evaluate(synthetic: &Path) -> assert_cmd::assert::Assert {
    synthgate()
        .arg("evaluate")
        .arg(repo().join("pipelines/adult.toml"))
        .arg("--synthetic")
        .arg(synthetic)
        .assert()
}

/// The attacks' checks over every person, as the verdict names them.
const ATTACKS: [&str; 7] = [
    "exact copies:",
    "copies of unique real rows:",
    "linkage:",
    "linkage revealing the other columns:",
    "singling out:",
    "attribute inference of income:",
    "distance to closest record:",
];

#[test]
fn fresh_people_pass_every_attack() {
    let assert = evaluate(&repo().join("data/adult/adult_test.parquet")).code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for attack in ATTACKS {
        assert!(
            stdout.contains(&format!("pass  {attack}")),
            "{attack} did not pass:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("verdict: pass"), "{stdout}");
    // and they are faithful: fresh people from the same population score near 1
    assert!(value_of(&stdout, "column shapes:") > 0.98, "{stdout}");
    assert!(value_of(&stdout, "pair trends:") > 0.97, "{stdout}");
    assert!(
        value_of(&stdout, "share of high incomes by education:") < 0.15,
        "{stdout}"
    );
    let utility = stdout
        .lines()
        .find(|l| l.contains("machine-learning utility"))
        .unwrap();
    let (synthetic, real) = (value_of(utility, "):"), value_of(utility, "rows:"));
    assert!((real - synthetic).abs() < 0.01 && real > 0.85, "{utility}");
}

/// The number after `label` on the first line holding it.
fn value_of(stdout: &str, label: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label}"));
    let rest = line.split(label).nth(1).unwrap().trim_start();
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label}: {line}"))
}

#[test]
fn fresh_people_with_their_incomes_shuffled_keep_their_shapes_and_lose_their_utility() {
    // The test split with the income column permuted: every column's marginal is intact, but
    // income no longer follows the other columns, so a model trained on it predicts nothing and
    // the share of high incomes by education flattens.
    let batches = read_parquet(&repo().join("data/adult/adult_test.parquet"));
    let test = concat_batches(&batches[0].schema(), &batches).unwrap();
    let income = test.schema().index_of("income").unwrap();
    let mut order: Vec<u32> = (0..test.num_rows() as u32).collect();
    rand::seq::SliceRandom::shuffle(
        order.as_mut_slice(),
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(3),
    );
    let shuffled = datafusion::arrow::compute::take(
        test.column(income),
        &datafusion::arrow::array::UInt32Array::from(order),
        None,
    )
    .unwrap();
    let mut columns = test.columns().to_vec();
    columns[income] = shuffled;
    let table = RecordBatch::try_new(test.schema(), columns).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let assert = evaluate(&write(dir.path(), "shuffled.parquet", &table)).code(3);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(value_of(&stdout, "column shapes:") > 0.98, "{stdout}");
    assert!(
        stdout.contains("FAIL  machine-learning utility (income)"),
        "{stdout}"
    );
    let utility = stdout
        .lines()
        .find(|l| l.contains("machine-learning utility"))
        .unwrap();
    assert!((value_of(utility, "):") - 0.5).abs() < 0.05, "{utility}");
    assert!(
        stdout.contains("FAIL  share of high incomes by education"),
        "{stdout}"
    );
}

#[test]
fn a_copy_of_the_train_rows_is_refused_by_every_attack() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "train_copy.parquet", &train_split());
    let assert = evaluate(&path).code(3);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for attack in ATTACKS {
        let line = stdout
            .lines()
            .find(|l| l.contains(attack) && !l.contains("most exposed"))
            .unwrap_or_else(|| panic!("no {attack} line:\n{stdout}"));
        assert!(line.starts_with("FAIL"), "{line}");
        // far above its threshold: the risk's point estimate beyond 0.5
        if let Some(risk) = line.split("(risk ").nth(1) {
            let risk: f64 = risk.split(',').next().unwrap().parse().unwrap();
            assert!(risk > 0.5, "{line}");
        }
    }
}

#[test]
fn a_copy_of_the_whole_real_table_is_refused_though_train_and_holdout_look_alike() {
    // train and holdout are copied alike, so every train-against-holdout comparison is blind;
    // the absolute check on rows unique in the real table is not
    evaluate(&repo().join("data/adult/adult_train.parquet"))
        .code(3)
        .stdout(contains("FAIL  copies of unique real rows"));
}

#[test]
fn train_rows_with_small_noise_are_refused() {
    let train = train_split();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let columns: Vec<ArrayRef> = train
        .columns()
        .iter()
        .map(
            |column| match column.as_any().downcast_ref::<Int64Array>() {
                Some(values) => {
                    // Gaussian noise of 1 % of the column's spread, rounded to the integer type
                    let (low, high) = values
                        .iter()
                        .flatten()
                        .fold((i64::MAX, i64::MIN), |(l, h), v| (l.min(v), h.max(v)));
                    let noise = Normal::new(0.0, 0.01 * (high - low) as f64).unwrap();
                    let noisy: Int64Array = values
                        .iter()
                        .map(|v| v.map(|v| v + noise.sample(&mut rng).round() as i64))
                        .collect();
                    Arc::new(noisy) as ArrayRef
                }
                None => column.clone(),
            },
        )
        .collect();
    let noisy = RecordBatch::try_new(train.schema(), columns).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "noisy_copy.parquet", &noisy);
    // no row is copied verbatim, but every train person has a synthetic row nearer than real
    // people usually are to each other
    evaluate(&path)
        .code(3)
        .stdout(contains("FAIL  exact copies:").not())
        .stdout(contains("FAIL  distance to closest record:"));
}
