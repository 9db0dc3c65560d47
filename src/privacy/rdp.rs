//! Rényi differential privacy (RDP) of the Poisson-subsampled Gaussian mechanism, and the
//! conversion of an RDP curve to an (epsilon, delta) guarantee.
//!
//! Neighbouring relation: add or remove one record. A DP-SGD step samples each record
//! independently with probability `q` (Poisson sampling), sums clipped per-example gradients and
//! adds Gaussian noise of standard deviation `noise_multiplier * clip_norm`. Its RDP at order
//! `alpha` is computed exactly as in Mironov, Talwar and Zhang, "Rényi Differential Privacy of
//! the Sampled Gaussian Mechanism" (2019), section 3.3: a finite binomial sum for integer orders
//! and a converging two-sided series for fractional ones. RDP composes by addition over steps
//! (Mironov 2017, proposition 1).

/// Orders at which RDP curves are evaluated: 1.1 to 10.9 by 0.1, 12 to 63, 128, 256, 512.
///
/// The same grid as the reference values in `tests/fixtures/poisson_gaussian_reference.json`,
/// so that the minimisation over orders searches the same candidates.
pub fn default_orders() -> Vec<f64> {
    let mut orders: Vec<f64> = (11..=109).map(|tenths| f64::from(tenths) / 10.0).collect();
    orders.extend((12..=63).map(f64::from));
    orders.extend([128.0, 256.0, 512.0]);
    orders
}

/// `ln(exp(a) + exp(b))` without overflow.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln(erfc(x))`, accurate where `erfc(x)` underflows.
fn log_erfc(x: f64) -> f64 {
    if x < 20.0 {
        return libm::erfc(x).ln();
    }
    // Asymptotic expansion erfc(x) ~ exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - ...)
    // (Abramowitz and Stegun 7.1.23); at x >= 20 four terms are exact to double precision.
    let inv2 = 1.0 / (x * x);
    let series = 1.0 - 0.5 * inv2 + 0.75 * inv2 * inv2 - 1.875 * inv2 * inv2 * inv2;
    -x * x - x.ln() - 0.5 * std::f64::consts::PI.ln() + series.ln()
}

/// `ln A_alpha` for integer `alpha >= 2`, Mironov et al. 2019, section 3.3, case of integer alpha:
/// `A_alpha = sum_k C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2 - k) / (2 sigma^2))`.
fn log_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let alpha_f = alpha as f64;
    let mut log_a = f64::NEG_INFINITY;
    for k in 0..=alpha {
        let k_f = k as f64;
        let log_binomial = ln_abs_gamma(alpha_f + 1.0)
            - ln_abs_gamma(k_f + 1.0)
            - ln_abs_gamma(alpha_f - k_f + 1.0);
        let log_term = log_binomial
            + k_f * q.ln()
            + (alpha_f - k_f) * (-q).ln_1p()
            + (k_f * k_f - k_f) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, log_term);
    }
    log_a
}

/// Terms of the fractional series summed at most; an order whose series has not converged by then
/// is left out of the minimisation (its RDP is reported as infinite, which is safe).
const MAX_FRACTIONAL_TERMS: u64 = 1000;

/// `ln A_alpha` for fractional `alpha > 1`, Mironov et al. 2019, section 3.3, case of fractional
/// alpha: the integral splits at `z0 = sigma^2 ln(1/q - 1) + 1/2` into two series whose terms
/// carry `erfc` factors.
///
/// The generalised binomial coefficients C(alpha, i) alternate in sign once i > alpha; the terms
/// are summed by absolute value, which bounds A_alpha from above, so the RDP reported is never
/// below the true one (and signed partial sums, which can cross zero, never reach a logarithm).
/// Summation stops once both series' terms are falling and below `exp(-30)` of the total.
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let mut log_a0 = f64::NEG_INFINITY;
    let mut log_a1 = f64::NEG_INFINITY;
    let mut last_s0 = f64::NEG_INFINITY;
    let mut last_s1 = f64::NEG_INFINITY;
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let log_q = q.ln();
    let log_1mq = (-q).ln_1p();
    let two_var = 2.0 * sigma * sigma;
    for i in 0..MAX_FRACTIONAL_TERMS {
        let i_f = i as f64;
        let j = alpha - i_f;
        // ln |C(alpha, i)| through the gamma function, valid for real alpha.
        let log_abs_binomial =
            ln_abs_gamma(alpha + 1.0) - ln_abs_gamma(i_f + 1.0) - ln_abs_gamma(j + 1.0);
        let log_t0 = log_abs_binomial + i_f * log_q + j * log_1mq;
        let log_t1 = log_abs_binomial + j * log_q + i_f * log_1mq;
        let log_e0 = 0.5_f64.ln() + log_erfc((i_f - z0) / (std::f64::consts::SQRT_2 * sigma));
        let log_e1 = 0.5_f64.ln() + log_erfc((z0 - j) / (std::f64::consts::SQRT_2 * sigma));
        let log_s0 = log_t0 + (i_f * i_f - i_f) / two_var + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        log_a0 = log_add(log_a0, log_s0);
        log_a1 = log_add(log_a1, log_s1);
        let total = log_add(log_a0, log_a1);
        if log_s0 < last_s0 && log_s1 < last_s1 && log_s0.max(log_s1) < total - 30.0 {
            return total;
        }
        last_s0 = log_s0;
        last_s1 = log_s1;
    }
    f64::INFINITY
}

/// `ln |Gamma(x)|` for real `x` (not a non-positive integer).
fn ln_abs_gamma(x: f64) -> f64 {
    libm::lgamma_r(x).0
}

/// RDP at order `alpha` of one step of the Poisson-subsampled Gaussian mechanism with sampling
/// rate `q` and noise multiplier `sigma`.
pub fn subsampled_gaussian_rdp(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q <= 0.0 {
        return 0.0;
    }
    if sigma <= 0.0 {
        return f64::INFINITY;
    }
    if q >= 1.0 {
        // Without subsampling the Gaussian mechanism of sensitivity 1 has RDP alpha / (2 sigma^2)
        // (Mironov 2017, proposition 7).
        return alpha / (2.0 * sigma * sigma);
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_integer(q, sigma, alpha as u64)
    } else {
        log_a_fractional(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// The RDP curve, one value for each of `orders`, of `steps` composed steps.
pub fn subsampled_gaussian_curve(q: f64, sigma: f64, steps: u64, orders: &[f64]) -> Vec<f64> {
    orders
        .iter()
        .map(|&alpha| steps as f64 * subsampled_gaussian_rdp(q, sigma, alpha))
        .collect()
}

/// The smallest epsilon such that the mechanism with RDP curve `rdp` at `orders` is
/// (epsilon, delta)-DP, and the order that attains it.
///
/// Conversion of Balle, Barthe, Gaboardi, Hsu and Sato, "Hypothesis Testing Interpretations and
/// Rényi Differential Privacy" (AISTATS 2020), theorem 21: for each order alpha,
/// `epsilon = rdp + ln((alpha - 1) / alpha) - (ln delta + ln alpha) / (alpha - 1)`.
/// It is never larger than the classic `rdp + ln(1/delta) / (alpha - 1)` of Mironov 2017.
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::NAN);
    for (&alpha, &value) in orders.iter().zip(rdp) {
        if !value.is_finite() || alpha <= 1.0 {
            continue;
        }
        let epsilon =
            value + ((alpha - 1.0) / alpha).ln() - (delta.ln() + alpha.ln()) / (alpha - 1.0);
        if epsilon < best.0 {
            best = (epsilon, alpha);
        }
    }
    (best.0.max(0.0), best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_batch_gaussian_matches_closed_form() {
        // q = 1: RDP is alpha / (2 sigma^2), so at sigma = 2, alpha = 8 it is 1.
        assert!((subsampled_gaussian_rdp(1.0, 2.0, 8.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn integer_and_fractional_series_agree_near_an_integer() {
        // The fractional series at alpha = 3 + 1e-9 must meet the integer sum at 3.
        let integer = subsampled_gaussian_rdp(0.05, 1.3, 3.0);
        let fractional = log_a_fractional(0.05, 1.3, 3.0 + 1e-9) / (2.0 + 1e-9);
        assert!(
            (integer - fractional).abs() / integer < 1e-6,
            "{integer} vs {fractional}"
        );
    }

    #[test]
    fn log_erfc_is_continuous_at_the_switch() {
        let below = libm::erfc(19.999_999).ln();
        let above = log_erfc(20.000_001);
        assert!((below - above).abs() < 1e-3, "{below} vs {above}");
    }

    #[test]
    fn rdp_grows_with_sampling_rate_and_shrinks_with_noise() {
        let base = subsampled_gaussian_rdp(0.01, 1.0, 10.0);
        assert!(subsampled_gaussian_rdp(0.02, 1.0, 10.0) > base);
        assert!(subsampled_gaussian_rdp(0.01, 2.0, 10.0) < base);
    }
}
