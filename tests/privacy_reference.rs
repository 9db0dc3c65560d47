//! The accountants against Google's dp_accounting (tests/fixtures/README.md says how the values
//! were made).

use synthgate::privacy::{Accountant, dp_sgd_epsilon};

struct Case {
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    delta: f64,
    epsilon_rdp: f64,
    epsilon_pld: f64,
}

fn reference_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/poisson_gaussian_reference.json"
    ))
    .unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    cases
        .iter()
        .map(|case| Case {
            sampling_rate: case["sampling_rate"].as_f64().unwrap(),
            noise_multiplier: case["noise_multiplier"].as_f64().unwrap(),
            steps: case["steps"].as_u64().unwrap(),
            delta: case["delta"].as_f64().unwrap(),
            epsilon_rdp: case["epsilon_rdp"].as_f64().unwrap(),
            epsilon_pld: case["epsilon_pld"].as_f64().unwrap(),
        })
        .collect()
}

impl Case {
    fn epsilon(&self, accountant: Accountant) -> f64 {
        dp_sgd_epsilon(
            accountant,
            self.sampling_rate,
            self.noise_multiplier,
            self.steps,
            self.delta,
        )
        .unwrap()
    }

    fn describe(&self) -> String {
        format!(
            "q={} sigma={} steps={} delta={}",
            self.sampling_rate, self.noise_multiplier, self.steps, self.delta
        )
    }
}

/// Every reference case within `tolerance` relative of dp_accounting's value for `accountant`,
/// and never more than half a percent below it.
fn assert_matches_reference(accountant: Accountant, tolerance: f64) {
    for case in reference_cases() {
        let expected = match accountant {
            Accountant::Rdp => case.epsilon_rdp,
            Accountant::Pld => case.epsilon_pld,
        };
        let epsilon = case.epsilon(accountant);
        let relative = (epsilon - expected) / expected;
        println!(
            "{accountant} {}: {epsilon:.6} vs {expected:.6} ({relative:+.2e})",
            case.describe()
        );
        let at = case.describe();
        assert!(relative.abs() <= tolerance, "off by {relative:+.4} at {at}");
        assert!(
            relative >= -0.005,
            "under-reports by {relative:+.4} at {at}"
        );
    }
}

#[test]
fn rdp_epsilon_matches_dp_accounting_within_one_percent_and_never_below_half_a_percent() {
    assert_matches_reference(Accountant::Rdp, 0.01);
}

#[test]
fn pld_epsilon_matches_dp_accounting_within_two_percent_and_never_below_half_a_percent() {
    assert_matches_reference(Accountant::Pld, 0.02);
}

#[test]
fn pld_certifies_a_smaller_epsilon_than_rdp_on_every_reference_case() {
    for case in reference_cases() {
        let pld = case.epsilon(Accountant::Pld);
        let rdp = case.epsilon(Accountant::Rdp);
        println!("{}: pld / rdp = {:.4}", case.describe(), pld / rdp);
        assert!(pld < rdp, "pld {pld} >= rdp {rdp} at {}", case.describe());
    }
}
