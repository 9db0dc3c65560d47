//! `synthgate budget` against the dp_accounting reference values.

mod common;

use common::{repo, synthgate};

fn last_line(output: &[u8]) -> f64 {
    let text = String::from_utf8(output.to_vec()).unwrap();
    text.lines().last().unwrap().trim().parse().unwrap()
}

#[test]
fn budget_prints_epsilon_and_noise_on_the_last_line() {
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/fixtures/poisson_gaussian_reference.json")).unwrap(),
    )
    .unwrap();
    let case = &reference["cases"][0];
    let arg = |key: &str| case[key].to_string();
    let output = synthgate()
        .args([
            "budget",
            "--sampling-rate",
            &arg("sampling_rate"),
            "--steps",
            &arg("steps"),
        ])
        .args([
            "--delta",
            &arg("delta"),
            "--noise-multiplier",
            &arg("noise_multiplier"),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let epsilon = last_line(&output.stdout);
    let expected = case["epsilon_rdp"].as_f64().unwrap();
    assert!(
        (epsilon - expected).abs() / expected < 0.01,
        "{epsilon} vs {expected}"
    );

    let output = synthgate()
        .args([
            "budget",
            "--sampling-rate",
            &arg("sampling_rate"),
            "--steps",
            &arg("steps"),
        ])
        .args(["--delta", &arg("delta"), "--epsilon", &expected.to_string()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let noise = last_line(&output.stdout);
    let expected_noise = case["noise_multiplier"].as_f64().unwrap();
    assert!(
        (noise - expected_noise).abs() / expected_noise < 0.01,
        "{noise} vs {expected_noise}"
    );
}

#[test]
fn budget_refuses_bad_parameters_with_exit_2() {
    synthgate()
        .args([
            "budget",
            "--sampling-rate",
            "1.5",
            "--steps",
            "10",
            "--delta",
            "1e-5",
            "--noise-multiplier",
            "1",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("sampling rate"));
}
