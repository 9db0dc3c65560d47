//! Per-example gradients of the discriminator's real-data loss, their clipping, and the private
//! discriminator step.
//!
//! For a linear layer `z = a W^T + b`, example `i`'s gradient of `W` is the outer product
//! `g_i a_i^T` of its backpropagated signal `g_i = dL_i/dz_i` and its input `a_i`, and its
//! gradient of `b` is `g_i` (Goodfellow 2015, "Efficient per-example gradient computations").
//! So `||grad_i||^2 = sum_l ||g_{l,i}||^2 (||a_{l,i}||^2 + 1)` is known without forming any
//! per-example gradient, and the clipped sum `sum_i c_i g_i a_i^T = (c * G)^T A` costs one matrix
//! product per layer ("ghost clipping", Li, Tramèr, Liang, Hashimoto 2022, section 4). The
//! signals `g_{l,i}` are the gradients of zero probes added to each pre-activation.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use super::discriminator::Discriminator;
use super::{ModelError, softplus};
use crate::privacy::PrivacyRng;

/// Backpropagated signals and inputs of every layer for a batch of real rows.
pub struct LayerSignals {
    /// per layer: (signal `G: (batch, out)`, input `A: (batch, in)`)
    pub layers: Vec<(Tensor, Tensor)>,
    /// the summed loss of the batch
    pub loss_sum: f32,
}

/// Which term of the discriminator's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// `L_i = softplus(-D(x_i))` on a real row: raises D on real rows.
    Real,
    /// `L_i = softplus(D(x_i))` on a generated row: lowers D on generated rows.
    Fake,
}

/// Signals of the real-data loss `L_i = softplus(-D(x_i))` for `xs: (batch, width)`.
pub fn real_loss_signals(
    discriminator: &Discriminator,
    xs: &Tensor,
) -> candle_core::Result<LayerSignals> {
    loss_signals(discriminator, xs, Term::Real)
}

/// Signals of one term of the loss for `xs: (batch, width)`.
pub fn loss_signals(
    discriminator: &Discriminator,
    xs: &Tensor,
    term: Term,
) -> candle_core::Result<LayerSignals> {
    let forward = discriminator.forward_probed(xs)?;
    let logits = match term {
        Term::Real => forward.logits.neg()?,
        Term::Fake => forward.logits.clone(),
    };
    // Summing the per-example losses makes each probe's gradient row the example's own signal.
    let loss = softplus(&logits)?.sum_all()?;
    let grads = loss.backward()?;
    let loss_sum = loss.to_scalar::<f32>()?;
    let mut layers = Vec::with_capacity(forward.probes.len());
    for (probe, input) in forward.probes.iter().zip(forward.inputs) {
        let signal = match grads.get(probe.as_tensor()) {
            Some(signal) => signal.clone(),
            None => probe.as_tensor().zeros_like()?,
        };
        layers.push((signal, input));
    }
    Ok(LayerSignals { layers, loss_sum })
}

impl LayerSignals {
    /// Each example's full gradient L2 norm, (batch).
    pub fn norms(&self) -> candle_core::Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for (signal, input) in &self.layers {
            let layer = (signal.sqr()?.sum(1)? * (input.sqr()?.sum(1)? + 1.0)?)?;
            total = Some(match total {
                None => layer,
                Some(sum) => (sum + layer)?,
            });
        }
        match total {
            Some(total) => total.sqrt(),
            None => candle_core::bail!("a discriminator without layers"),
        }
    }

    /// Clipping factors `min(1, max_norm / ||grad_i||)`, (batch, 1).
    pub fn clip_factors(&self, max_norm: f64) -> candle_core::Result<Tensor> {
        let norms = self.norms()?;
        let factors = (norms.clamp(1e-12, f64::MAX)?.recip()? * max_norm)?.clamp(0.0, 1.0)?;
        factors.unsqueeze(1)
    }

    /// Sum over the batch of the clipped per-example gradients, as (weight, bias) per layer.
    pub fn clipped_sum(&self, max_norm: f64) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
        let factors = self.clip_factors(max_norm)?;
        self.layers
            .iter()
            .map(|(signal, input)| {
                let scaled = signal.broadcast_mul(&factors)?;
                Ok((scaled.t()?.matmul(input)?, scaled.sum(0)?))
            })
            .collect()
    }

    /// Example `i`'s gradient, (weight, bias) per layer, materialised (for tests and checks).
    pub fn example_gradient(&self, i: usize) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
        self.layers
            .iter()
            .map(|(signal, input)| {
                let g = signal.narrow(0, i, 1)?;
                let a = input.narrow(0, i, 1)?;
                Ok((g.t()?.matmul(&a)?, g.squeeze(0)?))
            })
            .collect()
    }
}

/// What one private discriminator step measured.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    /// real rows in the Poisson batch
    pub batch_rows: usize,
    /// mean discriminator loss on the fake rows
    pub fake_loss: f32,
}

/// Parameters of the private step.
#[derive(Debug, Clone, Copy)]
pub struct DpSgdParameters {
    /// L2 clipping norm
    pub max_grad_norm: f64,
    /// noise standard deviation over the clipping norm
    pub noise_multiplier: f64,
    /// expected Poisson batch size, the divisor of the noisy sum
    pub expected_batch_size: f64,
}

/// One DP-SGD discriminator step (DESIGN.md, "One discriminator step"): clipped per-example
/// gradients of the real term summed, Gaussian noise of standard deviation
/// `noise_multiplier * max_grad_norm` added to every coordinate, divided by the expected batch
/// size; plus the gradient of the fake term, which touches no real row; then the optimizer.
///
/// The fake term's per-example gradients are clipped to the same norm and averaged over the fake
/// rows. That costs no privacy; it keeps the two terms on one scale, as when one per-example
/// clip covers the whole discriminator loss (Xie et al. 2018, "Differentially Private Generative
/// Adversarial Network"). Left unclipped, the fake term outweighs the clipped real term and the
/// discriminator learns to lower its output everywhere instead of telling the rows apart.
///
/// `real` may have zero rows (an empty Poisson batch): the noise is added all the same, as the
/// accountant assumes.
pub fn private_step<O: Optimizer>(
    discriminator: &Discriminator,
    optimizer: &mut O,
    real: &Tensor,
    fake: &Tensor,
    parameters: DpSgdParameters,
    rng: &mut PrivacyRng,
) -> Result<StepStats, ModelError> {
    let batch_rows = real.dim(0)?;
    let fake = fake.detach();
    let fake_rows = fake.dim(0)?;
    // Both terms in one pass: the rows are independent, so each example's signals are the same
    // as in a pass of its own term alone.
    let signals = mixed_loss_signals(discriminator, real, &fake)?;
    let fake_loss = signals.fake_loss_sum / fake_rows.max(1) as f32;
    // Every example clipped to the norm, then weighted: real rows by 1 / the expected batch
    // size (the divisor of the noisy sum), generated rows by 1 / their number. One weighted
    // product per layer then gives (clipped real sum) / B + (clipped fake sum) / F, to which
    // the real sum's noise, divided by B, is added.
    let factors = signals.signals.clip_factors(parameters.max_grad_norm)?;
    let weights = {
        let mut w = Vec::with_capacity(batch_rows + fake_rows);
        w.extend(std::iter::repeat_n(
            (1.0 / parameters.expected_batch_size) as f32,
            batch_rows,
        ));
        w.extend(std::iter::repeat_n(
            1.0 / fake_rows.max(1) as f32,
            fake_rows,
        ));
        Tensor::from_vec(w, (batch_rows + fake_rows, 1), real.device())?
    };
    let weights = (factors * weights)?;
    let noise_std = parameters.noise_multiplier * parameters.max_grad_norm;
    let mut store = GradStore::default();
    for (layer, (signal, input)) in discriminator.layers().iter().zip(&signals.signals.layers) {
        let scaled = signal.broadcast_mul(&weights)?;
        for (var, sum) in [
            (&layer.weight, scaled.t()?.matmul(input)?),
            (&layer.bias, scaled.sum(0)?),
        ] {
            let noise = noisy_sum(var, None, noise_std, rng)?;
            let gradient = (sum + (noise / parameters.expected_batch_size)?)?;
            store.insert(var.as_tensor(), gradient);
        }
    }
    optimizer.step(&store)?;
    Ok(StepStats {
        batch_rows,
        fake_loss,
    })
}

/// Signals of a batch of real rows and generated rows together, real rows first.
struct MixedSignals {
    signals: LayerSignals,
    /// the summed loss of the generated rows
    fake_loss_sum: f32,
}

/// Signals of `L_i = softplus(-D(x_i))` for the rows of `real` and `softplus(D(x_i))` for the
/// rows of `fake`, in one forward and one backward pass over both.
fn mixed_loss_signals(
    discriminator: &Discriminator,
    real: &Tensor,
    fake: &Tensor,
) -> candle_core::Result<MixedSignals> {
    let (real_rows, fake_rows) = (real.dim(0)?, fake.dim(0)?);
    let xs = Tensor::cat(&[real, fake], 0)?;
    let signs = {
        let mut s = vec![-1.0f32; real_rows];
        s.extend(std::iter::repeat_n(1.0f32, fake_rows));
        Tensor::from_vec(s, (real_rows + fake_rows, 1), xs.device())?
    };
    let forward = discriminator.forward_probed(&xs)?;
    let losses = softplus(&(forward.logits * signs)?)?;
    let grads = losses.sum_all()?.backward()?;
    let fake_loss_sum = losses
        .narrow(0, real_rows, fake_rows)?
        .sum_all()?
        .to_scalar::<f32>()?;
    let loss_sum = losses.sum_all()?.to_scalar::<f32>()?;
    let mut layers = Vec::with_capacity(forward.probes.len());
    for (probe, input) in forward.probes.iter().zip(forward.inputs) {
        let signal = match grads.get(probe.as_tensor()) {
            Some(signal) => signal.clone(),
            None => probe.as_tensor().zeros_like()?,
        };
        layers.push((signal, input));
    }
    Ok(MixedSignals {
        signals: LayerSignals { layers, loss_sum },
        fake_loss_sum,
    })
}

fn noisy_sum(
    var: &Var,
    sum: Option<&Tensor>,
    std_dev: f64,
    rng: &mut PrivacyRng,
) -> candle_core::Result<Tensor> {
    let noise = Tensor::from_vec(
        rng.gaussian(var.elem_count(), std_dev),
        var.shape(),
        var.device(),
    )?;
    match sum {
        Some(sum) => sum + noise,
        None => Ok(noise),
    }
}

/// Flattens a (weight, bias) list into one vector (for norms in tests and checks).
pub fn flatten(gradient: &[(Tensor, Tensor)]) -> candle_core::Result<Vec<f32>> {
    let mut out = Vec::new();
    for (w, b) in gradient {
        out.extend(w.flatten_all()?.to_vec1::<f32>()?);
        out.extend(b.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InitRng;
    use candle_core::Device;

    fn setup(batch: usize) -> (Discriminator, Tensor) {
        let mut rng = InitRng::from_seed(3);
        let device = Device::Cpu;
        let discriminator = Discriminator::new(6, &[16, 8], &mut rng, &device).unwrap();
        let xs = Tensor::from_vec(rng.normal(batch * 6), (batch, 6), &device).unwrap();
        (discriminator, (xs * 2.0).unwrap())
    }

    /// The gradient of `softplus(-D(x))` for one example by an ordinary backward pass.
    fn single_example_gradient(discriminator: &Discriminator, x: &Tensor) -> Vec<(Tensor, Tensor)> {
        let loss = softplus(&discriminator.forward(x).unwrap().neg().unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        discriminator
            .layers()
            .iter()
            .map(|layer| {
                (
                    grads.get(layer.weight.as_tensor()).unwrap().clone(),
                    grads.get(layer.bias.as_tensor()).unwrap().clone(),
                )
            })
            .collect()
    }

    #[test]
    fn per_example_gradients_equal_single_example_backward_passes() {
        let (discriminator, xs) = setup(12);
        let signals = real_loss_signals(&discriminator, &xs).unwrap();
        let norms = signals.norms().unwrap().to_vec1::<f32>().unwrap();
        for (i, computed_norm) in norms.iter().enumerate() {
            let expected = flatten(&single_example_gradient(
                &discriminator,
                &xs.narrow(0, i, 1).unwrap(),
            ))
            .unwrap();
            let actual = flatten(&signals.example_gradient(i).unwrap()).unwrap();
            let max_diff = expected
                .iter()
                .zip(&actual)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                max_diff < 1e-5,
                "example {i}: max abs difference {max_diff}"
            );
            let norm = expected.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(
                (norm - computed_norm).abs() <= 1e-4 * norm.max(1.0),
                "example {i}: norm {norm} vs {computed_norm}"
            );
        }
    }

    #[test]
    fn clipped_sum_equals_the_sum_of_clipped_single_example_gradients() {
        let (discriminator, xs) = setup(10);
        let max_norm = 0.05;
        let signals = real_loss_signals(&discriminator, &xs).unwrap();
        let clipped_sum = flatten(&signals.clipped_sum(max_norm).unwrap()).unwrap();
        let mut expected = vec![0.0f32; clipped_sum.len()];
        for i in 0..10 {
            let gradient = flatten(&single_example_gradient(
                &discriminator,
                &xs.narrow(0, i, 1).unwrap(),
            ))
            .unwrap();
            let norm = gradient.iter().map(|v| v * v).sum::<f32>().sqrt();
            let factor = (max_norm as f32 / norm).min(1.0);
            for (sum, g) in expected.iter_mut().zip(gradient) {
                *sum += factor * g;
            }
        }
        let max_diff = expected
            .iter()
            .zip(&clipped_sum)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_diff < 1e-5, "max abs difference {max_diff}");
    }

    #[test]
    fn every_clipped_gradient_is_within_the_bound() {
        for max_norm in [1e-3, 0.1, 1.0, 10.0] {
            let (discriminator, xs) = setup(32);
            let signals = real_loss_signals(&discriminator, &xs).unwrap();
            let factors = signals
                .clip_factors(max_norm)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (i, factor) in factors.iter().enumerate() {
                let gradient = flatten(&signals.example_gradient(i).unwrap()).unwrap();
                let clipped_norm =
                    f64::from(factor * gradient.iter().map(|v| v * v).sum::<f32>().sqrt());
                assert!(
                    clipped_norm <= max_norm * (1.0 + 1e-6),
                    "norm {clipped_norm} > {max_norm}"
                );
            }
        }
    }

    #[test]
    fn one_pass_step_equals_the_separately_clipped_real_and_fake_sums() {
        // Noise off, plain SGD at learning rate 1: the update is exactly
        // -(clipped real sum / expected batch + clipped fake sum / fake rows).
        let (discriminator, real) = setup(9);
        let fake =
            (Tensor::ones((5, 6), candle_core::DType::F32, &Device::Cpu).unwrap() * 1.5).unwrap();
        let real_sums = real_loss_signals(&discriminator, &real)
            .unwrap()
            .clipped_sum(0.3)
            .unwrap();
        let fake_sums = loss_signals(&discriminator, &fake, Term::Fake)
            .unwrap()
            .clipped_sum(0.3)
            .unwrap();
        let expected: Vec<f32> = real_sums
            .iter()
            .zip(&fake_sums)
            .flat_map(|((rw, rb), (fw, fb))| [(rw, fw), (rb, fb)])
            .flat_map(|(r, f)| {
                ((r / 12.0).unwrap() + (f / 5.0).unwrap())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect();
        let before = flatten_vars(&discriminator);
        let mut sgd = candle_nn::SGD::new(discriminator.vars(), 1.0).unwrap();
        let parameters = DpSgdParameters {
            max_grad_norm: 0.3,
            noise_multiplier: 1e-30,
            expected_batch_size: 12.0,
        };
        let stats = private_step(
            &discriminator,
            &mut sgd,
            &real,
            &fake,
            parameters,
            &mut PrivacyRng::from_os(),
        )
        .unwrap();
        assert_eq!(stats.batch_rows, 9);
        let update: Vec<f32> = before
            .iter()
            .zip(flatten_vars(&discriminator))
            .map(|(old, new)| old - new)
            .collect();
        assert_eq!(update.len(), expected.len());
        for (u, e) in update.iter().zip(&expected) {
            assert!((u - e).abs() <= 1e-6 + 1e-4 * e.abs(), "{u} vs {e}");
        }
    }

    fn flatten_vars(discriminator: &Discriminator) -> Vec<f32> {
        discriminator
            .vars()
            .iter()
            .flat_map(|v| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn private_step_noise_has_the_calibrated_standard_deviation() {
        // With plain SGD at learning rate 1 and an empty real batch, the update is exactly
        // -(noise / expected_batch + fake gradient); subtracting the fake gradient leaves the noise.
        // A wide network, so the sample of noise coordinates is large (about 68,000).
        let discriminator =
            Discriminator::new(6, &[256, 256], &mut InitRng::from_seed(5), &Device::Cpu).unwrap();
        let fake = Tensor::zeros((4, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
        let fake_sums = loss_signals(&discriminator, &fake, Term::Fake)
            .unwrap()
            .clipped_sum(0.7)
            .unwrap();
        let before: Vec<Vec<f32>> = discriminator
            .vars()
            .iter()
            .map(|v| v.flatten_all().unwrap().to_vec1().unwrap())
            .collect();
        let fake_gradient: Vec<Vec<f32>> = fake_sums
            .iter()
            .flat_map(|(w, b)| [w, b])
            .map(|t| (t / 4.0).unwrap().flatten_all().unwrap().to_vec1().unwrap())
            .collect();
        let mut sgd = candle_nn::SGD::new(discriminator.vars(), 1.0).unwrap();
        let parameters = DpSgdParameters {
            max_grad_norm: 0.7,
            noise_multiplier: 1.3,
            expected_batch_size: 1.0,
        };
        let empty = Tensor::zeros((0, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
        let mut rng = PrivacyRng::from_os();
        private_step(
            &discriminator,
            &mut sgd,
            &empty,
            &fake,
            parameters,
            &mut rng,
        )
        .unwrap();
        let mut noise = Vec::new();
        for ((var, old), fake_g) in discriminator.vars().iter().zip(before).zip(fake_gradient) {
            let new: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
            for ((n, o), f) in new.iter().zip(old).zip(fake_g) {
                noise.push(f64::from(o - n - f));
            }
        }
        let count = noise.len() as f64;
        let mean = noise.iter().sum::<f64>() / count;
        let std = (noise.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count).sqrt();
        let expected = 1.3 * 0.7;
        assert!(count > 60_000.0);
        assert!(
            (std - expected).abs() / expected < 0.05,
            "std {std} vs {expected} over {count}"
        );
    }
}
