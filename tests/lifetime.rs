//! The lifetime budget of a source: runs on the demo source add up in `privacy.ledger`, and the
//! run that would pass `privacy.lifetime_epsilon` is refused before it reads a row.

mod common;

use common::{PRIVACY_GATE_ONLY, demo_pipeline_in, synthgate};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn the_run_past_the_lifetime_budget_is_refused_and_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = demo_pipeline_in(dir.path(), "");
    // the ledger and its limit go into the pipeline's [privacy] section
    let text = std::fs::read_to_string(&pipeline).unwrap().replace(
        "[privacy]\n",
        "[privacy]\nledger = \"budget/people.json\"\nlifetime_epsilon = 2.5\n",
    );
    std::fs::write(&pipeline, text).unwrap();
    let run = |run_id: &str| {
        synthgate()
            .env("RUST_LOG", "info")
            .arg("run")
            .arg(&pipeline)
            .args(["--set", "training.epochs=3"])
            .args(PRIVACY_GATE_ONLY)
            .args(["--run-id", run_id])
            .assert()
    };
    // a run that reads its source says so at info; the refused one below must not
    run("first").code(0).stderr(contains("source read"));
    run("second").code(0);
    let ledger_path = dir.path().join("budget/people.json");
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ledger_path).unwrap()).unwrap();
    let runs = ledger["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["run_id"], "second");
    assert_eq!(runs[1]["epsilon"], 1.0);

    let before = std::fs::read(&ledger_path).unwrap();
    run("third")
        .code(2)
        .stderr(contains("privacy.lifetime_epsilon"))
        .stderr(contains("spent epsilon 2"))
        .stderr(contains("nothing was read"))
        .stderr(contains("source read").not());
    assert_eq!(
        std::fs::read(&ledger_path).unwrap(),
        before,
        "the refusal changed the ledger"
    );
    assert!(
        !dir.path().join("staging/people-demo/third").exists(),
        "the refused run staged"
    );
    assert!(!dir.path().join("out/third").exists());
}

#[test]
fn a_lifetime_budget_without_a_ledger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = demo_pipeline_in(dir.path(), "");
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("[privacy]\n", "[privacy]\nlifetime_epsilon = 3.0\n");
    std::fs::write(&pipeline, text).unwrap();
    synthgate()
        .arg("check")
        .arg(&pipeline)
        .assert()
        .code(2)
        .stderr(contains("privacy.lifetime_epsilon"))
        .stderr(contains("privacy.ledger"));
}
