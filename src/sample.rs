//! Generation of the synthetic table in bounded batches, and its calibration to the DP one-way
//! marginals.
//!
//! Guarantees: memory does not grow with the number of rows requested; each batch is decoded and
//! handed to the Parquet writer before the next is generated. Calibration reads only the
//! generator's own output and DP estimates already charged to the ledger, so it is
//! post-processing and costs no budget.

use candle_core::{Device, Tensor};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;

use crate::model::{Generator, InitRng};
use crate::schema::{ColumnEncoder, TableCodec, Transform};

/// Rows generated and decoded at a time.
pub const SAMPLE_BATCH_ROWS: usize = 4096;

/// Rows of generator output a calibration is fitted on.
pub const CALIBRATION_ROWS: usize = 16 * SAMPLE_BATCH_ROWS;

/// Points in each numeric column's table of the generator's quantiles.
const QUANTILE_POINTS: usize = 1025;

/// Rounds of the fit of category factors (each round moves every share toward its target).
const SHARE_ROUNDS: usize = 60;

/// Errors of generation.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The generator failed.
    #[error("generation failed")]
    Tensor(#[from] candle_core::Error),
    /// Decoding failed.
    #[error("decoding generated rows failed")]
    Decode(#[from] crate::schema::SchemaError),
}

/// How one part of an encoded row is calibrated.
#[derive(Debug, Clone)]
enum Part {
    /// A numeric column encoded through its DP distribution function, where real rows encode
    /// to a uniform spread on [-1, 1]: the value at `slot` is mapped through the generator's
    /// own distribution function (its `quantiles`) onto that uniform spread, so the decoded
    /// column follows the DP distribution function while each row keeps its rank.
    Uniform { slot: usize, quantiles: Vec<f32> },
    /// A categorical column with DP shares: the probabilities at `slots` (the non-null ones)
    /// are scaled by `factors`, fitted so that their mean over generated rows is each slot's
    /// DP share. The null slot keeps its probability; nulls are calibrated when decoded.
    Shares {
        slots: Vec<usize>,
        factors: Vec<f64>,
    },
}

/// A calibration of generator output, fitted once on [`CALIBRATION_ROWS`] generated rows and
/// applied to every batch.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    parts: Vec<Part>,
}

impl Calibration {
    /// No calibration: batches decode as the generator makes them.
    pub fn none() -> Self {
        Self::default()
    }

    /// Fits the calibration of `generator`'s output to the DP metadata of `codec`.
    pub fn fit(
        generator: &Generator,
        codec: &TableCodec,
        rng: &mut InitRng,
        device: &Device,
    ) -> Result<Self, SampleError> {
        let width = codec.encoded_width();
        let mut pool = Vec::with_capacity(CALIBRATION_ROWS * width);
        while pool.len() < CALIBRATION_ROWS * width {
            pool.extend(generate(generator, SAMPLE_BATCH_ROWS, rng, device)?);
        }
        Ok(Self::fit_to(codec, &pool, CALIBRATION_ROWS))
    }

    /// Fits the calibration to `pool`, `rows` generated rows of `codec`'s encoding.
    fn fit_to(codec: &TableCodec, pool: &[f32], rows: usize) -> Self {
        let width = codec.encoded_width();
        let mut parts = Vec::new();
        let mut offset = 0;
        for encoder in codec.encoders() {
            match encoder {
                ColumnEncoder::Numeric(e) if matches!(e.transform, Transform::Cdf { .. }) => {
                    let mut values: Vec<f32> =
                        (0..rows).map(|r| pool[r * width + offset]).collect();
                    values.sort_by(f32::total_cmp);
                    let quantiles = (0..QUANTILE_POINTS)
                        .map(|k| values[k * (rows - 1) / (QUANTILE_POINTS - 1)])
                        .collect();
                    parts.push(Part::Uniform {
                        slot: offset,
                        quantiles,
                    });
                }
                ColumnEncoder::Categorical(e) => {
                    if let Some(shares) = &e.shares {
                        let slots: Vec<usize> = (0..e.width())
                            .filter(|&s| Some(s) != e.null_slot())
                            .map(|s| offset + s)
                            .collect();
                        let factors = fit_factors(pool, rows, width, &slots, shares);
                        parts.push(Part::Shares { slots, factors });
                    }
                }
                ColumnEncoder::Numeric(_) => {}
            }
            offset += encoder.width();
        }
        Self { parts }
    }

    /// Calibrates `generated` (`rows` x `width`, as the generator's sampling output) in place;
    /// `rng` spreads values that tie in the quantile table.
    fn apply<R: Rng>(&self, generated: &mut [f32], width: usize, rng: &mut R) {
        for row in generated.chunks_exact_mut(width) {
            for part in &self.parts {
                match part {
                    Part::Uniform { slot, quantiles } => {
                        let unit = rank_of(quantiles, row[*slot], rng);
                        row[*slot] = (2.0 * unit - 1.0) as f32;
                    }
                    Part::Shares { slots, factors } => scale_slots(row, slots, factors),
                }
            }
        }
    }
}

/// The share of the table `quantiles` (equally spaced quantiles) below `value`, interpolated
/// linearly between neighbouring quantiles; a value that several quantiles equal (a generator
/// saturated at the end of its range) gets a uniform draw over their span.
fn rank_of<R: Rng>(quantiles: &[f32], value: f32, rng: &mut R) -> f64 {
    let last = quantiles.len() - 1;
    let below = quantiles.partition_point(|&q| q < value);
    let through = quantiles.partition_point(|&q| q <= value);
    let position = if through >= below + 2 {
        below as f64 + rng.random::<f64>() * (through - 1 - below) as f64
    } else if below == 0 {
        0.0
    } else if below > last {
        last as f64
    } else {
        let (low, high) = (f64::from(quantiles[below - 1]), f64::from(quantiles[below]));
        (below - 1) as f64 + (f64::from(value) - low) / (high - low)
    };
    position / last as f64
}

/// Scales the probabilities at `slots` by `factors`, keeping their sum.
fn scale_slots(row: &mut [f32], slots: &[usize], factors: &[f64]) {
    let before: f64 = slots.iter().map(|&s| f64::from(row[s].max(0.0))).sum();
    let after: f64 = slots
        .iter()
        .zip(factors)
        .map(|(&s, a)| f64::from(row[s].max(0.0)) * a)
        .sum();
    if after <= 0.0 {
        // every slot this row allows has a zero share: leave the generator's choice
        return;
    }
    for (&s, a) in slots.iter().zip(factors) {
        row[s] = (f64::from(row[s].max(0.0)) * a * before / after) as f32;
    }
}

/// Factors `a` such that the mean over the pool's rows of `p_j a_j / sum_k p_k a_k` is
/// `targets[j]` for every slot `j`: iterative proportional fitting of one margin (Deming and
/// Stephan 1940, "On a least squares adjustment of a sampled frequency table when the expected
/// marginal totals are known"), each round multiplying every factor by target / current mean.
fn fit_factors(
    pool: &[f32],
    rows: usize,
    width: usize,
    slots: &[usize],
    targets: &[f64],
) -> Vec<f64> {
    let k = slots.len();
    let probabilities: Vec<f64> = (0..rows)
        .flat_map(|r| {
            slots
                .iter()
                .map(move |&s| f64::from(pool[r * width + s].max(0.0)))
        })
        .collect();
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
        for ((factor, mean), &target) in factors.iter_mut().zip(&means).zip(targets) {
            let mean = mean / rows as f64;
            if *factor > 0.0 && mean > 0.0 {
                *factor *= target.max(0.0) / mean;
            }
        }
        let largest = factors.iter().copied().fold(0.0, f64::max);
        if largest > 0.0 {
            factors.iter_mut().for_each(|a| *a /= largest);
        }
    }
    factors
}

/// An iterator of decoded batches that together hold `rows` rows, each calibrated by
/// `calibration`.
pub fn sample_batches<'a>(
    generator: &'a Generator,
    codec: &'a TableCodec,
    calibration: &'a Calibration,
    rows: usize,
    rng: &'a mut InitRng,
    device: &'a Device,
) -> impl Iterator<Item = Result<RecordBatch, SampleError>> + 'a {
    let mut remaining = rows;
    std::iter::from_fn(move || {
        if remaining == 0 {
            return None;
        }
        let batch_rows = remaining.min(SAMPLE_BATCH_ROWS);
        remaining -= batch_rows;
        Some(sample_one(
            generator,
            codec,
            calibration,
            batch_rows,
            rng,
            device,
        ))
    })
}

/// `rows` rows of generator output for decoding, row-major.
fn generate(
    generator: &Generator,
    rows: usize,
    rng: &mut InitRng,
    device: &Device,
) -> Result<Vec<f32>, SampleError> {
    let latent = generator.latent_dim();
    let zs = Tensor::from_vec(rng.normal(rows * latent), (rows, latent), device)?;
    Ok(generator
        .forward_sample(&zs)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

fn sample_one(
    generator: &Generator,
    codec: &TableCodec,
    calibration: &Calibration,
    rows: usize,
    rng: &mut InitRng,
    device: &Device,
) -> Result<RecordBatch, SampleError> {
    let mut generated = generate(generator, rows, rng, device)?;
    calibration.apply(&mut generated, codec.encoded_width(), &mut rng.0);
    Ok(codec.decode(&generated, rows, &mut rng.0)?)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn quantile_table(mut values: Vec<f32>) -> Vec<f32> {
        values.sort_by(f32::total_cmp);
        let rows = values.len();
        (0..QUANTILE_POINTS)
            .map(|k| values[k * (rows - 1) / (QUANTILE_POINTS - 1)])
            .collect()
    }

    #[test]
    fn a_skewed_column_maps_to_a_uniform_spread_keeping_ranks() {
        // x^3 of uniform draws: most mass near 0
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let draw = |rng: &mut ChaCha20Rng| (2.0 * rng.random::<f32>() - 1.0).powi(3);
        let pool: Vec<f32> = (0..50_000).map(|_| draw(&mut rng)).collect();
        let table = quantile_table(pool);
        let fresh: Vec<f32> = (0..20_000).map(|_| draw(&mut rng)).collect();
        let mut units: Vec<f64> = fresh
            .iter()
            .map(|&v| rank_of(&table, v, &mut rng))
            .collect();
        for pair in fresh.iter().zip(&units).collect::<Vec<_>>().windows(2) {
            let ((a, ua), (b, ub)) = (pair[0], pair[1]);
            assert_eq!(a < b, ua < ub, "rank order changed");
        }
        units.sort_by(f64::total_cmp);
        // Kolmogorov-Smirnov distance to uniform on [0, 1]: about 0.01 for 20,000 draws
        let ks = units
            .iter()
            .enumerate()
            .map(|(i, &u)| (u - i as f64 / units.len() as f64).abs())
            .fold(0.0, f64::max);
        assert!(ks < 0.02, "KS {ks}");
    }

    #[test]
    fn a_saturated_end_spreads_over_the_quantiles_it_holds() {
        // a third of the pool at exactly 1.0
        let pool: Vec<f32> = (0..30_000)
            .map(|i| {
                if i % 3 == 0 {
                    1.0
                } else {
                    (i % 1000) as f32 / 1000.0
                }
            })
            .collect();
        let table = quantile_table(pool);
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let units: Vec<f64> = (0..10_000)
            .map(|_| rank_of(&table, 1.0, &mut rng))
            .collect();
        let low = units.iter().copied().fold(1.0, f64::min);
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!((low - 2.0 / 3.0).abs() < 0.01, "lowest {low}");
        assert!((mean - 5.0 / 6.0).abs() < 0.01, "mean {mean}");
        assert_eq!(rank_of(&table, -5.0, &mut rng), 0.0);
    }

    #[test]
    fn factors_bring_every_share_to_its_target_and_keep_the_null_slot() {
        // rows over slots (a, b, null, other): the generator prefers a; the targets prefer b
        let width = 4;
        let rows = 3000;
        let mut pool = Vec::with_capacity(rows * width);
        for r in 0..rows {
            let lean = (r % 10) as f32 / 10.0;
            let (a, b, other) = (0.7 - 0.3 * lean, 0.2 + 0.3 * lean, 0.05);
            pool.extend([a, b, 0.05, other]);
        }
        let slots = [0, 1, 3];
        let targets = [0.3, 0.6, 0.1];
        let factors = fit_factors(&pool, rows, width, &slots, &targets);
        let mut means = [0.0; 3];
        for row in pool.chunks_exact_mut(width) {
            scale_slots(row, &slots, &factors);
            assert!((row[2] - 0.05).abs() < 1e-6, "the null slot moved");
            let kept: f32 = slots.iter().map(|&s| row[s]).sum();
            assert!((kept - 0.95).abs() < 1e-5, "the non-null mass moved");
            for (mean, &s) in means.iter_mut().zip(&slots) {
                *mean += f64::from(row[s]) / 0.95 / rows as f64;
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
    fn a_zero_share_removes_its_slot_and_a_row_with_nothing_else_is_left_alone() {
        let width = 2;
        let mut pool = vec![0.5, 0.5, 0.0, 1.0];
        let factors = fit_factors(&pool, 2, width, &[0, 1], &[1.0, 0.0]);
        assert_eq!(factors[1], 0.0);
        for row in pool.chunks_exact_mut(width) {
            scale_slots(row, &[0, 1], &factors);
        }
        assert_eq!(pool, vec![1.0, 0.0, 0.0, 1.0]);
    }
}
