//! How faithful a synthetic table is to the real one: the scores of SDMetrics' quality report,
//! by its definitions, so figures compare with other tools.
//!
//! - column shapes: for a numeric column 1 - the two-sample Kolmogorov-Smirnov statistic, the
//!   largest gap between the empirical distribution functions (SDMetrics' KSComplement); for a
//!   categorical one 1 - the total variation distance between the category frequencies, half
//!   the sum of absolute differences (TVComplement);
//! - pair trends: for two numeric columns 1 - |corr_real - corr_synthetic| / 2 with Pearson's
//!   correlation (CorrelationSimilarity); for any other pair 1 - the total variation distance
//!   of the two-way contingency tables, numeric columns cut into [`PAIR_BINS`] equal-width bins
//!   over the real range with open outer bins (ContingencySimilarity as the quality report
//!   calls it).
//!
//! Nulls are left out of the numeric statistics (KS, correlation) and count as a category of
//! their own everywhere else. The scores read real rows: they are internal, like every check
//! value. They run in Rust over the in-memory Arrow columns rather than in SQL: each needs
//! sorted values, real-range bin edges or joint counts of codes, which SQL would compute with
//! one query per column pair.

use std::collections::HashMap;
use std::hash::Hash;

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use serde::Serialize;

use super::ValidateError;
use super::distance::{as_f64, as_strings};

/// Equal-width bins of a numeric column in a contingency table (SDMetrics' default).
pub const PAIR_BINS: usize = 10;

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

/// Pearson's correlation of the pairs where both values are present; `None` with fewer than
/// two such pairs or when either side is constant over them.
pub fn pearson(x: &[Option<f64>], y: &[Option<f64>]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .collect();
    if pairs.len() < 2 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mean_x, mean_y) = pairs
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (a, b)| (sx + a / n, sy + b / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in &pairs {
        let (dx, dy) = (a - mean_x, b - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// The bin of `value` among `bins` equal-width bins over `[low, high]`, the outer bins open
/// (values below `low` fall in the first, above `high` in the last); `bins` stands for null.
fn bin_of(value: Option<f64>, low: f64, high: f64, bins: usize) -> u32 {
    match value {
        None => bins as u32,
        Some(_) if high <= low => 0,
        Some(v) => (((v - low) / (high - low) * bins as f64).floor() as i64)
            .clamp(0, bins as i64 - 1) as u32,
    }
}

/// One column of the real and the synthetic table, as the scores read it.
enum Pair {
    /// values, nulls as `None`
    Numeric(Vec<Option<f64>>, Vec<Option<f64>>),
    /// category codes shared by both tables, null one code of its own
    Categorical(Vec<u32>, Vec<u32>),
}

impl Pair {
    fn read(
        real: &RecordBatch,
        synthetic: &RecordBatch,
        name: &str,
        numeric: bool,
    ) -> Result<Self, ValidateError> {
        let column = |batch: &RecordBatch| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| ValidateError::BadShape {
                    check: "column shapes".to_owned(),
                    reason: format!("the synthetic or real table has no column `{name}`"),
                })
        };
        let (real, synthetic) = (column(real)?, column(synthetic)?);
        if numeric {
            let values = |array| -> Result<Vec<Option<f64>>, ValidateError> {
                Ok(as_f64(array)?
                    .iter()
                    .map(|v| v.filter(|v| !v.is_nan()))
                    .collect())
            };
            return Ok(Pair::Numeric(values(&real)?, values(&synthetic)?));
        }
        let mut codes: HashMap<Option<String>, u32> = HashMap::new();
        let mut code_all = |array| -> Result<Vec<u32>, ValidateError> {
            let strings = as_strings(array)?;
            Ok((0..strings.len())
                .map(|i| {
                    let value = (!strings.is_null(i)).then(|| strings.value(i).to_owned());
                    let next = codes.len() as u32;
                    *codes.entry(value).or_insert(next)
                })
                .collect())
        };
        Ok(Pair::Categorical(code_all(&real)?, code_all(&synthetic)?))
    }

    /// Codes for a contingency table: categories as they are, numbers in [`PAIR_BINS`] bins
    /// over the real range.
    fn codes(&self) -> (Vec<u32>, Vec<u32>) {
        match self {
            Pair::Categorical(real, synthetic) => (real.clone(), synthetic.clone()),
            Pair::Numeric(real, synthetic) => {
                let (low, high) = real
                    .iter()
                    .flatten()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                        (l.min(v), h.max(v))
                    });
                let bin = |values: &[Option<f64>]| {
                    values
                        .iter()
                        .map(|&v| bin_of(v, low, high, PAIR_BINS))
                        .collect()
                };
                (bin(real), bin(synthetic))
            }
        }
    }

    fn shape(&self) -> (&'static str, f64) {
        match self {
            Pair::Numeric(real, synthetic) => {
                let mut a: Vec<f64> = real.iter().flatten().copied().collect();
                let mut b: Vec<f64> = synthetic.iter().flatten().copied().collect();
                ("ks_complement", 1.0 - ks_statistic(&mut a, &mut b))
            }
            Pair::Categorical(real, synthetic) => (
                "tv_complement",
                1.0 - total_variation(real.iter(), synthetic.iter()),
            ),
        }
    }
}

/// The shape score of one column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnShape {
    /// column name
    pub column: String,
    /// `ks_complement` or `tv_complement`
    pub metric: &'static str,
    /// in [0, 1], 1 when the distributions agree
    pub score: f64,
}

/// The trend score of one pair of columns.
#[derive(Debug, Clone, Serialize)]
pub struct PairTrend {
    /// first column, in the source's order
    pub first: String,
    /// second column
    pub second: String,
    /// `correlation_similarity` or `contingency_similarity`
    pub metric: &'static str,
    /// in [0, 1]; `None` when the correlation is undefined (a constant column), and the pair
    /// is left out of the mean
    pub score: Option<f64>,
    /// Pearson's correlation in the real table (numeric pairs)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real: Option<f64>,
    /// Pearson's correlation in the synthetic table (numeric pairs)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<f64>,
}

/// Every column's shape score and every pair's trend score.
#[derive(Debug, Clone, Serialize)]
pub struct Fidelity {
    /// one per learned column
    pub shapes: Vec<ColumnShape>,
    /// one per pair of learned columns
    pub pairs: Vec<PairTrend>,
}

impl Fidelity {
    /// Scores `synthetic` against `real` on `columns` (name, numeric?).
    pub fn measure(
        real: &RecordBatch,
        synthetic: &RecordBatch,
        columns: &[(String, bool)],
    ) -> Result<Self, ValidateError> {
        let read = columns
            .iter()
            .map(|(name, numeric)| Pair::read(real, synthetic, name, *numeric))
            .collect::<Result<Vec<_>, _>>()?;
        let shapes = columns
            .iter()
            .zip(&read)
            .map(|((name, _), pair)| {
                let (metric, score) = pair.shape();
                ColumnShape {
                    column: name.clone(),
                    metric,
                    score,
                }
            })
            .collect();
        let codes: Vec<(Vec<u32>, Vec<u32>)> = read.iter().map(Pair::codes).collect();
        let mut pairs = Vec::new();
        for i in 0..read.len() {
            for j in i + 1..read.len() {
                let (first, second) = (columns[i].0.clone(), columns[j].0.clone());
                pairs.push(match (&read[i], &read[j]) {
                    (Pair::Numeric(ra, sa), Pair::Numeric(rb, sb)) => {
                        let (real, synthetic) = (pearson(ra, rb), pearson(sa, sb));
                        PairTrend {
                            first,
                            second,
                            metric: "correlation_similarity",
                            score: real.zip(synthetic).map(|(r, s)| 1.0 - (r - s).abs() / 2.0),
                            real,
                            synthetic,
                        }
                    }
                    _ => {
                        let joint = |a: &[u32], b: &[u32]| -> Vec<(u32, u32)> {
                            a.iter().copied().zip(b.iter().copied()).collect()
                        };
                        let tv = total_variation(
                            joint(&codes[i].0, &codes[j].0),
                            joint(&codes[i].1, &codes[j].1),
                        );
                        PairTrend {
                            first,
                            second,
                            metric: "contingency_similarity",
                            score: Some(1.0 - tv),
                            real: None,
                            synthetic: None,
                        }
                    }
                });
            }
        }
        Ok(Self { shapes, pairs })
    }

    /// The mean shape score; NaN without columns.
    pub fn column_shapes(&self) -> f64 {
        mean(self.shapes.iter().map(|s| s.score))
    }

    /// The mean trend score over the pairs that have one; NaN when none has (a single column
    /// has no pair: the check then has nothing to show and fails).
    pub fn pair_trends(&self) -> f64 {
        mean(self.pairs.iter().filter_map(|p| p.score))
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;

    fn table(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn numbers(values: &[f64]) -> ArrayRef {
        Arc::new(Float64Array::from(values.to_vec()))
    }

    fn words(values: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn pearson_of_worked_examples() {
        let x = [Some(1.0), Some(2.0), Some(3.0)];
        assert!((pearson(&x, &[Some(2.0), Some(4.0), Some(6.0)]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[Some(3.0), Some(2.0), Some(1.0)]).unwrap() + 1.0).abs() < 1e-12);
        // the pair with a null is left out: (1, 1), (3, 0) and (2, 2) give r = -0.5
        let y = [Some(1.0), Some(2.0), Some(0.0)];
        let r = pearson(
            &[Some(1.0), Some(2.0), Some(3.0), None],
            &[y[0], y[1], y[2], Some(9.0)],
        );
        assert!((r.unwrap() + 0.5).abs() < 1e-12);
        // constant or too short: undefined
        assert_eq!(pearson(&x, &[Some(5.0), Some(5.0), Some(5.0)]), None);
        assert_eq!(pearson(&x[..1], &x[..1]), None);
    }

    #[test]
    fn bins_are_equal_width_with_open_outer_bins() {
        assert_eq!(bin_of(Some(0.0), 0.0, 10.0, 10), 0);
        assert_eq!(bin_of(Some(9.99), 0.0, 10.0, 10), 9);
        assert_eq!(bin_of(Some(10.0), 0.0, 10.0, 10), 9);
        assert_eq!(bin_of(Some(-3.0), 0.0, 10.0, 10), 0);
        assert_eq!(bin_of(Some(25.0), 0.0, 10.0, 10), 9);
        assert_eq!(bin_of(Some(5.0), 0.0, 10.0, 10), 5);
        assert_eq!(bin_of(None, 0.0, 10.0, 10), 10);
    }

    #[test]
    fn reversed_correlation_scores_zero_and_kept_shapes_score_one() {
        let real = table(vec![
            ("a", numbers(&[1.0, 2.0, 3.0, 4.0])),
            ("b", numbers(&[1.0, 2.0, 3.0, 4.0])),
        ]);
        let synthetic = table(vec![
            ("a", numbers(&[1.0, 2.0, 3.0, 4.0])),
            ("b", numbers(&[4.0, 3.0, 2.0, 1.0])),
        ]);
        let columns = [("a".to_owned(), true), ("b".to_owned(), true)];
        let fidelity = Fidelity::measure(&real, &synthetic, &columns).unwrap();
        assert_eq!(fidelity.column_shapes(), 1.0);
        // corr +1 against -1: 1 - 2 / 2
        assert_eq!(fidelity.pairs.len(), 1);
        assert_eq!(fidelity.pairs[0].metric, "correlation_similarity");
        assert!(fidelity.pair_trends().abs() < 1e-12);
    }

    #[test]
    fn a_mixed_pair_is_scored_on_its_contingency_table() {
        // real: (0, p) and (10, q) half each; synthetic: every combination a quarter. With the
        // real range [0, 10] in ten bins, 0 falls in the first and 10 in the last.
        let real = table(vec![
            ("x", numbers(&[0.0, 10.0, 0.0, 10.0])),
            ("c", words(&["p", "q", "p", "q"])),
        ]);
        let synthetic = table(vec![
            ("x", numbers(&[0.0, 0.0, 10.0, 10.0])),
            ("c", words(&["p", "q", "p", "q"])),
        ]);
        let columns = [("x".to_owned(), true), ("c".to_owned(), false)];
        let fidelity = Fidelity::measure(&real, &synthetic, &columns).unwrap();
        assert_eq!(
            fidelity
                .shapes
                .iter()
                .map(|s| (s.metric, s.score))
                .collect::<Vec<_>>(),
            vec![("ks_complement", 1.0), ("tv_complement", 1.0)]
        );
        // TV = (|1/2 - 1/4| x 2 + 1/4 x 2) / 2 = 1/2
        assert_eq!(fidelity.pairs[0].metric, "contingency_similarity");
        assert!((fidelity.pair_trends() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn column_shapes_average_ks_and_tv_complements() {
        // x: KS of {1, 2} against {5, 6, 7} is 1; c: TV of {a: 1} against {a: 1/2, b: 1/2}
        // is 1/2. Mean of 0 and 1/2.
        let real = table(vec![("x", numbers(&[1.0, 2.0])), ("c", words(&["a", "a"]))]);
        let synthetic = table(vec![("x", numbers(&[5.0, 6.0])), ("c", words(&["a", "b"]))]);
        let columns = [("x".to_owned(), true), ("c".to_owned(), false)];
        let fidelity = Fidelity::measure(&real, &synthetic, &columns).unwrap();
        assert!((fidelity.column_shapes() - 0.25).abs() < 1e-12);
    }

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
