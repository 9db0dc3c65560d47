//! Attribute inference: an attacker who knows some of a person's columns looks up the nearest
//! synthetic row on those columns and reads the secret column off it (Anonymeter's inference
//! attack, Giomi et al. 2023, section 3.3). A guess is right when it equals a categorical
//! secret, or lies within `tolerance` of a numeric secret's real range; two nulls agree.

use datafusion::arrow::record_batch::RecordBatch;

use super::distance::{Embedding, as_f64, as_strings, nearest};
use super::targets::{Flags, INFERENCE_STREAM, MAX_TARGETS, Outcome, Tally, Targets, sample_rows};

/// Most people per group the inference attack targets: twice the distance attacks' sample.
const INFERENCE_TARGETS: usize = 2 * MAX_TARGETS;
use super::{CheckKind, CheckResult, ValidateError};

/// The secret column's values, ready to compare.
enum Secret {
    Numeric(Vec<Option<f64>>),
    Categorical(Vec<Option<String>>),
}

impl Secret {
    fn of(batch: &RecordBatch, name: &str, numeric: bool) -> Result<Self, ValidateError> {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| ValidateError::BadKnownColumn {
                column: name.to_owned(),
                reason: "the table has no such column".to_owned(),
            })?;
        Ok(if numeric {
            Secret::Numeric(as_f64(array)?.iter().collect())
        } else {
            Secret::Categorical(
                as_strings(array)?
                    .iter()
                    .map(|v| v.map(str::to_owned))
                    .collect(),
            )
        })
    }

    /// The smallest and largest numeric value (infinities when there is none).
    fn bounds(&self) -> (f64, f64) {
        let start = (f64::INFINITY, f64::NEG_INFINITY);
        match self {
            Secret::Numeric(values) => values
                .iter()
                .flatten()
                .fold(start, |(l, h), &v| (l.min(v), h.max(v))),
            Secret::Categorical(_) => start,
        }
    }

    /// Whether `guess[j]` gets `self[i]` right, within `within` for numbers.
    fn right(&self, i: usize, guess: &Secret, j: usize, within: f64) -> bool {
        match (self, guess) {
            (Secret::Numeric(truth), Secret::Numeric(guess)) => match (truth[i], guess[j]) {
                (None, None) => true,
                (Some(t), Some(g)) => (t - g).abs() <= within,
                _ => false,
            },
            (Secret::Categorical(truth), Secret::Categorical(guess)) => truth[i] == guess[j],
            _ => false,
        }
    }
}

/// The inference checks of one `secret` column from the `known` columns (name, numeric?), over
/// every target and over the most exposed.
#[allow(clippy::too_many_arguments)]
pub(super) fn attribute_inference(
    tables: (&RecordBatch, &RecordBatch, &RecordBatch, &RecordBatch),
    targets: &Targets,
    secret: (&str, bool),
    known: &[(String, bool)],
    tolerance: f64,
    max_risk: f64,
    seed: u64,
) -> Result<[CheckResult; 2], ValidateError> {
    let (train, holdout, synthetic, baseline) = tables;
    let (name, numeric) = secret;
    let embedding = Embedding::fit(known, &[train, holdout])?;
    let width = embedding.width();
    let all = |batch: &RecordBatch| (0..batch.num_rows()).collect::<Vec<_>>();
    // more targets than the distance attacks take: a secret's base rate is often high, and so
    // is the variance of its success rate
    let cap = INFERENCE_TARGETS;
    let train_rows = sample_rows(train.num_rows(), cap, seed, INFERENCE_STREAM);
    let holdout_rows = sample_rows(holdout.num_rows(), cap, seed, INFERENCE_STREAM + 1);
    let train_x = embedding.embed(train, &train_rows)?;
    let holdout_x = embedding.embed(holdout, &holdout_rows)?;
    let synthetic_x = embedding.embed(synthetic, &all(synthetic))?;
    let baseline_x = embedding.embed(baseline, &all(baseline))?;
    // the baseline only decides whether the attack beats it: the distance sample is enough
    let sample_x = embedding.embed(train, &targets.train_rows)?;

    let train_secret = Secret::of(train, name, numeric)?;
    let holdout_secret = Secret::of(holdout, name, numeric)?;
    let synthetic_secret = Secret::of(synthetic, name, numeric)?;
    let baseline_secret = Secret::of(baseline, name, numeric)?;
    let ((train_low, train_high), (holdout_low, holdout_high)) =
        (train_secret.bounds(), holdout_secret.bounds());
    let real_range = train_high.max(holdout_high) - train_low.min(holdout_low);
    let within = tolerance
        * if real_range.is_finite() {
            real_range
        } else {
            0.0
        };

    let guessed = |x: &[f32],
                   reference_x: &[f32],
                   truth: &Secret,
                   rows: &[usize],
                   guesses: &Secret|
     -> Result<Vec<bool>, ValidateError> {
        let (near, _) = nearest(x, reference_x, width, false)?;
        Ok(rows
            .iter()
            .zip(&near.index)
            .map(|(&row, &j)| truth.right(row, guesses, j, within))
            .collect())
    };
    let flags = Flags {
        train: guessed(
            &train_x,
            &synthetic_x,
            &train_secret,
            &train_rows,
            &synthetic_secret,
        )?,
        holdout: guessed(
            &holdout_x,
            &synthetic_x,
            &holdout_secret,
            &holdout_rows,
            &synthetic_secret,
        )?,
        baseline: guessed(
            &sample_x,
            &baseline_x,
            &train_secret,
            &targets.train_rows,
            &baseline_secret,
        )?,
    };
    let everyone = Outcome {
        train: Tally::of(&flags.train, None),
        holdout: Tally::of(&flags.holdout, None),
        baseline: Tally::of(&flags.baseline, None),
    };
    let exposed_train = targets.exposed_train_rows();
    let exposed_holdout = targets.exposed_holdout_rows();
    let exposed = Outcome {
        train: Tally::of(
            &guessed(
                &embedding.embed(train, &exposed_train)?,
                &synthetic_x,
                &train_secret,
                &exposed_train,
                &synthetic_secret,
            )?,
            None,
        ),
        holdout: Tally::of(
            &guessed(
                &embedding.embed(holdout, &exposed_holdout)?,
                &synthetic_x,
                &holdout_secret,
                &exposed_holdout,
                &synthetic_secret,
            )?,
            None,
        ),
        baseline: Tally::of(&flags.baseline, Some(&targets.exposed_train)),
    };
    let title = format!("attribute inference of {name}");
    Ok([
        CheckResult::attack(
            title.clone(),
            CheckKind::AttributeInference,
            everyone,
            max_risk,
        ),
        CheckResult::exposed_attack(
            format!("{title} (most exposed 1 %)"),
            CheckKind::AttributeInference,
            exposed,
            max_risk,
        ),
    ])
}
