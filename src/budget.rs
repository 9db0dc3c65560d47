//! The privacy planner behind `synthgate budget`: epsilon for a noise multiplier, the noise
//! multiplier for an epsilon, and tables of either across training lengths.
//!
//! Guarantee: the planner counts steps and sampling rates exactly as a run's plan does
//! ([`steps_for_epochs`] is shared with [`crate::plan`]), so a figure read here is the figure a
//! pipeline with the same rows, batch size and epochs is calibrated to.

use std::fmt;

use crate::privacy::{self, Accountant, PrivacyError};

/// Errors of a planner request.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The numbers are outside their domain or cannot be met.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// The request lacks what it needs, e.g. a training length.
    #[error("{0}")]
    Incomplete(String),
}

/// Discriminator DP-SGD steps of `epochs` expected passes at Poisson rate `sampling_rate`:
/// `ceil(epochs / sampling_rate)`, at least one.
pub fn steps_for_epochs(epochs: f64, sampling_rate: f64) -> u64 {
    (epochs / sampling_rate).ceil().max(1.0) as u64
}

/// The Poisson sampling rate of an expected batch of `batch_size` rows out of `rows`.
pub fn sampling_rate_for_batch(batch_size: u64, rows: u64) -> Result<f64, PrivacyError> {
    if rows == 0 || batch_size == 0 {
        return Err(PrivacyError::Invalid(format!(
            "batch size {batch_size} and rows {rows} must both be positive"
        )));
    }
    Ok((batch_size as f64 / rows as f64).min(1.0))
}

/// What the planner is asked for.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The epsilon spent with this noise multiplier.
    NoiseMultiplier(f64),
    /// The smallest noise multiplier that spends at most this epsilon.
    Epsilon(f64),
}

/// One line of a plan: a training length with its noise multiplier and epsilon.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanRow {
    /// expected passes over the rows
    pub epochs: f64,
    /// DP-SGD steps
    pub steps: u64,
    /// noise multiplier (given or calibrated)
    pub noise_multiplier: f64,
    /// epsilon at the planner's delta
    pub epsilon: f64,
}

/// The plan row of `steps` steps at `sampling_rate`: the target's missing half, computed by
/// `accountant` at `delta`.
pub fn plan_row(
    accountant: Accountant,
    sampling_rate: f64,
    steps: u64,
    delta: f64,
    target: Target,
) -> Result<PlanRow, PrivacyError> {
    let (noise_multiplier, epsilon) = match target {
        Target::NoiseMultiplier(noise) => (
            noise,
            privacy::dp_sgd_epsilon(accountant, sampling_rate, noise, steps, delta)?,
        ),
        Target::Epsilon(epsilon) => {
            let noise = privacy::calibrate_noise_multiplier(
                accountant,
                sampling_rate,
                steps,
                epsilon,
                delta,
            )?;
            (
                noise,
                privacy::dp_sgd_epsilon(accountant, sampling_rate, noise, steps, delta)?,
            )
        }
    };
    Ok(PlanRow {
        epochs: steps as f64 * sampling_rate,
        steps,
        noise_multiplier,
        epsilon,
    })
}

/// Training lengths a plan table shows when the user names none: from a quick look to a long
/// run, roughly doubling.
pub const TABLE_EPOCHS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0,
];

/// A plan table with one row per `(epochs, steps)` length (sorted by steps, duplicates removed);
/// [`plan_lengths`] makes the lengths of epoch counts.
pub fn plan_table(
    accountant: Accountant,
    sampling_rate: f64,
    delta: f64,
    target: Target,
    lengths: &[(f64, u64)],
) -> Result<PlanTable, PrivacyError> {
    let mut lengths = lengths.to_vec();
    lengths.sort_by_key(|&(_, steps)| steps);
    lengths.dedup_by_key(|&mut (_, steps)| steps);
    let rows = lengths
        .iter()
        .map(|&(epochs, steps)| {
            let mut row = plan_row(accountant, sampling_rate, steps, delta, target)?;
            row.epochs = epochs;
            Ok(row)
        })
        .collect::<Result<Vec<_>, PrivacyError>>()?;
    Ok(PlanTable {
        accountant,
        sampling_rate,
        delta,
        rows,
    })
}

/// `(epochs, steps)` for each epoch count at `sampling_rate`, counted as a run counts them.
pub fn plan_lengths(epochs: &[f64], sampling_rate: f64) -> Vec<(f64, u64)> {
    epochs
        .iter()
        .map(|&length| (length, steps_for_epochs(length, sampling_rate)))
        .collect()
}

/// A plan table: what `synthgate budget --format table` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanTable {
    /// the accountant used
    pub accountant: Accountant,
    /// Poisson sampling rate of every step
    pub sampling_rate: f64,
    /// delta of every epsilon
    pub delta: f64,
    /// one row per training length
    pub rows: Vec<PlanRow>,
}

impl fmt::Display for PlanTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "accountant {}, sampling rate {:.6}, delta {:e}",
            self.accountant, self.sampling_rate, self.delta
        )?;
        writeln!(
            f,
            "{:>10} {:>10} {:>17} {:>10}",
            "epochs", "steps", "noise multiplier", "epsilon"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:>10.2} {:>10} {:>17.4} {:>10.4}",
                row.epochs, row.steps, row.noise_multiplier, row.epsilon
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_count_steps_like_a_run() {
        assert_eq!(steps_for_epochs(1.0, 0.01), 100);
        assert_eq!(steps_for_epochs(2.5, 0.3), 9);
        assert_eq!(steps_for_epochs(0.0, 0.5), 1);
        assert_eq!(
            sampling_rate_for_batch(1_000, 26_049).unwrap(),
            1_000.0 / 26_049.0
        );
        assert_eq!(sampling_rate_for_batch(500, 100).unwrap(), 1.0);
        assert!(sampling_rate_for_batch(0, 100).is_err());
    }

    #[test]
    fn a_table_grows_in_epsilon_at_fixed_noise_and_in_noise_at_fixed_epsilon() {
        let lengths = plan_lengths(&[10.0, 1.0, 5.0, 5.0], 0.05);
        let by_noise = plan_table(
            Accountant::Rdp,
            0.05,
            1e-5,
            Target::NoiseMultiplier(1.0),
            &lengths,
        )
        .unwrap();
        assert_eq!(by_noise.rows.len(), 3);
        assert_eq!(by_noise.rows[0].epochs, 1.0);
        assert_eq!(by_noise.rows[2].steps, 200);
        assert!(
            by_noise
                .rows
                .windows(2)
                .all(|w| w[0].epsilon < w[1].epsilon)
        );

        let by_epsilon =
            plan_table(Accountant::Pld, 0.05, 1e-5, Target::Epsilon(2.0), &lengths).unwrap();
        assert!(
            by_epsilon
                .rows
                .windows(2)
                .all(|w| w[0].noise_multiplier < w[1].noise_multiplier)
        );
        assert!(by_epsilon.rows.iter().all(|row| row.epsilon <= 2.0));
        let text = by_epsilon.to_string();
        assert!(text.contains("accountant pld"));
        assert_eq!(text.lines().count(), 2 + 3);
    }
}
