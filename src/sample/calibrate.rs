//! Calibration of the generator's output to the DP metadata: fitted once, on a pool of the
//! generator's own raw output, and applied to every batch by the decoders.
//!
//! - A numeric column encoded through its DP distribution function gets the generator's own
//!   quantiles of its value slot: decoding maps a value through them onto a uniform spread, so
//!   the decoded column follows the DP distribution function while each row keeps its rank.
//! - A categorical column with DP shares gets one factor per non-null slot, fitted so that the
//!   mean over the pool of each slot's scaled probability is its DP share.
//! - A column with a DP null share gets one shift of its rows' null logits, fitted so that the
//!   null chances average to that share: rows the generator finds likelier to be null stay
//!   likelier.
//!
//! All of it reads only generator output and DP estimates already charged to the ledger: it is
//! post-processing and costs no budget.

use crate::schema::{
    ColumnAdjustment, ColumnEncoder, QuantileTable, RawBatch, TableCodec, Transform, sigmoid,
};

/// Points in each numeric column's table of the generator's quantiles.
const QUANTILE_POINTS: usize = 1025;

/// Most rounds of the fit of category factors (each round moves every share toward its
/// target); the fit stops sooner once no share is more than [`SHARE_TOLERANCE`] off.
const SHARE_ROUNDS: usize = 60;
/// Largest difference between a fitted share and its target at which the fit stops.
const SHARE_TOLERANCE: f64 = 1e-4;

/// How decoding adjusts each learned column.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    adjustments: Vec<ColumnAdjustment>,
}

impl Calibration {
    /// Fits the calibration of `codec`'s columns to `pool`, rows of raw generator output.
    /// With `marginals` false only the null shares are calibrated (they always are when DP
    /// preprocessing measured them); the one-way distributions are left as generated.
    pub fn fit(codec: &TableCodec, pool: &RawBatch<'_>, marginals: bool) -> Self {
        let slot = |offset: usize| pool.slot(offset).iter().copied();
        let mut adjustments = Vec::new();
        let mut offset = 0;
        for encoder in codec.encoders() {
            let mut adjustment = ColumnAdjustment::default();
            match encoder {
                ColumnEncoder::Numeric(e) => {
                    if marginals && matches!(e.transform, Transform::Cdf { .. }) {
                        adjustment.quantiles =
                            Some(QuantileTable::new(quantile_table(slot(offset).collect())));
                    }
                    if let (true, Some(target)) = (e.nulls, e.null_share) {
                        // slots 1 and 2: logits of "present" and "null"
                        let logits: Vec<f64> = slot(offset + 2)
                            .zip(slot(offset + 1))
                            .map(|(null, present)| f64::from(null - present))
                            .collect();
                        adjustment.null_shift = null_shift(&logits, target);
                    }
                }
                ColumnEncoder::Categorical(e) => {
                    let null_slot = e.null_slot();
                    let slots = e.non_null_slots();
                    if let (true, Some(shares)) = (marginals, &e.shares) {
                        let probabilities = softmax_rows(pool, offset, &slots);
                        let factors = fit_factors(&probabilities, slots.len(), shares);
                        adjustment.log_factors =
                            Some(factors.iter().map(|&a| a.ln() as f32).collect());
                    }
                    if let (Some(null), Some(target)) = (null_slot, e.null_share) {
                        let logits: Vec<f64> = (0..pool.rows())
                            .map(|row| {
                                let logits: Vec<f32> =
                                    (0..e.width()).map(|s| pool.slot(offset + s)[row]).collect();
                                null_logit(&logits, null, &slots)
                            })
                            .collect();
                        adjustment.null_shift = null_shift(&logits, target);
                    }
                }
            }
            adjustments.push(adjustment);
            offset += encoder.width();
        }
        Self { adjustments }
    }

    /// Each learned column's adjustment, in the codec's order.
    pub fn adjustments(&self) -> &[ColumnAdjustment] {
        &self.adjustments
    }
}

/// [`QUANTILE_POINTS`] equally spaced quantiles of `values`.
fn quantile_table(mut values: Vec<f32>) -> Vec<f32> {
    values.sort_by(f32::total_cmp);
    let last = values.len().saturating_sub(1);
    (0..QUANTILE_POINTS)
        .map(|k| values[k * last / (QUANTILE_POINTS - 1)])
        .collect()
}

/// The logit of a categorical row's null probability against its other slots:
/// `l_null - ln sum_s e^(l_s)`.
fn null_logit(logits: &[f32], null: usize, slots: &[usize]) -> f64 {
    let top = slots
        .iter()
        .map(|&s| f64::from(logits[s]))
        .fold(f64::NEG_INFINITY, f64::max);
    let mass: f64 = slots
        .iter()
        .map(|&s| (f64::from(logits[s]) - top).exp())
        .sum();
    f64::from(logits[null]) - top - mass.ln()
}

/// Per row, the softmax over `slots` of the logits at `offset`: (rows, slots) row-major.
fn softmax_rows(pool: &RawBatch<'_>, offset: usize, slots: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(pool.rows() * slots.len());
    for row in 0..pool.rows() {
        let logit = |s: usize| f64::from(pool.slot(offset + s)[row]);
        let top = slots
            .iter()
            .map(|&s| logit(s))
            .fold(f64::NEG_INFINITY, f64::max);
        let start = out.len();
        out.extend(slots.iter().map(|&s| (logit(s) - top).exp()));
        let total: f64 = out[start..].iter().sum();
        if total > 0.0 && total.is_finite() {
            out[start..].iter_mut().for_each(|p| *p /= total);
        }
    }
    out
}

/// The shift `b` of every logit that makes `mean sigmoid(logit + b)` equal `target` (clamped to
/// [0, 1]), by bisection: the mean increases with `b`.
fn null_shift(logits: &[f64], target: f64) -> f64 {
    if logits.is_empty() {
        return 0.0;
    }
    let target = target.clamp(0.0, 1.0);
    let mean = |b: f64| logits.iter().map(|l| sigmoid(l + b)).sum::<f64>() / logits.len() as f64;
    // a bracket wide enough for any logit the generator's heads produce, halved 44 times: to
    // within 5e-12
    let (mut low, mut high) = (-40.0, 40.0);
    for _ in 0..44 {
        let middle = 0.5 * (low + high);
        if mean(middle) < target {
            low = middle;
        } else {
            high = middle;
        }
    }
    0.5 * (low + high)
}

/// Factors `a` such that the mean over the rows of `probabilities` ((rows, k) row-major) of
/// `p_j a_j / sum_i p_i a_i` is `targets[j]` for every slot `j`: iterative proportional fitting
/// of one margin (Deming and Stephan 1940, "On a least squares adjustment of a sampled frequency
/// table when the expected marginal totals are known"), each round multiplying every factor by
/// target / current mean.
fn fit_factors(probabilities: &[f64], k: usize, targets: &[f64]) -> Vec<f64> {
    let rows = probabilities.len() / k.max(1);
    let mut factors: Vec<f64> = targets
        .iter()
        .map(|&t| if t > 0.0 { 1.0 } else { 0.0 })
        .collect();
    for _ in 0..SHARE_ROUNDS {
        let mut means = vec![0.0; k];
        for row in probabilities.chunks_exact(k) {
            let total: f64 = row.iter().zip(&factors).map(|(p, a)| p * a).sum();
            if total > 0.0 {
                for ((mean, p), a) in means.iter_mut().zip(row).zip(&factors) {
                    *mean += p * a / total;
                }
            }
        }
        let mut worst: f64 = 0.0;
        for ((factor, mean), &target) in factors.iter_mut().zip(&means).zip(targets) {
            let mean = mean / rows.max(1) as f64;
            if *factor > 0.0 && mean > 0.0 {
                worst = worst.max((mean - target.max(0.0)).abs());
                *factor *= target.max(0.0) / mean;
            }
        }
        if worst < SHARE_TOLERANCE {
            break;
        }
        let largest = factors.iter().copied().fold(0.0, f64::max);
        if largest > 0.0 {
            factors.iter_mut().for_each(|a| *a /= largest);
        }
    }
    factors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_bring_every_share_to_its_target() {
        // rows over slots (a, b, other): the generator prefers a; the targets prefer b
        let rows = 3000;
        let probabilities: Vec<f64> = (0..rows)
            .flat_map(|r| {
                let lean = (r % 10) as f64 / 10.0;
                let (a, b, other) = (0.7 - 0.3 * lean, 0.2 + 0.3 * lean, 0.05);
                let total = a + b + other;
                [a / total, b / total, other / total]
            })
            .collect();
        let targets = [0.3, 0.6, 0.1];
        let factors = fit_factors(&probabilities, 3, &targets);
        let mut means = [0.0; 3];
        for row in probabilities.chunks_exact(3) {
            let total: f64 = row.iter().zip(&factors).map(|(p, a)| p * a).sum();
            for ((mean, p), a) in means.iter_mut().zip(row).zip(&factors) {
                *mean += p * a / total / rows as f64;
            }
        }
        for (mean, target) in means.iter().zip(targets) {
            assert!(
                (mean - target).abs() < 1e-3,
                "share {mean}, target {target}"
            );
        }
    }

    #[test]
    fn a_zero_share_removes_its_slot() {
        let factors = fit_factors(&[0.5, 0.5, 0.0, 1.0], 2, &[1.0, 0.0]);
        assert_eq!(factors[1], 0.0);
        assert!(factors[0] > 0.0);
    }

    #[test]
    fn the_null_shift_brings_the_mean_chance_to_its_target() {
        let logits: Vec<f64> = (0..1000).map(|i| -3.0 + 0.004 * i as f64).collect();
        for target in [0.0, 0.01, 0.2, 0.9] {
            let shift = null_shift(&logits, target);
            let mean = logits.iter().map(|l| sigmoid(l + shift)).sum::<f64>() / 1000.0;
            assert!((mean - target).abs() < 1e-6, "{mean} vs {target}");
        }
    }

    #[test]
    fn the_null_logit_is_the_log_odds_of_the_null_slot() {
        // slots a, b, null, other with probabilities 0.5, 0.2, 0.2, 0.1
        let logits = [0.5f32.ln(), 0.2f32.ln(), 0.2f32.ln(), 0.1f32.ln()];
        let logit = null_logit(&logits, 2, &[0, 1, 3]);
        assert!((logit - (0.2f64 / 0.8).ln()).abs() < 1e-6, "{logit}");
    }
}
