//! Attack success rates, their confidence intervals, and risk against the holdout baseline.

use serde::Serialize;

/// z for a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Wilson score interval of a binomial proportion (Wilson 1927, "Probable inference, the law of
/// succession, and statistical inference", JASA 22(158)), at 95 %.
pub fn wilson_interval(successes: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// An attack's success on train targets against its success on holdout targets.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Risk {
    /// successes on train targets
    pub train_successes: u64,
    /// train targets
    pub train_targets: u64,
    /// successes on holdout targets
    pub holdout_successes: u64,
    /// holdout targets
    pub holdout_targets: u64,
    /// point estimate of the risk
    pub value: f64,
    /// lower end of its 95 % interval
    pub low: f64,
    /// upper end of its 95 % interval; the gate compares this one
    pub high: f64,
}

/// Risk = (p_train - p_holdout) / (1 - p_holdout): the share of people the attack finds because
/// they were in training, beyond what it finds in people it never saw (the form Anonymeter uses,
/// Giomi et al. 2023, "A Unified Framework for Quantifying Privacy Risk in Synthetic Data",
/// section 3). The interval maps the Wilson interval of p_train through the same formula.
pub fn risk(
    train_successes: u64,
    train_targets: u64,
    holdout_successes: u64,
    holdout_targets: u64,
) -> Risk {
    let rate = |s: u64, n: u64| if n == 0 { 0.0 } else { s as f64 / n as f64 };
    let p_train = rate(train_successes, train_targets);
    let p_holdout = rate(holdout_successes, holdout_targets);
    let (train_low, train_high) = wilson_interval(train_successes, train_targets);
    let excess = |p: f64| excess_over(p, p_holdout);
    Risk {
        train_successes,
        train_targets,
        holdout_successes,
        holdout_targets,
        value: excess(p_train),
        low: excess(train_low),
        high: excess(train_high),
    }
}

/// (p - p_holdout) / (1 - p_holdout), within [-1, 1]; 0 when the holdout rate is already 1.
fn excess_over(p: f64, p_holdout: f64) -> f64 {
    if p_holdout >= 1.0 {
        0.0
    } else {
        ((p - p_holdout) / (1.0 - p_holdout)).clamp(-1.0, 1.0)
    }
}

/// Risk of an attack whose `trials` each succeed on at most one target, of either group, where
/// the train group is a random share `pi` of all targets (the singling-out attack): p_train =
/// train hits / (trials x pi), p_holdout = holdout hits / (trials x (1 - pi)), equal in
/// expectation for an attack blind to who trained; risk as in [`risk`], its interval the Wilson
/// interval of train hits / trials scaled the same way.
pub fn predicate_risk(train_hits: u64, holdout_hits: u64, trials: u64, pi: f64) -> Risk {
    let scaled = |k: u64, share: f64| {
        if trials == 0 || share <= 0.0 {
            0.0
        } else {
            k as f64 / (trials as f64 * share)
        }
    };
    let p_train = scaled(train_hits, pi);
    let p_holdout = scaled(holdout_hits, 1.0 - pi).min(1.0);
    let (low, high) = wilson_interval(train_hits, trials);
    let excess = |p: f64| excess_over(p, p_holdout);
    Risk {
        train_successes: train_hits,
        train_targets: trials,
        holdout_successes: holdout_hits,
        holdout_targets: trials,
        value: excess(p_train),
        low: excess(low / pi),
        high: excess(high / pi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe 1998, "Two-sided confidence intervals for the single proportion", table I:
        // 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775.
        let (low, high) = wilson_interval(81, 263);
        assert!(
            (low - 0.2553).abs() < 5e-4 && (high - 0.3662).abs() < 5e-4,
            "{low} {high}"
        );
        let (low, high) = wilson_interval(0, 10);
        assert!(low == 0.0 && (high - 0.2775).abs() < 5e-4, "{high}");
    }

    #[test]
    fn risk_is_zero_when_train_and_holdout_succeed_alike() {
        let r = risk(50, 1000, 10, 200);
        assert!(r.value.abs() < 1e-12);
        assert!(r.high > 0.0 && r.low < 0.0);
        let copied = risk(1000, 1000, 0, 200);
        assert!((copied.value - 1.0).abs() < 1e-12);
    }

    #[test]
    fn predicate_risk_is_zero_at_the_train_share_and_high_when_only_train_is_hit() {
        // 1,000 predicates over a table 80 % train: 240 train and 60 holdout hits is chance
        let chance = predicate_risk(240, 60, 1000, 0.8);
        assert!(chance.value.abs() < 1e-12 && chance.low < 0.0 && chance.high > 0.0);
        // p_train = 700 / 800, no holdout hits
        let copied = predicate_risk(700, 0, 1000, 0.8);
        assert!((copied.value - 0.875).abs() < 1e-12);
        let (low, _) = wilson_interval(700, 1000);
        assert!((copied.low - low / 0.8).abs() < 1e-12);
        assert_eq!(predicate_risk(0, 0, 0, 0.8).high, 1.0);
    }
}
