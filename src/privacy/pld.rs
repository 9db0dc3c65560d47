//! Privacy-loss-distribution (PLD) accounting of the Poisson-subsampled Gaussian mechanism.
//!
//! A mechanism's privacy loss on a pair of neighbouring datasets is the random variable
//! `L = ln(P(o) / Q(o))` with `o ~ P`. Its distribution determines the whole (epsilon, delta)
//! curve, `delta(epsilon) = E[(1 - exp(epsilon - L))+] + P(L = inf)` (Sommer, Meiser and
//! Mohammadi 2019, "Privacy loss classes: the central limit theorem in differential privacy"), and the loss of a composition is the sum
//! of the independent losses, so composing mechanisms convolves their distributions (Koskela,
//! Jälkö and Honkela 2020, "Computing tight differential privacy guarantees using FFT").
//!
//! Here each distribution lives on the lattice `k * interval`. One step of the subsampled
//! Gaussian is discretised with the connect-the-dots construction of Doroshenko, Ghazi, Kamath,
//! Kumar and Manurangsi 2022 ("Connect the dots: tighter discrete approximations of privacy
//! loss distributions"): the discrete distribution whose delta curve passes through
//! the exact curve at every lattice point and is linear in `exp(epsilon)` between them. The
//! exact curve is convex in `exp(epsilon)`, so the discrete one lies above it everywhere: the
//! reported epsilon is an upper bound, not an estimate. Composition over many steps raises the
//! discrete Fourier transform to a power; the mass the finite transform wraps around is bounded
//! by a Chernoff bound and charged as mass at infinity, so that too is pessimistic.
//!
//! Under add/remove neighbours the two directions differ, so a [`PrivacyLossDistribution`]
//! carries both and reports the larger epsilon, as Google's dp_accounting does.

use std::sync::Arc;

use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

use super::PrivacyError;

/// Lattice spacing of the loss, in nats. Google's dp_accounting reference values use the same.
pub const DEFAULT_INTERVAL: f64 = 1e-4;

/// Mass left outside the lattice at each truncation (a tail of a single step, or of a
/// composition); every such mass is moved to higher losses or to infinity, never dropped.
const TAIL_MASS: f64 = 1e-15;

/// Largest single-step loss, in nats, whose delta curve is computed; `exp` overflows near 709.
const MAX_LOSS: f64 = 600.0;

/// A discrete privacy-loss distribution: `masses[k]` at loss `(offset + k) * interval`, and
/// `infinity` at an infinite loss. The masses sum to at most one.
#[derive(Debug, Clone)]
pub struct LossPmf {
    interval: f64,
    offset: i64,
    masses: Vec<f64>,
    infinity: f64,
}

impl LossPmf {
    /// The connect-the-dots discretisation (Doroshenko et al. 2022) of a
    /// mechanism on lattice points `lower..=upper` (with `lower < 0 < upper`).
    ///
    /// With `y = exp(epsilon)`, a discrete distribution's delta curve is piecewise linear in
    /// `y` with slope `-sum_{l_j > ln y} m_j exp(-l_j)`; the change of slope at lattice point
    /// `l_i` is `m_i exp(-l_i)`. Interpolating the exact curve linearly between consecutive
    /// points therefore fixes every mass: `m_i = y_i (s_i - s_{i-1})`, with `s_i` the slope of
    /// the chord right of `y_i`. Left of the lowest point the chord runs to `(0, 1)`, which puts
    /// all lower mass at the lowest point; right of the highest point the curve is flat at
    /// `delta(l_upper)`, which is the mass at infinity.
    ///
    /// The curve is passed as its `excess(epsilon) = delta(epsilon) - (1 - exp(epsilon))+`.
    /// The subtracted part is the curve of a unit mass at loss 0, so it is added back exactly
    /// as that mass, while second differences are taken of the excess only: below zero the
    /// excess is small, whereas delta itself is close to `1 - y` there, and differencing it would
    /// turn its rounding into spurious mass at every point.
    fn connect_the_dots(
        interval: f64,
        lower: i64,
        upper: i64,
        excess: impl Fn(f64) -> f64,
    ) -> Self {
        debug_assert!(lower < 0 && upper > 0);
        let count = (upper - lower + 1) as usize;
        let excesses: Vec<f64> = (lower..=upper)
            .map(|index| excess(index as f64 * interval))
            .collect();
        // m_i = y_i (s_i - s_{i-1}) with the chord slopes written relative to y_i, so that no
        // exp(loss) is formed (it overflows past 709 nats): y_i s_i = (c_{i+1} - c_i) / (e^h - 1)
        // (zero right of the top), y_i s_{i-1} = e^h (c_i - c_{i-1}) / (e^h - 1) (c_0 for the
        // chord from (0, 0)).
        let growth = interval.exp();
        let width = interval.exp_m1();
        let zero = (-lower) as usize;
        let masses = (0..count)
            .map(|i| {
                let right = if i + 1 < count {
                    (excesses[i + 1] - excesses[i]) / width
                } else {
                    0.0
                };
                let left = if i > 0 {
                    growth * (excesses[i] - excesses[i - 1]) / width
                } else {
                    excesses[0]
                };
                let unit = if i == zero { 1.0 } else { 0.0 };
                // Convexity makes every mass non-negative; rounding can leave a negative ulp,
                // which is no mass.
                (unit + right - left).max(0.0)
            })
            .collect();
        Self {
            interval,
            offset: lower,
            masses,
            infinity: excesses[count - 1].max(0.0),
        }
    }

    /// All mass at an infinite loss: no guarantee.
    fn infinite(interval: f64) -> Self {
        Self {
            interval,
            offset: 0,
            masses: vec![0.0],
            infinity: 1.0,
        }
    }

    /// Delta of this distribution at `epsilon`.
    pub fn delta_for_epsilon(&self, epsilon: f64) -> f64 {
        let mut delta = self.infinity;
        for (k, mass) in self.masses.iter().enumerate() {
            let loss = (self.offset + k as i64) as f64 * self.interval;
            if loss > epsilon {
                delta += mass * -(epsilon - loss).exp_m1();
            }
        }
        delta.min(1.0)
    }

    /// The smallest epsilon >= 0 whose delta is at most `delta`, or infinity if none is.
    ///
    /// Just above lattice point `l_k` the curve is `A - exp(epsilon - l_k) W_k`, with `A` the mass
    /// above `l_k` and `W_k = sum_{l_j > l_k} m_j exp(l_k - l_j)`, so scanning down from the top
    /// and solving the last interval exactly gives the answer without a search. `W_k` is kept
    /// relative to the current point (`W_{k-1} = e^-h (W_k + m_k)`) so that losses of hundreds of
    /// nats do not underflow `exp(-l)`.
    pub fn epsilon_for_delta(&self, delta: f64) -> f64 {
        if self.infinity > delta {
            return f64::INFINITY;
        }
        let step_down = (-self.interval).exp();
        let mut above = self.infinity;
        // W relative to lattice point `reference`, scanning down from the top
        let mut weighted = 0.0;
        let mut reference = self.offset + self.masses.len() as i64 - 1;
        while reference > 0 && reference >= self.offset {
            let loss = reference as f64 * self.interval;
            // delta at epsilon = loss, with the masses strictly above it
            if above - weighted > delta {
                return loss + ((above - delta) / weighted).ln();
            }
            let mass = self.masses[(reference - self.offset) as usize];
            above += mass;
            weighted = step_down * (weighted + mass);
            reference -= 1;
        }
        // Every positive loss is counted and `reference` is at or below zero:
        // delta(0) = above - exp(-l_reference) W.
        let loss = reference as f64 * self.interval;
        if above - (-loss).exp() * weighted > delta {
            (loss + ((above - delta) / weighted).ln()).max(0.0)
        } else {
            0.0
        }
    }

    /// The distribution of the sum of `times` independent copies of this loss.
    ///
    /// The composed support is cut to `[low, high]`, outside which a Chernoff bound leaves at
    /// most `TAIL_MASS` on each side; a transform of that length makes mass outside wrap into
    /// the window, and that mass (at most twice `TAIL_MASS`) is charged at infinity, which only
    /// raises delta.
    pub fn self_compose(&self, times: u64) -> Self {
        if times == 1 {
            return self.clone();
        }
        let (low, high) = self.composed_window(times);
        let window = (high - low + 1) as usize;
        let size = window.next_power_of_two();
        let mut planner = FftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);

        // Index k of the input is loss offset + k; the sum of `times` indices taken modulo
        // `size` is what a cyclic transform computes.
        let mut spectrum = vec![Complex64::new(0.0, 0.0); size];
        for (k, mass) in self.masses.iter().enumerate() {
            spectrum[k % size].re += mass;
        }
        forward.process(&mut spectrum);
        let power = times as f64;
        for value in &mut spectrum {
            let (radius, angle) = value.to_polar();
            *value = Complex64::from_polar(radius.powf(power), angle * power);
        }
        inverse.process(&mut spectrum);

        // Loss offset * times + j lands at position j mod size; read back [low, high].
        let base = self.offset * times as i64;
        let scale = 1.0 / size as f64;
        let masses: Vec<f64> = (low..=high)
            .map(|index| {
                let position = (index - base).rem_euclid(size as i64) as usize;
                (spectrum[position].re * scale).max(0.0)
            })
            .collect();
        let finite = 1.0 - self.infinity;
        let infinity = -(power * (-self.infinity).ln_1p()).exp_m1();
        let mut composed = Self {
            interval: self.interval,
            offset: low,
            masses,
            infinity: (infinity + 2.0 * TAIL_MASS).min(1.0),
        };
        composed.keep_total_at_most(finite.powf(power));
        composed
    }

    /// The distribution of the sum of this loss and an independent `other` on the same lattice.
    pub fn compose(&self, other: &Self) -> Self {
        debug_assert_eq!(self.interval, other.interval);
        let length = self.masses.len() + other.masses.len() - 1;
        let size = length.next_power_of_two();
        let mut planner = FftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);
        let transform = |masses: &[f64], fft: &Arc<dyn rustfft::Fft<f64>>| {
            let mut buffer = vec![Complex64::new(0.0, 0.0); size];
            for (slot, mass) in buffer.iter_mut().zip(masses) {
                slot.re = *mass;
            }
            fft.process(&mut buffer);
            buffer
        };
        let mut product = transform(&self.masses, &forward);
        let other_spectrum = transform(&other.masses, &forward);
        for (value, factor) in product.iter_mut().zip(&other_spectrum) {
            *value *= factor;
        }
        inverse.process(&mut product);
        let scale = 1.0 / size as f64;
        let masses = product[..length]
            .iter()
            .map(|value| (value.re * scale).max(0.0))
            .collect();
        let finite = (1.0 - self.infinity) * (1.0 - other.infinity);
        let mut composed = Self {
            interval: self.interval,
            offset: self.offset + other.offset,
            masses,
            infinity: 1.0 - finite,
        };
        composed.keep_total_at_most(finite);
        composed.truncate_tails();
        composed
    }

    /// Rounding in the transforms can leave the finite masses summing to a hair more than they
    /// should; scale them down to `total` (moving nothing to lower losses).
    fn keep_total_at_most(&mut self, total: f64) {
        let sum: f64 = self.masses.iter().sum();
        if sum > total && sum > 0.0 {
            let factor = total / sum;
            for mass in &mut self.masses {
                *mass *= factor;
            }
        }
    }

    /// Moves the lowest masses (together under `TAIL_MASS`) up to the lowest kept point and the
    /// highest (together under `TAIL_MASS`) to infinity: both only raise delta.
    fn truncate_tails(&mut self) {
        let mut low_mass = 0.0;
        let mut first = 0;
        while first + 1 < self.masses.len() && low_mass + self.masses[first] < TAIL_MASS {
            low_mass += self.masses[first];
            first += 1;
        }
        let mut high_mass = 0.0;
        let mut last = self.masses.len() - 1;
        while last > first && high_mass + self.masses[last] < TAIL_MASS {
            high_mass += self.masses[last];
            last -= 1;
        }
        self.masses.truncate(last + 1);
        self.masses.drain(..first);
        self.masses[0] += low_mass;
        self.offset += first as i64;
        self.infinity = (self.infinity + high_mass).min(1.0);
    }

    /// Lattice indices `[low, high]` outside which the sum of `times` copies has at most
    /// `TAIL_MASS` on each side, by the Chernoff bound
    /// `P(S >= u) <= exp(times * K(t) - t u)` with `K` the log moment generating function of
    /// one (sub-probability) copy, minimised over a ladder of `t`; symmetrically below.
    fn composed_window(&self, times: u64) -> (i64, i64) {
        let length = self.masses.len() as i64;
        let full_low = self.offset * times as i64;
        let full_high = (self.offset + length - 1) * times as i64;
        let log_masses: Vec<(f64, f64)> = self
            .masses
            .iter()
            .enumerate()
            .filter(|(_, mass)| **mass > 0.0)
            .map(|(k, mass)| ((self.offset + k as i64) as f64, mass.ln()))
            .collect();
        let log_mgf = |t: f64| {
            let peak = log_masses
                .iter()
                .map(|(index, log_mass)| log_mass + t * index)
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = log_masses
                .iter()
                .map(|(index, log_mass)| (log_mass + t * index - peak).exp())
                .sum();
            peak + sum.ln()
        };
        let log_tail = TAIL_MASS.ln();
        let count = times as f64;
        let mut high = full_high as f64;
        let mut low = full_low as f64;
        // t per nat of loss from 1e-2 to about 1e3, converted to per lattice step
        let mut t_per_nat = 1e-2;
        while t_per_nat < 2e3 {
            let t = t_per_nat * self.interval;
            high = high.min((count * log_mgf(t) - log_tail) / t);
            low = low.max((log_tail - count * log_mgf(-t)) / t);
            t_per_nat *= 1.5;
        }
        let high = (high.ceil() as i64).clamp(full_low, full_high);
        let low = (low.floor() as i64).clamp(full_low, high);
        (low, high)
    }
}

/// The privacy-loss distributions of a mechanism in both directions of add/remove neighbours.
#[derive(Debug, Clone)]
pub struct PrivacyLossDistribution {
    /// loss when the record is removed: output of the dataset with it, against without it
    remove: LossPmf,
    /// loss when the record is added: output of the dataset without it, against with it
    add: LossPmf,
}

impl PrivacyLossDistribution {
    /// One step of the Gaussian mechanism of sensitivity 1 and standard deviation
    /// `noise_multiplier`, applied to a Poisson sample that holds each record with probability
    /// `sampling_rate`, discretised on a lattice of spacing `interval`.
    ///
    /// With the record the output is `P = (1 - q) N(0, s^2) + q N(1, s^2)`; without it,
    /// `Q = N(0, s^2)` (one coordinate suffices: the worst case puts the whole sensitivity on
    /// one axis). `P / Q = (1 - q) + q exp((2x - 1) / (2 s^2))` grows with `x`, so each hockey-
    /// stick divergence `H_y(A || B) = sup_S A(S) - y B(S)` is attained on a half line and has
    /// the closed forms below (the same half-line argument as Zhu, Dong and Wang 2022, "Optimal
    /// accounting of differential privacy via characteristic function"; derived in the comments,
    /// and tested at q = 1 against the analytic Gaussian curve of Balle and Wang 2018).
    pub fn poisson_subsampled_gaussian(
        sampling_rate: f64,
        noise_multiplier: f64,
        interval: f64,
    ) -> Result<Self, PrivacyError> {
        if !(sampling_rate > 0.0 && sampling_rate <= 1.0) {
            return Err(PrivacyError::Invalid(format!(
                "sampling rate {sampling_rate} is not in (0, 1]"
            )));
        }
        if !(noise_multiplier > 0.0 && noise_multiplier.is_finite()) {
            return Err(PrivacyError::Invalid(format!(
                "noise multiplier {noise_multiplier} is not positive"
            )));
        }
        if !(interval > 0.0 && interval < 1.0) {
            return Err(PrivacyError::Invalid(format!(
                "discretisation interval {interval} is not in (0, 1)"
            )));
        }
        let q = sampling_rate;
        let s = noise_multiplier;
        let variance = s * s;
        // ln(P/Q) at x, written to stay exact for small q
        let log_ratio = |x: f64| {
            let exponent = (2.0 * x - 1.0) / (2.0 * variance);
            if q == 1.0 {
                exponent
            } else {
                // ln((1 - q) + q e^z) = ln(1-q) + ln(1 + q/(1-q) e^z)
                (-q).ln_1p() + (q / (1.0 - q) * exponent.exp()).ln_1p()
            }
        };
        // the x where ln(P/Q) = target, for a target above ln(1 - q)
        let threshold = |target: f64| {
            // (e^t - (1 - q)) / q = (expm1(t) + q) / q
            0.5 + variance * ((target.exp_m1() + q) / q).ln()
        };
        let log_one_minus_q = (-q).ln_1p();

        // Remove, epsilon >= 0: H_{e^eps}(P || Q) = P(X > x*) - e^eps Q(X > x*) with
        // ln(P/Q)(x*) = eps.
        let remove_delta = |epsilon: f64| {
            let x = threshold(epsilon);
            let tail_q = normal_upper_tail(x / s);
            let tail_p1 = normal_upper_tail((x - 1.0) / s);
            // (1 - q - e^eps) Q-tail + q N(1)-tail
            ((-(epsilon.exp_m1() + q)) * tail_q + q * tail_p1).clamp(0.0, 1.0)
        };
        // Add, epsilon >= 0: H_{e^eps}(Q || P) = Q(X < x') - e^eps P(X < x') with
        // ln(P/Q)(x') = -eps; zero once eps >= -ln(1 - q), the largest loss in this direction.
        let add_delta = |epsilon: f64| {
            if q < 1.0 && -epsilon <= log_one_minus_q {
                return 0.0;
            }
            let x = threshold(-epsilon);
            let head_q = normal_upper_tail(-x / s);
            let head_p1 = normal_upper_tail((1.0 - x) / s);
            // (1 - e^eps (1 - q)) Q-head - e^eps q N(1)-head
            let weight = -(epsilon + log_one_minus_q).exp_m1();
            (weight * head_q - epsilon.exp() * q * head_p1).clamp(0.0, 1.0)
        };
        // Below zero, (a - y b)+ = a - y b + (y b - a)+ gives H_y(A || B) = 1 - y + y H_{1/y}(B || A):
        // each direction's excess over 1 - y is the other direction's curve at -eps, scaled.
        let remove_excess = |epsilon: f64| {
            if epsilon >= 0.0 {
                remove_delta(epsilon)
            } else {
                epsilon.exp() * add_delta(-epsilon)
            }
        };
        let add_excess = |epsilon: f64| {
            if epsilon >= 0.0 {
                add_delta(epsilon)
            } else {
                epsilon.exp() * remove_delta(-epsilon)
            }
        };

        // Lattice ranges from the TAIL_MASS quantiles of the sampling distributions: below the
        // lowest point the mass is lumped onto it, above the highest it is counted at infinity.
        // Each range holds loss 0 with a point on either side.
        let z = normal_upper_quantile(TAIL_MASS);
        let lower = |loss: f64| ((loss / interval).floor() as i64).min(-1);
        let upper = |loss: f64| ((loss / interval).ceil() as i64).max(1);
        // The closed forms use exp(epsilon); past MAX_LOSS nats they overflow. Such a step
        // certifies nothing useful, so it is reported as an infinite loss (a true upper bound)
        // rather than computed wrongly.
        let top_loss = log_ratio(1.0 + z * s).max(-log_ratio(z * s));
        if top_loss.is_nan() || top_loss >= MAX_LOSS {
            return Ok(Self {
                remove: LossPmf::infinite(interval),
                add: LossPmf::infinite(interval),
            });
        }
        let remove = LossPmf::connect_the_dots(
            interval,
            lower(log_ratio(-z * s)),
            upper(log_ratio(1.0 + z * s)),
            remove_excess,
        );
        // the add direction's loss is -ln(P/Q)(x) with x ~ Q
        let add = LossPmf::connect_the_dots(
            interval,
            lower(-log_ratio(z * s)),
            upper(-log_ratio(-z * s)),
            add_excess,
        );
        Ok(Self { remove, add })
    }

    /// The composition of `times` independent runs of this mechanism.
    pub fn self_compose(&self, times: u64) -> Self {
        Self {
            remove: self.remove.self_compose(times),
            add: self.add.self_compose(times),
        }
    }

    /// The composition of this mechanism with an independent `other`.
    pub fn compose(&self, other: &Self) -> Self {
        Self {
            remove: self.remove.compose(&other.remove),
            add: self.add.compose(&other.add),
        }
    }

    /// The smallest epsilon at which both directions meet `delta`.
    pub fn epsilon_for_delta(&self, delta: f64) -> f64 {
        self.remove
            .epsilon_for_delta(delta)
            .max(self.add.epsilon_for_delta(delta))
    }

    /// The larger delta of the two directions at `epsilon`.
    pub fn delta_for_epsilon(&self, epsilon: f64) -> f64 {
        self.remove
            .delta_for_epsilon(epsilon)
            .max(self.add.delta_for_epsilon(epsilon))
    }
}

/// Epsilon at `delta` of `steps` steps of the Poisson-subsampled Gaussian, by PLD accounting on
/// the default lattice.
pub fn subsampled_gaussian_epsilon(
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    delta: f64,
) -> Result<f64, PrivacyError> {
    let step = PrivacyLossDistribution::poisson_subsampled_gaussian(
        sampling_rate,
        noise_multiplier,
        DEFAULT_INTERVAL,
    )?;
    Ok(step.self_compose(steps).epsilon_for_delta(delta))
}

/// `P(Z > z)` for a standard normal `Z`, accurate in relative terms far into the tail.
pub(crate) fn normal_upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// The `z` with `P(Z > z) = tail` for `tail` in (0, 0.5], by bisection on [`normal_upper_tail`].
pub(crate) fn normal_upper_quantile(tail: f64) -> f64 {
    let (mut low, mut high) = (0.0, 40.0);
    for _ in 0..200 {
        let middle = 0.5 * (low + high);
        if normal_upper_tail(middle) > tail {
            low = middle;
        } else {
            high = middle;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    use super::*;

    /// delta of the Gaussian mechanism (q = 1) in closed form: Balle and Wang 2018, "Improving
    /// the Gaussian mechanism for differential privacy", theorem 8.
    fn analytic_gaussian_delta(sigma: f64, epsilon: f64) -> f64 {
        let a = 1.0 / (2.0 * sigma) - epsilon * sigma;
        let b = -1.0 / (2.0 * sigma) - epsilon * sigma;
        (1.0 - normal_upper_tail(a)) - epsilon.exp() * (1.0 - normal_upper_tail(b))
    }

    #[test]
    fn the_discrete_curve_bounds_the_exact_gaussian_curve_from_above_and_closely() {
        let sigma = 2.0;
        let pld = PrivacyLossDistribution::poisson_subsampled_gaussian(1.0, sigma, 1e-3).unwrap();
        for epsilon in [0.0, 0.05, 0.1, 0.3, 0.5, 1.0, 1.5, 2.0] {
            let exact = analytic_gaussian_delta(sigma, epsilon);
            let discrete = pld.delta_for_epsilon(epsilon);
            assert!(
                discrete >= exact * (1.0 - 1e-9),
                "eps {epsilon}: {discrete} < {exact}"
            );
            assert!(
                discrete <= exact * 1.01 + 1e-12,
                "eps {epsilon}: {discrete} vs {exact}"
            );
        }
    }

    #[test]
    fn composing_gaussians_matches_one_gaussian_of_the_combined_noise() {
        // k Gaussian steps of noise s compose to one of noise s / sqrt(k) exactly.
        let sigma = 4.0;
        let steps = 16;
        let pld = PrivacyLossDistribution::poisson_subsampled_gaussian(1.0, sigma, 1e-4).unwrap();
        let composed = pld.self_compose(steps);
        let combined = sigma / (steps as f64).sqrt();
        for epsilon in [0.2, 0.5, 1.0, 2.0] {
            let exact = analytic_gaussian_delta(combined, epsilon);
            let discrete = composed.delta_for_epsilon(epsilon);
            assert!(discrete >= exact * (1.0 - 1e-6), "eps {epsilon}");
            assert!(
                discrete <= exact * 1.02 + 1e-12,
                "eps {epsilon}: {discrete} vs {exact}"
            );
        }
    }

    #[test]
    fn composition_in_pieces_equals_composition_at_once() {
        let step = PrivacyLossDistribution::poisson_subsampled_gaussian(0.05, 1.2, 1e-4).unwrap();
        let whole = step.self_compose(500).epsilon_for_delta(1e-5);
        let pieces = step
            .self_compose(200)
            .compose(&step.self_compose(300))
            .epsilon_for_delta(1e-5);
        assert!(
            (whole - pieces).abs() / whole < 1e-4,
            "whole {whole}, pieces {pieces}"
        );
    }

    #[test]
    fn epsilon_for_delta_inverts_delta_for_epsilon() {
        let pld = PrivacyLossDistribution::poisson_subsampled_gaussian(0.01, 1.0, 1e-4)
            .unwrap()
            .self_compose(1_000);
        for delta in [1e-3, 1e-5, 1e-7] {
            let epsilon = pld.epsilon_for_delta(delta);
            let back = pld.delta_for_epsilon(epsilon);
            assert!((back - delta).abs() / delta < 1e-6, "{delta}: {back}");
            assert!(pld.delta_for_epsilon(epsilon * 0.99) > delta);
        }
    }

    #[test]
    fn huge_losses_are_infinite_and_composed_losses_past_exp_underflow_stay_finite() {
        // A Gaussian with sensitivity over noise mu = 40 has single-step losses near 1,000
        // nats: beyond what is computed, so reported as no guarantee rather than a wrong one.
        let huge = PrivacyLossDistribution::poisson_subsampled_gaussian(1.0, 0.025, 1e-2).unwrap();
        assert_eq!(huge.epsilon_for_delta(1e-5), f64::INFINITY);
        // mu = 5 (losses up to ~60 nats) composed 64 times is one Gaussian of mu = 40, whose
        // epsilon near mu^2 / 2 + 4.26 mu = 970 lies past where exp(-loss) underflows.
        let step = PrivacyLossDistribution::poisson_subsampled_gaussian(1.0, 0.2, 1e-2).unwrap();
        let composed = step.self_compose(64);
        let epsilon = composed.epsilon_for_delta(1e-5);
        assert!(epsilon > 900.0 && epsilon < 1_050.0, "{epsilon}");
        let back = composed.delta_for_epsilon(epsilon);
        assert!((back - 1e-5).abs() < 1e-8, "{back}");
    }

    #[test]
    fn both_directions_are_proper_distributions() {
        for (q, s) in [(0.001, 0.6), (0.2, 3.0), (1.0, 1.0)] {
            let pld = PrivacyLossDistribution::poisson_subsampled_gaussian(q, s, 1e-4).unwrap();
            for pmf in [&pld.remove, &pld.add] {
                let total: f64 = pmf.masses.iter().sum::<f64>() + pmf.infinity;
                assert!((total - 1.0).abs() < 1e-9, "q {q}, s {s}: total {total}");
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(PrivacyLossDistribution::poisson_subsampled_gaussian(0.0, 1.0, 1e-4).is_err());
        assert!(PrivacyLossDistribution::poisson_subsampled_gaussian(0.1, 0.0, 1e-4).is_err());
        assert!(PrivacyLossDistribution::poisson_subsampled_gaussian(0.1, 1.0, 0.0).is_err());
    }
}
