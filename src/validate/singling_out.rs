//! Singling out: predicates built from synthetic rows that isolate exactly one real person.
//!
//! Following Anonymeter's multivariate attack (Giomi et al. 2023, section 3.1), each predicate
//! takes a random synthetic row and a random three of the learned columns: a categorical value
//! becomes `column = value`, a numeric value `column >= value` when it lies above the synthetic
//! median and `column <= value` otherwise, a null `column IS NULL`. Only predicates that match
//! exactly one synthetic row are kept, as the attacker would; each is then evaluated on the real
//! people, train and holdout together.
//!
//! Every synthetic row is tried (up to [`TRIES_PER_ROW`] column triples), so the attack builds
//! as many predicates as the synthetic table allows. A predicate singles out a person when it
//! matches them and no other real person, train and holdout together: evaluating on the one
//! population needs none of Anonymeter's corrections for a control set of another size.
//!
//! The risk is per predicate, as in Anonymeter: train and holdout are a random split of one
//! table, so a predicate that does not depend on who trained singles out a train person with
//! probability pi (the train share of the real rows) times its chance of singling out anyone.
//! The rates p_train = hits on train / (predicates x pi) and p_holdout = hits on holdout /
//! (predicates x (1 - pi)) are then equal, and risk = (p_train - p_holdout) / (1 - p_holdout).
//! For the most exposed people, whom few predicates can reach, the rates are per person: the
//! share of exposed train people singled out against exposed holdout people.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::record_batch::RecordBatch;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha20Rng;

use super::distance::{as_f64, as_strings};
use super::stats;
use super::targets::{Outcome, Tally, Targets};
use super::{CheckKind, CheckResult, ValidateError};

/// Columns in one predicate.
pub const PREDICATE_COLUMNS: usize = 3;

/// Column triples tried per synthetic row before the attacker moves on.
pub const TRIES_PER_ROW: usize = 5;

/// The seeded random stream of the predicates.
const PREDICATE_STREAM: u64 = 6;

/// One column of a table, ready for predicates.
enum Values {
    Numeric(Vec<Option<f64>>),
    Codes(Vec<Option<u32>>),
}

/// Tables' learned columns, categorical values coded by one dictionary.
struct Frame {
    columns: Vec<Values>,
    rows: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Condition {
    IsNull(usize),
    AtMost(usize, u64),
    AtLeast(usize, u64),
    Equals(usize, u32),
}

impl Frame {
    fn of(
        batches: &[&RecordBatch],
        columns: &[(String, bool)],
        dictionary: &mut HashMap<String, u32>,
    ) -> Result<Self, ValidateError> {
        let mut out = Vec::with_capacity(columns.len());
        for (name, numeric) in columns {
            let arrays = batches.iter().map(|b| {
                b.column_by_name(name)
                    .ok_or_else(|| ValidateError::BadKnownColumn {
                        column: name.clone(),
                        reason: "the table has no such column".to_owned(),
                    })
            });
            if *numeric {
                let mut values = Vec::new();
                for array in arrays {
                    values.extend(as_f64(array?)?.iter());
                }
                out.push(Values::Numeric(values));
            } else {
                let mut codes = Vec::new();
                for array in arrays {
                    for value in as_strings(array?)?.iter() {
                        codes.push(value.map(|v| {
                            let next = dictionary.len() as u32;
                            *dictionary.entry(v.to_owned()).or_insert(next)
                        }));
                    }
                }
                out.push(Values::Codes(codes));
            }
        }
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        Ok(Self { columns: out, rows })
    }

    fn holds(&self, row: usize, condition: Condition) -> bool {
        match condition {
            Condition::IsNull(c) => match &self.columns[c] {
                Values::Numeric(v) => v[row].is_none(),
                Values::Codes(v) => v[row].is_none(),
            },
            Condition::AtMost(c, bits) => self
                .numeric(c, row)
                .is_some_and(|v| v <= f64::from_bits(bits)),
            Condition::AtLeast(c, bits) => self
                .numeric(c, row)
                .is_some_and(|v| v >= f64::from_bits(bits)),
            Condition::Equals(c, code) => match &self.columns[c] {
                Values::Codes(v) => v[row] == Some(code),
                Values::Numeric(_) => false,
            },
        }
    }

    fn numeric(&self, column: usize, row: usize) -> Option<f64> {
        match &self.columns[column] {
            Values::Numeric(v) => v[row],
            Values::Codes(_) => None,
        }
    }

    /// Rows matching every condition, counted up to two, and the first one.
    fn matches(&self, predicate: &[Condition]) -> (usize, usize) {
        let (mut count, mut first) = (0, 0);
        for row in 0..self.rows {
            if predicate.iter().all(|&c| self.holds(row, c)) {
                if count == 0 {
                    first = row;
                }
                count += 1;
                if count == 2 {
                    break;
                }
            }
        }
        (count, first)
    }

    fn medians(&self) -> Vec<f64> {
        self.columns
            .iter()
            .map(|values| match values {
                Values::Numeric(v) => {
                    let mut present: Vec<f64> = v.iter().flatten().copied().collect();
                    present.sort_by(f64::total_cmp);
                    present.get(present.len() / 2).copied().unwrap_or(0.0)
                }
                Values::Codes(_) => 0.0,
            })
            .collect()
    }

    /// For each row, the first of [`TRIES_PER_ROW`] random predicates through it that matches
    /// no other row of this table.
    fn predicates(&self, rng: &mut ChaCha20Rng) -> Vec<Vec<Condition>> {
        let medians = self.medians();
        let per = PREDICATE_COLUMNS.min(self.columns.len());
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        if per == 0 {
            return kept;
        }
        for row in 0..self.rows {
            for _ in 0..TRIES_PER_ROW {
                let mut columns = sample(rng, self.columns.len(), per).into_vec();
                columns.sort_unstable();
                let predicate: Vec<Condition> = columns
                    .into_iter()
                    .map(|c| self.condition(c, row, medians[c]))
                    .collect();
                if !seen.insert(predicate.clone()) {
                    continue;
                }
                if self.matches(&predicate).0 == 1 {
                    kept.push(predicate);
                    break;
                }
            }
        }
        kept
    }

    /// The condition on `column` through `row`'s value.
    fn condition(&self, column: usize, row: usize, median: f64) -> Condition {
        match &self.columns[column] {
            Values::Numeric(v) => match v[row] {
                None => Condition::IsNull(column),
                Some(x) if x > median => Condition::AtLeast(column, x.to_bits()),
                Some(x) => Condition::AtMost(column, x.to_bits()),
            },
            Values::Codes(v) => match v[row] {
                None => Condition::IsNull(column),
                Some(code) => Condition::Equals(column, code),
            },
        }
    }

    /// For each predicate, the row of this table it singles out, if any.
    fn singled_out(&self, predicates: &[Vec<Condition>]) -> Vec<Option<usize>> {
        predicates
            .iter()
            .map(|p| match self.matches(p) {
                (1, row) => Some(row),
                _ => None,
            })
            .collect()
    }
}

/// The singling-out checks over every person and over the most exposed.
pub(super) fn singling_out(
    tables: (&RecordBatch, &RecordBatch, &RecordBatch, &RecordBatch),
    columns: &[(String, bool)],
    targets: &Targets,
    max_risk: f64,
    seed: u64,
) -> Result<[CheckResult; 2], ValidateError> {
    let (train, holdout, synthetic, baseline) = tables;
    let mut dictionary = HashMap::new();
    let real = Frame::of(&[train, holdout], columns, &mut dictionary)?;
    let synthetic = Frame::of(&[synthetic], columns, &mut dictionary)?;
    let baseline = Frame::of(&[baseline], columns, &mut dictionary)?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(PREDICATE_STREAM);
    let attack = synthetic.predicates(&mut rng);
    let naive = baseline.predicates(&mut rng);
    tracing::debug!(
        predicates = attack.len(),
        baseline_predicates = naive.len(),
        "singling-out predicates"
    );
    let found = real.singled_out(&attack);
    let found_naive = real.singled_out(&naive);

    let n_train = train.num_rows();
    let n_real = real.rows;

    // per predicate over every person
    let hits = |found: &[Option<usize>]| {
        let train_hits = found.iter().flatten().filter(|&&r| r < n_train).count() as u64;
        let holdout_hits = found.iter().flatten().count() as u64 - train_hits;
        (train_hits, holdout_hits)
    };
    let (train_hits, holdout_hits) = hits(&found);
    let (naive_hits, _) = hits(&found_naive);
    let pi = n_train as f64 / n_real as f64;
    let per_train_share = |k: u64, trials: usize| {
        if trials == 0 {
            0.0
        } else {
            (k as f64 / (trials as f64 * pi)).min(1.0)
        }
    };
    let risk = stats::predicate_risk(train_hits, holdout_hits, attack.len() as u64, pi);
    let mut everyone = CheckResult::from_risk(
        "singling out".to_owned(),
        CheckKind::SinglingOut,
        risk,
        per_train_share(train_hits, attack.len()),
        per_train_share(naive_hits, naive.len()),
        max_risk,
    )
    .refusing_on_evidence(max_risk);
    everyone
        .details
        .insert("predicates".to_owned(), attack.len().into());

    // per person over the most exposed
    let flags = |found: &[Option<usize>], offset: usize, rows: usize| -> Vec<bool> {
        let mut flags = vec![false; rows];
        for &row in found.iter().flatten() {
            if (offset..offset + rows).contains(&row) {
                flags[row - offset] = true;
            }
        }
        flags
    };
    let train_flags = flags(&found, 0, n_train);
    let holdout_flags = flags(&found, n_train, holdout.num_rows());
    let baseline_flags = flags(&found_naive, 0, n_train);
    let exposed_train = targets.exposed_train_rows();
    let outcome = Outcome {
        train: Tally::of(&train_flags, Some(&exposed_train)),
        holdout: Tally::of(&holdout_flags, Some(&targets.exposed_holdout_rows())),
        baseline: Tally::of(&baseline_flags, Some(&exposed_train)),
    };
    let exposed = CheckResult::exposed_attack(
        "singling out (most exposed 1 %)".to_owned(),
        CheckKind::SinglingOut,
        outcome,
        max_risk,
    );
    Ok([everyone, exposed])
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(x: Vec<Option<f64>>, c: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("c", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(x)),
                Arc::new(StringArray::from(c)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn predicates_match_as_sql_would() {
        let table = batch(
            vec![Some(1.0), Some(5.0), None, Some(5.0)],
            vec![Some("a"), Some("b"), Some("b"), None],
        );
        let columns = vec![("x".to_owned(), true), ("c".to_owned(), false)];
        let mut dictionary = HashMap::new();
        let frame = Frame::of(&[&table], &columns, &mut dictionary).unwrap();
        let b = dictionary["b"];
        // x >= 5 AND c = 'b': row 1 only (row 3's c is null, row 2's x is null)
        let p = [
            Condition::AtLeast(0, 5.0f64.to_bits()),
            Condition::Equals(1, b),
        ];
        assert_eq!(frame.matches(&p), (1, 1));
        // x <= 5: rows 0, 1, 3 (never the null), counted up to two
        assert_eq!(
            frame.matches(&[Condition::AtMost(0, 5.0f64.to_bits())]),
            (2, 0)
        );
        assert_eq!(frame.matches(&[Condition::IsNull(0)]), (1, 2));
        assert_eq!(frame.matches(&[Condition::IsNull(1)]), (1, 3));
        let kept = frame.predicates(&mut ChaCha20Rng::seed_from_u64(1));
        assert!(!kept.is_empty());
        for p in &kept {
            assert_eq!(frame.matches(p).0, 1);
        }
    }
}
