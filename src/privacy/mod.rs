//! Privacy accounting and the randomness that privacy depends on.
//!
//! Guarantees:
//! - every mechanism that reads real data is recorded in a [`PrivacyLedger`] before it runs, and
//!   the ledger's epsilon is the composition of all of them, by privacy-loss distributions
//!   ([`pld`], the default) or Rényi DP ([`rdp`]), each an upper bound of the true epsilon;
//! - the noise multiplier of DP-SGD is calibrated before training for the exact number of
//!   planned steps, so the run never spends more than its target epsilon;
//! - preprocessing (DP bounds, distribution functions, category discovery) is one Gaussian
//!   mechanism of noisy counts, composed in the same ledger as DP-SGD;
//! - privacy noise and Poisson sampling draw from [`PrivacyRng`], a ChaCha20 generator seeded by
//!   the operating system, never from the pipeline's seed.

mod calibrate;
mod ledger;
pub mod lifetime;
mod noise;
pub mod pld;
pub mod rdp;

pub use calibrate::{
    PrivacyError, calibrate_noise_multiplier, calibrate_noise_multiplier_after, dp_sgd_epsilon,
};
pub use ledger::{Accountant, LedgerEntry, PrivacyLedger};
pub use noise::PrivacyRng;
