//! `synthgate budget` against the dp_accounting reference values, and the accountants as
//! `synthgate check` applies them to the shipped pipelines.

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
    for (accountant, key, tolerance) in [("rdp", "epsilon_rdp", 0.01), ("pld", "epsilon_pld", 0.02)]
    {
        let (rate, steps, delta) = (arg("sampling_rate"), arg("steps"), arg("delta"));
        let plan = [
            "--accountant",
            accountant,
            "--sampling-rate",
            &rate,
            "--steps",
            &steps,
            "--delta",
            &delta,
        ];
        let noise = arg("noise_multiplier");
        let epsilon = budget_line(&[&plan[..], &["--noise-multiplier", &noise]].concat());
        let expected = case[key].as_f64().unwrap();
        assert!(
            (epsilon - expected).abs() / expected < tolerance,
            "{accountant}: {epsilon} vs {expected}"
        );

        let target = expected.to_string();
        let calibrated = budget_line(&[&plan[..], &["--epsilon", &target]].concat());
        let expected_noise = case["noise_multiplier"].as_f64().unwrap();
        assert!(
            (calibrated - expected_noise).abs() / expected_noise < tolerance,
            "{accountant}: {calibrated} vs {expected_noise}"
        );
    }
}

/// The number on the last line of `synthgate budget ARGS`, which must succeed.
fn budget_line(args: &[&str]) -> f64 {
    let output = synthgate().arg("budget").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    last_line(&output.stdout)
}

#[test]
fn epochs_batch_size_and_rows_plan_the_same_steps_as_a_sampling_rate_and_steps() {
    // 50 epochs of batch 1000 over 26,049 rows: rate 1000 / 26049, ceil(50 * 26.049) steps.
    let by_epochs = budget_line(&[
        "--rows",
        "26049",
        "--batch-size",
        "1000",
        "--epochs",
        "50",
        "--delta",
        "1e-6",
        "--noise-multiplier",
        "3",
    ]);
    let by_steps = budget_line(&[
        "--sampling-rate",
        &(1000.0f64 / 26049.0).to_string(),
        "--steps",
        "1303",
        "--delta",
        "1e-6",
        "--noise-multiplier",
        "3",
    ]);
    assert_eq!(by_epochs, by_steps);
}

#[test]
fn a_plan_table_shows_epsilon_growing_with_epochs() {
    let output = synthgate()
        .args([
            "budget",
            "--format",
            "table",
            "--rows",
            "26049",
            "--batch-size",
            "1000",
        ])
        .args([
            "--delta",
            "1e-6",
            "--noise-multiplier",
            "4",
            "--epochs",
            "42",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(2)
        .map(|line| {
            line.split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    // the default ladder of 11 lengths and the asked-for 42
    assert_eq!(rows.len(), 12, "{text}");
    assert!(rows.iter().any(|row| row[0] == 42.0));
    assert!(
        rows.windows(2).all(|pair| pair[0][3] < pair[1][3]),
        "{text}"
    );
    assert!(rows.iter().all(|row| row[2] == 4.0));
}

#[test]
fn budget_without_a_length_is_a_usage_error() {
    synthgate()
        .args([
            "budget",
            "--sampling-rate",
            "0.01",
            "--delta",
            "1e-5",
            "--epsilon",
            "1",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--steps or --epochs"));
}

/// The noise multiplier `synthgate check` plans for `pipeline` with `accountant`.
fn planned_noise(pipeline: &str, accountant: &str) -> f64 {
    let output = synthgate()
        .args([
            "check",
            pipeline,
            "--set",
            &format!("privacy.accountant={accountant}"),
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains(&format!("accountant: {accountant}")));
    text.lines()
        .find_map(|line| line.strip_prefix("noise multiplier: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn pld_plans_less_noise_than_rdp_for_the_shipped_pipelines() {
    for pipeline in ["pipelines/demo.toml", "pipelines/adult.toml"] {
        let pld = planned_noise(pipeline, "pld");
        let rdp = planned_noise(pipeline, "rdp");
        println!(
            "{pipeline}: noise multiplier pld {pld}, rdp {rdp}, ratio {:.3}",
            pld / rdp
        );
        assert!(pld < rdp, "{pipeline}: pld {pld} >= rdp {rdp}");
    }
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
