//! SIGTERM in the middle of training: the run checkpoints, publishes nothing and exits 1; then
//! `--resume` finishes it, and its ledger counts every step once.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{PRIVACY_GATE_ONLY, demo_pipeline_in, snapshot, synthgate};

/// Settings every run of this file shares (so the resumed run's config hash matches): a
/// checkpoint every 100 of the demo's 1,200 steps and the source's lifetime ledger.
const SETTINGS: [&str; 4] = [
    "--set",
    "training.checkpoint_every=100",
    "--set",
    "privacy.ledger=budget.json",
];

/// The last JSON line on stdout: the run's outcome.
fn outcome(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn run(pipeline: &Path, tail: &[&str]) -> std::process::Output {
    synthgate()
        .env("RUST_LOG", "info")
        .args(["--log-format", "json", "run"])
        .arg(pipeline)
        .args(SETTINGS)
        .args(PRIVACY_GATE_ONLY)
        .args(tail)
        .output()
        .unwrap()
}

#[test]
fn sigterm_checkpoints_and_publishes_nothing_then_resume_counts_every_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = demo_pipeline_in(dir.path(), "");
    let out = dir.path().join("out");

    // the same run uninterrupted, for its epsilon and step count
    let straight = run(&pipeline, &["--run-id", "straight"]);
    let straight = outcome(&straight.stdout);
    let planned_steps = straight["steps"].as_u64().unwrap();
    assert_eq!(planned_steps, 1200);
    let before = snapshot(&out);

    let mut child = Command::new(assert_cmd::cargo::cargo_bin("synthgate"))
        .env("RUST_LOG", "info")
        .args(["--log-format", "json", "run"])
        .arg(&pipeline)
        .args(SETTINGS)
        .args(PRIVACY_GATE_ONLY)
        .args(["--run-id", "stopped"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    // the first periodic checkpoint: training is under way
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("checkpoint saved") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("checkpoint saved"), "{seen}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("interrupted by SIGTERM"), "{rest}");
    assert!(rest.contains("nothing was published"), "{rest}");
    assert!(
        !rest.contains("training finished"),
        "training ran to its end before the signal: {rest}"
    );
    assert_eq!(
        snapshot(&out),
        before,
        "the interrupted run changed the release location"
    );
    let checkpoint = dir.path().join("staging/people-demo/stopped/checkpoint");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkpoint.join("checkpoint.json")).unwrap())
            .unwrap();
    let stopped_at = meta["steps_done"].as_u64().unwrap();
    assert!(
        (100..planned_steps).contains(&stopped_at),
        "stopped at {stopped_at}"
    );
    let ledger_steps: u64 = meta["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["steps"].as_u64())
        .sum();
    assert_eq!(ledger_steps, stopped_at, "the checkpoint's ledger: {meta}");

    // a fresh start under the same id would lose the spent steps: refused
    let fresh = run(&pipeline, &["--run-id", "stopped"]);
    assert_eq!(fresh.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&fresh.stderr).contains("--resume stopped"));
    // so is resuming under a changed pipeline, or a run without a checkpoint
    let changed = run(
        &pipeline,
        &[
            "--set",
            "training.learning_rate=0.01",
            "--resume",
            "stopped",
        ],
    );
    assert_eq!(changed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&changed.stderr).contains("another pipeline"));
    let unknown = run(&pipeline, &["--resume", "never-started"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("has no checkpoint"));

    let resumed = run(&pipeline, &["--resume", "stopped"]);
    let logs = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{logs}");
    assert!(logs.contains("run resumed from its checkpoint"), "{logs}");
    let resumed = outcome(&resumed.stdout);
    assert_eq!(resumed["steps"], planned_steps);
    assert_eq!(
        resumed["epsilon"], straight["epsilon"],
        "the resumed run's epsilon differs from an uninterrupted run's"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("stopped/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["privacy"]["steps"], planned_steps, "{manifest}");
    assert_eq!(manifest["privacy"]["epsilon"], straight["epsilon"]);
    assert!(!checkpoint.exists(), "the finished run left its checkpoint");

    // the lifetime ledger charged the stopped run once, at its first start
    let lifetime: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("budget.json")).unwrap()).unwrap();
    let charged: Vec<&str> = lifetime["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(charged, ["straight", "stopped"]);
}
