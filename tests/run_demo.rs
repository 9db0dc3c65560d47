//! End to end: the demo pipeline through the real binary, released and refused.

mod common;

use std::collections::HashSet;

use common::{PRIVACY_GATE_ONLY, demo_pipeline_in, read_parquet, repo, snapshot, synthgate};
use datafusion::arrow::array::{Array, Float64Array, StringArray};
use datafusion::arrow::compute::concat_batches;

const FEW_STEPS: [&str; 2] = ["--set", "training.epochs=3"];

/// The demo pipeline as a user runs it, fully trained, without its fidelity SQL checks (the
/// model's quality is another matter): every attack passes or is inconclusive, and the table is
/// released.
#[test]
fn the_demo_pipelines_output_passes_every_attack() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    synthgate()
        .arg("run")
        .arg(repo().join("pipelines/demo.toml"))
        .args(PRIVACY_GATE_ONLY)
        .args([
            "--set",
            &format!("output.url={}", dir.path().join("out").display()),
        ])
        .args([
            "--set",
            &format!("output.staging_url={}", staging.display()),
        ])
        .args(["--run-id", "full"])
        .assert()
        .code(0);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(staging.join("people-demo/full/report.json")).unwrap(),
    )
    .unwrap();
    let checks = report["verdict"]["checks"].as_array().unwrap();
    for kind in [
        "exact_copies",
        "unique_copies",
        "linkage",
        "linkage_revealing",
        "singling_out",
        "attribute_inference",
        "distance_to_closest_record",
    ] {
        let of_kind: Vec<_> = checks.iter().filter(|c| c["kind"] == kind).collect();
        assert!(!of_kind.is_empty(), "no {kind} check");
        for check in of_kind {
            assert_ne!(check["status"], "fail", "{check}");
        }
    }

    // The internal report shows aggregates only: no real person's name, no real value of a
    // sensitive feature.
    let page = std::fs::read_to_string(staging.join("people-demo/full/report.html")).unwrap();
    let source = read_parquet(&repo().join("data/demo/people.parquet"));
    let source = concat_batches(&source[0].schema(), &source).unwrap();
    let names = source.column_by_name("name").unwrap();
    let names = names.as_any().downcast_ref::<StringArray>().unwrap();
    for name in names.iter().flatten() {
        assert!(!page.contains(name), "the report names a real person");
    }
    let feature = source.column_by_name("sensitive_feature1").unwrap();
    let feature = feature.as_any().downcast_ref::<Float64Array>().unwrap();
    for value in feature.iter().flatten().filter(|v| v.fract() != 0.0) {
        assert!(
            !page.contains(&value.to_string()),
            "the report holds a real value"
        );
    }
}

#[test]
fn demo_releases_the_source_schema_with_fake_names_and_no_copies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let staging = dir.path().join("staging");
    let assert = synthgate()
        .arg("--log-format")
        .arg("json")
        .arg("run")
        .arg(repo().join("pipelines/demo.toml"))
        .args(FEW_STEPS)
        .args(PRIVACY_GATE_ONLY)
        .args(["--set", &format!("output.url={}", out.display())])
        .args([
            "--set",
            &format!("output.staging_url={}", staging.display()),
        ])
        .args(["--run-id", "test-run"])
        .assert()
        .code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("one JSON summary on stdout");
    assert_eq!(summary["released"], true);

    let release = out.join("test-run");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("latest")).unwrap().trim(),
        "test-run"
    );
    let epsilon = manifest["privacy"]["epsilon"].as_f64().unwrap();
    assert!(epsilon > 0.0 && epsilon <= 1.0, "epsilon {epsilon}");
    assert_eq!(manifest["privacy"]["accountant"], "pld");
    assert_eq!(manifest["rows"], 1000);
    assert_eq!(manifest["verdict"]["passed"], true);
    assert!(manifest["privacy"]["steps"].as_u64().unwrap() > 0);
    // The manifest carries verdicts but no measured value.
    for check in manifest["verdict"]["checks"].as_array().unwrap() {
        assert!(check.get("value").is_none(), "{check}");
    }
    let file = &manifest["files"][0];
    let bytes = std::fs::read(release.join(file["path"].as_str().unwrap())).unwrap();
    assert_eq!(file["bytes"].as_u64().unwrap(), bytes.len() as u64);

    let real = read_parquet(&repo().join("data/demo/people.parquet"));
    let real = concat_batches(&real[0].schema(), &real).unwrap();
    let synthetic = read_parquet(&release.join("synthetic.parquet"));
    let synthetic = concat_batches(&synthetic[0].schema(), &synthetic).unwrap();
    assert_eq!(synthetic.schema().fields(), real.schema().fields());
    assert_eq!(synthetic.num_rows(), 1000);

    let names = |batch: &datafusion::arrow::record_batch::RecordBatch| -> Vec<String> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        (0..column.len())
            .map(|i| column.value(i).to_owned())
            .collect()
    };
    let real_names: HashSet<String> = names(&real).into_iter().collect();
    let fake_names = names(&synthetic);
    assert!(
        fake_names.iter().all(|n| !real_names.contains(n)),
        "a real name was released"
    );
    assert!(
        fake_names.iter().collect::<HashSet<_>>().len() > 900,
        "fake names barely vary"
    );

    let rows = |batch: &datafusion::arrow::record_batch::RecordBatch| -> HashSet<[u64; 4]> {
        let column = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone()
        };
        let columns: Vec<Float64Array> = (1..5).map(column).collect();
        (0..batch.num_rows())
            .map(|r| [0, 1, 2, 3].map(|c| columns[c].value(r).to_bits()))
            .collect()
    };
    let real_rows = rows(&real);
    assert!(
        rows(&synthetic).iter().all(|r| !real_rows.contains(r)),
        "a real row was released"
    );

    // Staging holds the internal report with the values; it is not under the release.
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(staging.join("people-demo/test-run/report.json")).unwrap(),
    )
    .unwrap();
    let checks = report["verdict"]["checks"].as_array().unwrap();
    let copies = checks.iter().find(|c| c["kind"] == "exact_copies").unwrap();
    assert!(copies["value"].is_number());

    // The same run id is never released twice.
    synthgate()
        .arg("run")
        .arg(repo().join("pipelines/demo.toml"))
        .args(FEW_STEPS)
        .args(["--set", &format!("output.url={}", out.display())])
        .args([
            "--set",
            &format!("output.staging_url={}", staging.display()),
        ])
        .args(["--run-id", "test-run"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("already released"));
}

#[test]
fn an_impossible_check_refuses_and_leaves_the_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let impossible =
        "[[check]]\nname = \"impossible\"\nsql = \"SELECT count(*) FROM synthetic\"\nmax = -1\n";
    let pipeline = demo_pipeline_in(dir.path(), impossible);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("earlier")).unwrap();
    std::fs::write(out.join("earlier/manifest.json"), b"{}").unwrap();
    std::fs::write(out.join("latest"), b"earlier\n").unwrap();
    let before = snapshot(&out);

    synthgate()
        .arg("run")
        .arg(&pipeline)
        .args(FEW_STEPS)
        .args(["--run-id", "refused"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("impossible"));
    assert_eq!(snapshot(&out), before, "the release location changed");
    assert!(
        dir.path()
            .join("staging/people-demo/refused/report.json")
            .exists()
    );
}

#[test]
fn relative_paths_resolve_against_the_pipeline_folder() {
    let elsewhere = tempfile::tempdir().unwrap();
    synthgate()
        .current_dir(elsewhere.path())
        .arg("check")
        .arg(repo().join("pipelines/demo.toml"))
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "800 train rows, 200 holdout rows",
        ))
        .stdout(predicates::str::contains("noise multiplier"));
}

#[test]
fn a_folder_source_reads_every_parquet_file_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("people");
    std::fs::create_dir_all(&folder).unwrap();
    for part in ["part-0.parquet", "part-1.parquet"] {
        std::fs::copy(repo().join("data/demo/people.parquet"), folder.join(part)).unwrap();
    }
    std::fs::write(folder.join("_SUCCESS"), b"").unwrap();
    synthgate()
        .arg("check")
        .arg(repo().join("pipelines/demo.toml"))
        .args(["--set", &format!("source.url=file://{}", folder.display())])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("2000 rows in 2 file(s)"))
        .stdout(predicates::str::contains(
            "1600 train rows, 400 holdout rows",
        ));
}

#[test]
fn every_json_log_line_of_a_run_carries_its_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = demo_pipeline_in(dir.path(), "");
    // a refused run logs the most: training, every check, the refusal
    let assert = synthgate()
        .env("RUST_LOG", "synthgate=debug")
        .args(["--log-format", "json", "run"])
        .arg(&pipeline)
        .args(FEW_STEPS)
        .args(["--set", "gate.column_shapes_min=1"])
        .args(["--run-id", "json-logs"])
        .assert()
        .code(3);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() > 10, "{stderr}");
    for line in lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert_eq!(event["span"]["run_id"], "json-logs", "{line}");
    }
    assert!(stderr.contains("\"exit_code\":3"), "{stderr}");
    // not a terminal: progress comes as periodic lines
    assert!(stderr.contains("training progress"), "{stderr}");
    assert!(stderr.contains("generation progress"), "{stderr}");
}
