//! Marginal fidelity of one column: the definitions SDMetrics uses, so figures compare.
//!
//! - numeric columns: the two-sample Kolmogorov-Smirnov statistic, the largest gap between the
//!   empirical distribution functions (SDMetrics' KSComplement reports 1 - KS);
//! - categorical columns: the total variation distance between the category frequencies, half
//!   the sum of absolute differences (SDMetrics' TVComplement reports 1 - TV).
//!
//! Nulls are left out of the numeric statistic and count as one category in the categorical one.

use std::collections::HashMap;
use std::hash::Hash;

/// The two-sample Kolmogorov-Smirnov statistic of `a` and `b` (NaN-free values; sorted in
/// place). Zero when either sample is empty.
pub fn ks_statistic(a: &mut [f64], b: &mut [f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut largest) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        // step past every copy of the smaller value in both samples, then compare
        let value = a[i].min(b[j]);
        while i < a.len() && a[i] <= value {
            i += 1;
        }
        while j < b.len() && b[j] <= value {
            j += 1;
        }
        largest = largest.max((i as f64 / n - j as f64 / m).abs());
    }
    largest
}

/// The total variation distance between the frequencies of the values in `a` and in `b`.
pub fn total_variation<T: Eq + Hash>(
    a: impl IntoIterator<Item = T>,
    b: impl IntoIterator<Item = T>,
) -> f64 {
    let mut counts: HashMap<T, (f64, f64)> = HashMap::new();
    let (mut n, mut m) = (0.0, 0.0);
    for value in a {
        counts.entry(value).or_default().0 += 1.0;
        n += 1.0;
    }
    for value in b {
        counts.entry(value).or_default().1 += 1.0;
        m += 1.0;
    }
    if n == 0.0 || m == 0.0 {
        return if n == m { 0.0 } else { 1.0 };
    }
    0.5 * counts
        .values()
        .map(|(x, y)| (x / n - y / m).abs())
        .sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_of_worked_examples() {
        // identical samples
        assert_eq!(
            ks_statistic(&mut [1.0, 2.0, 3.0], &mut [3.0, 2.0, 1.0]),
            0.0
        );
        // disjoint samples
        assert_eq!(ks_statistic(&mut [1.0, 2.0], &mut [5.0, 6.0, 7.0]), 1.0);
        // F_a - F_b after 1: 1/2 - 0; after 2: 1 - 1/4; after 3: 1 - 2/4 ... largest 3/4
        assert_eq!(
            ks_statistic(&mut [1.0, 2.0], &mut [2.5, 3.0, 4.0, 2.0]),
            0.75
        );
        // ties across samples move together: {0, 0, 1} vs {0, 1, 1}: 2/3 - 1/3
        let ks = ks_statistic(&mut [0.0, 0.0, 1.0], &mut [0.0, 1.0, 1.0]);
        assert!((ks - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn tv_of_worked_examples() {
        assert_eq!(total_variation(["a", "b"], ["b", "a"]), 0.0);
        assert_eq!(total_variation(["a", "a"], ["b"]), 1.0);
        // {a: 3/4, b: 1/4} vs {a: 1/4, b: 1/2, c: 1/4}: (1/2 + 1/4 + 1/4) / 2
        let tv = total_variation(["a", "a", "a", "b"], ["a", "b", "b", "c"]);
        assert!((tv - 0.5).abs() < 1e-12);
        // nulls are a category of their own
        let tv = total_variation([None, Some("a")], [Some("a"), Some("a")]);
        assert!((tv - 0.5).abs() < 1e-12);
    }
}
