//! The privacy ledger: every mechanism a run applies to real data, and their composition.

use serde::Serialize;

use super::pld::{DEFAULT_INTERVAL, PrivacyLossDistribution};
use super::{PrivacyError, rdp};

/// How the ledger turns its entries into one (epsilon, delta) guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accountant {
    /// Rényi DP composition with the conversion of Balle et al. 2020.
    Rdp,
    /// Privacy-loss distributions composed by FFT, discretised pessimistically (see
    /// [`super::pld`]): a smaller certified epsilon than RDP for the same noise.
    Pld,
}

impl Accountant {
    /// The names a pipeline or the command line may use.
    pub const NAMES: [&'static str; 2] = ["pld", "rdp"];
}

impl std::fmt::Display for Accountant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Accountant::Rdp => f.write_str("rdp"),
            Accountant::Pld => f.write_str("pld"),
        }
    }
}

impl std::str::FromStr for Accountant {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "rdp" => Ok(Accountant::Rdp),
            "pld" => Ok(Accountant::Pld),
            other => Err(format!(
                "`{other}` is not an accountant; expected \"pld\" or \"rdp\""
            )),
        }
    }
}

/// One mechanism charged to the ledger.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "mechanism", rename_all = "snake_case")]
pub enum LedgerEntry {
    /// DP-SGD steps of the discriminator: Poisson-subsampled Gaussian.
    DpSgd {
        /// what the steps trained
        purpose: String,
        /// Poisson sampling rate of each step
        sampling_rate: f64,
        /// noise standard deviation over the clipping norm
        noise_multiplier: f64,
        /// number of steps taken
        steps: u64,
    },
}

/// The mechanisms applied to one source in one run. Entries are only ever added.
#[derive(Debug, Clone, Serialize)]
pub struct PrivacyLedger {
    accountant: Accountant,
    delta: f64,
    entries: Vec<LedgerEntry>,
}

impl PrivacyLedger {
    /// An empty ledger that reports epsilon at `delta`.
    pub fn new(accountant: Accountant, delta: f64) -> Self {
        Self {
            accountant,
            delta,
            entries: Vec::new(),
        }
    }

    /// Charge a mechanism.
    pub fn charge(&mut self, entry: LedgerEntry) {
        self.entries.push(entry);
    }

    /// Add `steps` more steps to the last DP-SGD entry with the same parameters, or start one.
    pub fn charge_dp_sgd_steps(
        &mut self,
        purpose: &str,
        sampling_rate: f64,
        noise_multiplier: f64,
        steps: u64,
    ) {
        if let Some(LedgerEntry::DpSgd {
            purpose: last_purpose,
            sampling_rate: last_rate,
            noise_multiplier: last_noise,
            steps: last_steps,
        }) = self.entries.last_mut()
            && last_purpose == purpose
            && *last_rate == sampling_rate
            && *last_noise == noise_multiplier
        {
            *last_steps += steps;
            return;
        }
        self.charge(LedgerEntry::DpSgd {
            purpose: purpose.to_owned(),
            sampling_rate,
            noise_multiplier,
            steps,
        });
    }

    /// The entries so far.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// The accountant in use.
    pub fn accountant(&self) -> Accountant {
        self.accountant
    }

    /// The delta at which epsilon is reported.
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// Total DP-SGD steps recorded.
    pub fn dp_sgd_steps(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| match entry {
                LedgerEntry::DpSgd { steps, .. } => *steps,
            })
            .sum()
    }

    /// Epsilon of all entries composed, by the ledger's accountant.
    ///
    /// RDP: the curves of independent mechanisms add order by order (Mironov 2017, proposition
    /// 1), then one conversion gives epsilon at the ledger's delta. PLD: the loss distributions
    /// of independent mechanisms convolve (Koskela et al. 2020), then epsilon is read at delta.
    pub fn epsilon(&self) -> Result<f64, PrivacyError> {
        if self.entries.is_empty() {
            return Ok(0.0);
        }
        match self.accountant {
            Accountant::Rdp => {
                let orders = rdp::default_orders();
                let mut total = vec![0.0; orders.len()];
                for entry in &self.entries {
                    for (sum, value) in total.iter_mut().zip(entry.rdp_curve(&orders)) {
                        *sum += value;
                    }
                }
                Ok(rdp::epsilon_from_rdp(&orders, &total, self.delta).0)
            }
            Accountant::Pld => {
                let mut composed: Option<PrivacyLossDistribution> = None;
                for entry in &self.entries {
                    let loss = entry.privacy_loss()?;
                    composed = Some(match composed {
                        None => loss,
                        Some(so_far) => so_far.compose(&loss),
                    });
                }
                Ok(composed.map_or(0.0, |pld| pld.epsilon_for_delta(self.delta)))
            }
        }
    }
}

impl LedgerEntry {
    /// The entry's RDP at each of `orders`: what the RDP accountant adds up.
    fn rdp_curve(&self, orders: &[f64]) -> Vec<f64> {
        let LedgerEntry::DpSgd {
            sampling_rate,
            noise_multiplier,
            steps,
            ..
        } = self;
        rdp::subsampled_gaussian_curve(*sampling_rate, *noise_multiplier, *steps, orders)
    }

    /// The entry's privacy-loss distribution: what the PLD accountant convolves.
    fn privacy_loss(&self) -> Result<PrivacyLossDistribution, PrivacyError> {
        let LedgerEntry::DpSgd {
            sampling_rate,
            noise_multiplier,
            steps,
            ..
        } = self;
        Ok(PrivacyLossDistribution::poisson_subsampled_gaussian(
            *sampling_rate,
            *noise_multiplier,
            DEFAULT_INTERVAL,
        )?
        .self_compose(*steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn epsilon_never_decreases_as_steps_are_charged(
            rate in 0.001f64..0.5, noise in 0.5f64..5.0, chunks in prop::collection::vec(1u64..500, 1..6)
        ) {
            let mut ledger = PrivacyLedger::new(Accountant::Rdp, 1e-6);
            let mut last = 0.0;
            for steps in chunks {
                ledger.charge_dp_sgd_steps("discriminator", rate, noise, steps);
                let now = ledger.epsilon().unwrap();
                prop_assert!(now >= last);
                last = now;
            }
        }
    }

    #[test]
    fn steps_charged_in_pieces_equal_one_charge() {
        for accountant in [Accountant::Rdp, Accountant::Pld] {
            let mut pieces = PrivacyLedger::new(accountant, 1e-5);
            pieces.charge_dp_sgd_steps("discriminator", 0.01, 1.1, 400);
            pieces.charge_dp_sgd_steps("discriminator", 0.01, 1.1, 600);
            let whole = super::super::dp_sgd_epsilon(accountant, 0.01, 1.1, 1_000, 1e-5).unwrap();
            assert_eq!(pieces.entries().len(), 1);
            assert!((pieces.epsilon().unwrap() - whole).abs() < 1e-12);
        }
    }

    #[test]
    fn separate_entries_compose_to_the_same_epsilon_as_one() {
        for accountant in [Accountant::Rdp, Accountant::Pld] {
            let mut separate = PrivacyLedger::new(accountant, 1e-5);
            separate.charge(LedgerEntry::DpSgd {
                purpose: "first".to_owned(),
                sampling_rate: 0.02,
                noise_multiplier: 1.0,
                steps: 300,
            });
            separate.charge(LedgerEntry::DpSgd {
                purpose: "second".to_owned(),
                sampling_rate: 0.02,
                noise_multiplier: 1.0,
                steps: 700,
            });
            let whole = super::super::dp_sgd_epsilon(accountant, 0.02, 1.0, 1_000, 1e-5).unwrap();
            let composed = separate.epsilon().unwrap();
            assert!(
                (composed - whole).abs() / whole < 1e-3,
                "{accountant}: {composed} vs {whole}"
            );
        }
    }
}
