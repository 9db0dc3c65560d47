//! Decoding: the generator's raw head outputs back to Arrow columns.
//!
//! A numeric column's value slot is a pre-activation whose tanh is the encoded value in [-1, 1];
//! a categorical column's slots are logits. Decoding applies each column's activation, an
//! optional [`ColumnAdjustment`] (fitted on the generator's own output against DP metadata, so
//! post-processing), draws the categories and nulls, and maps the result back onto the column's
//! type and bounds. It works on a batch's raw outputs slot by slot ([`RawBatch`]), so the
//! exponentials of the categorical slots run over long contiguous slices
//! ([`crate::fastmath`]) and the activated rows are never materialised.
//!
//! Guarantees: a decoded numeric value lies within the column's (public or DP) bounds and on
//! its type's grid; a decoded category is one of the column's listed categories; nulls appear
//! only in columns whose encoding has a null indicator or slot.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use rand::Rng;

use super::SchemaError;
use super::encoder::{CategoricalEncoder, ColumnEncoder, NumericEncoder, arrow_error};
use super::numeric;
use super::search::Buckets;
use crate::fastmath::exp_slice;

/// How decoding adjusts one learned column's raw outputs. The default adjusts nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnAdjustment {
    /// Numeric columns: increasing quantiles of the generator's raw value slot. A raw value is
    /// decoded at its rank among them (a uniform spread on [0, 1], to which the column's DP
    /// distribution function is then applied) instead of at `(tanh(raw) + 1) / 2`.
    pub quantiles: Option<QuantileTable>,
    /// Categorical columns: one log-factor per non-null slot (categories, then "other"), added
    /// to the logits before a slot is drawn; `-inf` rules a slot out.
    pub log_factors: Option<Vec<f32>>,
    /// Added to the logit of each row's null chance (0 leaves the generator's chances).
    pub null_shift: f64,
}

/// The raw outputs of a batch of rows, slot-major: slot `s` of every row in turn.
#[derive(Debug, Clone, Copy)]
pub struct RawBatch<'a> {
    values: &'a [f32],
    rows: usize,
}

impl<'a> RawBatch<'a> {
    /// `values` holds `values.len() / rows` slots of `rows` values each.
    pub fn new(values: &'a [f32], rows: usize) -> Self {
        assert!(
            rows == 0 || values.len().is_multiple_of(rows),
            "a raw batch of {} values is not whole slots of {rows} rows",
            values.len()
        );
        Self { values, rows }
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Slot `slot` of every row.
    pub fn slot(&self, slot: usize) -> &'a [f32] {
        &self.values[slot * self.rows..(slot + 1) * self.rows]
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Per row, the chance that the row is null, `1 / (1 + mass e^(present - null - shift))`:
/// `null` is the logit of null, and the other outcomes' probabilities add up to
/// `mass e^present` (`mass` 1 when `present` is their one logit).
fn null_chances(null: &[f32], present: &[f32], mass: Option<&[f32]>, shift: f64) -> Vec<f32> {
    let mut chances: Vec<f32> = present
        .iter()
        .zip(null)
        .map(|(p, n)| p - n - shift as f32)
        .collect();
    exp_slice(&mut chances);
    match mass {
        Some(mass) => {
            for (chance, mass) in chances.iter_mut().zip(mass) {
                *chance = 1.0 / (1.0 + *chance * mass);
            }
        }
        None => chances.iter_mut().for_each(|c| *c = 1.0 / (1.0 + *c)),
    }
    chances
}

/// Buckets of a [`QuantileTable`]'s index.
const QUANTILE_BUCKETS: usize = 4096;

/// Equally spaced quantiles of a generator's raw value slot, with an index of equal-width
/// buckets over their span that finds a value's neighbours in a step or two.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileTable {
    quantiles: Vec<f32>,
    index: Buckets,
}

impl QuantileTable {
    /// The table of `quantiles` (increasing, at least two).
    pub fn new(quantiles: Vec<f32>) -> Self {
        let index = Buckets::new(&quantiles, QUANTILE_BUCKETS);
        Self { quantiles, index }
    }

    /// The share of the table below `value`, interpolated linearly between neighbouring
    /// quantiles; a value that several quantiles equal (a generator saturated at the end of its
    /// range) gets a uniform draw over their span.
    pub fn rank<R: Rng>(&self, value: f32, rng: &mut R) -> f64 {
        let quantiles = &self.quantiles;
        let last = quantiles.len() - 1;
        let below = self.index.count_below(quantiles, value);
        let through = if below <= last && quantiles[below] == value {
            below + quantiles[below..].partition_point(|&q| q <= value)
        } else {
            below
        };
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
}

impl NumericEncoder {
    /// Decodes this column, at `offset`, from `raw`.
    fn decode_raw<R: Rng>(
        &self,
        raw: &RawBatch<'_>,
        offset: usize,
        adjustment: &ColumnAdjustment,
        rng: &mut R,
    ) -> Result<ArrayRef, SchemaError> {
        // slots 1 and 2 are the logits of "present" and "null"
        let chances = self.nulls.then(|| {
            null_chances(
                raw.slot(offset + 2),
                raw.slot(offset + 1),
                None,
                adjustment.null_shift,
            )
        });
        let index = self.cdf_index();
        let values: Float64Array = raw
            .slot(offset)
            .iter()
            .enumerate()
            .map(|(row, &value)| {
                if let Some(chances) = &chances
                    && rng.random::<f32>() < chances[row]
                {
                    return None;
                }
                let unit = match &adjustment.quantiles {
                    Some(quantiles) => quantiles.rank(value, rng),
                    None => (f64::from(value).tanh().clamp(-1.0, 1.0) + 1.0) / 2.0,
                };
                Some(self.value_at_indexed(unit, index.as_ref()))
            })
            .collect();
        numeric::from_f64(values, &self.data_type).map_err(arrow_error(&self.name))
    }
}

impl CategoricalEncoder {
    /// Decodes this column, at `offset`, from `raw`: a null with the row's null chance, else a
    /// slot drawn in proportion to `exp(logit) * factor` over the non-null slots; a drawn
    /// "other" (values too rare to release) becomes the row's likeliest listed category.
    fn decode_raw<R: Rng>(
        &self,
        raw: &RawBatch<'_>,
        offset: usize,
        adjustment: &ColumnAdjustment,
        rng: &mut R,
    ) -> Result<ArrayRef, SchemaError> {
        let (rows, count) = (raw.rows(), self.categories.len());
        let null_slot = self.null_slot();
        let slots = self.non_null_slots();
        let factors: Vec<f32> = match &adjustment.log_factors {
            Some(log) if log.len() == slots.len() => log.iter().map(|f| f.exp()).collect(),
            _ => vec![1.0; slots.len()],
        };
        let k = slots.len();
        // per row the largest logit of a non-null slot
        let mut top = vec![f32::NEG_INFINITY; rows];
        for &slot in &slots {
            for (top, &logit) in top.iter_mut().zip(raw.slot(offset + slot)) {
                *top = top.max(logit);
            }
        }
        // slot-major running sums over the slots of e^(logit - top) * factor, and per row the
        // sum of e^(logit - top) alone (the generator's mass besides null, over e^top)
        let mut cumulative = Vec::with_capacity(k * rows);
        let mut mass = vec![0.0f32; rows];
        for (j, &slot) in slots.iter().enumerate() {
            let start = cumulative.len();
            cumulative.extend(raw.slot(offset + slot).iter().zip(&top).map(|(l, t)| l - t));
            exp_slice(&mut cumulative[start..]);
            let (before, current) = cumulative.split_at_mut(start);
            for (weight, mass) in current.iter_mut().zip(mass.iter_mut()) {
                *mass += *weight;
                *weight *= factors[j];
            }
            if j > 0 {
                for (weight, previous) in current.iter_mut().zip(&before[start - rows..]) {
                    *weight += previous;
                }
            }
        }
        let running = |j: usize, row: usize| cumulative[j * rows + row];
        let scaled =
            |j: usize, row: usize| running(j, row) - if j > 0 { running(j - 1, row) } else { 0.0 };
        let chances = null_slot.map(|null| {
            null_chances(
                raw.slot(offset + null),
                &top,
                Some(&mass),
                adjustment.null_shift,
            )
        });
        // the category of each row, or NULL_CODE
        const NULL_CODE: u32 = u32::MAX;
        let mut codes: Vec<u32> = Vec::with_capacity(rows);
        for row in 0..rows {
            if let Some(chances) = &chances
                && rng.random::<f32>() < chances[row]
            {
                codes.push(NULL_CODE);
                continue;
            }
            let total = running(k - 1, row);
            let slot = if total > 0.0 && total.is_finite() {
                let target = rng.random::<f32>() * total;
                (0..k - 1)
                    .find(|&j| target < running(j, row))
                    .unwrap_or(k - 1)
            } else {
                // every slot ruled out: the generator's own likeliest category
                argmax((0..count).map(|s| raw.slot(offset + s)[row]))
            };
            // "other" (the last non-null slot) becomes the likeliest listed category
            let category = if slot < count {
                slot
            } else {
                argmax((0..count).map(|j| scaled(j, row)))
            };
            codes.push(category as u32);
        }
        let category =
            |code: u32| (code != NULL_CODE).then(|| self.categories[code as usize].as_str());
        if self.data_type == DataType::Boolean {
            let values: BooleanArray = codes
                .iter()
                .map(|&c| category(c).map(|v| v == "true"))
                .collect();
            return Ok(Arc::new(values));
        }
        let bytes: usize = codes
            .iter()
            .filter_map(|&c| category(c))
            .map(str::len)
            .sum();
        let mut builder = StringBuilder::with_capacity(rows, bytes);
        for &code in &codes {
            builder.append_option(category(code));
        }
        let values: StringArray = builder.finish();
        if self.data_type == DataType::Utf8 {
            return Ok(Arc::new(values));
        }
        cast(&values, &self.data_type).map_err(arrow_error(&self.name))
    }
}

/// The index of the largest value (the first of equals; 0 when empty).
fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let (mut best, mut largest) = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > largest {
            (best, largest) = (i, v);
        }
    }
    best
}

impl ColumnEncoder {
    /// Decodes this column, at `offset` of the encoded row, from `raw` under `adjustment`.
    pub fn decode_raw<R: Rng>(
        &self,
        raw: &RawBatch<'_>,
        offset: usize,
        adjustment: &ColumnAdjustment,
        rng: &mut R,
    ) -> Result<ArrayRef, SchemaError> {
        match self {
            ColumnEncoder::Numeric(e) => e.decode_raw(raw, offset, adjustment, rng),
            ColumnEncoder::Categorical(e) => e.decode_raw(raw, offset, adjustment, rng),
        }
    }
}

#[cfg(test)]
/// Raw outputs, slot-major, that decode without adjustment to `encoded` (rows as
/// [`ColumnEncoder`]s encode them, row-major): the inverse of each head's activation, `atanh`
/// for a value slot and `ln` for one-hot or probability slots (so a slot of probability 0 gets
/// logit `-inf`).
pub fn raw_of_encoded(encoder: &ColumnEncoder, encoded: &[f32]) -> Vec<f32> {
    let width = encoder.width();
    let rows = encoded.len() / width;
    (0..width)
        .flat_map(|slot| {
            (0..rows).map(move |row| {
                let v = encoded[row * width + slot];
                match encoder {
                    ColumnEncoder::Numeric(_) if slot == 0 => f64::from(v).atanh() as f32,
                    _ => v.max(0.0).ln(),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::schema::encoder::{Provenance, Transform};

    /// Row-major rows of `width` slots, slot-major.
    fn slot_major(rows: &[f32], width: usize) -> Vec<f32> {
        let count = rows.len() / width;
        (0..width)
            .flat_map(|slot| (0..count).map(move |row| rows[row * width + slot]))
            .collect()
    }

    /// `rank`'s answer by a plain search of the whole table.
    fn plain_rank(quantiles: &[f32], value: f32) -> f64 {
        let last = quantiles.len() - 1;
        let below = quantiles.partition_point(|&q| q < value);
        if below == 0 {
            return 0.0;
        }
        if below > last {
            return 1.0;
        }
        let (low, high) = (f64::from(quantiles[below - 1]), f64::from(quantiles[below]));
        ((below - 1) as f64 + (f64::from(value) - low) / (high - low)) / last as f64
    }

    proptest::proptest! {
        #[test]
        fn the_bucket_index_finds_what_a_plain_search_finds(
            mut quantiles in proptest::collection::vec(-50.0f32..50.0, 2..300),
            spikes in proptest::collection::vec(0usize..300, 0..5),
            values in proptest::collection::vec(-60.0f32..60.0, 1..50),
        ) {
            // distinct quantiles, some of them bunched into a tiny span
            for &spike in &spikes {
                let at = quantiles[spike % quantiles.len()];
                quantiles.extend((1..40).map(|k| at + k as f32 * 1e-4));
            }
            quantiles.sort_by(f32::total_cmp);
            quantiles.dedup();
            proptest::prop_assume!(quantiles.len() >= 2);
            let table = QuantileTable::new(quantiles.clone());
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let probes = values.iter().copied().chain(quantiles.iter().map(|q| q + 1e-5));
            for value in probes {
                let (fast, plain) = (table.rank(value, &mut rng), plain_rank(&quantiles, value));
                proptest::prop_assert!((fast - plain).abs() < 1e-12, "{value}: {fast} vs {plain}");
            }
        }
    }

    #[test]
    fn a_skewed_column_maps_to_a_uniform_spread_keeping_ranks() {
        // x^3 of uniform draws: most mass near 0
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draw = |rng: &mut ChaCha8Rng| (2.0 * rng.random::<f32>() - 1.0).powi(3);
        let mut pool: Vec<f32> = (0..50_000).map(|_| draw(&mut rng)).collect();
        pool.sort_by(f32::total_cmp);
        let table = QuantileTable::new(
            (0..1025)
                .map(|k| pool[k * (pool.len() - 1) / 1024])
                .collect(),
        );
        let fresh: Vec<f32> = (0..20_000).map(|_| draw(&mut rng)).collect();
        let mut units: Vec<f64> = fresh.iter().map(|&v| table.rank(v, &mut rng)).collect();
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
        // a third of the table at exactly 1.0
        let mut pool: Vec<f32> = (0..30_000)
            .map(|i| {
                if i % 3 == 0 {
                    1.0
                } else {
                    (i % 1000) as f32 / 1000.0
                }
            })
            .collect();
        pool.sort_by(f32::total_cmp);
        let table = QuantileTable::new(
            (0..1025)
                .map(|k| pool[k * (pool.len() - 1) / 1024])
                .collect(),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let units: Vec<f64> = (0..10_000).map(|_| table.rank(1.0, &mut rng)).collect();
        let low = units.iter().copied().fold(1.0, f64::min);
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!((low - 2.0 / 3.0).abs() < 0.01, "lowest {low}");
        assert!((mean - 5.0 / 6.0).abs() < 0.01, "mean {mean}");
        assert_eq!(table.rank(-5.0, &mut rng), 0.0);
    }

    fn letters(nulls: bool) -> CategoricalEncoder {
        CategoricalEncoder {
            name: "c".to_owned(),
            data_type: DataType::Utf8,
            nulls,
            null_share: None,
            categories: vec!["a".into(), "b".into()],
            shares: None,
            provenance: Provenance::Private,
        }
    }

    #[test]
    fn log_factors_move_category_shares_and_leave_the_null_chance() {
        // slots a, b, null, other; every row: a twice as likely as b, null one in ten
        let (pa, pb, pn) = (0.6f32, 0.3f32, 0.1f32);
        let row = [pa.ln(), pb.ln(), pn.ln(), f32::NEG_INFINITY];
        let rows = 60_000;
        let raw: Vec<f32> = row.iter().copied().cycle().take(4 * rows).collect();
        let raw = slot_major(&raw, 4);
        let adjustment = ColumnAdjustment {
            log_factors: Some(vec![0.0, 2f32.ln(), 0.0]),
            ..ColumnAdjustment::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let decoded = letters(true)
            .decode_raw(&RawBatch::new(&raw, rows), 0, &adjustment, &mut rng)
            .unwrap();
        let decoded = decoded.as_any().downcast_ref::<StringArray>().unwrap();
        let nulls = decoded.null_count() as f64 / rows as f64;
        let b = decoded.iter().flatten().filter(|v| *v == "b").count() as f64
            / (rows - decoded.null_count()) as f64;
        assert!((nulls - 0.1).abs() < 0.006, "null share {nulls}");
        // b's weight doubled: 0.6 against 0.6
        assert!((b - 0.5).abs() < 0.01, "share of b {b}");
    }

    #[test]
    fn a_null_shift_moves_the_null_share_keeping_the_generators_ordering() {
        // half the rows the generator finds likely null (0.3), half unlikely (0.01)
        let rows = 40_000;
        let raw: Vec<f32> = (0..rows)
            .flat_map(|i| {
                let p: f32 = if i % 2 == 0 { 0.3 } else { 0.01 };
                [0.0, (1.0 - p).ln(), p.ln()]
            })
            .collect();
        let raw = slot_major(&raw, 3);
        let raw = RawBatch::new(&raw, rows);
        let encoder = NumericEncoder {
            name: "x".to_owned(),
            data_type: DataType::Float64,
            nulls: true,
            null_share: None,
            grid: None,
            low: 0.0,
            high: 1.0,
            transform: Transform::MinMax,
            provenance: Provenance::Public,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let unshifted = ColumnAdjustment::default();
        let decoded = encoder.decode_raw(&raw, 0, &unshifted, &mut rng).unwrap();
        let share = decoded.null_count() as f64 / rows as f64;
        assert!((share - 0.155).abs() < 0.01, "share {share}");
        let shifted = ColumnAdjustment {
            null_shift: -1.5,
            ..ColumnAdjustment::default()
        };
        let decoded = encoder.decode_raw(&raw, 0, &shifted, &mut rng).unwrap();
        let likely = (0..rows).step_by(2).filter(|&i| decoded.is_null(i)).count();
        let unlikely = (1..rows).step_by(2).filter(|&i| decoded.is_null(i)).count();
        let expected = |p: f64| sigmoid((p / (1.0 - p)).ln() - 1.5) * rows as f64 / 2.0;
        assert!((likely as f64 - expected(0.3)).abs() < 0.05 * expected(0.3));
        assert!((unlikely as f64 - expected(0.01)).abs() < 0.25 * expected(0.01));
        assert!(likely > 5 * unlikely, "{likely} vs {unlikely}");
    }

    #[test]
    fn unlisted_values_decode_as_the_likeliest_listed_category_and_nulls_as_null() {
        // slots: a, b, null, other; a row that is surely "other" but leans to "b", and a row
        // that is surely null
        let encoded = [0.0, 1e-6, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let encoder = ColumnEncoder::Categorical(letters(true));
        let raw = raw_of_encoded(&encoder, &encoded);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let decoded = encoder
            .decode_raw(
                &RawBatch::new(&raw, 2),
                0,
                &ColumnAdjustment::default(),
                &mut rng,
            )
            .unwrap();
        let expected: ArrayRef = Arc::new(StringArray::from(vec![Some("b"), None]));
        assert_eq!(decoded.as_ref(), expected.as_ref());
    }
}
