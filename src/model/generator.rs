//! The generator: residual MLP blocks (each block's output is concatenated to its input, as in
//! CTGAN) and one head per column.

use candle_core::{D, Device, Tensor, Var};

use super::layers::{InitRng, Linear};
use crate::schema::OutputHead;

/// Temperature of the Gumbel-softmax relaxation of categorical heads in training.
const GUMBEL_TEMPERATURE: f64 = 0.2;

/// Initial bias of null slots' logits: a null probability near e^-3 / width at the start.
const NULL_SLOT_PRIOR: f32 = -3.0;

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
        let mut head = Linear::new(width, output_width, rng, device)?;
        // Null slots start unlikely: an untrained generator would otherwise emit nulls in a
        // share of 1 / width of its rows, in columns that may have none. The bias is learned.
        let mut bias = head.bias.as_tensor().to_vec1::<f32>()?;
        for h in &heads {
            if let OutputHead::Categorical {
                offset,
                null_slot: Some(slot),
                ..
            } = *h
            {
                bias[offset + slot] = NULL_SLOT_PRIOR;
            }
        }
        head.bias = Var::from_tensor(&Tensor::from_vec(bias, output_width, device)?)?;
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

    /// The residual blocks, first to last, and the head.
    pub fn layers(&self) -> (&[Linear], &Linear) {
        (&self.blocks, &self.head)
    }

    /// The head's outputs before each column's activation, without gradients: (batch,
    /// output_width). The reference the frozen generator is tested against.
    #[cfg(test)]
    pub(crate) fn raw_outputs(&self, zs: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.raw(zs)?.detach())
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

    /// Applies each column's activation to `raw`: tanh for continuous heads, and
    /// `categorical(logits, offset, width)` for categorical ones.
    fn activate<F>(&self, raw: &Tensor, categorical: F) -> candle_core::Result<Tensor>
    where
        F: Fn(Tensor, usize, usize) -> candle_core::Result<Tensor>,
    {
        let parts = self
            .heads
            .iter()
            .map(|head| match *head {
                OutputHead::Continuous { offset } => raw.narrow(1, offset, 1)?.tanh(),
                OutputHead::Categorical { offset, width, .. } => {
                    categorical(raw.narrow(1, offset, width)?, offset, width)
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&parts, 1)
    }

    /// Encoded rows for training: Gumbel-softmax for categorical heads with `gumbel` noise of
    /// shape (batch, output_width).
    pub fn forward_train(&self, zs: &Tensor, gumbel: &Tensor) -> candle_core::Result<Tensor> {
        self.activate(&self.raw(zs)?, |logits, offset, width| {
            let perturbed = (logits + gumbel.narrow(1, offset, width)?)?;
            candle_nn::ops::softmax(&(perturbed / GUMBEL_TEMPERATURE)?, D::Minus1)
        })
    }

    /// Rows for decoding: probabilities for categorical heads.
    pub fn forward_sample(&self, zs: &Tensor) -> candle_core::Result<Tensor> {
        self.activate(&self.raw(zs)?.detach(), |logits, _, _| {
            candle_nn::ops::softmax(&logits, D::Minus1)
        })
    }

    /// Width of an encoded row.
    pub fn output_width(&self) -> usize {
        self.output_width
    }

    /// A copy with variables of its own.
    pub fn independent_copy(&self) -> candle_core::Result<Self> {
        let copy = |layer: &Linear| -> candle_core::Result<Linear> {
            Ok(Linear {
                weight: Var::from_tensor(&layer.weight.as_tensor().copy()?)?,
                bias: Var::from_tensor(&layer.bias.as_tensor().copy()?)?,
            })
        };
        Ok(Self {
            blocks: self
                .blocks
                .iter()
                .map(copy)
                .collect::<candle_core::Result<Vec<_>>>()?,
            head: copy(&self.head)?,
            heads: self.heads.clone(),
            latent_dim: self.latent_dim,
            output_width: self.output_width,
        })
    }

    /// Moves these weights toward `live`'s: `w <- decay * w + (1 - decay) * live`, after
    /// `updates` earlier calls. The decay ramps up as `min(max_decay, (1 + t) / (10 + t))`, so
    /// the first, random weights are soon forgotten (the schedule of TensorFlow's
    /// `ExponentialMovingAverage` with `num_updates`).
    pub fn track(&self, live: &Generator, max_decay: f64, updates: u64) -> candle_core::Result<()> {
        let t = updates as f64;
        let decay = max_decay.min((1.0 + t) / (10.0 + t));
        for (average, current) in self.vars().iter().zip(live.vars()) {
            let next = ((average.as_tensor() * decay)? + (current.as_tensor() * (1.0 - decay))?)?;
            average.set(&next)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_converges_to_fixed_weights_and_leaves_them_alone() {
        let device = Device::Cpu;
        let heads = vec![OutputHead::Continuous { offset: 0 }];
        let live = Generator::new(
            4,
            &[8],
            heads.clone(),
            1,
            &mut InitRng::from_seed(1),
            &device,
        )
        .unwrap();
        let average =
            Generator::new(4, &[8], heads, 1, &mut InitRng::from_seed(2), &device).unwrap();
        let before: Vec<f32> = live.vars()[0].flatten_all().unwrap().to_vec1().unwrap();
        for t in 0..2_000 {
            average.track(&live, 0.99, t).unwrap();
        }
        let after: Vec<f32> = live.vars()[0].flatten_all().unwrap().to_vec1().unwrap();
        let averaged: Vec<f32> = average.vars()[0].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(before, after, "tracking changed the live weights");
        for (a, b) in averaged.iter().zip(&after) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
