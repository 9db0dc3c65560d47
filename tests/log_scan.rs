//! A full run on a source in a bucket holding canary values (unique strings and numbers, each
//! held by one person) with `--log-format json -vv`: no canary and no credential appears in
//! the logs, the errors, the manifest or the report.

mod common;

use std::sync::Arc;

use common::s3::{ACCESS_KEY_ID, Moto, SECRET_ACCESS_KEY, environment, get, put};
use common::{PRIVACY_GATE_ONLY, read_parquet, repo, synthgate};
use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

/// Names no made-up-name list holds.
const CANARY_NAMES: [&str; 3] = [
    "Qzwvx Canaryfield-8812",
    "Jorvunka Plimsoll-4471",
    "Xeb Trastomir-9035",
];
/// One extreme per numeric column (inside the demo's public bounds): each is its column's
/// maximum or minimum, so it sits in the Parquet statistics too.
const CANARY_NUMBERS: [(f64, &str); 4] = [
    (399.987654321, "399.987654321"),
    (-39.8765432109, "39.8765432109"),
    (14.9876543211, "14.9876543211"),
    (149.876543211, "149.876543211"),
];

/// The demo table with the canaries in its first rows, as Parquet bytes.
fn canary_source() -> Vec<u8> {
    let batches = read_parquet(&repo().join("data/demo/people.parquet"));
    let schema = batches[0].schema();
    let batch = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
    let mut numeric = 0;
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8 => {
                let values = column.as_any().downcast_ref::<StringArray>().unwrap();
                let replaced: StringArray = (0..values.len())
                    .map(|i| match CANARY_NAMES.get(i) {
                        Some(name) => Some(name.to_string()),
                        None => values.is_valid(i).then(|| values.value(i).to_owned()),
                    })
                    .collect();
                Arc::new(replaced) as ArrayRef
            }
            DataType::Float64 => {
                let values = column.as_any().downcast_ref::<Float64Array>().unwrap();
                let (canary, _) = CANARY_NUMBERS[numeric];
                numeric += 1;
                let row = 3 + numeric;
                let replaced: Float64Array = (0..values.len())
                    .map(|i| {
                        if i == row {
                            Some(canary)
                        } else {
                            values.is_valid(i).then(|| values.value(i))
                        }
                    })
                    .collect();
                Arc::new(replaced) as ArrayRef
            }
            other => panic!("the demo table has a {other} column; extend the canaries"),
        })
        .collect();
    assert_eq!(numeric, CANARY_NUMBERS.len());
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes
}

#[test]
fn a_verbose_json_run_shows_no_canary_value_and_no_credential() {
    let moto = Moto::start();
    moto.create_bucket("sensitive");
    moto.create_bucket("releases");
    put(&moto.client("sensitive"), "people.parquet", canary_source());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = common::demo_pipeline_in(dir.path(), "");
    let demo = repo().join("data/demo/people.parquet");
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace(
            &format!("{:?}", demo.display().to_string()),
            "\"s3://sensitive/people.parquet\"",
        )
        .replace("url = \"out\"", "url = \"s3://releases/people-demo\"");
    std::fs::write(&pipeline, text).unwrap();

    // The demo as shipped (fidelity and SQL checks included, whatever their verdict), then
    // with the privacy gate only, so that a release and its manifest are scanned too.
    let mut texts = Vec::new();
    for (run_id, extra) in [
        ("as-shipped", &[][..]),
        ("released", &PRIVACY_GATE_ONLY[..]),
    ] {
        let mut command = synthgate();
        command.env_remove("RUST_LOG");
        for (key, value) in environment(&moto.endpoint()) {
            command.env(key, value);
        }
        let output = command
            .args(["--log-format", "json", "-vv", "run"])
            .arg(&pipeline)
            .args(["--set", "training.epochs=20", "--run-id", run_id])
            .args(extra)
            .output()
            .unwrap();
        let code = output.status.code();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        let mut targets: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.split("\"target\":\"").nth(1)?.split('"').next())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        eprintln!(
            "{run_id}: exit {code:?}; {} log lines from {}",
            stderr.lines().count(),
            targets.join(", ")
        );
        assert!(matches!(code, Some(0 | 3)), "{run_id}: {output:?}");
        assert!(
            stderr.lines().count() > 50,
            "-vv logged too little to mean anything"
        );
        assert!(
            targets.iter().any(|t| t.starts_with("datafusion"))
                && targets.iter().any(|t| t.starts_with("object_store")),
            "-vv logged no library's debug lines"
        );
        let staging = dir.path().join("staging/people-demo").join(run_id);
        for file in ["report.json", "report.html"] {
            let text = std::fs::read_to_string(staging.join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            texts.push((format!("{run_id} {file}"), text));
        }
        if run_id == "released" {
            assert_eq!(code, Some(0), "{stderr}");
            let key = format!("people-demo/{run_id}/manifest.json");
            let manifest = get(&moto.client("releases"), &key).expect("the manifest");
            texts.push((
                format!("{run_id} manifest"),
                String::from_utf8(manifest).unwrap(),
            ));
        }
        texts.push((
            format!("{run_id} stdout"),
            String::from_utf8_lossy(&output.stdout).to_string(),
        ));
        texts.push((format!("{run_id} stderr"), stderr));
    }

    let mut canaries: Vec<String> = CANARY_NAMES.iter().map(|s| s.to_string()).collect();
    // names in parts too: a first or last name alone is a leak
    for name in CANARY_NAMES {
        canaries.extend(name.split(' ').map(str::to_owned));
    }
    canaries.extend(CANARY_NUMBERS.iter().map(|(_, text)| text.to_string()));
    // the credentials, and a tell-tale fragment of the secret
    canaries.extend([
        ACCESS_KEY_ID.to_owned(),
        SECRET_ACCESS_KEY.to_owned(),
        "canarySecret".to_owned(),
    ]);
    for (what, text) in &texts {
        for canary in &canaries {
            assert!(!text.contains(canary.as_str()), "{what} shows `{canary}`");
        }
    }
}
