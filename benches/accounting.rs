//! Accounting speed: PLD and RDP epsilon for long plans, and PLD calibration of the shipped
//! pipelines' plans. `cargo bench --bench accounting`; the README records the latest figures.
//!
//! Each figure is the median of several runs, printed with the spread, because these machines
//! are shared and noisy.

use std::time::Instant;

use synthgate::budget::{sampling_rate_for_batch, steps_for_epochs};
use synthgate::privacy::{Accountant, calibrate_noise_multiplier, dp_sgd_epsilon};

fn median_seconds(repeats: usize, mut work: impl FnMut() -> f64) -> (f64, f64, f64, f64) {
    let mut times = Vec::with_capacity(repeats);
    let mut value = 0.0;
    for _ in 0..repeats {
        let start = Instant::now();
        value = work();
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[repeats / 2], times[0], times[repeats - 1], value)
}

fn report(label: &str, repeats: usize, work: impl FnMut() -> f64) -> f64 {
    let (median, fastest, slowest, value) = median_seconds(repeats, work);
    println!(
        "{label:<58} median {median:>8.3} s  (min {fastest:.3}, max {slowest:.3}, n {repeats})  \
         -> {value:.6}"
    );
    median
}

fn main() {
    println!("epsilon of 100,000 steps (q = 0.001, noise 0.6, delta 1e-7)");
    let pld = report("  pld", 5, || {
        dp_sgd_epsilon(Accountant::Pld, 0.001, 0.6, 100_000, 1e-7).unwrap()
    });
    let rdp = report("  rdp", 5, || {
        dp_sgd_epsilon(Accountant::Rdp, 0.001, 0.6, 100_000, 1e-7).unwrap()
    });
    println!("  pld / rdp time: {:.1}", pld / rdp);

    // The plans of pipelines/demo.toml and pipelines/adult.toml at their epsilon and delta
    // (train rows = rows less the 20 % holdout).
    let plans = [
        (
            "demo (800 train rows, batch 200, 300 epochs, eps 1)",
            200,
            800,
            300.0,
            1.0,
            1e-6,
        ),
        (
            "adult (26,049 train rows, batch 1000, 50 epochs, eps 1)",
            1_000,
            26_049,
            50.0,
            1.0,
            1e-6,
        ),
    ];
    for (label, batch_size, rows, epochs, epsilon, delta) in plans {
        let rate = sampling_rate_for_batch(batch_size, rows).unwrap();
        let steps = steps_for_epochs(epochs, rate);
        println!("calibration, {label}: {steps} steps at rate {rate:.5}");
        for accountant in [Accountant::Pld, Accountant::Rdp] {
            report(&format!("  {accountant} noise multiplier"), 3, || {
                calibrate_noise_multiplier(accountant, rate, steps, epsilon, delta).unwrap()
            });
        }
    }
}
