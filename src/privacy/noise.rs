//! Randomness for privacy mechanisms: OS-seeded ChaCha20.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;

/// The generator of privacy noise and Poisson sampling decisions.
///
/// Seeded from the operating system on creation: no pipeline seed reaches it, so a published
/// model cannot be replayed to subtract its noise. Its `Debug` shows no state.
pub struct PrivacyRng(ChaCha20Rng);

impl std::fmt::Debug for PrivacyRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivacyRng(..)")
    }
}

impl PrivacyRng {
    /// A generator seeded by the operating system.
    pub fn from_os() -> Self {
        Self(ChaCha20Rng::from_os_rng())
    }

    /// One Poisson-sampling decision per record: `true` with probability `sampling_rate`.
    pub fn poisson_sample(&mut self, record_count: usize, sampling_rate: f64) -> Vec<usize> {
        (0..record_count)
            .filter(|_| self.0.random::<f64>() < sampling_rate)
            .collect()
    }

    /// One draw of N(0, std_dev^2).
    pub fn gaussian_f64(&mut self, std_dev: f64) -> f64 {
        let z: f64 = self.0.sample(StandardNormal);
        z * std_dev
    }

    /// `count` independent draws of N(0, std_dev^2).
    pub fn gaussian(&mut self, count: usize, std_dev: f64) -> Vec<f32> {
        (0..count)
            .map(|_| {
                let z: f64 = self.0.sample(StandardNormal);
                (z * std_dev) as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_state() {
        assert_eq!(format!("{:?}", PrivacyRng::from_os()), "PrivacyRng(..)");
    }

    #[test]
    fn poisson_batches_have_the_expected_size() {
        let mut rng = PrivacyRng::from_os();
        let total: usize = (0..200)
            .map(|_| rng.poisson_sample(1_000, 0.05).len())
            .sum();
        // mean 50 per batch, standard error of the 200-batch mean about 0.49
        let mean = total as f64 / 200.0;
        assert!((mean - 50.0).abs() < 3.0, "mean batch {mean}");
    }
}
