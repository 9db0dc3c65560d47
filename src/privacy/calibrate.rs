//! Epsilon of a DP-SGD plan, and the noise multiplier that meets a target epsilon.

use super::rdp;

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
/// noise multiplier `noise_multiplier`, by RDP accounting (see [`rdp`]).
pub fn dp_sgd_epsilon(
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    delta: f64,
) -> Result<f64, PrivacyError> {
    check_parameters(sampling_rate, delta)?;
    if noise_multiplier <= 0.0 {
        return Err(PrivacyError::Invalid(format!(
            "noise multiplier {noise_multiplier} is not positive"
        )));
    }
    let orders = rdp::default_orders();
    let curve = rdp::subsampled_gaussian_curve(sampling_rate, noise_multiplier, steps, &orders);
    Ok(rdp::epsilon_from_rdp(&orders, &curve, delta).0)
}

/// The smallest noise multiplier (to a relative 1e-4) whose `steps` steps at `sampling_rate`
/// spend at most `epsilon` at `delta`.
///
/// Epsilon falls monotonically as the noise grows, so a doubling search brackets the answer and
/// bisection narrows it; the upper end of the bracket is returned, which always meets the target.
pub fn calibrate_noise_multiplier(
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
    let meets =
        |sigma: f64| dp_sgd_epsilon(sampling_rate, sigma, steps, delta).map(|e| e <= epsilon);
    let mut high = 0.5;
    while !meets(high)? {
        high *= 2.0;
        if high > MAX_NOISE {
            return Err(PrivacyError::Unreachable {
                epsilon,
                delta,
                steps,
                sampling_rate,
                max_noise: MAX_NOISE,
            });
        }
    }
    let mut low = high / 2.0;
    if meets(low)? {
        // The target is loose enough for very little noise; search further down.
        low = 1.0e-3;
        if meets(low)? {
            return Ok(low);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_noise_spends_at_most_the_target_and_barely_less() {
        let sigma = calibrate_noise_multiplier(0.01, 5_000, 1.0, 1e-6).unwrap();
        let spent = dp_sgd_epsilon(0.01, sigma, 5_000, 1e-6).unwrap();
        assert!(spent <= 1.0, "spent {spent}");
        let slightly_less = dp_sgd_epsilon(0.01, sigma * 0.999, 5_000, 1e-6).unwrap();
        assert!(
            slightly_less > 1.0 - 1e-2,
            "calibration is loose: {slightly_less}"
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(dp_sgd_epsilon(0.0, 1.0, 10, 1e-5).is_err());
        assert!(dp_sgd_epsilon(0.1, 1.0, 10, 0.0).is_err());
        assert!(calibrate_noise_multiplier(0.1, 10, -1.0, 1e-5).is_err());
    }
}
