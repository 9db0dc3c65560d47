//! Whom the attacks target, and the table each attack is also run against as its baseline.
//!
//! Targets are real people: train people, who might leak, and holdout people, whom the model
//! never saw. Attacks that need distances take seeded samples of train and holdout people of
//! equal size (at most [`MAX_TARGETS`]); attacks in SQL, singling out and inference take every
//! person. The most exposed people are those farthest from every other real person (outliers
//! a model is likeliest to memorise): the top 1 % of each group, at least [`MIN_EXPOSED`].
//!
//! The baseline table is the synthetic table with each column shuffled on its own: its
//! marginals without its joint structure. An attack that does no better against it than against
//! the synthetic table learns nothing about people from how the synthetic rows combine values,
//! and its check is inconclusive.

use std::sync::Arc;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::{take, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand::seq::index::sample;
use rand_chacha::ChaCha20Rng;

use super::ValidateError;
use super::distance::{Embedding, nearest};

/// Share of each group counted as its most exposed people.
pub const EXPOSED_SHARE: f64 = 0.01;

/// Fewest most-exposed people per group, so their rates are not read from one or two people.
pub const MIN_EXPOSED: usize = 20;

/// Most people per group the distance-based attacks target (a seeded sample beyond it): enough
/// for an interval of about ±0.01, and the matrix products stay within a minute at 100,000 rows.
pub const MAX_TARGETS: usize = 10_000;

/// Most train people searched for a target's nearest other real person.
pub const MAX_POOL: usize = 30_000;

/// The seeded random stream of the train sample (streams 1-3 belong to the run).
const SAMPLE_STREAM: u64 = 4;

/// The seeded random stream of the baseline's shuffles.
const BASELINE_STREAM: u64 = 5;

/// The seeded random stream of the inference attack's targets.
pub(super) const INFERENCE_STREAM: u64 = 7;

/// `count` of `rows` rows (all of them when fewer), a seeded sample, ascending.
pub(super) fn sample_rows(rows: usize, count: usize, seed: u64, stream: u64) -> Vec<usize> {
    if count >= rows {
        return (0..rows).collect();
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut drawn = sample(&mut rng, rows, count).into_vec();
    drawn.sort_unstable();
    drawn
}

/// The people attacked, embedded over every learned column.
pub(super) struct Targets {
    /// the embedding, fitted on train and holdout
    pub embedding: Embedding,
    /// rows of train in the sample, ascending
    pub train_rows: Vec<usize>,
    /// rows of the holdout in the sample, ascending
    pub holdout_rows: Vec<usize>,
    /// the sample's embedding
    pub train_x: Vec<f32>,
    /// the holdout's embedding
    pub holdout_x: Vec<f32>,
    /// squared distance of each sampled train person to the nearest other real person
    pub train_isolation: Vec<f64>,
    /// squared distance of each holdout person to the nearest other real person
    pub holdout_isolation: Vec<f64>,
    /// positions in the sample of its most exposed people
    pub exposed_train: Vec<usize>,
    /// positions in the holdout sample of its most exposed people
    pub exposed_holdout: Vec<usize>,
}

/// How many of `group` people are the most exposed.
pub fn exposed_count(group: usize) -> usize {
    ((group as f64 * EXPOSED_SHARE).ceil() as usize)
        .max(MIN_EXPOSED)
        .min(group)
}

/// Positions of the `count` largest `isolation` values, ascending.
fn most_isolated(isolation: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..isolation.len()).collect();
    order.sort_by(|&a, &b| isolation[b].total_cmp(&isolation[a]));
    let mut top = order[..count.min(order.len())].to_vec();
    top.sort_unstable();
    top
}

impl Targets {
    /// Targets of `train` and `holdout` over the learned `columns` (name, numeric?). The nearest
    /// other real person of a target is searched among the train rows outside the sample, the
    /// same pool for both groups. `None` when a group is empty.
    pub(super) fn build(
        train: &RecordBatch,
        holdout: &RecordBatch,
        columns: &[(String, bool)],
        seed: u64,
    ) -> Result<Option<Self>, ValidateError> {
        let embedding = Embedding::fit(columns, &[train, holdout])?;
        let size = holdout
            .num_rows()
            .min(train.num_rows() / 2)
            .min(MAX_TARGETS);
        if size == 0 || embedding.width() == 0 {
            return Ok(None);
        }
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(SAMPLE_STREAM);
        let mut draw = |from: usize, count: usize| {
            let mut rows = sample(&mut rng, from, count).into_vec();
            rows.sort_unstable();
            rows
        };
        let train_rows = draw(train.num_rows(), size);
        let holdout_rows = draw(holdout.num_rows(), holdout.num_rows().min(MAX_TARGETS));
        let mut in_sample = vec![false; train.num_rows()];
        for &row in &train_rows {
            in_sample[row] = true;
        }
        let rest: Vec<usize> = (0..train.num_rows()).filter(|&r| !in_sample[r]).collect();
        let others: Vec<usize> = draw(rest.len(), rest.len().min(MAX_POOL))
            .into_iter()
            .map(|i| rest[i])
            .collect();
        let width = embedding.width();
        let train_x = embedding.embed(train, &train_rows)?;
        let holdout_x = embedding.embed(holdout, &holdout_rows)?;
        let others_x = embedding.embed(train, &others)?;
        let (train_near, _) = nearest(&train_x, &others_x, width, false)?;
        let (holdout_near, _) = nearest(&holdout_x, &others_x, width, false)?;
        let exposed_train = most_isolated(&train_near.distance, exposed_count(size));
        let exposed_holdout =
            most_isolated(&holdout_near.distance, exposed_count(holdout_rows.len()));
        Ok(Some(Self {
            embedding,
            train_rows,
            holdout_rows,
            train_x,
            holdout_x,
            train_isolation: train_near.distance,
            holdout_isolation: holdout_near.distance,
            exposed_train,
            exposed_holdout,
        }))
    }

    /// Rows of train of the most exposed sampled people.
    pub(super) fn exposed_train_rows(&self) -> Vec<usize> {
        self.exposed_train
            .iter()
            .map(|&p| self.train_rows[p])
            .collect()
    }

    /// Rows of the holdout of the most exposed sampled people.
    pub(super) fn exposed_holdout_rows(&self) -> Vec<usize> {
        self.exposed_holdout
            .iter()
            .map(|&p| self.holdout_rows[p])
            .collect()
    }
}

/// `batch` with each column permuted on its own by a seeded shuffle.
pub(super) fn shuffled(batch: &RecordBatch, seed: u64) -> Result<RecordBatch, ValidateError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(BASELINE_STREAM);
    let failed = |_| ValidateError::Execution {
        what: "baseline table".to_owned(),
    };
    let columns = batch
        .columns()
        .iter()
        .map(|column| {
            let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
            order.shuffle(&mut rng);
            take(column.as_ref(), &UInt32Array::from(order), None)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    RecordBatch::try_new(batch.schema(), columns).map_err(failed)
}

/// The rows of `batch` at `rows`.
pub(super) fn rows_of(batch: &RecordBatch, rows: &[usize]) -> Result<RecordBatch, ValidateError> {
    let indices = UInt32Array::from(rows.iter().map(|&r| r as u32).collect::<Vec<_>>());
    take_record_batch(batch, &indices).map_err(|_| ValidateError::Execution {
        what: "target tables".to_owned(),
    })
}

/// Successes of an attack over a group of targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// targets the attack succeeded on
    pub successes: u64,
    /// targets attacked
    pub targets: u64,
}

impl Tally {
    /// The tally of per-target success flags, over `positions` when given.
    pub fn of(flags: &[bool], positions: Option<&[usize]>) -> Self {
        match positions {
            None => Self {
                successes: flags.iter().filter(|&&f| f).count() as u64,
                targets: flags.len() as u64,
            },
            Some(positions) => Self {
                successes: positions.iter().filter(|&&p| flags[p]).count() as u64,
                targets: positions.len() as u64,
            },
        }
    }

    /// Share of targets the attack succeeded on (0 with no targets).
    pub fn rate(&self) -> f64 {
        if self.targets == 0 {
            0.0
        } else {
            self.successes as f64 / self.targets as f64
        }
    }
}

/// One attack's results: on train targets, on holdout targets, and against the baseline table
/// on the same train targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// against the synthetic table, train targets
    pub train: Tally,
    /// against the synthetic table, holdout targets
    pub holdout: Tally,
    /// against the baseline table, train targets
    pub baseline: Tally,
}

/// Per-target success flags of an attack that targets the distance sample.
pub(super) struct Flags {
    /// per sampled train person, against the synthetic table
    pub train: Vec<bool>,
    /// per sampled holdout person, against the synthetic table
    pub holdout: Vec<bool>,
    /// per sampled train person, against the baseline table
    pub baseline: Vec<bool>,
}

impl Flags {
    /// The outcome over every target, and over the most exposed.
    pub(super) fn outcomes(&self, targets: &Targets) -> (Outcome, Outcome) {
        let all = Outcome {
            train: Tally::of(&self.train, None),
            holdout: Tally::of(&self.holdout, None),
            baseline: Tally::of(&self.baseline, None),
        };
        let exposed = Outcome {
            train: Tally::of(&self.train, Some(&targets.exposed_train)),
            holdout: Tally::of(&self.holdout, Some(&targets.exposed_holdout)),
            baseline: Tally::of(&self.baseline, Some(&targets.exposed_train)),
        };
        (all, exposed)
    }
}

/// A shared handle for tables the SQL attacks register.
pub(super) fn table(
    batch: RecordBatch,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>, ValidateError> {
    let table = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])
        .map_err(|source| ValidateError::Query {
            what: "target tables".to_owned(),
            source,
        })?;
    Ok(Arc::new(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn the_most_exposed_are_the_most_isolated() {
        assert_eq!(most_isolated(&[0.1, 5.0, 0.2, 3.0, 0.0], 2), vec![1, 3]);
        assert_eq!(exposed_count(6512), 66);
        assert_eq!(exposed_count(200), 20);
        assert_eq!(exposed_count(7), 7);
    }

    #[test]
    fn the_baseline_keeps_each_column_and_breaks_rows_apart() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
        ]));
        let values: Int64Array = (0..1000).collect();
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(values.clone()), Arc::new(values)]).unwrap();
        let base = shuffled(&batch, 7).unwrap();
        let column = |i: usize| {
            let c = base
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            c.values().to_vec()
        };
        let (a, b) = (column(0), column(1));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<i64>>());
        let aligned = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(aligned < 10, "{aligned} rows kept together");
    }

    #[test]
    fn tallies_count_over_positions() {
        let flags = [true, false, true, true];
        assert_eq!(
            Tally::of(&flags, None),
            Tally {
                successes: 3,
                targets: 4
            }
        );
        assert_eq!(Tally::of(&flags, Some(&[1, 2])).rate(), 0.5);
        assert_eq!(Tally::default().rate(), 0.0);
    }
}
