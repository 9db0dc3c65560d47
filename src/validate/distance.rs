//! Distance to closest record: is a synthetic row nearer to the rows the model trained on than
//! to rows it never saw?
//!
//! Rows are embedded over the learned columns: a numeric value scaled by its real range (plus a
//! null indicator), a categorical value one-hot over the real values (plus null) scaled by
//! 1/sqrt(2), so a mismatch adds 1 to the squared distance as a full-range numeric gap does.
//! Nearest neighbours come from blocked matrix products (`|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`,
//! candle's CPU matmul, one block of synthetic rows at a time, never the whole cross product in
//! memory), and the winning distances are recomputed exactly in f64.
//!
//! The train side is a seeded sample of as many train rows as the holdout has, so train and
//! holdout people are compared in equal numbers.

use std::collections::HashMap;

use candle_core::{D, Device, Tensor};
use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha20Rng;

use super::{CheckKind, CheckResult, ValidateError};

/// A person is matched when a synthetic row is nearer than this share of the distance to their
/// nearest other real person (squared: distances are compared squared).
const MATCH_RATIO_SQUARED: f64 = 0.25;

/// Synthetic rows per matrix-product block.
const BLOCK_ROWS: usize = 2048;

/// One learned column of the embedding.
enum Feature {
    Numeric { low: f64, span: f64 },
    Categorical { index: HashMap<String, usize> },
}

fn as_f64(array: &ArrayRef) -> Result<Float64Array, ValidateError> {
    let values = crate::schema::numeric_values(array).map_err(|e| ValidateError::Execution {
        what: format!("distance embedding ({e})"),
    })?;
    Ok(values)
}

fn as_strings(array: &ArrayRef) -> Result<StringArray, ValidateError> {
    let strings = cast(array, &DataType::Utf8).map_err(|_| ValidateError::Execution {
        what: "distance embedding".to_owned(),
    })?;
    strings
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| ValidateError::Execution {
            what: "distance embedding".to_owned(),
        })
}

/// The embedding of the learned `columns` (name, numeric?), fitted on the real rows.
struct Embedding {
    columns: Vec<(String, Feature)>,
    width: usize,
}

impl Embedding {
    fn fit(columns: &[(String, bool)], real: &[&RecordBatch]) -> Result<Self, ValidateError> {
        let mut features = Vec::new();
        let mut width = 0;
        for (name, numeric) in columns {
            let arrays: Vec<&ArrayRef> =
                real.iter().filter_map(|b| b.column_by_name(name)).collect();
            if *numeric {
                let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
                for array in arrays {
                    for value in as_f64(array)?.iter().flatten() {
                        low = low.min(value);
                        high = high.max(value);
                    }
                }
                let span = if high > low { high - low } else { 1.0 };
                features.push((name.clone(), Feature::Numeric { low, span }));
                width += 2;
            } else {
                let mut index = HashMap::new();
                for array in arrays {
                    for value in as_strings(array)?.iter().flatten() {
                        let next = index.len();
                        index.entry(value.to_owned()).or_insert(next);
                    }
                }
                width += index.len() + 1;
                features.push((name.clone(), Feature::Categorical { index }));
            }
        }
        Ok(Self {
            columns: features,
            width,
        })
    }

    /// Row-major `rows x width` embedding of `batch`'s rows at `rows`.
    fn embed(&self, batch: &RecordBatch, rows: &[usize]) -> Result<Vec<f32>, ValidateError> {
        let mut out = vec![0.0f32; rows.len() * self.width];
        let mut offset = 0;
        let half = std::f32::consts::FRAC_1_SQRT_2;
        for (name, feature) in &self.columns {
            let array =
                batch
                    .column_by_name(name)
                    .ok_or_else(|| ValidateError::BadKnownColumn {
                        column: name.clone(),
                        reason: "the table has no such column".to_owned(),
                    })?;
            match feature {
                Feature::Numeric { low, span } => {
                    let values = as_f64(array)?;
                    for (r, &row) in rows.iter().enumerate() {
                        let cell = &mut out[r * self.width + offset..];
                        if values.is_null(row) {
                            cell[1] = 1.0;
                        } else {
                            cell[0] = ((values.value(row) - low) / span) as f32;
                        }
                    }
                    offset += 2;
                }
                Feature::Categorical { index } => {
                    let values = as_strings(array)?;
                    for (r, &row) in rows.iter().enumerate() {
                        let slot = if values.is_null(row) {
                            Some(index.len())
                        } else {
                            index.get(values.value(row)).copied()
                        };
                        if let Some(slot) = slot {
                            out[r * self.width + offset + slot] = half;
                        }
                    }
                    offset += index.len() + 1;
                }
            }
        }
        Ok(out)
    }
}

/// For each row of `queries` (row-major, `width` wide), the squared distance to its nearest row
/// of `reference`: candidates from blocked matrix products, distances recomputed in f64.
fn nearest_distances(
    queries: &[f32],
    reference: &[f32],
    width: usize,
) -> Result<Vec<f64>, candle_core::Error> {
    let device = Device::Cpu;
    let n_ref = reference.len() / width;
    let reference_tensor = Tensor::from_slice(reference, (n_ref, width), &device)?;
    let reference_norms = reference_tensor.sqr()?.sum(1)?.reshape((1, n_ref))?;
    let reference_t = reference_tensor.t()?.contiguous()?;
    let mut distances = Vec::with_capacity(queries.len() / width);
    for block in queries.chunks(BLOCK_ROWS * width) {
        let rows = block.len() / width;
        let q = Tensor::from_slice(block, (rows, width), &device)?;
        let q_norms = q.sqr()?.sum_keepdim(1)?;
        let squared = q_norms
            .broadcast_add(&reference_norms)?
            .sub(&(q.matmul(&reference_t)? * 2.0)?)?;
        let nearest = squared
            .argmin_keepdim(D::Minus1)?
            .flatten_all()?
            .to_vec1::<u32>()?;
        for (r, &candidate) in nearest.iter().enumerate() {
            let a = &block[r * width..(r + 1) * width];
            let b = &reference[candidate as usize * width..(candidate as usize + 1) * width];
            let exact: f64 = a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum();
            distances.push(exact);
        }
    }
    Ok(distances)
}

/// Distance to closest record, as a risk over people: a real person is "matched" when some
/// synthetic row lies nearer to them than half the distance to their nearest other real person
/// (a train row outside the sample). Risk compares train people (a holdout-sized sample) with
/// holdout people, so a table drawn fresh from the population scores about 0 and a table of
/// perturbed train rows about 1; the check passes when the upper end of the risk's 95 %
/// interval is at most `max_risk`. Targets are people, independent of each other, which the
/// interval needs; the share of synthetic rows nearer to train than to holdout (DESIGN.md's
/// statistic) is reported alongside but not gated, because synthetic rows of a collapsed
/// generator are far from independent (on the demo it ranged 0.2 to 0.77 across runs).
pub fn distance_to_closest_record(
    train: &RecordBatch,
    holdout: &RecordBatch,
    synthetic: &RecordBatch,
    columns: &[(String, bool)],
    max_risk: f64,
    seed: u64,
) -> Result<CheckResult, ValidateError> {
    let name = "distance to closest record".to_owned();
    let embedding = Embedding::fit(columns, &[train, holdout])?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(4);
    let size = holdout.num_rows().min(train.num_rows());
    let mut train_rows = sample(&mut rng, train.num_rows(), size).into_vec();
    train_rows.sort_unstable();
    let holdout_rows: Vec<usize> = (0..holdout.num_rows()).collect();
    let synthetic_rows: Vec<usize> = (0..synthetic.num_rows()).collect();
    let width = embedding.width;
    // the train rows outside the sample: each target's nearest other real person is among them
    let mut in_sample = vec![false; train.num_rows()];
    for &row in &train_rows {
        in_sample[row] = true;
    }
    let others: Vec<usize> = (0..train.num_rows()).filter(|&r| !in_sample[r]).collect();
    if synthetic_rows.is_empty() || size == 0 || width == 0 || others.is_empty() {
        // nothing to measure: a NaN value fails the check
        return Ok(CheckResult::bounded(
            name,
            CheckKind::DistanceToClosestRecord,
            f64::NAN,
            None,
            Some(max_risk),
        ));
    }
    let train_x = embedding.embed(train, &train_rows)?;
    let holdout_x = embedding.embed(holdout, &holdout_rows)?;
    let synthetic_x = embedding.embed(synthetic, &synthetic_rows)?;
    let failed = |_| ValidateError::Execution {
        what: "distance to closest record".to_owned(),
    };
    let nearest = |queries: &[f32], reference: &[f32]| {
        nearest_distances(queries, reference, width).map_err(failed)
    };

    let others_x = embedding.embed(train, &others)?;
    let matched = |targets: &[f32]| -> Result<u64, ValidateError> {
        let to_real = nearest(targets, &others_x)?;
        let to_synthetic = nearest(targets, &synthetic_x)?;
        Ok(to_real
            .iter()
            .zip(&to_synthetic)
            .filter(|&(real, synthetic)| *synthetic < MATCH_RATIO_SQUARED * real)
            .count() as u64)
    };
    let train_matched = matched(&train_x)?;
    let holdout_matched = matched(&holdout_x)?;
    let risk = super::stats::risk(train_matched, size as u64, holdout_matched, size as u64);

    let to_train = nearest(&synthetic_x, &train_x)?;
    let to_holdout = nearest(&synthetic_x, &holdout_x)?;
    let nearer: f64 = to_train
        .iter()
        .zip(&to_holdout)
        .map(|(t, h)| match t.total_cmp(h) {
            std::cmp::Ordering::Less => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Greater => 0.0,
        })
        .sum();

    let mut result = CheckResult::bounded(
        name,
        CheckKind::DistanceToClosestRecord,
        risk.high,
        None,
        Some(max_risk),
    );
    result.risk = Some(risk);
    result.details.insert(
        "share_of_synthetic_rows_nearer_to_train".to_owned(),
        (nearer / to_train.len() as f64).into(),
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_distances_match_a_brute_force_search() {
        let width = 3;
        let reference: Vec<f32> = (0..300).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let queries: Vec<f32> = (0..90).map(|i| ((i * 53) % 97) as f32 / 97.0).collect();
        let fast = nearest_distances(&queries, &reference, width).unwrap();
        for (q, got) in queries.chunks(width).zip(&fast) {
            let best = reference
                .chunks(width)
                .map(|r| {
                    q.iter()
                        .zip(r)
                        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            assert!((got - best).abs() < 1e-6, "{got} vs {best}");
        }
    }
}
