//! The RDP accountant against Google's dp_accounting (tests/fixtures/README.md says how the
//! values were made).

use synthgate::privacy::dp_sgd_epsilon;

#[test]
fn rdp_epsilon_matches_dp_accounting_within_one_percent_and_never_below_half_a_percent() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/poisson_gaussian_reference.json"
    ))
    .unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let q = case["sampling_rate"].as_f64().unwrap();
        let sigma = case["noise_multiplier"].as_f64().unwrap();
        let steps = case["steps"].as_u64().unwrap();
        let delta = case["delta"].as_f64().unwrap();
        let expected = case["epsilon_rdp"].as_f64().unwrap();
        let epsilon = dp_sgd_epsilon(q, sigma, steps, delta).unwrap();
        let relative = (epsilon - expected) / expected;
        println!(
            "q={q} sigma={sigma} steps={steps} delta={delta}: {epsilon:.6} vs {expected:.6} ({relative:+.2e})"
        );
        assert!(relative.abs() <= 0.01, "off by {relative:+.4} at {case}");
        assert!(
            relative >= -0.005,
            "under-reports by {relative:+.4} at {case}"
        );
    }
}
