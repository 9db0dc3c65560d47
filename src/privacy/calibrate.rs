//! Epsilon of a DP-SGD plan, and the noise multiplier that meets a target epsilon.

use super::{Accountant, PrivacyLedger, pld, rdp};

/// Errors of privacy planning.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The target cannot be met by any noise multiplier the search considers.
    #[error(
        "no noise multiplier up to {max_noise} reaches epsilon {epsilon} at delta {delta} \
         for {steps} steps at sampling rate {sampling_rate}"
    )]
    Unreachable {
        /// target epsilon
        epsilon: f64,
        /// target delta
        delta: f64,
        /// planned steps
        steps: u64,
        /// Poisson sampling rate
        sampling_rate: f64,
        /// the largest multiplier tried
        max_noise: f64,
    },
    /// A parameter is out of its domain.
    #[error("invalid privacy parameter: {0}")]
    Invalid(String),
}

fn check_parameters(sampling_rate: f64, delta: f64) -> Result<(), PrivacyError> {
    if !(sampling_rate > 0.0 && sampling_rate <= 1.0) {
        return Err(PrivacyError::Invalid(format!(
            "sampling rate {sampling_rate} is not in (0, 1]"
        )));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(PrivacyError::Invalid(format!(
            "delta {delta} is not in (0, 1)"
        )));
    }
    Ok(())
}

/// Epsilon at `delta` of `steps` DP-SGD steps with Poisson sampling rate `sampling_rate` and
/// noise multiplier `noise_multiplier`, by the given accountant (see [`rdp`] and [`pld`]).
pub fn dp_sgd_epsilon(
    accountant: Accountant,
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    delta: f64,
) -> Result<f64, PrivacyError> {
    check_parameters(sampling_rate, delta)?;
    if !(noise_multiplier > 0.0 && noise_multiplier.is_finite()) {
        return Err(PrivacyError::Invalid(format!(
            "noise multiplier {noise_multiplier} is not positive"
        )));
    }
    if steps == 0 {
        return Ok(0.0);
    }
    match accountant {
        Accountant::Rdp => {
            let orders = rdp::default_orders();
            let curve =
                rdp::subsampled_gaussian_curve(sampling_rate, noise_multiplier, steps, &orders);
            Ok(rdp::epsilon_from_rdp(&orders, &curve, delta).0)
        }
        Accountant::Pld => {
            pld::subsampled_gaussian_epsilon(sampling_rate, noise_multiplier, steps, delta)
        }
    }
}

/// The smallest noise multiplier (to a relative 1e-4) whose `steps` steps at `sampling_rate`
/// spend at most `epsilon` at `delta` by the given accountant.
///
/// Epsilon falls monotonically as the noise grows, so a bracket and bisection find the answer;
/// the upper end of the bracket is returned, and it is always a multiplier the accountant
/// certified, so the result meets the target even where discretisation makes the curve
/// slightly uneven. PLD accounting certifies less epsilon than RDP for the same noise, so the
/// RDP answer (cheap to compute) is where a PLD search starts.
pub fn calibrate_noise_multiplier(
    accountant: Accountant,
    sampling_rate: f64,
    steps: u64,
    epsilon: f64,
    delta: f64,
) -> Result<f64, PrivacyError> {
    check_parameters(sampling_rate, delta)?;
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        return Err(PrivacyError::Invalid(format!(
            "epsilon {epsilon} is not positive"
        )));
    }
    const MAX_NOISE: f64 = 1.0e4;
    const MIN_NOISE: f64 = 1.0e-3;
    let meets = |sigma: f64| {
        dp_sgd_epsilon(accountant, sampling_rate, sigma, steps, delta).map(|e| e <= epsilon)
    };
    let unreachable = PrivacyError::Unreachable {
        epsilon,
        delta,
        steps,
        sampling_rate,
        max_noise: MAX_NOISE,
    };
    // An upper end that meets the target.
    let mut high = match accountant {
        Accountant::Rdp => 0.5,
        Accountant::Pld => {
            calibrate_noise_multiplier(Accountant::Rdp, sampling_rate, steps, epsilon, delta)?
        }
    };
    while !meets(high)? {
        high *= 2.0;
        if high > MAX_NOISE {
            return Err(unreachable);
        }
    }
    // A lower end that does not.
    let mut low = high / 2.0;
    while meets(low)? {
        high = low;
        low /= 2.0;
        if low < MIN_NOISE {
            return Ok(high);
        }
    }
    bisect_to_certified(low, high, meets)
}

/// Bisects between a `low` multiplier that fails and a `high` one that meets the target until
/// they are within a relative 1e-4, and returns the upper end: always a multiplier `meets`
/// certified.
fn bisect_to_certified(
    mut low: f64,
    mut high: f64,
    meets: impl Fn(f64) -> Result<bool, PrivacyError>,
) -> Result<f64, PrivacyError> {
    while (high - low) / high > 1.0e-4 {
        let middle = 0.5 * (low + high);
        if meets(middle)? {
            high = middle;
        } else {
            low = middle;
        }
    }
    Ok(high)
}

/// The smallest noise multiplier (to a relative 1e-4) such that `steps` DP-SGD steps at
/// `sampling_rate`, composed with everything already in `prior`, bring the ledger's epsilon to at
/// most `epsilon`.
///
/// Composition is sub-additive under both accountants, so this leaves DP-SGD more than
/// `epsilon` minus the prior's epsilon alone. The answer for DP-SGD alone at the full epsilon is
/// a lower end (adding mechanisms never lowers epsilon); the search doubles from there to an
/// upper end that the composed ledger certifies, then bisects.
pub fn calibrate_noise_multiplier_after(
    prior: &PrivacyLedger,
    sampling_rate: f64,
    steps: u64,
    epsilon: f64,
) -> Result<f64, PrivacyError> {
    let alone = calibrate_noise_multiplier(
        prior.accountant(),
        sampling_rate,
        steps,
        epsilon,
        prior.delta(),
    )?;
    if prior.entries().is_empty() {
        return Ok(alone);
    }
    const MAX_NOISE: f64 = 1.0e4;
    let meets = |sigma: f64| {
        let mut ledger = prior.clone();
        ledger.charge_dp_sgd_steps("discriminator", sampling_rate, sigma, steps);
        ledger.epsilon().map(|e| e <= epsilon)
    };
    let mut low = alone;
    let mut high = alone * 1.25;
    while !meets(high)? {
        low = high;
        high *= 2.0;
        if high > MAX_NOISE {
            return Err(PrivacyError::Unreachable {
                epsilon,
                delta: prior.delta(),
                steps,
                sampling_rate,
                max_noise: MAX_NOISE,
            });
        }
    }
    bisect_to_certified(low, high, meets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_noise_spends_at_most_the_target_and_barely_less() {
        for accountant in [Accountant::Rdp, Accountant::Pld] {
            let sigma = calibrate_noise_multiplier(accountant, 0.01, 5_000, 1.0, 1e-6).unwrap();
            let spent = dp_sgd_epsilon(accountant, 0.01, sigma, 5_000, 1e-6).unwrap();
            assert!(spent <= 1.0, "{accountant} spent {spent}");
            let slightly_less =
                dp_sgd_epsilon(accountant, 0.01, sigma * 0.999, 5_000, 1e-6).unwrap();
            assert!(
                slightly_less > 1.0 - 1e-2,
                "{accountant} calibration is loose: {slightly_less}"
            );
        }
    }

    #[test]
    fn pld_needs_less_noise_than_rdp_for_the_same_epsilon() {
        let rdp = calibrate_noise_multiplier(Accountant::Rdp, 0.02, 3_000, 1.0, 1e-5).unwrap();
        let pld = calibrate_noise_multiplier(Accountant::Pld, 0.02, 3_000, 1.0, 1e-5).unwrap();
        assert!(pld < rdp, "pld {pld}, rdp {rdp}");
    }

    #[test]
    fn noise_calibrated_after_a_prior_mechanism_meets_the_composed_target() {
        for accountant in [Accountant::Rdp, Accountant::Pld] {
            let mut prior = PrivacyLedger::new(accountant, 1e-6);
            let counts = calibrate_noise_multiplier(accountant, 1.0, 1, 0.1, 1e-6).unwrap();
            prior.charge(super::super::LedgerEntry::GaussianCounts {
                purpose: "counts".to_owned(),
                queries: 3,
                noise_multiplier: counts,
                threshold_delta: 0.0,
            });
            let sigma = calibrate_noise_multiplier_after(&prior, 0.01, 2_000, 1.0).unwrap();
            let mut ledger = prior.clone();
            ledger.charge_dp_sgd_steps("discriminator", 0.01, sigma, 2_000);
            let spent = ledger.epsilon().unwrap();
            assert!(spent <= 1.0 && spent > 0.99, "{accountant}: {spent}");
            // the composed ledger leaves DP-SGD more than 0.9 of the budget
            let training = dp_sgd_epsilon(accountant, 0.01, sigma, 2_000, 1e-6).unwrap();
            assert!(training > 0.9, "{accountant}: training alone {training}");
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        for accountant in [Accountant::Rdp, Accountant::Pld] {
            assert!(dp_sgd_epsilon(accountant, 0.0, 1.0, 10, 1e-5).is_err());
            assert!(dp_sgd_epsilon(accountant, 0.1, 1.0, 10, 0.0).is_err());
            assert!(dp_sgd_epsilon(accountant, 0.1, -1.0, 10, 1e-5).is_err());
            assert!(calibrate_noise_multiplier(accountant, 0.1, 10, -1.0, 1e-5).is_err());
        }
    }
}
