//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The synthgate binary with quiet logs.
pub fn synthgate() -> Command {
    let mut command = Command::cargo_bin("synthgate").expect("binary built");
    command.env("RUST_LOG", "warn");
    command
}

/// All rows of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// The demo pipeline rewritten into `dir`: absolute source, output and staging in `dir`, and
/// `extra` TOML appended.
pub fn demo_pipeline_in(dir: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("pipelines/demo.toml")).unwrap();
    let source = repo().join("data/demo/people.parquet");
    let text = text
        .replace(
            "\"../data/demo/people.parquet\"",
            &format!("{:?}", source.display().to_string()),
        )
        .replace("\"../out/people-demo\"", "\"out\"")
        .replace("\"../out/.staging\"", "\"staging\"");
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

/// Every file under `dir` with its content, for before/after comparisons.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(snapshot(&path));
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Overrides that keep only the privacy checks (copies and attacks): for tests about something
/// other than the model's fidelity, which a short or small run cannot promise.
pub const PRIVACY_GATE_ONLY: [&str; 10] = [
    "--set",
    "check=[]",
    "--set",
    "query=[]",
    "--set",
    "gate.column_shapes_min=0",
    "--set",
    "gate.pair_trends_min=0",
    "--set",
    "gate.utility_max_auc_loss=1",
];
pub mod s3;
