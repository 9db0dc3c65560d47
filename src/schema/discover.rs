//! DP preprocessing: bounds, distribution functions and categories of the columns that have no
//! public metadata, learned from the train split through noisy counts.
//!
//! Every query is a count vector to which one person adds at most 1 in exactly one entry (a
//! histogram over a partition, or a count of distinct values), so each has L2 sensitivity 1. The
//! plan fixes every query's noise before a row is read; together they are one Gaussian
//! mechanism ([`crate::privacy::LedgerEntry::GaussianCounts`]).
//!
//! - Numeric columns: (1) a histogram over signed powers of two (a public partition of the
//!   type's values, plus a null bin) finds the range: the outermost octaves whose noisy count
//!   passes a threshold that empty octaves pass with probability under [`RANGE_FALSE_POSITIVE`];
//!   (2) a histogram over finer bins inside that range, placed by the first histogram's masses,
//!   gives the distribution function that the quantile transform encodes through (one bin per
//!   value when the range holds fewer values than bins). The outermost fine bins whose noisy
//!   counts stay under a threshold that an empty bin passes with probability
//!   [`TAIL_FALSE_POSITIVE`] are dropped, and the range ends where the kept bins end. Values
//!   outside the range are clamped to it.
//! - Categorical columns: noisy counts of the values present, kept when above a threshold that
//!   a value held by one person passes with probability at most its share of the delta
//!   reserved for thresholding (a stability-based histogram); plus a noisy count of distinct
//!   values, which refuses columns that look like identifiers, and a noisy null count.
//!
//! Everything released (ranges, bins, shares, categories) is a function of the noisy counts.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};

use super::SchemaError;
use super::encoder::{CategoricalEncoder, ColumnEncoder, NumericEncoder, Provenance, Transform};
use super::numeric::{self, NumericType};
use crate::privacy::pld::{normal_upper_quantile, normal_upper_tail};
use crate::privacy::{LedgerEntry, PrivacyRng};

/// Share of the run's delta reserved for thresholded category discovery.
pub const THRESHOLD_DELTA_SHARE: f64 = 0.1;
/// Probability, per column, that an empty octave passes the range threshold (a utility knob:
/// a false pass only widens the range).
pub const RANGE_FALSE_POSITIVE: f64 = 1e-3;
/// Probability, per column, that a column without nulls is given a null slot.
pub const NULL_FALSE_POSITIVE: f64 = 1e-3;
/// A column whose DP distinct count passes this share of its rows looks like an identifier.
pub const IDENTIFIER_SHARE: f64 = 0.5;
/// Weight of a distinct count against a histogram when the noise is shared out: its noise
/// standard deviation is `1 / sqrt(DISTINCT_WEIGHT)`, about 3.2 times a histogram's.
const DISTINCT_WEIGHT: f64 = 0.1;
/// Bins of the distribution function: the finer histogram aims at this many bins ...
const MAX_CDF_BINS: f64 = 64.0;
/// ... but no fewer than this ...
const MIN_CDF_BINS: f64 = 4.0;
/// ... and each should expect at least this many noise standard deviations of rows.
const ROWS_PER_CDF_BIN_IN_SIGMAS: f64 = 4.0;
/// Probability that a bin of the distribution function's histogram holding no row passes the
/// threshold that keeps the histogram's outermost bins: bins outside the first and last that
/// pass it are taken for noise and dropped, with the range they span.
const TAIL_FALSE_POSITIVE: f64 = 0.01;
/// Smallest octave exponent of float columns; smaller magnitudes share the zero bin.
const FLOAT_MIN_EXPONENT: i32 = -24;

/// How a numeric column without public bounds is encoded once its DP metadata is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericEncoding {
    /// Through the DP distribution function.
    Quantile,
    /// Min-max scaling over the DP range.
    MinMax,
}

/// What a column without public metadata needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// DP range and distribution function.
    Numeric {
        /// the type's grid and range
        numeric: NumericType,
        /// the encoder to build
        encoding: NumericEncoding,
    },
    /// DP category discovery.
    Categories,
}

impl Need {
    /// Count queries the column needs.
    fn queries(&self) -> u64 {
        match self {
            Need::Numeric { .. } => 2,
            Need::Categories => 1,
        }
    }
}

/// The preprocessing mechanism's noise and thresholds, fixed by the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessingDesign {
    /// noise multiplier of the whole mechanism (what the ledger accounts)
    pub noise_multiplier: f64,
    /// standard deviation of the noise of each histogram count
    pub count_noise: f64,
    /// standard deviation of the noise of each distinct count
    pub distinct_noise: f64,
    /// noisy count a discovered category must pass
    pub category_threshold: f64,
    /// delta the thresholds spend
    pub threshold_delta: f64,
    /// count queries in all
    pub queries: u64,
    /// rows of the train split (public: from the footers)
    pub train_rows: usize,
}

impl PreprocessingDesign {
    /// Shares out the noise of a mechanism with `noise_multiplier` over the queries of `needs`:
    /// every histogram gets the same noise, every distinct count [`DISTINCT_WEIGHT`] of its
    /// precision. With weights `w_i` summing to `W`, query `i` gets `sigma_i = s sqrt(W / w_i)`,
    /// so `sum 1 / sigma_i^2 = 1 / s^2` (see the ledger entry). The category threshold `t`
    /// makes `P(1 + N(0, sigma^2) > t) <= threshold_delta / categorical columns` (the Gaussian
    /// tail), since a person adds one key to each categorical column.
    pub fn new(
        needs: &[&Need],
        noise_multiplier: f64,
        threshold_delta: f64,
        train_rows: usize,
    ) -> Self {
        let categorical = needs
            .iter()
            .filter(|n| matches!(n, Need::Categories))
            .count();
        let histograms: u64 = needs.iter().map(|n| n.queries()).sum();
        let weight = histograms as f64 + DISTINCT_WEIGHT * categorical as f64;
        let count_noise = noise_multiplier * weight.sqrt();
        let distinct_noise = count_noise / DISTINCT_WEIGHT.sqrt();
        let category_threshold = if categorical > 0 {
            1.0 + count_noise * normal_upper_quantile(threshold_delta / categorical as f64)
        } else {
            f64::INFINITY
        };
        Self {
            noise_multiplier,
            count_noise,
            distinct_noise,
            category_threshold,
            threshold_delta: if categorical > 0 {
                threshold_delta
            } else {
                0.0
            },
            queries: histograms + categorical as u64,
            train_rows,
        }
    }

    /// What the ledger records of this mechanism.
    pub fn ledger_entry(&self) -> LedgerEntry {
        LedgerEntry::GaussianCounts {
            purpose: "column metadata: DP bounds, distribution functions, null rates, categories"
                .to_owned(),
            queries: self.queries,
            noise_multiplier: self.noise_multiplier,
            threshold_delta: self.threshold_delta,
        }
    }

    /// The share of nulls a noisy null count stands for.
    fn null_share(&self, noisy_nulls: f64) -> f64 {
        (noisy_nulls / self.train_rows.max(1) as f64).clamp(0.0, 1.0)
    }

    fn null_threshold(&self) -> f64 {
        self.count_noise * normal_upper_quantile(NULL_FALSE_POSITIVE)
    }
}

/// Fits the encoder of one column from the train rows `array` under `design`.
pub(super) fn fit_column(
    field: &Field,
    need: &Need,
    array: &ArrayRef,
    design: &PreprocessingDesign,
    rng: &mut PrivacyRng,
) -> Result<ColumnEncoder, SchemaError> {
    match need {
        Need::Numeric { numeric, encoding } => {
            fit_numeric(field, *numeric, *encoding, array, design, rng).map(ColumnEncoder::Numeric)
        }
        Need::Categories => {
            fit_categories(field, array, design, rng).map(ColumnEncoder::Categorical)
        }
    }
}

/// Signed octaves of a numeric type, in grid units: the public partition of the range query.
#[derive(Debug, Clone, Copy)]
struct Octaves {
    /// integers (grid units) or floats
    integer: bool,
    /// largest octave index: bins are `-largest..=largest`, 0 the zero bin
    largest: i32,
}

impl Octaves {
    fn of(numeric: &NumericType, data_type: &DataType) -> Self {
        match numeric.grid {
            Some(_) => Self {
                integer: true,
                largest: 64,
            },
            None => {
                let max_exponent = if *data_type == DataType::Float32 {
                    127
                } else {
                    1023
                };
                Self {
                    integer: false,
                    largest: max_exponent - FLOAT_MIN_EXPONENT + 1,
                }
            }
        }
    }

    fn bins(&self) -> usize {
        2 * self.largest as usize + 1
    }

    /// The octave of `unit` (a value in grid units).
    fn bin(&self, unit: f64) -> i32 {
        let magnitude = unit.abs();
        let smallest = if self.integer {
            1.0
        } else {
            2f64.powi(FLOAT_MIN_EXPONENT)
        };
        if magnitude < smallest {
            return 0;
        }
        let exponent = magnitude.log2().floor() as i32;
        let index = if self.integer {
            exponent + 1
        } else {
            exponent - FLOAT_MIN_EXPONENT + 1
        };
        index.min(self.largest) * if unit < 0.0 { -1 } else { 1 }
    }

    /// The octave's interval in grid units: `[first, last]` grid values for integers, `[low,
    /// high]` for floats.
    fn interval(&self, bin: i32) -> (f64, f64) {
        if bin == 0 {
            return if self.integer {
                (0.0, 0.0)
            } else {
                let edge = 2f64.powi(FLOAT_MIN_EXPONENT);
                (-edge, edge)
            };
        }
        let exponent = if self.integer {
            bin.abs() - 1
        } else {
            bin.abs() - 1 + FLOAT_MIN_EXPONENT
        };
        let (low, high) = if self.integer {
            (2f64.powi(exponent), 2f64.powi(exponent + 1) - 1.0)
        } else {
            (2f64.powi(exponent), 2f64.powi(exponent + 1))
        };
        if bin > 0 { (low, high) } else { (-high, -low) }
    }
}

fn fit_numeric(
    field: &Field,
    numeric: NumericType,
    encoding: NumericEncoding,
    array: &ArrayRef,
    design: &PreprocessingDesign,
    rng: &mut PrivacyRng,
) -> Result<NumericEncoder, SchemaError> {
    let name = field.name();
    let values = numeric::to_f64(array).map_err(|source| SchemaError::Arrow {
        column: name.clone(),
        source,
    })?;
    let grid = numeric.grid.unwrap_or(1.0);
    // the type's range in grid units
    let (type_low, type_high) = (numeric.range.0 / grid, numeric.range.1 / grid);
    let units: Vec<f64> = values
        .iter()
        .flatten()
        .map(|v| {
            let unit = v / grid;
            if numeric.grid.is_some() {
                unit.round()
            } else {
                unit
            }
        })
        .collect();
    let nulls = values.null_count();
    let sigma = design.count_noise;

    // (1) range: octave histogram and a null bin.
    let octaves = Octaves::of(&numeric, field.data_type());
    let mut counts: HashMap<i32, f64> = HashMap::new();
    for &unit in &units {
        *counts.entry(octaves.bin(unit)).or_insert(0.0) += 1.0;
    }
    let noisy_nulls = nulls as f64 + rng.gaussian_f64(sigma);
    let noisy: Vec<f64> = (-octaves.largest..=octaves.largest)
        .map(|bin| counts.get(&bin).copied().unwrap_or(0.0) + rng.gaussian_f64(sigma))
        .collect();
    let range_threshold =
        sigma * normal_upper_quantile(RANGE_FALSE_POSITIVE / octaves.bins() as f64);
    let kept: Vec<i32> = (-octaves.largest..=octaves.largest)
        .zip(&noisy)
        .filter(|&(_, &count)| count > range_threshold)
        .map(|(bin, _)| bin)
        .collect();
    let (Some(&first), Some(&last)) = (kept.first(), kept.last()) else {
        return Err(SchemaError::TooFewRowsForBounds {
            column: name.clone(),
            data_type: field.data_type().clone(),
            threshold: range_threshold.ceil(),
        });
    };
    let low = octaves.interval(first).0.max(type_low);
    let high = octaves.interval(last).1.min(type_high);

    // (2) distribution function: finer bins inside the range, as many in each octave as its
    // share of the noisy mass asks for (at least one, at most one per grid value).
    let half = if octaves.integer { 0.5 } else { 0.0 };
    let target_bins = (design.train_rows as f64 / (ROWS_PER_CDF_BIN_IN_SIGMAS * sigma))
        .clamp(MIN_CDF_BINS, MAX_CDF_BINS);
    let mass = |bin: i32| noisy[(bin + octaves.largest) as usize].max(0.0);
    let total: f64 = (first..=last).map(mass).sum();
    let mut edges: Vec<f64> = vec![low - half];
    for bin in first..=last {
        let (a, b) = octaves.interval(bin);
        let (a, b) = (a.max(low), b.min(high));
        if a > b {
            continue;
        }
        let share = if total > 0.0 { mass(bin) / total } else { 0.0 };
        let mut pieces = (target_bins * share).round().max(1.0);
        if octaves.integer {
            // a range of few values (years of education, a rating) gets one bin per value,
            // so that a value held by many rows does not smear over an empty octave
            pieces = if high - low < target_bins {
                b - a + 1.0
            } else {
                pieces.min(b - a + 1.0)
            };
        }
        let pieces = pieces as usize;
        let (start, width) = (a - half, b - a + 2.0 * half);
        for k in 1..=pieces {
            let edge = if octaves.integer {
                start + (k as f64 * width / pieces as f64).round()
            } else {
                start + k as f64 * width / pieces as f64
            };
            if edge > *edges.last().unwrap_or(&f64::NEG_INFINITY) {
                edges.push(edge);
            }
        }
    }
    let bins = edges.len() - 1;
    let mut fine = vec![0.0f64; bins.max(1)];
    for &unit in &units {
        let x = unit.clamp(low, high);
        let index = edges.partition_point(|&e| e <= x).clamp(1, bins.max(1)) - 1;
        fine[index] += 1.0;
    }
    let noisy_fine: Vec<f64> = fine
        .iter()
        .map(|count| count + rng.gaussian_f64(sigma))
        .collect();
    // Bins beyond the outermost ones that pass the tail threshold are taken for noise: an
    // empty bin keeps a positive mass half the time, and those masses would put released
    // values far past the data (ages of 127 in a column that stops at 90).
    let tail_threshold = sigma * normal_upper_quantile(TAIL_FALSE_POSITIVE);
    let (first_bin, last_bin) = match (
        noisy_fine.iter().position(|&c| c > tail_threshold),
        noisy_fine.iter().rposition(|&c| c > tail_threshold),
    ) {
        (Some(first), Some(last)) => (first, last),
        _ => (0, bins.max(1) - 1),
    };
    let edges = edges[first_bin..=last_bin + 1].to_vec();
    let (low, high) = (edges[0] + half, edges[edges.len() - 1] - half);
    let bins = edges.len() - 1;
    let masses: Vec<f64> = noisy_fine[first_bin..=last_bin]
        .iter()
        .map(|count| count.max(0.0))
        .collect();
    let total: f64 = masses.iter().sum();
    let mut cumulative = Vec::with_capacity(edges.len());
    cumulative.push(0.0);
    let mut running = 0.0;
    for (k, m) in masses.iter().enumerate() {
        running += m;
        cumulative.push(if total > 0.0 {
            running / total
        } else {
            // no mass survived the noise: uniform over the range
            (edges[k + 1] - edges[0]) / (edges[bins] - edges[0])
        });
    }
    if let Some(last) = cumulative.last_mut() {
        *last = 1.0;
    }

    let scale = |x: f64| x * grid;
    let transform = match encoding {
        NumericEncoding::MinMax => Transform::MinMax,
        NumericEncoding::Quantile => Transform::Cdf {
            edges: edges.iter().map(|&e| scale(e)).collect(),
            cumulative,
        },
    };
    Ok(NumericEncoder {
        name: name.clone(),
        data_type: field.data_type().clone(),
        nulls: field.is_nullable() && noisy_nulls > design.null_threshold(),
        null_share: Some(design.null_share(noisy_nulls)),
        grid: numeric.grid,
        low: scale(low),
        high: scale(high),
        transform,
        provenance: Provenance::Private,
    })
}

fn fit_categories(
    field: &Field,
    array: &ArrayRef,
    design: &PreprocessingDesign,
    rng: &mut PrivacyRng,
) -> Result<CategoricalEncoder, SchemaError> {
    let name = field.name();
    let strings = cast(array, &DataType::Utf8).map_err(|source| SchemaError::Arrow {
        column: name.clone(),
        source,
    })?;
    let strings = strings
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| SchemaError::NotSupported {
            column: name.clone(),
            data_type: field.data_type().clone(),
            what: "this type",
        })?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for value in strings.iter().flatten() {
        *counts.entry(value).or_insert(0) += 1;
    }
    let noisy_nulls = strings.null_count() as f64 + rng.gaussian_f64(design.count_noise);
    let noisy_distinct = counts.len() as f64 + rng.gaussian_f64(design.distinct_noise);
    let rows = design.train_rows as f64;
    if noisy_distinct > IDENTIFIER_SHARE * rows {
        return Err(SchemaError::LooksLikeIdentifier {
            column: name.clone(),
            distinct: noisy_distinct.round().max(0.0) as u64,
            rows: design.train_rows,
        });
    }
    let kept = threshold_categories(
        counts.into_iter(),
        design.count_noise,
        design.category_threshold,
        rng,
    );
    if kept.is_empty() {
        return Err(SchemaError::NoFrequentValue {
            column: name.clone(),
            threshold: design.category_threshold.ceil(),
        });
    }
    let shares = category_shares(&kept, rows - noisy_nulls.max(0.0));
    Ok(CategoricalEncoder {
        name: name.clone(),
        data_type: field.data_type().clone(),
        nulls: field.is_nullable() && noisy_nulls > design.null_threshold(),
        null_share: Some(design.null_share(noisy_nulls)),
        categories: kept.into_iter().map(|(value, _)| value).collect(),
        shares: Some(shares),
        provenance: Provenance::Private,
    })
}

/// The shares among non-null rows of each released category and, last, of "other", from the
/// released categories' noisy counts and the noisy non-null count (post-processing of both).
/// The non-null count is raised to the released counts' sum when noise put it below, so the
/// shares never sum past 1.
fn category_shares(kept: &[(String, f64)], non_null: f64) -> Vec<f64> {
    let released: f64 = kept.iter().map(|(_, count)| count).sum();
    let total = non_null.max(released);
    let mut shares: Vec<f64> = kept.iter().map(|(_, count)| count / total).collect();
    shares.push((1.0 - released / total).max(0.0));
    shares
}

/// The values whose count plus N(0, `noise`^2) passes `threshold`, with that noisy count, most
/// frequent (by noisy count) first. Values not present have count 0 and are never candidates,
/// which is what the threshold's delta pays for.
pub(crate) fn threshold_categories<'a>(
    counts: impl Iterator<Item = (&'a str, u64)>,
    noise: f64,
    threshold: f64,
    rng: &mut PrivacyRng,
) -> Vec<(String, f64)> {
    let mut kept: Vec<(f64, &str)> = counts
        .map(|(value, count)| (count as f64 + rng.gaussian_f64(noise), value))
        .filter(|(noisy, _)| *noisy > threshold)
        .collect();
    kept.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    kept.into_iter()
        .map(|(count, value)| (value.to_owned(), count))
        .collect()
}

/// `P(1 + N(0, noise^2) > threshold)`: the chance that a value held by one person is released.
pub fn singleton_release_probability(noise: f64, threshold: f64) -> f64 {
    normal_upper_tail((threshold - 1.0) / noise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::encoder::interpolate;

    #[test]
    fn octaves_partition_integers_and_floats() {
        let ints = Octaves {
            integer: true,
            largest: 64,
        };
        for unit in [-9.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 1000.0] {
            let (a, b) = ints.interval(ints.bin(unit));
            assert!(a <= unit && unit <= b, "{unit} not in [{a}, {b}]");
        }
        assert_eq!(ints.interval(ints.bin(5.0)), (4.0, 7.0));
        assert_eq!(ints.interval(ints.bin(-5.0)), (-7.0, -4.0));
        let floats = Octaves::of(
            &numeric::numeric_type(&DataType::Float64).unwrap(),
            &DataType::Float64,
        );
        for unit in [-3.5, 1e-9, 0.75, 1e300] {
            let (a, b) = floats.interval(floats.bin(unit));
            assert!(a <= unit && unit <= b, "{unit} not in [{a}, {b}]");
        }
    }

    #[test]
    fn the_design_shares_the_noise_so_the_mechanism_has_the_planned_multiplier() {
        let needs = [
            Need::Numeric {
                numeric: numeric::numeric_type(&DataType::Int64).unwrap(),
                encoding: NumericEncoding::Quantile,
            },
            Need::Categories,
        ];
        let refs: Vec<&Need> = needs.iter().collect();
        let design = PreprocessingDesign::new(&refs, 10.0, 1e-7, 5_000);
        // two histograms of the numeric column, one of the categorical, one distinct count
        let precision = 3.0 / design.count_noise.powi(2) + 1.0 / design.distinct_noise.powi(2);
        assert!((precision.powf(-0.5) - 10.0).abs() < 1e-9);
        let release = singleton_release_probability(design.count_noise, design.category_threshold);
        assert!(release <= 1e-7 && release > 0.9e-7, "{release}");
    }

    fn design_for(needs: &[Need], noise_multiplier: f64, rows: usize) -> PreprocessingDesign {
        let refs: Vec<&Need> = needs.iter().collect();
        PreprocessingDesign::new(&refs, noise_multiplier, 1e-7, rows)
    }

    #[test]
    fn a_value_held_by_one_person_is_almost_never_released() {
        // Adult's plan at epsilon 1: nine categorical and six numeric columns.
        let mut needs = vec![Need::Categories; 9];
        needs.extend(std::iter::repeat_n(
            Need::Numeric {
                numeric: numeric::numeric_type(&DataType::Int64).unwrap(),
                encoding: NumericEncoding::Quantile,
            },
            6,
        ));
        let design = design_for(&needs, 13.0, 26_049);
        let bound = singleton_release_probability(design.count_noise, design.category_threshold);
        assert!(bound <= 1e-7 / 9.0 * 1.000_001, "{bound}");
        let mut rng = PrivacyRng::from_os();
        let trials = 200_000;
        let released = (0..trials)
            .filter(|_| {
                let counts = [("only-one", 1u64), ("common", 5_000)];
                threshold_categories(
                    counts.into_iter(),
                    design.count_noise,
                    design.category_threshold,
                    &mut rng,
                )
                .iter()
                .any(|(c, _)| c == "only-one")
            })
            .count();
        // expected releases: 200,000 x 1.1e-8 = 0.002
        assert!(
            released <= 1,
            "released {released} times in {trials} trials"
        );
    }

    #[test]
    fn category_shares_divide_by_the_noisy_non_null_count_and_never_pass_one() {
        let kept = [("a".to_owned(), 600.0), ("b".to_owned(), 300.0)];
        assert_eq!(
            category_shares(&kept, 1000.0),
            vec![0.6, 0.3, 0.09999999999999998]
        );
        // noise put the non-null count below the released counts: "other" gets nothing
        assert_eq!(
            category_shares(&kept, 850.0),
            vec![600.0 / 900.0, 300.0 / 900.0, 0.0]
        );
    }

    #[test]
    fn the_release_probability_of_the_threshold_matches_the_gaussian_tail() {
        // A threshold loose enough to measure: a singleton passes with probability 5 %.
        let noise = 20.0;
        let threshold = 1.0 + noise * normal_upper_quantile(0.05);
        let mut rng = PrivacyRng::from_os();
        let trials = 40_000;
        let released = (0..trials)
            .filter(|_| {
                !threshold_categories([("x", 1u64)].into_iter(), noise, threshold, &mut rng)
                    .is_empty()
            })
            .count();
        let rate = released as f64 / trials as f64;
        // binomial standard error 0.0011: 5 of them either side
        assert!((rate - 0.05).abs() < 0.0055, "rate {rate}");
        assert!((singleton_release_probability(noise, threshold) - 0.05).abs() < 1e-9);
    }

    fn int_column(values: Vec<Option<i64>>) -> (Field, ArrayRef) {
        let field = Field::new("x", DataType::Int64, true);
        (
            field,
            std::sync::Arc::new(datafusion::arrow::array::Int64Array::from(values)),
        )
    }

    #[test]
    fn dp_bounds_cover_the_bulk_and_the_distribution_function_follows_the_data() {
        // 20,000 rows: 70 % at zero, the rest spread log-uniformly over 1..=50,000 (a
        // capital-gain shape), plus 5 % nulls
        let mut values: Vec<Option<i64>> = Vec::new();
        for i in 0..20_000u64 {
            let value = match i % 20 {
                0 => None,
                1..=14 => Some(0),
                _ => {
                    let u = (i as f64 * 0.618_034).fract();
                    Some(50_000f64.powf(u).round() as i64)
                }
            };
            values.push(value);
        }
        let (field, array) = int_column(values.clone());
        let need = Need::Numeric {
            numeric: numeric::numeric_type(&DataType::Int64).unwrap(),
            encoding: NumericEncoding::Quantile,
        };
        let design = design_for(std::slice::from_ref(&need), 3.0, 20_000);
        let encoder = fit_numeric(
            &field,
            numeric::numeric_type(&DataType::Int64).unwrap(),
            NumericEncoding::Quantile,
            &array,
            &design,
            &mut PrivacyRng::from_os(),
        )
        .unwrap();
        assert_eq!(encoder.low, 0.0);
        assert!(encoder.high >= 16_383.0, "{}", encoder.high);
        assert!(encoder.nulls, "5 % nulls found");
        let Transform::Cdf { edges, cumulative } = &encoder.transform else {
            panic!("expected the quantile transform");
        };
        // the share of rows at zero (cell [-0.5, 0.5]) is 70 / 95 of the non-null rows
        let at_zero = interpolate(edges, cumulative, 0.5);
        assert!((at_zero - 70.0 / 95.0).abs() < 0.03, "{at_zero}");
        // the empirical median of the positive part (about 224) is near the fitted one
        let median = interpolate(cumulative, edges, at_zero + (1.0 - at_zero) / 2.0);
        assert!((100.0..500.0).contains(&median), "{median}");
    }

    /// Fits `values` (an Int64 column) twenty times with fresh noise.
    fn fits(values: &[Option<i64>]) -> Vec<NumericEncoder> {
        let (field, array) = int_column(values.to_vec());
        let numeric = numeric::numeric_type(&DataType::Int64).unwrap();
        let need = Need::Numeric {
            numeric,
            encoding: NumericEncoding::Quantile,
        };
        let design = design_for(std::slice::from_ref(&need), 3.0, values.len());
        let mut rng = PrivacyRng::from_os();
        (0..20)
            .map(|_| {
                fit_numeric(
                    &field,
                    numeric,
                    NumericEncoding::Quantile,
                    &array,
                    &design,
                    &mut rng,
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_range_ends_near_the_data_not_at_the_end_of_its_octave() {
        // ages 17 to 90, about 270 rows each: the octave range is 16..=127; an empty fine bin
        // passes the tail threshold with probability 0.01, so the one holding 127 almost never
        // does, and the range mostly stops within a bin of 90
        let ages: Vec<Option<i64>> = (0..20_000).map(|i| Some(17 + i % 74)).collect();
        let fitted = fits(&ages);
        for encoder in &fitted {
            assert!(encoder.low <= 17.0 && encoder.high >= 90.0, "{encoder:?}");
        }
        let at_octave_end = fitted.iter().filter(|e| e.high >= 127.0).count();
        assert!(at_octave_end <= 3, "{at_octave_end} of 20 fits reach 127");
        let near = fitted.iter().filter(|e| e.high <= 100.0).count();
        assert!(near >= 10, "only {near} of 20 fits end by 100");
    }

    #[test]
    fn a_range_of_few_integers_gets_a_bin_per_value() {
        // years of education, 1 to 16, 1,250 rows each: the octaves reach 31, fewer values than
        // the bins the rows allow, so every bin holds one value. A fit misses when one of the 15
        // empty bins past 16 passes the tail threshold (1 % each) or, far rarer, an empty octave
        // passes the range threshold
        let years: Vec<Option<i64>> = (0..20_000).map(|i| Some(1 + i % 16)).collect();
        let exact = fits(&years)
            .iter()
            .filter(|encoder| {
                let Transform::Cdf { edges, .. } = &encoder.transform else {
                    panic!("expected the quantile transform");
                };
                encoder.low == 1.0
                    && encoder.high == 16.0
                    && edges.windows(2).all(|w| w[1] - w[0] == 1.0)
            })
            .count();
        assert!(
            exact >= 10,
            "only {exact} of 20 fits are one bin per value over 1..=16"
        );
    }

    #[test]
    fn a_column_of_unique_strings_is_refused_as_an_identifier() {
        let field = Field::new("email", DataType::Utf8, false);
        let values: StringArray = (0..5_000)
            .map(|i| Some(format!("person{i}@example.org")))
            .collect();
        let array: ArrayRef = std::sync::Arc::new(values);
        let design = design_for(&[Need::Categories], 3.0, 5_000);
        let error =
            fit_categories(&field, &array, &design, &mut PrivacyRng::from_os()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`email`") && message.contains("identifier"),
            "{message}"
        );
        assert!(!message.contains("example.org"), "{message}");
    }

    #[test]
    fn frequent_categories_are_found_and_rare_ones_are_not() {
        let field = Field::new("c", DataType::Utf8, true);
        let mut values: Vec<Option<String>> = Vec::new();
        values.extend((0..6_000).map(|_| Some("big".to_owned())));
        values.extend((0..3_000).map(|_| Some("mid".to_owned())));
        values.extend((0..40).map(|i| Some(format!("rare{i}"))));
        let array: ArrayRef = std::sync::Arc::new(StringArray::from(values));
        let design = design_for(&[Need::Categories], 3.0, 9_040);
        let encoder = fit_categories(&field, &array, &design, &mut PrivacyRng::from_os()).unwrap();
        assert_eq!(encoder.categories, vec!["big".to_owned(), "mid".to_owned()]);
        assert!(!encoder.nulls, "no nulls in the column");
    }
}
