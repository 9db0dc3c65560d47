//! The privacy ledger: every mechanism a run applies to real data, and their composition.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Noisy counts (histograms, distinct counts) of the preprocessing, each query of L2
    /// sensitivity 1 with its own Gaussian noise. Together they are one Gaussian mechanism whose
    /// noise multiplier is `(sum over queries of 1 / sigma_i^2)^(-1/2)`: the composition of
    /// Gaussian mechanisms, adaptive or not, is exactly Gaussian in that way (Dong, Roth and
    /// Su 2019, "Gaussian differential privacy", corollary 3.3, with mu_i = 1 / sigma_i).
    GaussianCounts {
        /// what the counts found
        purpose: String,
        /// number of count queries (one histogram is one query)
        queries: u64,
        /// noise multiplier of the whole mechanism
        noise_multiplier: f64,
        /// the probability that thresholding releases a key held by a single person: paid
        /// additively in delta (see [`PrivacyLedger::epsilon`])
        threshold_delta: f64,
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

    /// A ledger holding `entries`, as a checkpoint recorded them: the run that resumes from it
    /// has already spent them.
    pub fn restore(accountant: Accountant, delta: f64, entries: Vec<LedgerEntry>) -> Self {
        Self {
            accountant,
            delta,
            entries,
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
                LedgerEntry::GaussianCounts { .. } => 0,
            })
            .sum()
    }

    /// The delta that thresholded counts spend outside the accountant.
    pub fn threshold_delta(&self) -> f64 {
        self.entries
            .iter()
            .map(|entry| match entry {
                LedgerEntry::GaussianCounts {
                    threshold_delta, ..
                } => *threshold_delta,
                LedgerEntry::DpSgd { .. } => 0.0,
            })
            .sum()
    }

    /// Epsilon of all entries composed, by the ledger's accountant, at the ledger's delta.
    ///
    /// RDP: the curves of independent mechanisms add order by order (Mironov 2017, proposition
    /// 1), then one conversion gives epsilon. PLD: the loss distributions of independent
    /// mechanisms convolve (Koskela et al. 2020), then epsilon is read off.
    ///
    /// Thresholded counts (category discovery) are not a Gaussian mechanism: a key that only the
    /// added person holds can appear. Let `p` be the probability that any such key passes the
    /// threshold (at most the entries' `threshold_delta`). Without such a key the output is a
    /// post-processing of the Gaussian counts of the keys both neighbours share, and the new key's
    /// noise is independent of the rest, so for every event `S` of the whole run's output:
    /// `P_with(S) <= P_with(S, no new key) + p <= e^eps P_without(S) + delta_acc + p`, and
    /// `P_without(S) <= e^eps P_with(S | no new key) + delta_acc`, which is at most
    /// `e^eps / (1 - p) P_with(S) + delta_acc`. So the run is `(eps_acc + ln(1 / (1 - p)), delta_acc + p)`-DP, where
    /// `eps_acc` is the accountant's epsilon at `delta_acc = delta - p`. (The same argument as
    /// the thresholded histograms of Korolova et al. 2009, "Releasing search queries and clicks
    /// privately", and Wilson et al. 2020, "Differentially private SQL with bounded user
    /// contribution".)
    pub fn epsilon(&self) -> Result<f64, PrivacyError> {
        if self.entries.is_empty() {
            return Ok(0.0);
        }
        let threshold_delta = self.threshold_delta();
        let delta = self.delta - threshold_delta;
        if delta <= 0.0 || delta.is_nan() {
            return Err(PrivacyError::Invalid(format!(
                "thresholding spends delta {threshold_delta:e}, all of the run's delta {:e}",
                self.delta
            )));
        }
        let epsilon = match self.accountant {
            Accountant::Rdp => {
                let orders = rdp::default_orders();
                let mut total = vec![0.0; orders.len()];
                for entry in &self.entries {
                    for (sum, value) in total.iter_mut().zip(entry.rdp_curve(&orders)) {
                        *sum += value;
                    }
                }
                rdp::epsilon_from_rdp(&orders, &total, delta).0
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
                composed.map_or(0.0, |pld| pld.epsilon_for_delta(delta))
            }
        };
        Ok(epsilon - (-threshold_delta).ln_1p())
    }
}

impl LedgerEntry {
    /// The entry as Poisson-subsampled Gaussian steps: (sampling rate, noise multiplier, steps).
    /// Counts without subsampling are sampling rate 1 and one step.
    fn as_gaussian_steps(&self) -> (f64, f64, u64) {
        match self {
            LedgerEntry::DpSgd {
                sampling_rate,
                noise_multiplier,
                steps,
                ..
            } => (*sampling_rate, *noise_multiplier, *steps),
            LedgerEntry::GaussianCounts {
                noise_multiplier, ..
            } => (1.0, *noise_multiplier, 1),
        }
    }

    /// The entry's RDP at each of `orders`: what the RDP accountant adds up.
    fn rdp_curve(&self, orders: &[f64]) -> Vec<f64> {
        let (sampling_rate, noise_multiplier, steps) = self.as_gaussian_steps();
        rdp::subsampled_gaussian_curve(sampling_rate, noise_multiplier, steps, orders)
    }

    /// The entry's privacy-loss distribution: what the PLD accountant convolves.
    fn privacy_loss(&self) -> Result<PrivacyLossDistribution, PrivacyError> {
        let (sampling_rate, noise_multiplier, steps) = self.as_gaussian_steps();
        Ok(PrivacyLossDistribution::poisson_subsampled_gaussian(
            sampling_rate,
            noise_multiplier,
            DEFAULT_INTERVAL,
        )?
        .self_compose(steps))
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

    #[test]
    fn gaussian_counts_are_one_gaussian_step_and_thresholds_pay_in_delta_and_epsilon() {
        let (sigma, delta, threshold) = (4.0, 1e-6, 1e-7);
        for accountant in [Accountant::Rdp, Accountant::Pld] {
            let mut ledger = PrivacyLedger::new(accountant, delta);
            ledger.charge(LedgerEntry::GaussianCounts {
                purpose: "counts".to_owned(),
                queries: 5,
                noise_multiplier: sigma,
                threshold_delta: threshold,
            });
            // the Gaussian mechanism is the subsampled one at rate 1, one step, at the delta
            // the threshold leaves
            let gaussian =
                super::super::dp_sgd_epsilon(accountant, 1.0, sigma, 1, delta - threshold).unwrap();
            let expected = gaussian - (-threshold).ln_1p();
            assert!(
                (ledger.epsilon().unwrap() - expected).abs() < 1e-12,
                "{accountant}"
            );
            assert_eq!(ledger.threshold_delta(), threshold);
            assert_eq!(ledger.dp_sgd_steps(), 0);

            // a threshold that spends the whole delta leaves no guarantee to report
            let mut broke = PrivacyLedger::new(accountant, delta);
            broke.charge(LedgerEntry::GaussianCounts {
                purpose: "counts".to_owned(),
                queries: 1,
                noise_multiplier: sigma,
                threshold_delta: delta,
            });
            assert!(broke.epsilon().is_err());
        }
    }
}
