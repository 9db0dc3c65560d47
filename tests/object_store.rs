//! Sources and releases in object storage, against a real S3-compatible server (moto) on
//! 127.0.0.1: read a source from a bucket, release to a bucket with its manifest and `latest`;
//! a store that refuses the manifest leaves the previous release in place; an http(s):// source.

mod common;

use std::path::Path;

use common::s3::{Moto, RefusingProxy, environment, get, put};
use common::{PRIVACY_GATE_ONLY, demo_pipeline_in, repo, synthgate};
use sha2::{Digest, Sha256};

const FEW_STEPS: [&str; 2] = ["--set", "training.epochs=3"];

/// The demo pipeline reading `source` and releasing to `output` (URLs, `${VAR}` allowed).
fn pipeline(dir: &Path, source: &str, output: &str) -> std::path::PathBuf {
    let path = demo_pipeline_in(dir, "");
    let demo = repo().join("data/demo/people.parquet");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            &format!("{:?}", demo.display().to_string()),
            &format!("{source:?}"),
        )
        .replace("url = \"out\"", &format!("url = {output:?}"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(
    pipeline: &Path,
    endpoint: &str,
    run_id: &str,
    extra_env: &[(&str, &str)],
) -> assert_cmd::assert::Assert {
    let mut command = synthgate();
    for (key, value) in environment(endpoint) {
        command.env(key, value);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command
        .arg("run")
        .arg(pipeline)
        .args(FEW_STEPS)
        .args(PRIVACY_GATE_ONLY)
        .args(["--run-id", run_id])
        .assert()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_source_in_a_bucket_is_released_to_a_bucket_with_its_manifest_and_latest() {
    let moto = Moto::start();
    moto.create_bucket("sensitive");
    moto.create_bucket("releases");
    let sensitive = moto.client("sensitive");
    let releases = moto.client("releases");
    put(
        &sensitive,
        "people/part-0.parquet",
        std::fs::read(repo().join("data/demo/people.parquet")).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    // a folder of Parquet files in a bucket named through the environment
    let pipeline = pipeline(
        dir.path(),
        "s3://${SOURCE_BUCKET}/people/",
        "s3://releases/people-demo",
    );
    let env = [("SOURCE_BUCKET", "sensitive")];

    run(&pipeline, &moto.endpoint(), "first", &env).code(0);
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&releases, "people-demo/first/manifest.json").unwrap())
            .unwrap();
    assert_eq!(manifest["run_id"], "first");
    let file = &manifest["files"][0];
    let data = get(
        &releases,
        &format!("people-demo/first/{}", file["path"].as_str().unwrap()),
    )
    .expect("the manifest's data file is in the bucket");
    assert_eq!(file["bytes"], data.len());
    assert_eq!(file["sha256"], hex(&data));
    assert_eq!(get(&releases, "people-demo/latest").unwrap(), b"first\n");

    // a second run releases beside the first and moves latest; the first stays whole
    run(&pipeline, &moto.endpoint(), "second", &env).code(0);
    assert_eq!(get(&releases, "people-demo/latest").unwrap(), b"second\n");
    let first_again = get(&releases, "people-demo/first/manifest.json").unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&first_again).unwrap(),
        manifest
    );
    // the same run id again is refused, and publishes nothing
    run(&pipeline, &moto.endpoint(), "first", &env)
        .code(1)
        .stderr(predicates::str::contains("already released"));
    assert_eq!(get(&releases, "people-demo/latest").unwrap(), b"second\n");

    // a missing bucket variable names itself
    run(&pipeline, &moto.endpoint(), "third", &[])
        .code(2)
        .stderr(predicates::str::contains("SOURCE_BUCKET"));
}

#[test]
fn a_store_that_refuses_the_manifest_leaves_the_previous_release_in_place() {
    let moto = Moto::start();
    moto.create_bucket("sensitive");
    moto.create_bucket("releases");
    let sensitive = moto.client("sensitive");
    let releases = moto.client("releases");
    put(
        &sensitive,
        "people.parquet",
        std::fs::read(repo().join("data/demo/people.parquet")).unwrap(),
    );
    // the store takes every write but the manifest of run `broken`
    let proxy = RefusingProxy::start(moto.port, |method, path| {
        method == "PUT" && path.ends_with("/broken/manifest.json")
    });
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(
        dir.path(),
        "s3://sensitive/people.parquet",
        "s3://releases/people-demo",
    );

    run(&pipeline, &proxy.endpoint(), "good", &[]).code(0);
    let good = get(&releases, "people-demo/good/manifest.json").unwrap();

    let failed = run(&pipeline, &proxy.endpoint(), "broken", &[]).code(1);
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).to_string();
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(
        stderr.contains("people-demo/broken/manifest.json"),
        "{stderr}"
    );
    assert!(
        get(&releases, "people-demo/broken/manifest.json").is_none(),
        "a manifest of the failed run exists"
    );
    assert_eq!(get(&releases, "people-demo/latest").unwrap(), b"good\n");
    assert_eq!(
        get(&releases, "people-demo/good/manifest.json").unwrap(),
        good
    );

    // the failed run kept its final checkpoint: resumed against the healthy store it publishes
    // without training again
    let mut resume = synthgate();
    for (key, value) in environment(&moto.endpoint()) {
        resume.env(key, value);
    }
    let resumed = resume
        .env("RUST_LOG", "info")
        .arg("run")
        .arg(&pipeline)
        .args(FEW_STEPS)
        .args(PRIVACY_GATE_ONLY)
        .args(["--resume", "broken"])
        .assert()
        .code(0);
    let logs = String::from_utf8_lossy(&resumed.get_output().stderr).to_string();
    assert!(logs.contains("run resumed from its checkpoint"), "{logs}");
    assert!(
        !logs.contains("training progress"),
        "it trained again: {logs}"
    );
    assert!(get(&releases, "people-demo/broken/manifest.json").is_some());
    assert_eq!(get(&releases, "people-demo/latest").unwrap(), b"broken\n");
}

#[test]
fn an_https_or_http_source_is_read_and_cannot_take_a_release() {
    let moto = Moto::start();
    moto.create_bucket("public");
    moto.put_public(
        "public",
        "people.parquet",
        &std::fs::read(repo().join("data/demo/people.parquet")).unwrap(),
    );
    // moto serves objects to plain GETs: an HTTP source with range requests
    let source = format!("{}/public/people.parquet", moto.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path(), &source, "out");
    run(&pipeline, &moto.endpoint(), "from-http", &[]).code(0);
    let manifest = dir.path().join("out/from-http/manifest.json");
    assert!(manifest.exists(), "no local release from the HTTP source");

    let to_http = pipeline_with_output(
        dir.path(),
        &source,
        &format!("{}/public/out", moto.endpoint()),
    );
    synthgate()
        .arg("check")
        .arg(&to_http)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("output.url"))
        .stderr(predicates::str::contains("can only be read"));
}

fn pipeline_with_output(dir: &Path, source: &str, output: &str) -> std::path::PathBuf {
    let sub = dir.join("to-http");
    std::fs::create_dir_all(&sub).unwrap();
    pipeline(&sub, source, output)
}
