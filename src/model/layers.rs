//! A linear layer whose parameters are candle variables, initialised from a seeded generator.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The seeded generator of initial weights, training noise (latent draws, Gumbel noise) and
/// output sampling. It never draws privacy noise.
pub struct InitRng(pub ChaCha20Rng);

impl InitRng {
    /// A generator from the pipeline's seed.
    pub fn from_seed(seed: u64) -> Self {
        Self(ChaCha20Rng::seed_from_u64(seed))
    }

    /// `count` draws of N(0, 1) as f32.
    pub fn normal(&mut self, count: usize) -> Vec<f32> {
        (0..count)
            .map(|_| self.0.sample::<f32, _>(rand_distr::StandardNormal))
            .collect()
    }

    /// `count` draws of the standard Gumbel distribution, `-ln(-ln U)`.
    pub fn gumbel(&mut self, count: usize) -> Vec<f32> {
        (0..count)
            .map(|_| {
                let u: f32 = self.0.random_range(1e-10f32..1.0);
                -(-u.ln()).ln()
            })
            .collect()
    }
}

/// `y = x W^T + b` with `W: (out, in)`, `b: (out)`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// weight, (out, in)
    pub weight: Var,
    /// bias, (out)
    pub bias: Var,
}

impl Linear {
    /// Uniform initialisation in `±1/sqrt(in)` for weight and bias, the usual default for
    /// linear layers (LeCun-style fan-in scaling).
    pub fn new(
        inputs: usize,
        outputs: usize,
        rng: &mut InitRng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let bound = 1.0 / (inputs as f32).sqrt();
        let mut draw = |count: usize| -> Vec<f32> {
            (0..count)
                .map(|_| rng.0.random_range(-bound..bound))
                .collect()
        };
        let weight = Tensor::from_vec(draw(inputs * outputs), (outputs, inputs), device)?;
        let bias = Tensor::from_vec(draw(outputs), outputs, device)?;
        Ok(Self {
            weight: Var::from_tensor(&weight)?,
            bias: Var::from_tensor(&bias)?,
        })
    }

    /// Forward pass with trainable parameters.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())
    }

    /// Forward pass with frozen parameters plus `probe` (zeros, `(batch, out)`) added to the
    /// pre-activation: the gradient of a loss with respect to `probe` is each example's
    /// backpropagated signal at this layer.
    pub fn forward_probed(&self, xs: &Tensor, probe: &Var) -> candle_core::Result<Tensor> {
        let weight = self.weight.as_tensor().detach();
        let bias = self.bias.as_tensor().detach();
        xs.matmul(&weight.t()?)?.broadcast_add(&bias)? + probe.as_tensor()
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.weight.elem_count() + self.bias.elem_count()
    }

    /// The parameters as variables.
    pub fn vars(&self) -> [Var; 2] {
        [self.weight.clone(), self.bias.clone()]
    }
}

pub(super) fn zeros_var(rows: usize, cols: usize, device: &Device) -> candle_core::Result<Var> {
    Var::zeros((rows, cols), DType::F32, device)
}
