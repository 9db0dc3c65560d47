//! The generator: residual MLP blocks (each block's output is concatenated to its input, as in
//! CTGAN) and one head per column.

use candle_core::{D, Device, Tensor, Var};

use super::layers::{InitRng, Linear};
use crate::schema::OutputHead;

/// Temperature of the Gumbel-softmax relaxation of categorical heads in training.
const GUMBEL_TEMPERATURE: f64 = 0.2;

/// Maps latent noise to encoded rows.
#[derive(Debug, Clone)]
pub struct Generator {
    blocks: Vec<Linear>,
    head: Linear,
    heads: Vec<OutputHead>,
    latent_dim: usize,
    output_width: usize,
}

impl Generator {
    /// A generator of `latent_dim` noise through `hidden` residual blocks to the `heads`.
    pub fn new(
        latent_dim: usize,
        hidden: &[usize],
        heads: Vec<OutputHead>,
        output_width: usize,
        rng: &mut InitRng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let mut blocks = Vec::with_capacity(hidden.len());
        let mut width = latent_dim;
        for &out in hidden {
            blocks.push(Linear::new(width, out, rng, device)?);
            width += out;
        }
        let head = Linear::new(width, output_width, rng, device)?;
        Ok(Self {
            blocks,
            head,
            heads,
            latent_dim,
            output_width,
        })
    }

    /// Width of the latent noise.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// All trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.blocks
            .iter()
            .chain(std::iter::once(&self.head))
            .flat_map(Linear::vars)
            .collect()
    }

    /// Raw head outputs for latent `zs: (batch, latent_dim)`: (batch, output_width).
    fn raw(&self, zs: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = zs.clone();
        for block in &self.blocks {
            let out = block.forward(&h)?.relu()?;
            h = Tensor::cat(&[&h, &out], 1)?;
        }
        self.head.forward(&h)
    }

    /// Encoded rows for training: tanh for continuous heads, Gumbel-softmax for categorical
    /// heads with `gumbel` noise of shape (batch, output_width).
    pub fn forward_train(&self, zs: &Tensor, gumbel: &Tensor) -> candle_core::Result<Tensor> {
        let raw = self.raw(zs)?;
        let parts = self
            .heads
            .iter()
            .map(|head| match *head {
                OutputHead::Continuous { offset } => raw.narrow(1, offset, 1)?.tanh(),
                OutputHead::Categorical { offset, width } => {
                    let logits =
                        (raw.narrow(1, offset, width)? + gumbel.narrow(1, offset, width)?)?;
                    candle_nn::ops::softmax(&(logits / GUMBEL_TEMPERATURE)?, D::Minus1)
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&parts, 1)
    }

    /// Rows for decoding: tanh for continuous heads, probabilities for categorical ones.
    pub fn forward_sample(&self, zs: &Tensor) -> candle_core::Result<Tensor> {
        let raw = self.raw(zs)?.detach();
        let parts = self
            .heads
            .iter()
            .map(|head| match *head {
                OutputHead::Continuous { offset } => raw.narrow(1, offset, 1)?.tanh(),
                OutputHead::Categorical { offset, width } => {
                    candle_nn::ops::softmax(&raw.narrow(1, offset, width)?, D::Minus1)
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&parts, 1)
    }

    /// Width of an encoded row.
    pub fn output_width(&self) -> usize {
        self.output_width
    }
}
