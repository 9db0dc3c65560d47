//! A table with no hand-written metadata: Adult with no `[columns]` section, its kinds inferred
//! from the Arrow types and its bounds, distribution functions, null rates and categories
//! learned with DP.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use common::{PRIVACY_GATE_ONLY, read_parquet, repo, synthgate};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray, StructArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use predicates::str::contains;

fn adult() -> RecordBatch {
    let batches = read_parquet(&repo().join("data/adult/adult_train.parquet"));
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn null_rate(array: &ArrayRef) -> f64 {
    array.null_count() as f64 / array.len() as f64
}

fn strings(array: &ArrayRef) -> HashSet<String> {
    let array = cast(array, &DataType::Utf8).unwrap();
    let array = array.as_any().downcast_ref::<StringArray>().unwrap();
    array.iter().flatten().map(str::to_owned).collect()
}

fn run_adult(dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    synthgate()
        .arg("run")
        .arg(repo().join("pipelines/adult.toml"))
        .args([
            "--set",
            &format!("output.url={}", dir.join("out").display()),
        ])
        .args([
            "--set",
            &format!("output.staging_url={}", dir.join("staging").display()),
        ])
        .args(["--run-id", "inferred"])
        .args(extra)
        .assert()
}

#[test]
fn adult_without_metadata_releases_every_column_with_its_type_real_categories_and_null_rates() {
    let text = std::fs::read_to_string(repo().join("pipelines/adult.toml")).unwrap();
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("[columns")),
        "the pipeline must declare no column"
    );
    let dir = tempfile::tempdir().unwrap();
    // The pipeline's own SQL checks, queries and fidelity gates are targets that the DPGAN at
    // epsilon 1 sometimes misses; this test is about inference and DP preprocessing, so it
    // keeps the privacy checks (copies and attacks) and leaves those out.
    run_adult(dir.path(), &PRIVACY_GATE_ONLY).code(0);

    let release = dir.path().join("out/inferred");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("manifest.json")).unwrap()).unwrap();
    let privacy = &manifest["privacy"];
    let epsilon = privacy["epsilon"].as_f64().unwrap();
    assert!(epsilon <= 1.0 && epsilon > 0.99, "epsilon {epsilon}");
    let mechanisms: Vec<&str> = privacy["ledger"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mechanism"].as_str().unwrap())
        .collect();
    assert_eq!(mechanisms, ["gaussian_counts", "dp_sgd"], "{privacy}");

    let real = adult();
    let batches = read_parquet(&release.join("synthetic.parquet"));
    let synthetic = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(synthetic.num_columns(), 15);
    for (index, field) in real.schema().fields().iter().enumerate() {
        let column = synthetic.column(index);
        assert_eq!(synthetic.schema().field(index).name(), field.name());
        assert_eq!(
            column.data_type(),
            field.data_type(),
            "type of {}",
            field.name()
        );
        let (real_nulls, synthetic_nulls) = (null_rate(real.column(index)), null_rate(column));
        assert!(
            (real_nulls - synthetic_nulls).abs() <= 0.02,
            "{}: null rate {synthetic_nulls:.4} against {real_nulls:.4}",
            field.name()
        );
        if *field.data_type() == DataType::Utf8 {
            let invented: Vec<String> = strings(column)
                .difference(&strings(real.column(index)))
                .cloned()
                .collect();
            assert!(
                invented.is_empty(),
                "{} released {} values not in the real column",
                field.name(),
                invented.len()
            );
        }
    }
}

#[test]
fn a_struct_column_is_refused_by_name_before_a_row_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let real = adult();
    let ages = real.column_by_name("age").unwrap().clone();
    let address = StructArray::from(vec![(
        Arc::new(Field::new("zip", DataType::Int64, true)),
        Arc::new(Int64Array::from(vec![12345; real.num_rows()])) as ArrayRef,
    )]);
    let mut fields: Vec<Arc<Field>> = real.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        "address",
        address.data_type().clone(),
        true,
    )));
    let mut columns = real.columns().to_vec();
    columns.push(Arc::new(address));
    let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    assert_eq!(table.column(0).len(), ages.len());
    let source = dir.path().join("adult_with_address.parquet");
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&source).unwrap(),
        table.schema(),
        None,
    )
    .unwrap();
    writer.write(&table).unwrap();
    writer.close().unwrap();

    run_adult(
        dir.path(),
        &["--set", &format!("source.url={}", source.display())],
    )
    .code(2)
    .stderr(contains("`address`"))
    .stderr(contains("kind = \"drop\""));
    assert!(!dir.path().join("out").exists());
    assert!(!dir.path().join("staging").exists());
}
