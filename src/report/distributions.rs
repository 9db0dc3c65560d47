//! Real against synthetic distributions of each learned column, for the internal report.
//!
//! Guarantee: every figure is a share of rows in a bin or category; bins span the column's
//! released range (its public or DP bounds, never the real minimum and maximum) and bars name
//! only released categories (public or DP-discovered), so no row value appears. Real values
//! outside the released range count in the outer bins; real categories outside the released
//! list count under "other".

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::schema::{ColumnEncoder, Provenance, TableCodec};

/// Bins of a numeric column's histogram.
pub const HISTOGRAM_BINS: usize = 20;

/// Most bars of a categorical column; the rest are summed into one.
pub const MAX_BARS: usize = 24;

/// One column's distribution in the real (train) and the synthetic table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnDistribution {
    /// column name
    pub column: String,
    /// `numeric` or `categorical`
    pub kind: String,
    /// `public` (declared or implied by the type) or `dp` (estimated with DP)
    pub metadata: String,
    /// numeric: the histogram's range, the released bounds
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
    /// categorical: one label per bar
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// share of real rows in each bin or bar (nulls excluded)
    pub real: Vec<f64>,
    /// share of synthetic rows in each bin or bar (nulls excluded)
    pub synthetic: Vec<f64>,
    /// share of real rows that are null
    pub real_nulls: f64,
    /// share of synthetic rows that are null
    pub synthetic_nulls: f64,
}

/// Counts of one table: per bin, and nulls, over all rows.
fn shares(counts: Vec<f64>, nulls: f64) -> (Vec<f64>, f64) {
    let total: f64 = counts.iter().sum::<f64>() + nulls;
    if total == 0.0 {
        return (counts, 0.0);
    }
    (counts.iter().map(|c| c / total).collect(), nulls / total)
}

fn numeric_counts(batch: &RecordBatch, name: &str, range: (f64, f64)) -> Option<(Vec<f64>, f64)> {
    let values = crate::schema::numeric_values(batch.column_by_name(name)?).ok()?;
    let (low, high) = range;
    let mut counts = vec![0.0; HISTOGRAM_BINS];
    let mut nulls = 0.0;
    for value in values.iter() {
        match value.filter(|v| v.is_finite()) {
            None => nulls += 1.0,
            Some(v) => {
                let position = if high > low {
                    (v - low) / (high - low)
                } else {
                    0.5
                };
                let bin = (position * HISTOGRAM_BINS as f64).floor();
                counts[bin.clamp(0.0, (HISTOGRAM_BINS - 1) as f64) as usize] += 1.0;
            }
        }
    }
    Some(shares(counts, nulls))
}

/// Counts per category of `categories` (then one count for every other value), and nulls.
fn category_counts(
    batch: &RecordBatch,
    name: &str,
    categories: &[String],
) -> Option<(Vec<f64>, f64)> {
    let strings = cast(batch.column_by_name(name)?, &DataType::Utf8).ok()?;
    let strings = strings
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()?;
    let index: std::collections::HashMap<&str, usize> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut counts = vec![0.0; categories.len() + 1];
    let mut nulls = 0.0;
    for value in strings.iter() {
        match value {
            None => nulls += 1.0,
            Some(v) => counts[index.get(v).copied().unwrap_or(categories.len())] += 1.0,
        }
    }
    Some(shares(counts, nulls))
}

/// Keeps the `MAX_BARS - 1` bars with the largest shares (real and synthetic together), in
/// their order, and sums the rest into one bar, when there are more than [`MAX_BARS`].
fn fold_bars(
    labels: Vec<String>,
    real: Vec<f64>,
    synthetic: Vec<f64>,
) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    if labels.len() <= MAX_BARS {
        return (labels, real, synthetic);
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| (real[b] + synthetic[b]).total_cmp(&(real[a] + synthetic[a])));
    let mut kept = order[..MAX_BARS - 1].to_vec();
    kept.sort_unstable();
    let rest: Vec<usize> = order[MAX_BARS - 1..].to_vec();
    let sum = |shares: &[f64]| rest.iter().map(|&i| shares[i]).sum::<f64>();
    let mut out_labels: Vec<String> = kept.iter().map(|&i| labels[i].clone()).collect();
    out_labels.push(format!("{} more", rest.len()));
    let mut out_real: Vec<f64> = kept.iter().map(|&i| real[i]).collect();
    out_real.push(sum(&real));
    let mut out_synthetic: Vec<f64> = kept.iter().map(|&i| synthetic[i]).collect();
    out_synthetic.push(sum(&synthetic));
    (out_labels, out_real, out_synthetic)
}

fn metadata(provenance: Provenance) -> String {
    match provenance {
        Provenance::Public => "public".to_owned(),
        Provenance::Private => "dp".to_owned(),
    }
}

/// The distribution of every learned column of `codec` in `real` and in `synthetic`.
pub fn measure(
    codec: &TableCodec,
    real: &RecordBatch,
    synthetic: &RecordBatch,
) -> Vec<ColumnDistribution> {
    let mut out = Vec::new();
    for encoder in codec.encoders() {
        let distribution = match encoder {
            ColumnEncoder::Numeric(numeric) => {
                let range = numeric.span();
                let (Some(r), Some(s)) = (
                    numeric_counts(real, &numeric.name, range),
                    numeric_counts(synthetic, &numeric.name, range),
                ) else {
                    continue;
                };
                ColumnDistribution {
                    column: numeric.name.clone(),
                    kind: "numeric".to_owned(),
                    metadata: metadata(numeric.provenance),
                    range: Some(range),
                    labels: Vec::new(),
                    real: r.0,
                    synthetic: s.0,
                    real_nulls: r.1,
                    synthetic_nulls: s.1,
                }
            }
            ColumnEncoder::Categorical(categorical) => {
                let categories = &categorical.categories;
                let (Some(r), Some(s)) = (
                    category_counts(real, &categorical.name, categories),
                    category_counts(synthetic, &categorical.name, categories),
                ) else {
                    continue;
                };
                let mut labels = categories.clone();
                labels.push("other".to_owned());
                let (labels, real_shares, synthetic_shares) = fold_bars(labels, r.0, s.0);
                ColumnDistribution {
                    column: categorical.name.clone(),
                    kind: "categorical".to_owned(),
                    metadata: metadata(categorical.provenance),
                    range: None,
                    labels,
                    real: real_shares,
                    synthetic: synthetic_shares,
                    real_nulls: r.1,
                    synthetic_nulls: s.1,
                }
            }
        };
        out.push(distribution);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;

    #[test]
    fn histograms_span_the_given_range_and_clamp_outside_values() {
        let values: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(0.0),
            Some(9.9),
            Some(-50.0),
            Some(500.0),
            None,
        ]));
        let batch = RecordBatch::try_from_iter([("x", values)]).unwrap();
        let (shares, nulls) = numeric_counts(&batch, "x", (0.0, 10.0)).unwrap();
        assert_eq!(shares.len(), HISTOGRAM_BINS);
        // 0 and -50 in the first bin, 9.9 and 500 in the last, one null: each a fifth
        assert_eq!(shares[0], 0.4);
        assert_eq!(shares[HISTOGRAM_BINS - 1], 0.4);
        assert_eq!(nulls, 0.2);
        assert_eq!(shares.iter().sum::<f64>() + nulls, 1.0);
    }

    #[test]
    fn values_outside_the_released_categories_count_as_other() {
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("b"),
            Some("secret"),
            None,
        ]));
        let batch = RecordBatch::try_from_iter([("c", values)]).unwrap();
        let (shares, nulls) =
            category_counts(&batch, "c", &["a".to_owned(), "b".to_owned()]).unwrap();
        assert_eq!(shares, vec![0.25, 0.25, 0.25]);
        assert_eq!(nulls, 0.25);
    }

    #[test]
    fn many_bars_fold_into_the_largest_and_the_rest() {
        let labels: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let real: Vec<f64> = (0..30).map(|i| f64::from(i) / 435.0).collect();
        let (labels, real, synthetic) = fold_bars(labels, real.clone(), real);
        assert_eq!(labels.len(), MAX_BARS);
        assert_eq!(labels[0], "c7");
        assert_eq!(labels[MAX_BARS - 1], "7 more");
        // c0..c6 sum to 21 / 435
        assert!((real[MAX_BARS - 1] - 21.0 / 435.0).abs() < 1e-12);
        assert!((synthetic.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
